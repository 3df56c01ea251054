"""AGV fleet sizing: the fewest vehicles that pick up every transport request within a wait.

The demand is a list of trips ``j`` (one vehicle load each), requested at ``r_j`` from node
``o_j`` to node ``d_j``, read from the event log of a simulated run (``transport_request``
events) or given directly. Travel times ``T(a, b)`` are the layout's shortest paths at the
fleet's speed, ``h`` is the loading (and unloading) time, ``W`` the allowed wait.

Wait is measured as in the twin's KPI ``transport.wait_h``: from the request until the load is
on the vehicle. So the vehicle must start loading at ``s_j`` in ``[e_j, l_j]`` with
``e_j = r_j`` and ``l_j = r_j + W - h``.

Charging allowance (``charging="amortised"``, the default): the energy a vehicle uses has to be
put back at ``charge_kw``, so every hour it drives or stands costs extra hours at a charger.
That time is added to the activity that used the energy: a drive of ``m`` metres takes
``T + m * drain_per_m / charge_kw`` hours and a handling ``h * (1 + drain_idle_per_h /
charge_kw)``. In the reference plant this lengthens driving by about 29 % (0.0008 kWh/m at
10 kW). ``charging="none"`` leaves it out.

Model (per window of requests; a vehicle-scheduling / minimum path cover MILP)
-----------------------------------------------------------------------------
``p_j = h' + D(o_j, d_j) + h'`` is the (stretched) time from the start of loading to the end
of unloading; a vehicle can serve ``j`` after ``i`` if ``g_ij = p_i + D(d_i, o_j)`` fits:
the arc ``(i, j)`` exists only if ``e_i + g_ij <= l_j``. ``a_j`` is the time to reach ``o_j``
for a vehicle that starts its day's chain with ``j`` (0 with ``start="anywhere"``: idle
vehicles are assumed to be where the work is; with ``start="chargers"``, the nearest charger
or home node).

    x_ij in {0, 1}   vehicle goes on to j after i, (i, j) in ARCS
    s_j  in [e_j, l_j]   start of loading

    min  sum_j (1 - sum_i x_ij)
    s.t. sum_j x_ij <= 1                               (one successor)
         sum_i x_ij <= 1                               (one predecessor)
         s_j >= s_i + g_ij - M_ij (1 - x_ij),  M_ij = l_i + g_ij - e_j   (timing)
         s_j >= e_j + a_j (1 - sum_i x_ij)             (a chain's first trip)
         s_i <= s_j   for consecutive identical trips i < j   (symmetry)

Every chain of arcs is one vehicle's sequence of trips, so the objective counts vehicles.
With ``W = 0`` and ``a = 0`` the times are fixed and this is the classic minimum path cover
(a bipartite matching); the slack ``W`` is what the time variables use.

Bounds: a greedy list schedule (``greedy_chains``) warm-starts the solver and bounds each
window from above; trips that no vehicle can serve one after the other in either order need a
vehicle each, so a maximum clique of that incompatibility graph (``clique_bound``) bounds it
from below (it is usually the answer: bursts of pallets called at one instant). The MILP runs
only where the two differ, with ``vehicles >= clique`` added.

Windows: a year holds ~12,000 trips; vehicles are needed at the peaks. The horizon is cut into
windows of ``window_h`` hours (default 8, one shift) starting every ``window_h / 2`` hours, so a
peak that straddles a cut falls whole into the next window. A greedy list schedule gives every
window an upper bound in milliseconds; the MILP is solved for the windows with the largest
bounds first, until every unsolved window's greedy bound is at most the best proven answer (or
the time runs out). The fleet size is the maximum over windows. Windows are independent: work
carried over a window's start is not counted, traffic congestion and charging in blocks are
not modelled; the twin check (``optimizer.fleet_commands``) shows how the answer holds in
the simulation.
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
    "build_model",
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
        rest = tuple(dict.fromkeys([*charger_nodes(scenario), *fleet.home]))
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
            "windows": self.windows,
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
