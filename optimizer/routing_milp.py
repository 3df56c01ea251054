"""The VRPTW of one problem as a Pyomo MILP: `build_model(data)` and `solve_milp(...)`.

A 2-index formulation per vehicle type with service-start times propagated along arcs (a tight
big-M per arc), lifted MTZ load constraints, and route-duration constraints through a
departure-time variable when a maximum duration binds; see `build_model` for the variables and
the `_add_<concern>` functions for the constraint families. `solve_milp` warm-starts it from
known routes (the heuristic's) and solves it with HiGHS or any solver Pyomo knows, until a
deadline. Pyomo objects never leave this module: `build_model` is public for tests and
experiments.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from optimizer.routing_data import EPS, RoutePlan, RoutingData, route_schedule, serves_alone

__all__ = ["build_model", "solve_milp"]


def build_model(data: RoutingData) -> Any:
    """The VRPTW as a Pyomo MILP (2-index per vehicle type); no solving, no I/O.

    Nodes: 0 is the depot, V = {1..n} the visits (one per customer and class with demand).
    For each vehicle type k, arcs A_k = {(i, j)} between the depot and visits of k's class,
    without arcs that can never be used (a_i + s_i + tau_ijk > b_j, or q_i + q_j > Q_k).

    Variables: x[k,i,j] in {0,1} (a type-k vehicle drives i -> j); t[i] service start at i in
    [a_i', b_i'] (windows tightened by the depot hours); l[i] load delivered up to and
    including i, in [q_i, Q_max]; r[i] departure from the depot of the route serving i (only
    when some maximum route duration binds).

        min  sum_{k,(i,j) in A_k} d_ij x[k,i,j]

    Constraint families, added in this order: `_add_visits`, `_add_flow`, `_add_fleet`,
    `_add_time`, `_add_load`, `_add_duration`, `_add_vehicle_bound`.
    """
    import pyomo.environ as pyo

    m = pyo.ConcreteModel(name=data.name)
    n = len(data.customers)
    K = range(len(data.vehicle_types))
    m.V = pyo.Set(initialize=range(1, n + 1))
    m.N = pyo.Set(initialize=range(n + 1))
    m.K = pyo.Set(initialize=K)
    arcs = _arcs(data)
    m.A = pyo.Set(initialize=arcs, dimen=3)

    def window(i: int) -> tuple[float, float]:
        cust = data.customers[i - 1]
        early = max(cust.ready, data.depot.opens + min(data.travel_time(k, 0, i) for k in K))
        late = min(
            cust.due, data.depot.closes - cust.service - min(data.travel_time(k, i, 0) for k in K)
        )
        return early, max(early, late)

    m.window = {i: window(i) for i in m.V}
    m.q = {i: data.customers[i - 1].ambient + data.customers[i - 1].cold for i in m.V}
    m.x = pyo.Var(m.A, domain=pyo.Binary)
    m.t = pyo.Var(m.V, bounds=lambda m, i: m.window[i])
    qmax = max(vt.capacity for vt in data.vehicle_types)
    m.l = pyo.Var(m.V, bounds=lambda m, i: (m.q[i], qmax))
    m.obj = pyo.Objective(
        expr=sum(data.distance[i][j] * m.x[k, i, j] for k, i, j in arcs), sense=pyo.minimize
    )
    m.arcs_in = {j: [] for j in m.N}
    m.arcs_out = {i: [] for i in m.N}
    for a in arcs:
        m.arcs_out[a[1]].append(a)
        m.arcs_in[a[2]].append(a)
    _add_visits(m, data)
    _add_flow(m, data)
    _add_fleet(m, data)
    _add_time(m, data)
    _add_load(m, data)
    _add_duration(m, data)
    _add_vehicle_bound(m, data)
    return m


def _arcs(data: RoutingData) -> list[tuple[int, int, int]]:
    """(k, i, j) for every arc a type-k vehicle could use in some feasible route."""
    out = []
    n = len(data.customers)
    for k, vt in enumerate(data.vehicle_types):
        if vt.count == 0:
            continue
        mine = [i for i in range(1, n + 1) if data.customers[i - 1].demand(vt.temperature) > 0]
        mine = [
            i
            for i in mine
            if data.customers[i - 1].demand(vt.temperature) <= vt.capacity + EPS
            and serves_alone(data, k, i - 1)
        ]
        for i in mine:
            out.append((k, 0, i))
            out.append((k, i, 0))
        for i in mine:
            ci = data.customers[i - 1]
            for j in mine:
                if i == j:
                    continue
                cj = data.customers[j - 1]
                if ci.ready + ci.service + data.travel_time(k, i, j) > cj.due + EPS:
                    continue
                if ci.demand(vt.temperature) + cj.demand(vt.temperature) > vt.capacity + EPS:
                    continue
                out.append((k, i, j))
    return out


def _add_visits(m: Any, data: RoutingData) -> None:
    """Each visit is entered once:  sum_{(k,i,j) in A, j fixed} x[k,i,j] = 1  for j in V."""
    import pyomo.environ as pyo

    @m.Constraint(m.V)
    def visit_once(m: Any, j: int) -> Any:
        if not m.arcs_in[j]:  # no vehicle can reach it (check_demand reports this first)
            return pyo.Constraint.Infeasible
        return sum(m.x[a] for a in m.arcs_in[j]) == 1


def _add_flow(m: Any, data: RoutingData) -> None:
    """Flow conservation per type:  sum_i x[k,i,j] = sum_i x[k,j,i]  for k in K, j in V."""
    import pyomo.environ as pyo

    @m.Constraint(m.K, m.V)
    def flow(m: Any, k: int, j: int) -> Any:
        into = [a for a in m.arcs_in[j] if a[0] == k]
        out = [a for a in m.arcs_out[j] if a[0] == k]
        if not into and not out:
            return pyo.Constraint.Skip
        return sum(m.x[a] for a in into) == sum(m.x[a] for a in out)


def _add_fleet(m: Any, data: RoutingData) -> None:
    """Fixed fleets:  sum_j x[k,0,j] <= count_k  for types with a count."""
    import pyomo.environ as pyo

    @m.Constraint(m.K)
    def fleet(m: Any, k: int) -> Any:
        count = data.vehicle_types[k].count
        starts = [a for a in m.arcs_out[0] if a[0] == k]
        if count is None or not starts:
            return pyo.Constraint.Skip
        return sum(m.x[a] for a in starts) <= count


def _add_time(m: Any, data: RoutingData) -> None:
    """Time propagation with a tight big-M per arc (M_ij = max(0, b_i + s_i - a_j)):

    t_j >= t_i + s_i - M_ij + sum_k (tau_ijk + M_ij) x[k,i,j]    for i != j in V
    t_j >= opens + sum_k tau_0jk x[k,0,j]                         for j in V
    t_i + s_i + sum_k tau_i0k x[k,i,0] <= closes                  for i in V
    """
    import pyomo.environ as pyo

    pairs: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for a in m.A:
        if a[1] != 0 and a[2] != 0:
            pairs.setdefault((a[1], a[2]), []).append(a)
    m.PAIRS = pyo.Set(initialize=sorted(pairs), dimen=2)

    def s(i: int) -> float:
        return data.customers[i - 1].service

    @m.Constraint(m.PAIRS)
    def precedence(m: Any, i: int, j: int) -> Any:
        big = max(0.0, m.window[i][1] + s(i) - m.window[j][0])
        return m.t[j] >= m.t[i] + s(i) - big + sum(
            (data.travel_time(a[0], i, j) + big) * m.x[a] for a in pairs[(i, j)]
        )

    @m.Constraint(m.V)
    def from_depot(m: Any, j: int) -> Any:
        return m.t[j] >= data.depot.opens + sum(
            data.travel_time(a[0], 0, j) * m.x[a] for a in m.arcs_in[j] if a[1] == 0
        )

    @m.Constraint(m.V)
    def to_depot(m: Any, i: int) -> Any:
        if not math.isfinite(data.depot.closes):
            return pyo.Constraint.Skip
        return (
            m.t[i]
            + s(i)
            + sum(data.travel_time(a[0], i, 0) * m.x[a] for a in m.arcs_out[i] if a[2] == 0)
            <= data.depot.closes
        )


def _add_load(m: Any, data: RoutingData) -> None:
    """Loads (MTZ lifted as Desrochers-Laporte), X_ij = sum_k x[k,i,j], Q = largest capacity:

    l_j >= l_i + q_j - Q + Q X_ij + (Q - q_i - q_j) X_ji          for i != j in V
    l_i <= sum_k Q_k sum_j x[k,j,i]       (only when capacities differ)
    """
    import pyomo.environ as pyo

    Q = max(vt.capacity for vt in data.vehicle_types)
    between: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for a in m.A:
        if a[1] != 0 and a[2] != 0:
            between.setdefault((a[1], a[2]), []).append(a)
    m.LOAD_PAIRS = pyo.Set(initialize=sorted(between), dimen=2)

    @m.Constraint(m.LOAD_PAIRS)
    def load_propagation(m: Any, i: int, j: int) -> Any:
        back = between.get((j, i), [])
        lift = Q - m.q[i] - m.q[j]
        expr = m.l[i] + m.q[j] - Q + Q * sum(m.x[a] for a in between[(i, j)])
        if lift > 0 and back:
            expr = expr + lift * sum(m.x[a] for a in back)
        return m.l[j] >= expr

    if len({vt.capacity for vt in data.vehicle_types}) > 1:

        @m.Constraint(m.V)
        def type_capacity(m: Any, i: int) -> Any:
            return m.l[i] <= sum(data.vehicle_types[a[0]].capacity * m.x[a] for a in m.arcs_in[i])


def _add_duration(m: Any, data: RoutingData) -> None:
    """Maximum route duration D_k, when it binds, with r_i the route's depot departure
    (H = closes - opens, or the latest due date when the depot never closes):

        r_j <= t_j - sum_k tau_0jk x[k,0,j] + H (1 - X_0j)            for j in V
        r_j <= r_i + H (1 - X_ij)                                      for i != j in V
        t_i + s_i + sum_k tau_i0k x[k,i,0] - r_i <= sum_k D_k x[k,i,0] + H (1 - X_i0)
    """
    import pyomo.environ as pyo

    opens = data.depot.opens
    ends = [data.depot.closes] if math.isfinite(data.depot.closes) else []
    ends += [
        m.window[i][1] + data.customers[i - 1].service + max(data.travel_time(k, i, 0) for k in m.K)
        for i in m.V
    ]
    H = max(ends) - opens
    binding = [
        vt.max_duration is not None and vt.max_duration < H - EPS for vt in data.vehicle_types
    ]
    if not any(binding):
        return
    m.r = pyo.Var(m.V, bounds=(opens, opens + H))

    def D(k: int) -> float:
        d = data.vehicle_types[k].max_duration
        return H if d is None else min(d, H)

    @m.Constraint(m.V)
    def departure(m: Any, j: int) -> Any:
        first = [a for a in m.arcs_in[j] if a[1] == 0]
        return m.r[j] <= m.t[j] - sum(data.travel_time(a[0], 0, j) * m.x[a] for a in first) + H * (
            1 - sum(m.x[a] for a in first)
        )

    @m.Constraint(m.PAIRS)
    def same_departure(m: Any, i: int, j: int) -> Any:
        arcs = [a for a in m.arcs_out[i] if a[2] == j]
        return m.r[j] <= m.r[i] + H * (1 - sum(m.x[a] for a in arcs))

    @m.Constraint(m.V)
    def duration(m: Any, i: int) -> Any:
        last = [a for a in m.arcs_out[i] if a[2] == 0]
        return m.t[i] + data.customers[i - 1].service + sum(
            data.travel_time(a[0], i, 0) * m.x[a] for a in last
        ) - m.r[i] <= sum(D(a[0]) * m.x[a] for a in last) + H * (1 - sum(m.x[a] for a in last))


def _add_vehicle_bound(m: Any, data: RoutingData) -> None:
    """At least ceil(total demand / largest capacity) vehicles leave the depot (a valid cut)."""
    Q = max(vt.capacity for vt in data.vehicle_types)
    need = math.ceil(sum(m.q.values()) / Q - EPS)

    @m.Constraint()
    def vehicle_bound(m: Any) -> Any:
        return sum(m.x[a] for a in m.arcs_out[0]) >= need


def _warm_start(m: Any, data: RoutingData, plans: Sequence[RoutePlan]) -> None:
    """Set every variable to the values of the given (feasible) routes."""
    for a in m.A:
        m.x[a].value = 0
    for plan in plans:
        k = plan.vehicle_type
        s = route_schedule(data, k, plan.customers)
        nodes = [0] + [c + 1 for c in plan.customers] + [0]
        for i, j in zip(nodes, nodes[1:], strict=False):
            if (k, i, j) in m.x:
                m.x[k, i, j].value = 1
        load = 0.0
        for p, c in enumerate(plan.customers):
            i = c + 1
            load += m.q[i]
            lo, hi = m.window[i]
            m.t[i].value = min(max(s.starts[p], lo), hi)
            m.l[i].value = load
            if hasattr(m, "r"):
                m.r[i].value = s.departure


def _read_routes(m: Any, data: RoutingData) -> list[RoutePlan]:
    succ: dict[tuple[int, int], list[int]] = {}
    for k, i, j in m.A:
        value = m.x[k, i, j].value
        if value is not None and value > 0.5:
            succ.setdefault((k, i), []).append(j)
    plans = []
    for k in m.K:
        for first in succ.get((k, 0), []):
            seq, node, guard = [], first, 0
            while node != 0 and guard <= len(data.customers):
                seq.append(node - 1)
                node = succ.get((k, node), [0])[0]
                guard += 1
            plans.append(RoutePlan(k, tuple(seq)))
    return plans


def solve_milp(
    data: RoutingData,
    start: list[RoutePlan] | None,
    deadline: float,
    seed: int,
    solver: str,
) -> tuple[list[RoutePlan] | None, Any]:
    """Build, warm-start and solve the MILP until `deadline`; (routes or None, SolveResult)."""
    from optimizer.solvers import SolverOptions, solve_model

    m = build_model(data)
    if start:
        _warm_start(m, data, start)
    left = max(0.05, deadline - time.perf_counter())
    options = SolverOptions(name=solver, time_limit=left, mip_gap=1e-6, threads=1, seed=seed)
    result = solve_model(m, options, warmstart=bool(start), deadline=deadline)
    plans = _read_routes(m, data) if result.has_solution else None
    return plans, result
