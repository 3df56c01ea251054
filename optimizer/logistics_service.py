"""The service-level model of one busy episode: who serves which trip, and how many are late.

The fleet is where the twin has it: vehicles start at ``fleet.home``, stay where they
unloaded, and drive to a pick-up only once it is requested (the twin's dispatch is reactive).
With ``W`` the allowed wait and ``h`` the handling time, trip ``j`` is on time if loading
starts at ``s_j <= l_j = r_j + W - h``; ``p_j = 2h' + D(o_j, d_j)`` is the time from the
start of loading to the end of unloading (``optimizer.logistics_demand`` for the charging
allowance). Per episode, for its trips ``J`` and vehicles ``V`` (at node ``q_v``, free from
``f_v``):

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

``greedy_dispatch`` (trips in request order, each to the vehicle that can start loading it
first; the twin's ``nearest`` rule without traffic) gives a feasible schedule in
milliseconds; ``solve_service`` solves the MILP warm-started from it. The search over fleet
sizes, episode by episode, is ``optimizer.logistics_sizing``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pyomo.environ as pyo

from optimizer.logistics_cover import arc_neighbours
from optimizer.logistics_demand import Charging, TransportDemand
from optimizer.options import OptionError, check_finite
from optimizer.solvers import SolverOptions, solve_model

__all__ = [
    "MAX_CLIQUES",
    "PreparedTrips",
    "ServiceData",
    "ServiceSolution",
    "VehicleState",
    "build_service_model",
    "greedy_dispatch",
    "solve_service",
    "start_states",
]


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
class PreparedTrips:
    """All trips of a demand with the times the service-level model needs (hours): request
    ``r``, latest on-time start of loading ``l = r + W - h``, busy time ``p``, and the drive
    times with the charging allowance (``PreparedTrips.of``)."""

    request: tuple[float, ...]
    latest: tuple[float, ...]
    service: tuple[float, ...]
    origins: tuple[str, ...]
    dests: tuple[str, ...]
    drive: Mapping[str, Mapping[str, float]]
    handling: float
    max_wait: float

    @classmethod
    def of(cls, demand: TransportDemand, max_wait: float, charging: Charging) -> PreparedTrips:
        max_wait = check_finite(max_wait, "max_wait", "a finite number of hours >= 0")
        if max_wait < 0:
            raise OptionError("max_wait", max_wait, "a finite number of hours >= 0")
        if charging not in ("amortised", "none"):
            raise OptionError("charging", charging, 'one of: "amortised", "none"')
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
    prep: PreparedTrips,
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
    prep: PreparedTrips, idx: Sequence[int], states: Sequence[VehicleState]
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
        prep = PreparedTrips.of(demand, max_wait, charging)
        states = start_states(demand, vehicles) if isinstance(vehicles, int) else tuple(vehicles)
        lo, hi = window if window is not None else (-math.inf, math.inf)
        idx = prep.window(lo, hi)
        return cls.of(prep, idx, states, greedy_dispatch(prep, idx, states).pickups, late_h)

    @classmethod
    def of(
        cls,
        prep: PreparedTrips,
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
    prep: PreparedTrips, idx: Sequence[int], vehicles: int
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
    succ, pred = arc_neighbours(data.arcs, data.n)

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


def _add_service_timing(m: pyo.ConcreteModel, data: ServiceData) -> None:
    """A vehicle finishes i, then drives empty once j is requested:

        s_j >= s_i + g_ij - M_ij (1 - x_ij)                       M_ij = U_i + g_ij - e_j
        s_j >= e_j + sum_i D(d_i, o_j) x_ij + sum_v a_vj y_vj      (dispatch on request)

    The second is the twin's reactive dispatch: an idle vehicle does not move before a trip is
    requested, so the empty drive to the pick-up is part of the wait.
    """
    timed = [a for a in sorted(data.arcs) if data.big_m(*a) > 1e-12]
    m.TIMED = pyo.Set(initialize=timed, dimen=2, ordered=True)
    _, pred = arc_neighbours(data.arcs, data.n)

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
    prep: PreparedTrips,
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
