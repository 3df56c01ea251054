"""AGV fleet sizing: the fewest vehicles that pick up the transport requests within a wait.

The demand is a list of trips ``j`` (one vehicle load each), requested at ``r_j`` from node
``o_j`` to node ``d_j``, read from the event log of a simulated run (``transport_request``
events) or given directly. Travel times ``D(a, b)`` are the layout's shortest paths at the
fleet's speed, ``h`` is the loading (and unloading) time, ``W`` the allowed wait.

Wait is measured as in the twin's KPI ``transport.wait_h``: from the request until the load is
on the vehicle. So a trip is on time if loading starts at ``s_j <= l_j = r_j + W - h``.

Charging allowance (``charging="amortised"``, the default): the energy a vehicle uses has to be
put back at ``charge_kw``, so every hour it drives or stands costs extra hours at a charger.
That time is added to the activity that used the energy: a drive of ``m`` metres takes
``T + m * drain_per_m / charge_kw`` hours and a handling ``h * (1 + drain_idle_per_h /
charge_kw)``. In the reference plant this lengthens driving by about 29 % (0.0008 kWh/m at
10 kW). ``charging="none"`` leaves it out. ``p_j = 2h' + D(o_j, d_j)`` is the (stretched) time
from the start of loading to the end of unloading.

Two models
----------
``size_fleet_service`` (what ``twin fleet`` uses): the fewest vehicles that pick up a share
``P`` of the trips within ``W`` (a service level), with the vehicles where the twin has them:
they start at ``fleet.home``, stay where they unloaded, and drive to a pick-up only once it is
requested (the twin's dispatch is reactive). For a fleet of ``n`` the horizon is scheduled
busy episode by busy episode (trips until the whole fleet is idle), each from the state the
last one left; ``late(n)`` is the number of trips picked up late. The answer is the smallest
``n`` with ``late(n) <= floor((1 - P) N)``, one budget for the whole horizon, as the twin's
share of pick-ups within the wait is counted. Per episode, for its trips ``J`` and vehicles
``V`` (at node ``q_v``, free from ``f_v``):

    x_ij, y_vj, late_j in {0, 1}   j after i on one vehicle (r_i <= r_j); j first for v
    s_j in [r_j, U_j]              U_j = max(l_j + late_h, the greedy pick-up)

    min  sum_j late_j
    s.t. sum_i x_ij + sum_v y_vj = 1                    (every trip is served)
         sum_j x_ij <= 1,  sum_j y_vj <= 1              (one successor; one first trip)
         s_j >= s_i + g_ij - M_ij (1 - x_ij)            g_ij = p_i + D(d_i, o_j)
         s_j >= r_j + sum_i D(d_i, o_j) x_ij + sum_v (max(0, f_v - r_j) + D(q_v, o_j)) y_vj
         s_j <= l_j + (U_j - l_j) late_j
         sum_{j in C} late_j >= |C| - n                 (cliques C of on-time-incompatible trips)
         s_i <= s_j, late_i <= late_j                   (identical trips i < j, symmetry)

The greedy schedule (``greedy_dispatch``: trips in request order, each to the vehicle that can
start loading it first; the twin's ``nearest`` rule without traffic) screens fleet sizes in
milliseconds; the MILP re-solves the episodes the greedy leaves late trips in, for the sizes
below the greedy answer. A lower bound: trips no vehicle can serve one after the other on time
(a clique, vehicles anywhere) are on time only on distinct vehicles, so ``n`` vehicles leave
``clique - n`` late in each window; the smallest ``n`` whose total fits the budget
(``service_lower_bound``).

``size_fleet`` (every trip within ``W``, ``P = 1``, vehicles "anywhere"): a vehicle-scheduling
/ minimum path cover MILP per window of requests; it answers the question "how many
vehicles does the largest burst need", and is kept as a bound and for comparison:

    x_ij in {0, 1}   vehicle goes on to j after i, (i, j) in ARCS
    s_j  in [e_j, l_j]   start of loading

    min  sum_j (1 - sum_i x_ij)
    s.t. sum_j x_ij <= 1                               (one successor)
         sum_i x_ij <= 1                               (one predecessor)
         s_j >= s_i + g_ij - M_ij (1 - x_ij),  M_ij = l_i + g_ij - e_j   (timing)
         s_j >= e_j + a_j (1 - sum_i x_ij)             (a chain's first trip)
         s_i <= s_j   for consecutive identical trips i < j   (symmetry)

``a_j`` is 0 with ``start="anywhere"``, the drive from the nearest charger or home node with
``start="chargers"``. Windows of ``window_h`` hours start every ``window_h / 2`` hours; each
gets a greedy upper bound and a clique lower bound, and the MILP runs, largest greedy bound
first, only where they differ. Work carried over a window's start, traffic congestion and
charging in blocks are not modelled by either model; ``optimizer.fleet_commands`` verifies the
answer in the twin.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo

from optimizer.solvers import SolverOptions, solve_model

__all__ = [
    "TransportDemand",
    "FleetData",
    "FleetSolution",
    "WindowResult",
    "FleetSizing",
    "VehicleState",
    "ServiceData",
    "ServiceSolution",
    "SizeResult",
    "ServiceSizing",
    "build_model",
    "build_service_model",
    "greedy_dispatch",
    "service_lower_bound",
    "size_fleet_service",
    "solve_service",
    "start_states",
    "clique_bound",
    "greedy_chains",
    "solve",
    "size_fleet",
    "wait_stats",
    "windows_of",
]

Charging = Literal["amortised", "none"]
Start = Literal["anywhere", "chargers"]


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class TransportDemand:
    """Trips (request time, origin, destination) and what moving between nodes costs.

    ``hours[a][b]`` and ``metres[a][b]`` are shortest-path travel times and lengths between the
    nodes the trips and vehicles use; ``rest`` the nodes where idle vehicles wait (chargers
    and home nodes).
    """

    times: tuple[float, ...]
    origins: tuple[str, ...]
    dests: tuple[str, ...]
    hours: Mapping[str, Mapping[str, float]]
    metres: Mapping[str, Mapping[str, float]]
    handling: float
    drain_per_m: float = 0.0
    drain_idle_per_h: float = 0.0
    charge_kw: float = 1.0
    rest: tuple[str, ...] = ()
    horizon: float = 0.0
    source: str = ""
    home: tuple[str, ...] = ()
    """Where the vehicles stand at the start (``fleet.home``, vehicle ``k`` at
    ``home[k % len(home)]``, as in the twin)."""

    def __post_init__(self) -> None:
        n = len(self.times)
        if len(self.origins) != n or len(self.dests) != n:
            raise ValueError(
                f"times, origins and dests must have one entry per trip, got {n}, "
                f"{len(self.origins)} and {len(self.dests)}."
            )
        if self.handling < 0:
            raise ValueError(f'"handling" must be >= 0 hours, got {self.handling!r}.')
        if self.charge_kw <= 0:
            raise ValueError(f'"charge_kw" must be > 0, got {self.charge_kw!r}.')
        for j, (o, d) in enumerate(zip(self.origins, self.dests, strict=True)):
            for node in (o, d):
                if node not in self.hours:
                    raise ValueError(f"trip {j} uses node {node!r}, which has no travel times.")

    @property
    def n(self) -> int:
        return len(self.times)

    @classmethod
    def from_scenario(
        cls,
        scenario: Any,
        times: Sequence[float],
        origins: Sequence[str],
        dests: Sequence[str],
        source: str = "",
    ) -> TransportDemand:
        """Trips on a scenario's layout, with its fleet's speed, handling and batteries."""
        from twin.flow_spec import charger_nodes
        from twin.transport import Layout

        if scenario.layout is None or scenario.fleet is None:
            raise ValueError(
                f"scenario {scenario.name!r} has no layout and fleet sections: "
                "there is no transport to size a fleet for"
            )
        fleet = scenario.fleet
        layout = Layout(scenario.layout, fleet.speed)
        home = tuple(fleet.home)
        rest = tuple(dict.fromkeys([*charger_nodes(scenario), *home]))
        nodes = sorted({*origins, *dests, *rest})
        unknown = [n for n in nodes if n not in layout.hours]
        if unknown:
            raise ValueError(f"trips use nodes not in the layout: {', '.join(unknown)}")
        hours = {a: {b: layout.distance(a, b) for b in nodes} for a in nodes}
        metres = {a: {b: layout.route(a, b).metres for b in nodes} for a in nodes}
        return cls(
            tuple(float(t) for t in times),
            tuple(origins),
            tuple(dests),
            hours,
            metres,
            float(fleet.handling),
            fleet.drain_per_m,
            fleet.drain_idle_per_h,
            fleet.charge_kw,
            rest,
            float(scenario.simulation.horizon),
            source or scenario.name,
            home,
        )

    @classmethod
    def from_run(cls, run: Any, scenario: Any | None = None) -> TransportDemand:
        """The trips requested in a simulated run (a ``twin.simulate.Run`` or its event table).

        Each ``transport_request`` event is one vehicle load; its ``detail`` names the trip as
        ``T<seq> <origin>><destination>``.
        """
        from twin.kpi import LogView

        events = getattr(run, "events", run)
        scenario = scenario if scenario is not None else getattr(run, "scenario", None)
        if scenario is None:
            raise ValueError("from_run needs the scenario of the run (for its layout and fleet)")
        if scenario.layout is None or scenario.fleet is None:
            raise ValueError(
                f"scenario {scenario.name!r} has no layout and fleet sections: "
                "there is no transport to size a fleet for"
            )
        v = LogView(events)
        m = v.kind("transport_request")
        nodes = set(scenario.layout.nodes)
        origins, dests = [], []
        for text in v.strings("detail", m):
            o, d = _split_trip(text or "", nodes)
            origins.append(o)
            dests.append(d)
        return cls.from_scenario(scenario, v.t[m].tolist(), origins, dests)

    # ---------------------------------------------------------------- derived times
    def drive(self, a: str, b: str) -> float:
        """Hours to drive a -> b, with the charging it implies (amortised)."""
        return self.hours[a][b] + self.metres[a][b] * self.drain_per_m / self.charge_kw

    def handle(self) -> float:
        """Hours of one loading or unloading, with the charging standing implies."""
        return self.handling * (1.0 + self.drain_idle_per_h / self.charge_kw)

    def without_charging(self) -> TransportDemand:
        return replace(self, drain_per_m=0.0, drain_idle_per_h=0.0)


def _split_trip(text: str, nodes: set[str]) -> tuple[str, str]:
    """``"T12 wh_gate>st_disp"`` -> ("wh_gate", "st_disp"), checked against the layout."""
    _, _, route = text.partition(" ")
    for i, ch in enumerate(route):
        if ch == ">" and route[:i] in nodes and route[i + 1 :] in nodes:
            return route[:i], route[i + 1 :]
    raise ValueError(f"cannot read origin and destination of transport request {text!r}")


@dataclass(frozen=True)
class FleetData:
    """One window of trips, prepared for the model (hours; see the module docstring)."""

    trips: tuple[int, ...]
    """Indices of the trips in the demand."""
    earliest: tuple[float, ...]
    latest: tuple[float, ...]
    service: tuple[float, ...]
    reach: tuple[float, ...]
    arcs: Mapping[tuple[int, int], float]
    """(i, j) -> g_ij for the feasible successions (positions in this window)."""
    max_wait: float
    handling: float
    window: tuple[float, float]
    origins: tuple[str, ...] = ()
    dests: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.trips)

    def big_m(self, i: int, j: int) -> float:
        return self.latest[i] + self.arcs[(i, j)] - self.earliest[j]

    @classmethod
    def build(
        cls,
        demand: TransportDemand,
        max_wait: float,
        window: tuple[float, float] | None = None,
        charging: Charging = "amortised",
        start: Start = "anywhere",
    ) -> FleetData:
        """The trips requested in ``window`` (all if None) with allowed wait ``max_wait``."""
        if not (isinstance(max_wait, int | float) and math.isfinite(max_wait)) or max_wait < 0:
            raise ValueError(f'"max_wait" must be >= 0 hours, got {max_wait!r}.')
        if charging not in ("amortised", "none"):
            raise ValueError(f'"charging" must be "amortised" or "none", got {charging!r}.')
        if start not in ("anywhere", "chargers"):
            raise ValueError(f'"start" must be "anywhere" or "chargers", got {start!r}.')
        if max_wait < demand.handling - 1e-12:
            raise ValueError(
                f"max wait {max_wait * 60:g} min is shorter than loading a vehicle "
                f"({demand.handling * 60:g} min): no fleet can meet it"
            )
        d = demand if charging == "amortised" else demand.without_charging()
        lo, hi = window if window is not None else (-math.inf, math.inf)
        idx = [k for k, t in enumerate(d.times) if lo <= t < hi]
        idx.sort(key=lambda k: (d.times[k], d.origins[k], d.dests[k], k))
        h = d.handle()
        early = [d.times[k] for k in idx]
        late = [d.times[k] + max_wait - d.handling for k in idx]
        origins = [d.origins[k] for k in idx]
        dests = [d.dests[k] for k in idx]
        service = [2 * h + d.drive(o, e) for o, e in zip(origins, dests, strict=True)]
        if start == "chargers" and d.rest:
            reach = [min(d.drive(r, o) for r in d.rest) for o in origins]
        else:
            reach = [0.0] * len(idx)
        for j, k in enumerate(idx):
            if early[j] + reach[j] > late[j] + 1e-12:
                raise ValueError(
                    f"trip {k} ({origins[j]}->{dests[j]}) cannot be picked up within "
                    f"{max_wait * 60:g} min even by a vehicle of its own "
                    f"(it needs {(reach[j] + d.handling) * 60:.1f} min)"
                )
        arcs: dict[tuple[int, int], float] = {}
        n = len(idx)
        key = list(zip(early, origins, dests, strict=True))
        for i in range(n):
            for j in range(n):
                # identical trips (a burst of pallets) are served in index order: j -> i with
                # j > i would only be a relabelling of i -> j
                if i != j and not (j < i and key[i] == key[j]):
                    g = service[i] + d.drive(dests[i], origins[j])
                    if early[i] + g <= late[j] + 1e-12:
                        arcs[(i, j)] = g
        return cls(
            tuple(idx),
            tuple(early),
            tuple(late),
            tuple(service),
            tuple(reach),
            arcs,
            float(max_wait),
            d.handling,
            (max(lo, min(early, default=0.0)), min(hi, max(early, default=0.0))),
            tuple(origins),
            tuple(dests),
        )


# --------------------------------------------------------------------------- model
def build_model(data: FleetData) -> pyo.ConcreteModel:
    """The fleet-sizing MILP of the module docstring (no solving, no I/O)."""
    m = pyo.ConcreteModel(name="fleet_size")
    m.TRIPS = pyo.Set(initialize=range(data.n), ordered=True)
    m.ARCS = pyo.Set(initialize=sorted(data.arcs), dimen=2, ordered=True)
    _add_variables(m, data)
    _add_succession(m, data)
    _add_timing(m, data)
    _add_chain_start(m, data)
    _add_symmetry(m, data)
    _add_objective(m, data)
    return m


def _add_variables(m: pyo.ConcreteModel, data: FleetData) -> None:
    """x_ij in {0, 1} for (i, j) in ARCS; s_j in [e_j, l_j]."""
    m.x = pyo.Var(m.ARCS, domain=pyo.Binary)
    m.s = pyo.Var(
        m.TRIPS,
        bounds=lambda _m, j: (data.earliest[j], data.latest[j]),
        initialize=lambda _m, j: data.earliest[j],
    )
    _, pred = _neighbours(data)
    m.chain_start = pyo.Expression(m.TRIPS, rule=lambda _m, j: 1 - sum(_m.x[i, j] for i in pred[j]))


def _neighbours(data: FleetData) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Successors and predecessors of every trip along the arcs."""
    succ: dict[int, list[int]] = {j: [] for j in range(data.n)}
    pred: dict[int, list[int]] = {j: [] for j in range(data.n)}
    for i, j in sorted(data.arcs):
        succ[i].append(j)
        pred[j].append(i)
    return succ, pred


def _add_succession(m: pyo.ConcreteModel, data: FleetData) -> None:
    """sum_j x_ij <= 1 and sum_i x_ij <= 1: a trip has one successor and one predecessor.

    Only for trips with at least two successors (predecessors): with one, the binary bound
    already says it.
    """
    succ, pred = _neighbours(data)
    m.HEADS = pyo.Set(initialize=[i for i in range(data.n) if len(succ[i]) > 1], ordered=True)
    m.TAILS = pyo.Set(initialize=[j for j in range(data.n) if len(pred[j]) > 1], ordered=True)

    @m.Constraint(m.HEADS)
    def one_successor(m, i):
        return sum(m.x[i, j] for j in succ[i]) <= 1

    @m.Constraint(m.TAILS)
    def one_predecessor(m, j):
        return sum(m.x[i, j] for i in pred[j]) <= 1


def _add_timing(m: pyo.ConcreteModel, data: FleetData) -> None:
    """s_j >= s_i + g_ij - M_ij (1 - x_ij) with M_ij = l_i + g_ij - e_j (the smallest valid M).

    Arcs with M_ij <= 0 fit whatever the pickup times are: they need no constraint.
    """
    timed = [a for a in sorted(data.arcs) if data.big_m(*a) > 1e-12]
    m.TIMED = pyo.Set(initialize=timed, dimen=2, ordered=True)

    @m.Constraint(m.TIMED)
    def timing(m, i, j):
        return m.s[j] >= m.s[i] + data.arcs[(i, j)] - data.big_m(i, j) * (1 - m.x[i, j])


def _add_chain_start(m: pyo.ConcreteModel, data: FleetData) -> None:
    """s_j >= e_j + a_j (1 - sum_i x_ij): a vehicle starting with j first drives to o_j.

    Only for trips with a_j > 0 (none with ``start="anywhere"``).
    """
    m.REACH = pyo.Set(initialize=[j for j in range(data.n) if data.reach[j] > 0], ordered=True)

    @m.Constraint(m.REACH)
    def reach(m, j):
        return m.s[j] >= data.earliest[j] + data.reach[j] * m.chain_start[j]


def _add_symmetry(m: pyo.ConcreteModel, data: FleetData) -> None:
    """s_i <= s_j for consecutive identical trips i < j (same request time, origin and
    destination): any schedule can be relabelled so, which removes equivalent solutions
    (``FleetData.build`` drops the arcs j -> i for the same reason)."""
    pairs = [
        (i, i + 1)
        for i in range(data.n - 1)
        if (data.earliest[i], data.origins[i], data.dests[i])
        == (data.earliest[i + 1], data.origins[i + 1], data.dests[i + 1])
    ]
    m.TWINS = pyo.Set(initialize=pairs, dimen=2, ordered=True)

    @m.Constraint(m.TWINS)
    def in_order(m, i, j):
        return m.s[i] <= m.s[j]


def _add_objective(m: pyo.ConcreteModel, data: FleetData) -> None:
    """min sum_j (1 - sum_i x_ij): the number of chains, i.e. of vehicles."""
    m.vehicles = pyo.Expression(expr=sum(m.chain_start[j] for j in m.TRIPS))
    m.obj = pyo.Objective(expr=m.vehicles, sense=pyo.minimize)


def _add_lower_bound(m: pyo.ConcreteModel, lower: int) -> None:
    """sum_j (1 - sum_i x_ij) >= L for a known lower bound L (``clique_bound``): lets the
    solver stop as soon as it meets it."""
    m.at_least = pyo.Constraint(expr=m.vehicles >= lower)


def clique_bound(data: FleetData) -> int:
    """Trips no vehicle can serve one after the other, in either order, need a vehicle each:
    the largest such set (a maximum clique of the incompatibility graph) is a lower bound."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(data.n))
    arcs = data.arcs
    g.add_edges_from(
        (i, j)
        for i in range(data.n)
        for j in range(i + 1, data.n)
        if (i, j) not in arcs and (j, i) not in arcs
    )
    if data.n == 0:
        return 0
    if data.n > EXACT_CLIQUE_MAX:  # exact search is exponential: any clique is still a bound
        return len(_greedy_clique(g))
    _, size = nx.max_weight_clique(g, weight=None)
    return int(size)


EXACT_CLIQUE_MAX = 120
"""Windows with more trips get a greedy clique (a weaker, still valid lower bound)."""


def _greedy_clique(g: Any) -> list[int]:
    """A clique grown from each node by highest degree; the largest found."""
    best: list[int] = []
    for start in g.nodes:
        clique = [start]
        cand = set(g[start])
        while cand:
            nxt = max(cand, key=lambda v: (len(cand & set(g[v])), -v))
            clique.append(nxt)
            cand &= set(g[nxt])
        if len(clique) > len(best):
            best = clique
    return best


# --------------------------------------------------------------------------- solving
@dataclass(frozen=True)
class FleetSolution:
    """Vehicles for one window: the chains of trips (positions in the window) and pickups."""

    vehicles: int
    lower_bound: int
    status: str
    seconds: float
    chains: tuple[tuple[int, ...], ...]
    pickups: tuple[float, ...]
    """Start of loading per trip (hours)."""
    method: str = "milp"

    @property
    def proven(self) -> bool:
        return self.lower_bound >= self.vehicles


def greedy_chains(data: FleetData) -> FleetSolution:
    """A feasible schedule in O(n x vehicles): trips in request order, each to the vehicle that
    can start loading it earliest within its window, else to a new vehicle (an upper bound)."""
    t0 = time.perf_counter()
    chains: list[list[int]] = []
    pick = [0.0] * data.n
    for j in range(data.n):
        best, best_s = -1, math.inf
        for c, chain in enumerate(chains):
            i = chain[-1]
            g = data.arcs.get((i, j))
            if g is None:
                continue
            s = max(data.earliest[j], pick[i] + g)
            if s <= data.latest[j] + 1e-12 and s < best_s:
                best, best_s = c, s
        if best < 0:
            chains.append([j])
            pick[j] = data.earliest[j] + data.reach[j]
        else:
            chains[best].append(j)
            pick[j] = best_s
    lb = 1 if data.n else 0
    return FleetSolution(
        len(chains),
        lb,
        "feasible",
        time.perf_counter() - t0,
        tuple(tuple(c) for c in chains),
        tuple(pick),
        "greedy",
    )


def solve(data: FleetData, options: SolverOptions | None = None) -> FleetSolution:
    """Solve the window's MILP (warm-started from the greedy schedule)."""
    if data.n == 0:
        return FleetSolution(0, 0, "optimal", 0.0, (), (), "milp")
    options = options or SolverOptions()
    t0 = time.perf_counter()
    greedy = greedy_chains(data)
    lower = clique_bound(data)
    if greedy.vehicles <= max(1, lower):
        return FleetSolution(
            greedy.vehicles,
            greedy.vehicles,
            "optimal",
            time.perf_counter() - t0,
            greedy.chains,
            greedy.pickups,
            "greedy = clique bound",
        )
    m = build_model(data)
    _add_lower_bound(m, lower)
    options = replace(options, mip_gap=0.95 / greedy.vehicles)
    for chain in greedy.chains:
        for a, b in zip(chain, chain[1:], strict=False):
            m.x[a, b].value = 1
    for i, j in m.ARCS:
        if m.x[i, j].value is None:
            m.x[i, j].value = 0
    for j in m.TRIPS:
        m.s[j].value = greedy.pickups[j]
    res = solve_model(m, options, warmstart=True)
    seconds = time.perf_counter() - t0
    if not res.has_solution:
        return FleetSolution(
            greedy.vehicles, lower, res.status, seconds, greedy.chains, greedy.pickups, "greedy"
        )
    vehicles = round(pyo.value(m.vehicles))
    if res.bound is not None:
        lower = max(lower, math.ceil(res.bound - 1e-6))
    status = "optimal" if lower >= vehicles else res.status
    if vehicles > greedy.vehicles:  # cannot happen with the warm start, but never go worse
        return FleetSolution(
            greedy.vehicles, lower, status, seconds, greedy.chains, greedy.pickups, "greedy"
        )
    nxt = {i: j for (i, j) in m.ARCS if m.x[i, j].value > 0.5}
    has_pred = set(nxt.values())
    chains = []
    for j in range(data.n):
        if j not in has_pred:
            chain = [j]
            while chain[-1] in nxt:
                chain.append(nxt[chain[-1]])
            chains.append(tuple(chain))
    pickups = tuple(float(m.s[j].value) for j in range(data.n))
    return FleetSolution(
        vehicles, min(lower, vehicles), status, seconds, tuple(chains), pickups, "milp"
    )


# --------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class WindowResult:
    window: tuple[float, float]
    trips: int
    greedy: int
    vehicles: int
    lower_bound: int
    status: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_h": list(self.window),
            "trips": self.trips,
            "greedy": self.greedy,
            "vehicles": self.vehicles,
            "lower_bound": self.lower_bound,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class FleetSizing:
    """The minimum fleet over all windows, and how it was found."""

    vehicles: int
    """Enough for every window (proven optimal per window when ``proven``)."""
    lower_bound: int
    proven: bool
    max_wait: float
    window_h: float
    trips: int
    windows: int
    solved: tuple[WindowResult, ...]
    peak: WindowResult | None
    seconds: float
    charging: str
    start: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vehicles": self.vehicles,
            "lower_bound": self.lower_bound,
            "proven": self.proven,
            "max_wait_h": self.max_wait,
            "window_h": self.window_h,
            "trips": self.trips,
            "milp_windows": len(self.solved),
            "peak": self.peak.to_dict() if self.peak is not None else None,
            "solved": [w.to_dict() for w in self.solved],
            "seconds": round(self.seconds, 3),
            "charging": self.charging,
            "start": self.start,
        }


def windows_of(horizon: float, window_h: float) -> list[tuple[float, float]]:
    """Windows of ``window_h`` hours starting every ``window_h / 2`` hours over [0, horizon]."""
    step = window_h / 2
    n = max(1, math.ceil(horizon / step))
    return [(k * step, k * step + window_h) for k in range(n)]


def size_fleet(
    demand: TransportDemand,
    max_wait: float,
    window_h: float = 8.0,
    time_limit: float = 60.0,
    charging: Charging = "amortised",
    start: Start = "anywhere",
    options: SolverOptions | None = None,
) -> FleetSizing:
    """The fewest vehicles serving every trip of ``demand`` within ``max_wait`` hours.

    Windows are screened with the greedy schedule and solved exactly, largest greedy bound
    first, until no unsolved window can need more vehicles than the best answer so far, or
    ``time_limit`` seconds are used (then unsolved windows count with their greedy bound and
    ``proven`` is False). ``time_limit`` covers the whole call, preparing the windows included.
    """
    if not (isinstance(window_h, int | float) and window_h > 0):
        raise ValueError(f'"window_h" must be > 0 hours, got {window_h!r}.')
    if not (isinstance(time_limit, int | float) and time_limit > 0):
        raise ValueError(f'"time_limit" must be > 0 seconds, got {time_limit!r}.')
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    horizon = max(demand.horizon, max(demand.times, default=0.0) + 1e-9)
    datas: list[FleetData] = []
    for w in windows_of(horizon, window_h):
        d = FleetData.build(demand, max_wait, w, charging, start)
        if d.n:
            datas.append(d)
    greedy = [greedy_chains(d) for d in datas]
    order = sorted(range(len(datas)), key=lambda k: (-greedy[k].vehicles, -datas[k].n, k))
    best = 0  # the largest proven window optimum so far
    lower = 0
    solved: list[WindowResult] = []
    unsolved_max = 0
    for pos, k in enumerate(order):
        if greedy[k].vehicles <= max(best, unsolved_max):
            break  # no window left can need more than the answer so far (greedy >= optimum)
        left = deadline - time.perf_counter() - 0.5  # margin for the model hand-over
        if left <= 0.05:
            unsolved_max = max(greedy[q].vehicles for q in order[pos:])
            break
        base = options or SolverOptions()
        opts = SolverOptions(
            name=base.name,
            time_limit=min(left, base.time_limit or left),
            mip_gap=base.mip_gap,
            threads=base.threads,
            seed=base.seed,
            node_limit=base.node_limit,
        )
        sol = solve(datas[k], opts)
        solved.append(
            WindowResult(
                datas[k].window,
                datas[k].n,
                greedy[k].vehicles,
                sol.vehicles,
                sol.lower_bound,
                sol.status,
                sol.seconds,
            )
        )
        lower = max(lower, sol.lower_bound)
        if sol.proven:
            best = max(best, sol.vehicles)
        else:
            unsolved_max = max(unsolved_max, sol.vehicles)
    vehicles = max(best, unsolved_max, lower)
    peak = max(solved, key=lambda w: (w.vehicles, w.trips), default=None)
    return FleetSizing(
        vehicles=vehicles,
        lower_bound=lower,
        proven=lower >= vehicles,
        max_wait=float(max_wait),
        window_h=float(window_h),
        trips=demand.n,
        windows=len(datas),
        solved=tuple(solved),
        peak=peak,
        seconds=time.perf_counter() - t0,
        charging=charging,
        start=start,
    )


def wait_stats(waits: Iterable[float]) -> dict[str, float | None]:
    """mean, p95 and max of waits in hours (None when empty)."""
    arr = np.asarray(list(waits), dtype=float)
    if not len(arr):
        return {"mean": None, "p95": None, "max": None}
    return {
        "mean": float(arr.mean()),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
    }


# --------------------------------------------------------------------------- service level
@dataclass(frozen=True)
class VehicleState:
    """Where a vehicle stands and from when it is free (hours)."""

    node: str
    free: float


def start_states(demand: TransportDemand, vehicles: int) -> tuple[VehicleState, ...]:
    """The fleet at the start of the horizon: vehicle ``k`` at ``home[k % len(home)]``, free at
    0, as in the twin (without home nodes: at the first trip's origin)."""
    homes = demand.home or demand.origins[:1] or ("",)
    return tuple(VehicleState(homes[k % len(homes)], 0.0) for k in range(vehicles))


@dataclass(frozen=True)
class _Prepared:
    """All trips of a demand with the times the service-level model needs (hours)."""

    request: tuple[float, ...]
    latest: tuple[float, ...]
    service: tuple[float, ...]
    origins: tuple[str, ...]
    dests: tuple[str, ...]
    drive: Mapping[str, Mapping[str, float]]
    handling: float
    max_wait: float

    @classmethod
    def of(cls, demand: TransportDemand, max_wait: float, charging: Charging) -> _Prepared:
        if not (isinstance(max_wait, int | float) and math.isfinite(max_wait)) or max_wait < 0:
            raise ValueError(f'"max_wait" must be >= 0 hours, got {max_wait!r}.')
        if charging not in ("amortised", "none"):
            raise ValueError(f'"charging" must be "amortised" or "none", got {charging!r}.')
        if max_wait < demand.handling - 1e-12:
            raise ValueError(
                f"max wait {max_wait * 60:g} min is shorter than loading a vehicle "
                f"({demand.handling * 60:g} min): no fleet can meet it"
            )
        d = demand if charging == "amortised" else demand.without_charging()
        drive = {a: {b: d.drive(a, b) for b in d.hours[a]} for a in d.hours}
        h = d.handle()
        return cls(
            tuple(d.times),
            tuple(t + max_wait - d.handling for t in d.times),
            tuple(2 * h + drive[o][e] for o, e in zip(d.origins, d.dests, strict=True)),
            tuple(d.origins),
            tuple(d.dests),
            drive,
            d.handling,
            float(max_wait),
        )

    def window(self, lo: float, hi: float) -> list[int]:
        """Trips requested in [lo, hi), in request order (ties by origin, destination)."""
        idx = [k for k, t in enumerate(self.request) if lo <= t < hi]
        idx.sort(key=lambda k: (self.request[k], self.origins[k], self.dests[k], k))
        return idx


@dataclass(frozen=True)
class ServiceSolution:
    """A schedule of one window for a given fleet: who serves what, when, and how many late."""

    late: int
    """Trips picked up later than the allowed wait."""
    late_bound: int
    """A lower bound on ``late`` for this window and entry state (the MILP's bound)."""
    pickups: tuple[float, ...]
    """Start of loading per trip (positions in the window), hours."""
    vehicle: tuple[int, ...]
    """The vehicle serving each trip."""
    exit: tuple[VehicleState, ...]
    """The fleet after the window's trips (the next window's entry state)."""
    status: str
    seconds: float
    method: str


def _replay(
    prep: _Prepared,
    idx: Sequence[int],
    states: Sequence[VehicleState],
    chains: Mapping[int, Sequence[int]],
) -> tuple[list[float], list[int], list[VehicleState], int]:
    """Earliest pickups when each vehicle ``v`` serves ``chains[v]`` (window positions) in
    order, dispatched no earlier than the request: ``s_j = max(free, r_j) + D(at, o_j)``."""
    pick = [0.0] * len(idx)
    veh = [-1] * len(idx)
    exit_ = list(states)
    late = 0
    for v, chain in chains.items():
        node, free = states[v].node, states[v].free
        for j in chain:
            k = idx[j]
            s = max(free, prep.request[k]) + prep.drive[node][prep.origins[k]]
            pick[j], veh[j] = s, v
            late += s > prep.latest[k] + 1e-9
            node, free = prep.dests[k], s + prep.service[k]
        exit_[v] = VehicleState(node, free)
    return pick, veh, exit_, late


def greedy_dispatch(
    prep: _Prepared, idx: Sequence[int], states: Sequence[VehicleState]
) -> ServiceSolution:
    """The twin's way, without traffic: trips in request order, each to the vehicle that can
    start loading it first, from where that vehicle stands (a feasible schedule)."""
    t0 = time.perf_counter()
    node = [s.node for s in states]
    free = [s.free for s in states]
    chains: dict[int, list[int]] = {v: [] for v in range(len(states))}
    for j, k in enumerate(idx):
        r, o = prep.request[k], prep.origins[k]
        v = min(range(len(states)), key=lambda u: (max(free[u], r) + prep.drive[node[u]][o], u))
        chains[v].append(j)
        free[v] = max(free[v], r) + prep.drive[node[v]][o] + prep.service[k]
        node[v] = prep.dests[k]
    pick, veh, exit_, late = _replay(prep, idx, states, chains)
    return ServiceSolution(
        late, 0, tuple(pick), tuple(veh), tuple(exit_), "feasible",
        time.perf_counter() - t0, "greedy",
    )  # fmt: skip


@dataclass(frozen=True)
class ServiceData:
    """One window of trips and the fleet entering it, for the service-level model (hours).

    Positions ``j`` are trips of the window in request order; ``v`` the vehicles.
    """

    trips: tuple[int, ...]
    earliest: tuple[float, ...]
    latest: tuple[float, ...]
    upper: tuple[float, ...]
    """The latest start of a trip served late."""
    service: tuple[float, ...]
    states: tuple[VehicleState, ...]
    arcs: Mapping[tuple[int, int], float]
    """(i, j) -> g_ij = p_i + D(d_i, o_j): j after i on one vehicle (r_i <= r_j)."""
    empty: Mapping[tuple[int, int], float]
    """(i, j) -> D(d_i, o_j), the empty drive after the request of j."""
    first: Mapping[tuple[int, int], float]
    """(v, j) -> max(0, free_v - r_j) + D(node_v, o_j): j is vehicle v's first trip."""
    cliques: tuple[tuple[int, ...], ...] = ()
    """Sets of trips no vehicle can serve one after the other on time, in either order, larger
    than the fleet: at most one per vehicle is on time."""
    twins: tuple[tuple[int, int], ...] = ()
    """Consecutive identical trips (request time, origin, destination)."""

    @property
    def n(self) -> int:
        return len(self.trips)

    @property
    def vehicles(self) -> int:
        return len(self.states)

    def big_m(self, i: int, j: int) -> float:
        return self.upper[i] + self.arcs[(i, j)] - self.earliest[j]

    @classmethod
    def build(
        cls,
        demand: TransportDemand,
        max_wait: float,
        vehicles: int | Sequence[VehicleState],
        window: tuple[float, float] | None = None,
        charging: Charging = "amortised",
        late_h: float = 8.0,
    ) -> ServiceData:
        """The trips requested in ``window`` (all if None), served by ``vehicles`` (a number:
        at their home nodes, free at 0; or their states)."""
        prep = _Prepared.of(demand, max_wait, charging)
        states = start_states(demand, vehicles) if isinstance(vehicles, int) else tuple(vehicles)
        lo, hi = window if window is not None else (-math.inf, math.inf)
        idx = prep.window(lo, hi)
        return cls.of(prep, idx, states, greedy_dispatch(prep, idx, states).pickups, late_h)

    @classmethod
    def of(
        cls,
        prep: _Prepared,
        idx: Sequence[int],
        states: Sequence[VehicleState],
        feasible: Sequence[float],
        late_h: float,
    ) -> ServiceData:
        """``feasible``: pickups of a known schedule (the greedy), kept inside ``upper``."""
        if not states:
            raise ValueError("the service-level model needs at least one vehicle")
        early = [prep.request[k] for k in idx]
        late = [prep.latest[k] for k in idx]
        upper = [max(lt + late_h, f) for lt, f in zip(late, feasible, strict=True)]
        service = [prep.service[k] for k in idx]
        orig = [prep.origins[k] for k in idx]
        dest = [prep.dests[k] for k in idx]
        key = list(zip(early, orig, dest, strict=True))
        arcs: dict[tuple[int, int], float] = {}
        empty: dict[tuple[int, int], float] = {}
        n = len(idx)
        for i in range(n):
            for j in range(n):
                if i == j or early[i] > early[j] or (j < i and key[i] == key[j]):
                    continue  # a vehicle takes its trips in request order (as dispatched)
                e = prep.drive[dest[i]][orig[j]]
                g = service[i] + e
                if max(early[i], early[j] - g) + g <= upper[j] + 1e-12:
                    arcs[(i, j)] = g
                    empty[(i, j)] = e
        first = {
            (v, j): max(0.0, st.free - early[j]) + prep.drive[st.node][orig[j]]
            for v, st in enumerate(states)
            for j in range(n)
        }
        twins = tuple((j, j + 1) for j in range(n - 1) if key[j] == key[j + 1])
        return cls(
            tuple(idx), tuple(early), tuple(late), tuple(upper), tuple(service),
            tuple(states), arcs, empty, first, _late_cliques(prep, idx, len(states)), twins,
        )  # fmt: skip


MAX_CLIQUES = 50
"""Clique cuts per window of the service-level MILP (the largest first)."""


def _late_cliques(
    prep: _Prepared, idx: Sequence[int], vehicles: int
) -> tuple[tuple[int, ...], ...]:
    """Maximal cliques of the on-time incompatibility graph larger than ``vehicles``: trips
    ``i``, ``j`` are incompatible if neither can follow the other on time, even from a vehicle
    standing anywhere (``max(e_i + g_ij, e_j + D(d_i, o_j)) > l_j`` both ways)."""
    import networkx as nx

    n = len(idx)
    if n <= vehicles:
        return ()

    def fits(i: int, j: int) -> bool:
        a, b = idx[i], idx[j]
        e = prep.drive[prep.dests[a]][prep.origins[b]]
        start = max(prep.request[a] + prep.service[a] + e, prep.request[b] + e)
        return start <= prep.latest[b] + 1e-12

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(
        (i, j) for i in range(n) for j in range(i + 1, n) if not fits(i, j) and not fits(j, i)
    )
    found = []
    for c in nx.find_cliques(g):
        if len(c) > vehicles:
            found.append(tuple(sorted(c)))
            if len(found) >= 4 * MAX_CLIQUES:
                break
    found.sort(key=lambda c: (-len(c), c))
    return tuple(found[:MAX_CLIQUES])


def build_service_model(data: ServiceData) -> pyo.ConcreteModel:
    """The service-level MILP of one window for a given fleet (no solving, no I/O):
    the fewest trips picked up late (see ``size_fleet_service``)."""
    m = pyo.ConcreteModel(name="fleet_service")
    m.TRIPS = pyo.Set(initialize=range(data.n), ordered=True)
    m.VEHICLES = pyo.Set(initialize=range(data.vehicles), ordered=True)
    m.ARCS = pyo.Set(initialize=sorted(data.arcs), dimen=2, ordered=True)
    m.FIRST = pyo.Set(initialize=sorted(data.first), dimen=2, ordered=True)
    _add_service_variables(m, data)
    _add_service_cover(m, data)
    _add_service_timing(m, data)
    _add_lateness(m, data)
    _add_late_cliques(m, data)
    _add_twin_order(m, data)
    _add_service_objective(m, data)
    return m


def _add_service_variables(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """x_ij (j after i), y_vj (j first for vehicle v), late_j binary; s_j in [e_j, U_j]."""
    m.x = pyo.Var(m.ARCS, domain=pyo.Binary)
    m.y = pyo.Var(m.FIRST, domain=pyo.Binary)
    m.late = pyo.Var(m.TRIPS, domain=pyo.Binary)
    m.s = pyo.Var(
        m.TRIPS,
        bounds=lambda _m, j: (data.earliest[j], data.upper[j]),
        initialize=lambda _m, j: data.earliest[j],
    )


def _add_service_cover(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """sum_i x_ij + sum_v y_vj = 1 (every trip is served, after a trip or first by a vehicle);
    sum_j x_ij <= 1 (one successor); sum_j y_vj <= 1 (one first trip per vehicle)."""
    succ, pred = _arc_neighbours(data.arcs, data.n)

    @m.Constraint(m.TRIPS)
    def served(m, j):
        return sum(m.x[i, j] for i in pred[j]) + sum(m.y[v, j] for v in m.VEHICLES) == 1

    m.HEADS = pyo.Set(initialize=[i for i in range(data.n) if len(succ[i]) > 1], ordered=True)

    @m.Constraint(m.HEADS)
    def one_successor(m, i):
        return sum(m.x[i, j] for j in succ[i]) <= 1

    @m.Constraint(m.VEHICLES)
    def one_first(m, v):
        return sum(m.y[v, j] for j in m.TRIPS) <= 1


def _arc_neighbours(
    arcs: Iterable[tuple[int, int]], n: int
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    succ: dict[int, list[int]] = {j: [] for j in range(n)}
    pred: dict[int, list[int]] = {j: [] for j in range(n)}
    for i, j in sorted(arcs):
        succ[i].append(j)
        pred[j].append(i)
    return succ, pred


def _add_service_timing(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """A vehicle finishes i, then drives empty once j is requested:

        s_j >= s_i + g_ij - M_ij (1 - x_ij)                       M_ij = U_i + g_ij - e_j
        s_j >= e_j + sum_i D(d_i, o_j) x_ij + sum_v a_vj y_vj      (dispatch on request)

    The second is the twin's reactive dispatch: an idle vehicle does not move before a trip is
    requested, so the empty drive to the pick-up is part of the wait.
    """
    timed = [a for a in sorted(data.arcs) if data.big_m(*a) > 1e-12]
    m.TIMED = pyo.Set(initialize=timed, dimen=2, ordered=True)
    _, pred = _arc_neighbours(data.arcs, data.n)

    @m.Constraint(m.TIMED)
    def timing(m, i, j):
        return m.s[j] >= m.s[i] + data.arcs[(i, j)] - data.big_m(i, j) * (1 - m.x[i, j])

    @m.Constraint(m.TRIPS)
    def dispatch(m, j):
        return m.s[j] >= data.earliest[j] + sum(
            data.empty[(i, j)] * m.x[i, j] for i in pred[j]
        ) + sum(data.first[(v, j)] * m.y[v, j] for v in m.VEHICLES)


def _add_lateness(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """s_j <= l_j + (U_j - l_j) late_j: a trip picked up after its allowed wait is late."""

    @m.Constraint(m.TRIPS)
    def on_time(m, j):
        return m.s[j] <= data.latest[j] + (data.upper[j] - data.latest[j]) * m.late[j]


def _add_late_cliques(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """sum_{j in C} late_j >= |C| - n for each clique C of ``ServiceData.cliques``: a vehicle
    serves at most one trip of C on time (the bound the LP relaxation misses)."""
    m.CLIQUES = pyo.Set(initialize=range(len(data.cliques)), ordered=True)

    @m.Constraint(m.CLIQUES)
    def late_clique(m, c):
        trips = data.cliques[c]
        return sum(m.late[j] for j in trips) >= len(trips) - data.vehicles


def _add_twin_order(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """s_i <= s_j and late_i <= late_j for consecutive identical trips i < j: a burst of
    pallets is picked up in index order (any schedule can be relabelled so)."""
    m.TWINS = pyo.Set(initialize=data.twins, dimen=2, ordered=True)

    @m.Constraint(m.TWINS)
    def twin_start(m, i, j):
        return m.s[i] <= m.s[j]

    @m.Constraint(m.TWINS)
    def twin_late(m, i, j):
        return m.late[i] <= m.late[j]


def _add_service_objective(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """min sum_j late_j. Pick-up times are then read off the chains (``_replay``: each as
    early as the chain allows), so no wait term is needed to keep them early."""
    m.late_trips = pyo.Expression(expr=sum(m.late[j] for j in m.TRIPS))
    m.obj = pyo.Objective(expr=m.late_trips, sense=pyo.minimize)


def solve_service(
    data: ServiceData,
    prep: _Prepared,
    options: SolverOptions | None = None,
    warm: ServiceSolution | None = None,
) -> ServiceSolution:
    """The window's service-level MILP, warm-started from ``warm`` (default: the greedy)."""
    t0 = time.perf_counter()
    idx, states = data.trips, data.states
    warm = warm or greedy_dispatch(prep, idx, states)
    if data.n == 0 or warm.late == 0:
        return replace(warm, status="optimal", seconds=time.perf_counter() - t0)
    m = build_service_model(data)
    chains: dict[int, list[int]] = {}
    for j, v in enumerate(warm.vehicle):
        chains.setdefault(v, []).append(j)
    for var in (m.x, m.y):
        for key in var:
            var[key].value = 0
    for v, chain in chains.items():
        m.y[v, chain[0]].value = 1
        for a, b in zip(chain, chain[1:], strict=False):
            if (a, b) in data.arcs:
                m.x[a, b].value = 1
    for j in m.TRIPS:
        m.s[j].value = warm.pickups[j]
        m.late[j].value = int(warm.pickups[j] > data.latest[j] + 1e-9)
    # an integer objective: a gap under 1 / (late + 1) of it is under one trip
    options = replace(options or SolverOptions(), mip_gap=0.5 / (warm.late + 1))
    res = solve_model(m, options, warmstart=True)
    seconds = time.perf_counter() - t0
    bound = 0
    if res.bound is not None:
        bound = max(0, math.ceil(res.bound - 1e-6))
    if not res.has_solution:
        return replace(warm, late_bound=bound, status=res.status, seconds=seconds)
    nxt = {i: j for (i, j) in m.ARCS if m.x[i, j].value > 0.5}
    new: dict[int, list[int]] = {}
    for v, j in m.FIRST:
        if m.y[v, j].value > 0.5:
            chain = [j]
            while chain[-1] in nxt:
                chain.append(nxt[chain[-1]])
            new[v] = chain
    if sorted(j for c in new.values() for j in c) != list(range(data.n)):
        return replace(warm, late_bound=bound, status="error", seconds=seconds)
    pick, veh, exit_, late = _replay(prep, idx, states, new)
    if late >= warm.late:
        return replace(warm, late_bound=min(bound, warm.late), status=res.status, seconds=seconds)
    return ServiceSolution(
        late, min(bound, late), tuple(pick), tuple(veh), tuple(exit_),
        "optimal" if bound >= late else res.status, seconds, "milp",
    )  # fmt: skip


@dataclass(frozen=True)
class SizeResult:
    """The model's schedule of the whole horizon with one fleet size."""

    vehicles: int
    late: int
    trips: int
    method: str
    """"greedy" (the list schedule) or "milp" (episodes with late trips re-solved)."""
    complete: bool
    """False when the pass stopped early: over the late budget, or out of time."""
    milp_episodes: int
    """Episodes re-solved with the MILP."""
    seconds: float
    waits: tuple[float, ...] = field(default=(), repr=False)
    unsolved: int = 0
    """Episodes with late trips left to the greedy schedule because the time ran out."""
    episodes: int = 0
    """Busy episodes scheduled (see ``_episode``)."""

    @property
    def share(self) -> float:
        """Share of pick-ups within the allowed wait (of the trips scheduled)."""
        return 1.0 - self.late / self.trips if self.trips else 1.0

    def to_dict(self) -> dict[str, Any]:
        stats = wait_stats(self.waits)
        return {
            "vehicles": self.vehicles,
            "late": self.late,
            "trips": self.trips,
            "within_max_wait_pct": 100.0 * self.share,
            "mean_wait_min": None if stats["mean"] is None else stats["mean"] * 60,
            "p95_wait_min": None if stats["p95"] is None else stats["p95"] * 60,
            "method": self.method,
            "complete": self.complete,
            "episodes": self.episodes,
            "milp_episodes": self.milp_episodes,
            "unsolved_episodes": self.unsolved,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class ServiceSizing:
    """The fewest vehicles meeting a service level in the model, and how it was found."""

    vehicles: int | None
    """None when no fleet up to ``sizes[-1]`` meets the service level in the model."""
    lower_bound: int
    service: float
    max_wait: float
    late_allowed: int
    trips: int
    window_h: float
    sizes: tuple[SizeResult, ...]
    seconds: float
    charging: str
    time_out: bool = False
    """The MILP passes ran out of time (some episodes kept their greedy schedule)."""
    milp: tuple[SizeResult, ...] = ()
    """The MILP passes below the greedy answer, stopped early when over the late budget."""

    @property
    def proven(self) -> bool:
        """No smaller fleet can meet the service level in any schedule (the clique bound
        meets the answer). The window-by-window passes are not a proof: each window is solved
        from the state the previous one left."""
        return self.vehicles is not None and self.lower_bound >= self.vehicles

    @property
    def best(self) -> SizeResult | None:
        """The complete pass with the highest share (the smallest fleet among ties)."""
        done = [s for s in self.sizes if s.complete]
        return max(done, key=lambda s: (round(s.share, 6), -s.vehicles), default=None)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "vehicles": self.vehicles,
            "reachable": self.vehicles is not None,
            "lower_bound": self.lower_bound,
            "proven": self.proven,
            "service_pct": 100.0 * self.service,
            "max_wait_h": self.max_wait,
            "late_allowed": self.late_allowed,
            "trips": self.trips,
            "window_h": self.window_h,
            "best_within_pct": None if best is None else 100.0 * best.share,
            "best_vehicles": None if best is None else best.vehicles,
            "sizes": [s.to_dict() for s in self.sizes],
            "milp_passes": [s.to_dict() for s in self.milp],
            "seconds": round(self.seconds, 3),
            "charging": self.charging,
            "time_out": self.time_out,
        }


def _service_pass(
    demand: TransportDemand,
    prep: _Prepared,
    order: Sequence[int],
    vehicles: int,
    late_allowed: int | None,
    milp: bool,
    deadline: float,
    options: SolverOptions,
    late_h: float,
    window_h: float,
) -> SizeResult:
    """Schedule the horizon with ``vehicles``, episode by episode, each from the state the
    previous one left (positions, busy until); with ``milp``, episodes the greedy schedule
    leaves late trips in are re-solved exactly (``solve_service``). Stops once more than
    ``late_allowed`` trips are late (if given; then ``complete`` is False). Out of time, the
    greedy schedule of the remaining episodes stands (counted in ``unsolved``)."""
    t0 = time.perf_counter()
    states = start_states(demand, vehicles)
    late = done = solved = episodes = greedy_only = 0
    waits: list[float] = []
    complete = True
    pos = 0
    while pos < len(order):
        idx = _episode(prep, order, pos, states, window_h)
        pos += len(idx)
        episodes += 1
        sol = greedy_dispatch(prep, idx, states)
        if milp and sol.late:
            left = deadline - time.perf_counter()
            if left > 0.2:
                limit = min(left - 0.1, options.time_limit or left, WINDOW_SECONDS)
                data = ServiceData.of(prep, idx, states, sol.pickups, late_h)
                sol = solve_service(data, prep, replace(options, time_limit=limit), warm=sol)
                solved += 1
            else:  # out of time: the greedy schedule of the episode stands
                greedy_only += 1
        late += sol.late
        done += len(idx)
        pairs = zip(sol.pickups, idx, strict=True)
        waits.extend(s + prep.handling - prep.request[k] for s, k in pairs)
        states = sol.exit
        if late_allowed is not None and late > late_allowed:
            complete = False
            break
    return SizeResult(
        vehicles, late, done if not complete else demand.n, "milp" if milp else "greedy",
        complete, solved, time.perf_counter() - t0, tuple(waits), greedy_only, episodes,
    )  # fmt: skip


def _episode(
    prep: _Prepared,
    order: Sequence[int],
    pos: int,
    states: Sequence[VehicleState],
    window_h: float,
) -> list[int]:
    """The trips from ``order[pos]`` until the whole fleet is idle when the next one is
    requested (in the greedy schedule from ``states``), at most ``window_h`` hours of
    requests: a busy episode, the unit the MILP re-solves."""
    node = [s.node for s in states]
    free = [s.free for s in states]
    first = prep.request[order[pos]]
    out: list[int] = []
    for k in order[pos:]:
        r = prep.request[k]
        if out and (r >= max(free) or r - first >= window_h):
            break
        o = prep.origins[k]
        v = min(range(len(free)), key=lambda u: (max(free[u], r) + prep.drive[node[u]][o], u))
        free[v] = max(free[v], r) + prep.drive[node[v]][o] + prep.service[k]
        node[v] = prep.dests[k]
        out.append(k)
    return out


WINDOW_SECONDS = 0.5
"""Solver time per window of the service-level pass (its greedy schedule stands beyond)."""


def service_lower_bound(
    demand: TransportDemand,
    max_wait: float,
    late_allowed: int,
    window_h: float = 8.0,
    charging: Charging = "amortised",
) -> int:
    """The fewest vehicles that can leave at most ``late_allowed`` trips late in any model:
    in each window, trips no vehicle can serve one after the other on time (a clique of
    ``clique_bound``, vehicles anywhere) are on time only on distinct vehicles, so ``n``
    vehicles leave at least ``clique - n`` of them late; the bound is the smallest ``n`` with
    ``sum_w max(0, clique_w - n) <= late_allowed``."""
    horizon = max(demand.horizon, max(demand.times, default=0.0) + 1e-9)
    cliques = []
    for k in range(max(1, math.ceil(horizon / window_h))):
        w = (k * window_h, (k + 1) * window_h)
        data = FleetData.build(demand, max_wait, w, charging, "anywhere")
        if data.n:
            cliques.append(clique_bound(data))
    if not cliques:
        return 0
    for n in range(1, max(cliques) + 1):
        if sum(max(0, c - n) for c in cliques) <= late_allowed:
            return n
    return max(cliques)


def size_fleet_service(
    demand: TransportDemand,
    max_wait: float,
    service: float = 0.95,
    window_h: float = 4.0,
    time_limit: float = 60.0,
    charging: Charging = "amortised",
    max_vehicles: int = 30,
    late_h: float = 1.0,
    options: SolverOptions | None = None,
) -> ServiceSizing:
    """The fewest vehicles that pick up at least ``service`` of the trips within ``max_wait``.

    A fleet of ``n`` starts at its home nodes and carries its positions through the horizon,
    scheduled busy episode by busy episode (trips until the whole fleet is idle, at most
    ``window_h`` hours of requests). Sizes are screened with the greedy schedule (``n`` = the
    lower bound, +1, ... until one meets the service level, or the share stops improving, or
    ``max_vehicles``); then smaller sizes are tried with the MILP (``build_service_model``) in
    the episodes with late trips, while they meet it. ``time_limit`` covers the whole call;
    out of time, the greedy schedule of the remaining episodes stands (``time_out``).
    """
    if not (isinstance(service, int | float) and 0 < service <= 1):
        raise ValueError(f'"service" must be in (0, 1], got {service!r}.')
    if not (isinstance(window_h, int | float) and window_h > 0):
        raise ValueError(f'"window_h" must be > 0 hours, got {window_h!r}.')
    if not (isinstance(time_limit, int | float) and time_limit > 0):
        raise ValueError(f'"time_limit" must be > 0 seconds, got {time_limit!r}.')
    if not (isinstance(max_vehicles, int) and max_vehicles >= 1):
        raise ValueError(f'"max_vehicles" must be an integer >= 1, got {max_vehicles!r}.')
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    prep = _Prepared.of(demand, max_wait, charging)
    allowed = math.floor((1.0 - service) * demand.n + 1e-9)
    order = prep.window(-math.inf, math.inf)
    lower = service_lower_bound(demand, max_wait, allowed, window_h, charging)
    base = options or SolverOptions()
    sizes: dict[int, SizeResult] = {}
    answer: int | None = None
    n = max(1, lower)
    while n <= max_vehicles and demand.n:
        res = _service_pass(demand, prep, order, n, None, False, deadline, base, late_h, window_h)
        sizes[n] = res
        if res.late <= allowed:
            answer = n
            break
        prev = sizes.get(n - 3)
        if prev is not None and res.share - prev.share < 0.001:
            break  # more vehicles no longer help: the service level is out of reach
        n += 1
    time_out = False
    tried: list[SizeResult] = []
    if answer is not None:
        n = answer - 1
        while n >= max(1, lower):
            if time.perf_counter() >= deadline - 0.5:
                time_out = True  # no time left to try n with the MILP
                break
            res = _service_pass(
                demand, prep, order, n, allowed, True, deadline, base, late_h, window_h
            )
            tried.append(res)
            time_out = time_out or res.unsolved > 0
            if not res.complete:  # over the allowed late trips: n is too few (in the model)
                break
            answer = n
            n -= 1
    if demand.n == 0:
        answer = 0
    return ServiceSizing(
        vehicles=answer,
        lower_bound=lower if answer != 0 else 0,
        service=float(service),
        max_wait=float(max_wait),
        late_allowed=allowed,
        trips=demand.n,
        window_h=float(window_h),
        sizes=tuple(sizes[k] for k in sorted(sizes)),
        seconds=time.perf_counter() - t0,
        charging=charging,
        time_out=time_out,
        milp=tuple(tried),
    )
