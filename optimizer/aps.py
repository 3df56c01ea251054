"""Plant scheduling (APS): the plans the twin executes.

``solve(data, ...) -> ApsResult`` schedules every batch step of the planned orders on the
plant's units. ``ApsData.from_scenario`` prepares the data (``optimizer.aps_data``),
``build_model`` states the MILP, the list-scheduling decoder (``optimizer.aps_schedule``)
turns unit sequences into times exactly as the twin would run them, and the search
(``optimizer.aps_search``) finds good sequences. ``check_plan`` verifies a plan independently.

Formulation (the MILP; ``build_model``)
---------------------------------------
Sets: operations ``I`` (one per batch and recipe step; a sub-problem frees a subset), units
``U``, eligible pairs ``E = {(i, u)}`` (u of i's equipment class), unit-sharing pairs
``P = {(i, j, u): i < j, (i, u), (j, u) in E}``, step links ``L = {(i, j)}`` (j is the next
step of i's batch), orders ``O`` with their last operations.

Data: processing time ``p_i``, setup ``q_i``, ready time ``r_i``, unit availability ``a_u``,
changeover clean ``c_iju`` (minor for the same product, matrix/major on a change), hold limit
``h_i``, due date ``d_o`` (less QC lead time), weight ``w_o`` (from priority), remaining work
after i ``tail_i`` (0 in the full model), big-M ``M``.

Variables: ``x_iu`` binary (i runs on u), ``y_ij`` binary (i before j on a shared unit),
``s_i >= r_i`` processing start, ``C_o`` completion, ``T_o >= 0`` tardiness, ``Cmax``.

Constraints (one ``_add_<concern>`` each):

- assignment:    sum_u x_iu = 1
- availability:  s_i - q_i >= a_u - M (1 - x_iu)
- precedence:    s_j - q_j >= s_i + p_i                                (i, j) in L
- hold time:     s_j - (s_i + p_i) <= h_i                              (i, j) in L, h_i set
- no overlap:    s_j - q_j - c_iju >= s_i + p_i - M (1 - y_ij) - M (2 - x_iu - x_ju)
                 s_i - q_i - c_jiu >= s_j + p_j - M y_ij - M (2 - x_iu - x_ju)
- completion:    C_o >= s_i + p_i + tail_i,  T_o >= C_o - d_o,  Cmax >= C_o
- cleaning (only with a cleaning weight): immediate successors z_iju, first z0_ju binary,
                 sum_i z_iju + z0_ju = x_ju,  sum_j z_iju <= x_iu,  sum_j z0_ju <= 1,
                 z_iju <= y_ij (i < j) or 1 - y_ji (i > j);
                 cleaning = sum c_iju z_iju + sum c0_ju z0_ju

Objective: ``alpha * sum_o w_o T_o + beta * Cmax + gamma * cleaning`` (+ a tiny weight on
``sum s_i`` in sub-problems, which left-shifts them). Unit calendars (a step may only start
in an open window), planned maintenance, campaign cleans, dirty-hold cleans, direct transfers
and staff capacity are not in the MILP: the decoder re-times every MILP sequence with all of
them, and only decoded schedules are ever returned. On instances without those features the
two agree, so the MILP proves optimality (see the tests).

Search (``solve``)
------------------
1. Dispatch rules (fifo, edd, spt, priority, min_changeover, slack, campaign), best kept:
   a feasible plan in milliseconds.
2. Simulated annealing on the segment list (seeded): 30 % of the budget on small problems,
   50 % on large ones.
3. Small problems (<= ``milp_ops`` operations): the full MILP, warm-started from the best
   schedule. Larger ones: large-neighbourhood search - a time window of about ``lns_ops``
   operations (over all units, or on the units of one equipment class) is freed, the rest
   fixed, and the window's sub-MILP (at most 2 s each) solved with HiGHS from the current
   sequence; a better decoded result is kept (20 % of the budget).
4. Annealing again with whatever time is left. The time limit is respected (each MILP gets
   at most the time left).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pyomo.environ as pyo

from optimizer.aps_data import (
    ApsData,
    Objective,
    PlanInfeasibleError,
    UnitStart,
    planning_duration,
)
from optimizer.aps_schedule import Schedule, Segment, decode, segments_of
from optimizer.aps_search import RULES, anneal, best_rule, list_from_sequence
from optimizer.solvers import (
    DEFAULT_SOLVER,
    SolverOptions,
    SolverUnavailableError,
    check_solver,
    solve_model,
)
from twin.plan import Plan, PlannedActivity, PlannedOperation

__all__ = [
    "ApsData",
    "ApsResult",
    "Objective",
    "PlanInfeasibleError",
    "SolverUnavailableError",
    "UnitStart",
    "build_model",
    "check_plan",
    "solve",
    "planning_duration",
    "RULES",
    "to_plan",
]

ApsStatus = Literal["optimal", "feasible", "infeasible", "time_limit"]
_ANNEAL_SHARE = 0.5
"""Share of the budget for the first annealing on problems too large for the full MILP."""
_LNS_SHARE = 0.2
"""Share of the budget for the large-neighbourhood search that follows (annealing gets the
rest): on the reference plant it finds improvements from dispatch-rule starts, rarely after
annealing, so it gets a small share."""


@dataclass(frozen=True)
class ApsResult:
    """A solve's plan and report; plain Python, no Pyomo.

    status: ``optimal`` (proven by the MILP), ``time_limit`` (a plan, improved until the time
    limit, no proof), ``feasible`` (a plan, search stopped by ``max_iter``), ``infeasible``
    (the best plan found still breaks a hold time: ``hold_violation_hours`` > 0).
    """

    plan: Plan
    status: ApsStatus
    objective: float
    bound: float | None
    gap: float | None
    seconds: float
    tardiness: dict[str, float]  # hours late per order (production due)
    weighted_tardiness: float
    cleaning_hours: float
    makespan: float
    hold_violation_hours: float
    stages: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": self.seconds,
            "operations": len(self.plan.operations),
            "weighted_tardiness": self.weighted_tardiness,
            "late_orders": sum(1 for v in self.tardiness.values() if v > 1e-6),
            "tardiness_per_order": self.tardiness,
            "cleaning_hours": self.cleaning_hours,
            "makespan": self.makespan,
            "hold_violation_hours": self.hold_violation_hours,
            "stages": self.stages,
        }


# --------------------------------------------------------------------------- the MILP
@dataclass(frozen=True)
class _Sub:
    """Which operations a MILP decides and what the rest fixes."""

    free: tuple[int, ...]
    ready: dict[int, float]  # earliest processing-step dispatch (fixed predecessors, release)
    avail: dict[int, float]  # unit -> free from
    tail: dict[int, float]  # remaining work after the operation (sub-problems)
    big_m: float
    compact: float = 0.0  # weight of sum s_i
    last_product: dict[int, str | None] = field(default_factory=dict)  # unit -> before the ops


def _full_sub(data: ApsData, horizon: float) -> _Sub:
    ready = {}
    for b in data.batches:
        if b.ops:
            ready[b.ops[0]] = b.ready
    avail = {u: max(data.t0, unit.start.free) for u, unit in enumerate(data.units)}
    last = {u: unit.start.last_product for u, unit in enumerate(data.units)}
    return _Sub(tuple(range(len(data.ops))), ready, avail, {}, horizon, last_product=last)


def build_model(data: ApsData, sub: _Sub | None = None,
                objective: Objective = Objective()) -> pyo.ConcreteModel:
    """The scheduling MILP (module docstring) for all operations, or the sub-problem ``sub``."""
    if sub is None:
        horizon = max((b.ready for b in data.batches), default=0.0) + sum(
            o.dur + o.setup for o in data.ops) + sum(
            max(u.major, u.minor, *(v for row in u.matrix.values() for v in row.values()), 0.0)
            for u in data.units) * len(data.ops)
        sub = _full_sub(data, horizon)
    m = pyo.ConcreteModel(name="aps")
    m.data, m.sub = data, sub
    free = set(sub.free)
    m.OPS = pyo.Set(initialize=sorted(free))
    m.ELIG = pyo.Set(dimen=2, initialize=[(i, u) for i in sorted(free) for u in data.ops[i].units])
    pairs = []
    ops = sorted(free)
    by_unit: dict[int, list[int]] = {}
    for i in ops:
        for u in data.ops[i].units:
            by_unit.setdefault(u, []).append(i)
    for u, lst in by_unit.items():
        for a in range(len(lst)):
            for b in range(a + 1, len(lst)):
                pairs.append((lst[a], lst[b], u))
    m.PAIRU = pyo.Set(dimen=3, initialize=pairs)
    m.PAIRS = pyo.Set(dimen=2, initialize=sorted({(i, j) for i, j, _ in pairs}))
    links = []
    for b in data.batches:
        for a, c in zip(b.ops, b.ops[1:], strict=False):
            if a in free and c in free:
                links.append((a, c))
    m.LINKS = pyo.Set(dimen=2, initialize=links)
    last = {}
    for oi, o in enumerate(data.orders):
        lo = [i for b in o.batches for i in data.batches[b].ops if i in free]
        if lo:
            last[oi] = lo
    m.ORDERS = pyo.Set(initialize=sorted(last))
    m.last = last
    _add_variables(m, data, sub)
    _add_assignment(m, data)
    _add_availability(m, data, sub)
    _add_precedence(m, data)
    _add_hold_times(m, data)
    _add_no_overlap(m, data, sub)
    _add_completion(m, data, sub)
    if objective.cleaning:
        _add_cleaning(m, data, sub)
    _add_objective(m, data, sub, objective)
    return m


def _add_variables(m: pyo.ConcreteModel, data: ApsData, sub: _Sub) -> None:
    """x_iu, y_ij binary; r_i <= s_i <= M; C_o, T_o >= 0; Cmax."""
    m.x = pyo.Var(m.ELIG, domain=pyo.Binary)
    m.y = pyo.Var(m.PAIRS, domain=pyo.Binary)

    def s_bounds(_m, i):
        op = data.ops[i]
        return (sub.ready.get(i, data.t0) + op.setup, sub.big_m)

    m.s = pyo.Var(m.OPS, bounds=s_bounds)
    m.C = pyo.Var(m.ORDERS, domain=pyo.NonNegativeReals)
    m.T = pyo.Var(m.ORDERS, domain=pyo.NonNegativeReals)
    m.Cmax = pyo.Var(domain=pyo.NonNegativeReals)


def _add_assignment(m: pyo.ConcreteModel, data: ApsData) -> None:
    """sum_u x_iu = 1 for every operation i."""

    @m.Constraint(m.OPS)
    def assign(m, i):
        return sum(m.x[i, u] for u in data.ops[i].units) == 1


def _add_availability(m: pyo.ConcreteModel, data: ApsData, sub: _Sub) -> None:
    """s_i - q_i >= a_u - M (1 - x_iu): a unit is taken only once it is free."""
    pairs = [(i, u) for i, u in m.ELIG if sub.avail.get(u, data.t0) > data.t0]
    m.AVAIL = pyo.Set(dimen=2, initialize=pairs)

    @m.Constraint(m.AVAIL)
    def availability(m, i, u):
        return m.s[i] - data.ops[i].setup >= sub.avail[u] - sub.big_m * (1 - m.x[i, u])


def _add_precedence(m: pyo.ConcreteModel, data: ApsData) -> None:
    """s_j - q_j >= s_i + p_i for consecutive steps i -> j of a batch."""

    @m.Constraint(m.LINKS)
    def precedence(m, i, j):
        return m.s[j] - data.ops[j].setup >= m.s[i] + data.ops[i].dur


def _add_hold_times(m: pyo.ConcreteModel, data: ApsData) -> None:
    """s_j - (s_i + p_i) <= h_i: the next step starts within the hold limit of i's end."""
    m.HOLDS = pyo.Set(dimen=2, initialize=[(i, j) for i, j in m.LINKS
                                            if data.ops[i].max_hold is not None])

    @m.Constraint(m.HOLDS)
    def hold(m, i, j):
        return m.s[j] - m.s[i] - data.ops[i].dur <= data.ops[i].max_hold


def _add_no_overlap(m: pyo.ConcreteModel, data: ApsData, sub: _Sub) -> None:
    """Both orders of two operations on a shared unit, with the changeover clean between:
    s_j - q_j - c_iju >= s_i + p_i - M (1 - y_ij) - M (2 - x_iu - x_ju) and the mirror."""
    big = sub.big_m
    prod = [data.batches[o.batch].product for o in data.ops]

    @m.Constraint(m.PAIRU)
    def i_before_j(m, i, j, u):
        c = data.units[u].change_clean(prod[i], prod[j])
        return (m.s[j] - data.ops[j].setup - c >= m.s[i] + data.ops[i].dur
                - big * (1 - m.y[i, j]) - big * (2 - m.x[i, u] - m.x[j, u]))

    @m.Constraint(m.PAIRU)
    def j_before_i(m, i, j, u):
        c = data.units[u].change_clean(prod[j], prod[i])
        return (m.s[i] - data.ops[i].setup - c >= m.s[j] + data.ops[j].dur
                - big * m.y[i, j] - big * (2 - m.x[i, u] - m.x[j, u]))


def _add_completion(m: pyo.ConcreteModel, data: ApsData, sub: _Sub) -> None:
    """C_o >= s_i + p_i + tail_i for the order's operations; T_o >= C_o - d_o; Cmax >= C_o."""
    m.OLAST = pyo.Set(dimen=2, initialize=[(o, i) for o in m.ORDERS for i in m.last[o]])

    @m.Constraint(m.OLAST)
    def completion(m, o, i):
        return m.C[o] >= m.s[i] + data.ops[i].dur + sub.tail.get(i, 0.0)

    @m.Constraint(m.ORDERS)
    def tardiness(m, o):
        return m.T[o] >= m.C[o] - data.orders[o].due

    @m.Constraint(m.ORDERS)
    def makespan(m, o):
        return m.Cmax >= m.C[o]


def _add_cleaning(m: pyo.ConcreteModel, data: ApsData, sub: _Sub) -> None:
    """Immediate successors, for the cleaning term (only with a cleaning weight):
    z_iju = 1 if j directly follows i on u, z0_ju = 1 if j is first on u;
    sum_i z_iju + z0_ju = x_ju;  sum_j z_iju <= x_iu;  sum_j z0_ju <= 1;
    z_iju <= y_ij (i < j) or 1 - y_ji (i > j): a successor comes later.
    cleaning = sum c_iju z_iju + sum c0_ju z0_ju (c0 from the unit's last product)."""
    arcs = [(i, j, u) for i, j, u in m.PAIRU] + [(j, i, u) for i, j, u in m.PAIRU]
    m.ARCS = pyo.Set(dimen=3, initialize=arcs)
    m.z = pyo.Var(m.ARCS, domain=pyo.Binary)
    m.z0 = pyo.Var(m.ELIG, domain=pyo.Binary)
    pred: dict[tuple[int, int], list[int]] = {}
    succ: dict[tuple[int, int], list[int]] = {}
    for i, j, u in arcs:
        pred.setdefault((j, u), []).append(i)
        succ.setdefault((i, u), []).append(j)

    @m.Constraint(m.ELIG)
    def one_predecessor(m, j, u):
        return sum(m.z[i, j, u] for i in pred.get((j, u), ())) + m.z0[j, u] == m.x[j, u]

    @m.Constraint(m.ELIG)
    def one_successor(m, i, u):
        return sum(m.z[i, j, u] for j in succ.get((i, u), ())) <= m.x[i, u]

    units = sorted({u for _, u in m.ELIG})
    m.ZUNITS = pyo.Set(initialize=units)

    @m.Constraint(m.ZUNITS)
    def one_first(m, u):
        return sum(m.z0[j, v] for j, v in m.ELIG if v == u) <= 1

    @m.Constraint(m.ARCS)
    def successor_later(m, i, j, u):
        return m.z[i, j, u] <= (m.y[i, j] if i < j else 1 - m.y[j, i])

    prod = [data.batches[o.batch].product for o in data.ops]
    m.cleaning = pyo.Expression(expr=sum(
        data.units[u].change_clean(prod[i], prod[j]) * m.z[i, j, u] for i, j, u in arcs
    ) + sum(data.units[u].change_clean(sub.last_product.get(u), prod[j]) * m.z0[j, u]
            for j, u in m.ELIG))


def _add_objective(m: pyo.ConcreteModel, data: ApsData, sub: _Sub, objective: Objective) -> None:
    """min alpha sum_o w_o T_o + beta Cmax (+ compact * sum_i s_i)."""
    expr = objective.tardiness * sum(data.orders[o].weight * m.T[o] for o in m.ORDERS)
    expr += objective.makespan * m.Cmax
    if objective.cleaning:
        expr += objective.cleaning * m.cleaning
    if sub.compact:
        expr += sub.compact * sum(m.s[i] for i in m.OPS)
    m.obj = pyo.Objective(expr=expr, sense=pyo.minimize)


def _warm_start(m: pyo.ConcreteModel, data: ApsData, sched: Schedule) -> None:
    for i in m.OPS:
        m.s[i].set_value(min(max(sched.start[i], m.s[i].lb), m.s[i].ub))
        for u in data.ops[i].units:
            m.x[i, u].set_value(1 if sched.unit[i] == u else 0)
    for i, j in m.PAIRS:
        m.y[i, j].set_value(1 if sched.start[i] <= sched.start[j] else 0)
    cmax = 0.0
    for o in m.ORDERS:
        c = max(m.s[i].value + data.ops[i].dur + m.sub.tail.get(i, 0.0) for i in m.last[o])
        m.C[o].set_value(c)
        m.T[o].set_value(max(0.0, c - data.orders[o].due))
        cmax = max(cmax, c)
    m.Cmax.set_value(cmax)
    if hasattr(m, "z"):
        for v in m.z.values():
            v.set_value(0)
        for v in m.z0.values():
            v.set_value(0)
        seqs: dict[int, list[int]] = {}
        for i in sorted(m.OPS, key=lambda i: sched.start[i]):
            seqs.setdefault(sched.unit[i], []).append(i)
        for u, seq in seqs.items():
            m.z0[seq[0], u].set_value(1)
            for a, b in zip(seq, seq[1:], strict=False):
                m.z[a, b, u].set_value(1)


def _read_solution(m: pyo.ConcreteModel, data: ApsData) -> tuple[dict[int, int], dict[int, float]]:
    units, starts = {}, {}
    for i in m.OPS:
        units[i] = max(data.ops[i].units, key=lambda u: pyo.value(m.x[i, u]))
        starts[i] = float(pyo.value(m.s[i]))
    return units, starts


# --------------------------------------------------------------------------- solve
def _relist(segments: list[Segment], order: list[int], free_segs: set[int],
            first_start: dict[int, float]) -> list[int]:
    """``order`` with the free segments' places refilled in MILP start order."""
    pos = [k for k, si in enumerate(order) if si in free_segs]
    new = sorted((si for si in order if si in free_segs), key=lambda si: (first_start[si], si))
    out = list(order)
    for k, si in zip(pos, new, strict=True):
        out[k] = si
    return out


def _schedule_from_milp(data, segments, order, sched, units, starts, free):
    seg_of = {}
    for seg in segments:
        for o in seg.ops:
            seg_of[o] = seg.index
    free_segs = {seg_of[i] for i in free}
    first = {}
    for si in free_segs:
        seg = segments[si]
        first[si] = min(starts.get(o, sched.start[o]) for o in seg.ops)
    new_order = _relist(segments, order, free_segs, first)
    assign = {i: sched.unit[i] for i in range(len(data.ops))}
    assign.update(units)
    return new_order, assign, decode(data, segments, new_order, assign)


def solve(
    data: ApsData,
    objective: str | Objective = "tardiness",
    time_limit: float = 60.0,
    solver: str = DEFAULT_SOLVER,
    seed: int = 0,
    threads: int | None = 1,
    mip_gap: float | None = None,
    hard_due: bool = False,
    milp_ops: int = 60,
    lns_ops: int = 20,
    use_milp: bool = True,
    max_iter: int | None = None,
    progress: ProgressHook | None = None,
    initial: dict[str, list[tuple[str, int]]] | None = None,
) -> ApsResult:
    """Schedule ``data`` within ``time_limit`` seconds; see the module docstring.

    ``progress`` (optional) is called as ``progress(stage, incumbent, bound, elapsed)`` when a
    stage ends and when the large-neighbourhood search improves the incumbent (``stage`` one
    of "rules", "anneal", "milp", "lns", "done"; objective values; seconds since the call).

    ``initial`` names sequences of (batch key, step) to start from besides the
    built-in rule lists: the twin's own dispatch rules run ahead
    (``twin.evaluate.rule_sequences``), the plan being replaced. The best of all is the warm
    start, so the result is never worse (in the decoder) than any of them.

    Raises ``SolverUnavailableError`` for an unknown or missing solver (before any work) and
    ``PlanInfeasibleError`` when ``hard_due`` is set and some order cannot be on time even if
    each of its batches ran alone.
    """
    t_start = time.perf_counter()
    report = _reporter(progress, t_start)
    deadline = t_start + time_limit
    obj = Objective.parse(objective)
    if use_milp:
        check_solver(solver)
    if hard_due:
        _check_due(data)
    rng = random.Random(seed)
    segments = segments_of(data)
    stages: dict[str, Any] = {}
    if not data.ops:
        return _result(data, Schedule((), (), (), (), (), 0.0, 0.0, 0.0, 0.0,
                                      tuple(0.0 for _ in data.orders)),
                       obj, "optimal", 0.0, t_start, stages)
    extra = {name: list_from_sequence(data, segments, seq) for name, seq in (initial or {}).items()}
    rule, order, sched, costs = best_rule(data, segments, obj, extra)
    stages["rules"] = {"best": rule, "costs": costs}
    best_c = sched.cost(obj)
    report("rules", best_c, None)
    bound: float | None = None
    status: ApsStatus = "feasible"
    small = use_milp and len(data.ops) <= milp_ops
    # 2. annealing
    share = 0.3 if small else (_ANNEAL_SHARE if use_milp else 1.0)
    order, sched, moves = anneal(data, segments, order, obj,
                                 t_start + share * time_limit, rng,
                                 max_iter=None if max_iter is None else max_iter // 2)
    stages["anneal_1"] = {"moves": moves, "cost": sched.cost(obj)}
    best_c = sched.cost(obj)
    report("anneal", best_c, None)
    # 3. MILP: full or neighbourhoods
    milp_info: dict[str, Any] = {}
    if small and best_c > 1e-9:
        left = deadline - time.perf_counter()
        if left > 0.2:
            res, new = _solve_full(data, segments, order, sched, obj, solver, seed, threads,
                                   mip_gap, left, deadline)
            milp_info = {"status": res.status, "objective": res.objective, "bound": res.bound,
                         "seconds": res.seconds}
            if new is not None and new[2].cost(obj) < best_c - 1e-9:
                order, sched = new[0], new[2]
                best_c = sched.cost(obj)
            if res.bound is not None and sched.hold_violation == 0 and _milp_is_exact(data):
                bound = res.bound
                if res.status == "optimal" and best_c <= res.objective + 1e-6:
                    status = "optimal"
    elif small and best_c <= 1e-9:
        status, bound = "optimal", 0.0
    elif use_milp:
        lns_end = t_start + (_ANNEAL_SHARE + _LNS_SHARE) * time_limit
        order, sched, milp_info = _lns(data, segments, order, sched, obj, solver, seed, threads,
                                       lns_ops, lns_end, rng, report)
        best_c = sched.cost(obj)
    stages["milp"] = milp_info
    report("lns" if milp_info.get("lns_windows") else "milp", best_c, bound)
    # 4. annealing again
    if status != "optimal" and deadline - time.perf_counter() > 0.05:
        order2, sched2, moves = anneal(data, segments, order, obj, deadline, rng,
                                       max_iter=None if max_iter is None else max_iter // 2)
        stages["anneal_2"] = {"moves": moves, "cost": sched2.cost(obj)}
        if sched2.cost(obj) < best_c - 1e-9:
            order, sched = order2, sched2
        report("anneal", sched.cost(obj), bound)
    if bound is not None and status != "optimal" and sched.cost(obj) <= bound + 1e-6:
        status = "optimal"
    if status != "optimal" and max_iter is None:
        status = "time_limit"  # a plan, searched until the time limit without a proof
    if sched.hold_violation > 1e-6:
        status = "infeasible"  # best effort: some hold time could not be met (see report)
    report("done", sched.cost(obj), bound)
    return _result(data, sched, obj, status, bound, t_start, stages)


ProgressHook = Callable[[str, "float | None", "float | None", float], None]
"""``progress(stage, incumbent, bound, elapsed)``: see :func:`solve`."""


def _reporter(progress: ProgressHook | None, t_start: float) -> Callable[..., None]:
    """``report(stage, incumbent, bound)``: calls ``progress`` with the elapsed seconds (a
    no-op without one). Watching a solve is kept out of the search itself."""
    if progress is None:
        return lambda *_args: None

    def report(stage: str, incumbent: float | None, bound: float | None) -> None:
        progress(stage, incumbent, bound, time.perf_counter() - t_start)

    return report


def _milp_is_exact(data: ApsData) -> bool:
    """Whether the MILP states the whole problem (so its bound bounds the decoded schedules):
    no calendars, maintenance, campaign/hold-time cleans, direct transfers or staff."""
    for u in data.units:
        if (not u.calendar.always or u.maint_every or u.maint_every_batches
                or u.campaign_batches or u.dirty_hold is not None or u.clean_hold is not None
                or u.clean_staff is not None or u.start.free > data.t0):
            return False
    return all(op.staff is None and not op.direct for op in data.ops) and not data.busy


def _solve_full(data, segments, order, sched, obj, solver, seed, threads, mip_gap, left,
                deadline):
    horizon = sched.makespan + sum(o.dur + o.setup for o in data.ops) + 100.0
    sub = _full_sub(data, horizon)
    m = build_model(data, sub, obj)
    _warm_start(m, data, sched)
    opts = SolverOptions(name=solver, time_limit=max(0.1, left), mip_gap=mip_gap,
                         threads=threads, seed=seed)
    res = solve_model(m, opts, warmstart=True, deadline=deadline)
    if not res.has_solution:
        return res, None
    units, starts = _read_solution(m, data)
    return res, _schedule_from_milp(data, segments, order, sched, units, starts, sub.free)


def _lns(data, segments, order, sched, obj, solver, seed, threads, lns_ops, end, rng,
         report=lambda *_args: None):
    """Large-neighbourhood search: free a time window of operations, fix the rest, solve the
    window's sub-MILP warm-started, keep a better decoded schedule."""
    tries = improved = 0
    best_c = sched.cost(obj)
    n = len(data.ops)
    by_start = sorted(range(n), key=lambda i: sched.start[i])
    by_cls: dict[str, list[int]] = {}
    for i in range(n):
        by_cls.setdefault(data.ops[i].cls, []).append(i)
    while time.perf_counter() < end - 0.3:
        tries += 1
        if tries % 2:  # a time window over all units
            k0 = rng.randrange(max(1, n - lns_ops))
            free = sorted(by_start[k0:k0 + lns_ops])
        else:  # a longer time window on the units of one class (its cleaning sequence)
            cls_ops = sorted(by_cls[data.ops[rng.randrange(n)].cls], key=lambda i: sched.start[i])
            k0 = rng.randrange(max(1, len(cls_ops) - lns_ops))
            free = sorted(cls_ops[k0:k0 + lns_ops])
        fset = set(free)
        t_lo = min(sched.start[i] for i in free)
        ready, tail = {}, {}
        for b in data.batches:
            prev_end = b.ready
            rest = 0.0
            for i in reversed(b.ops):
                tail[i] = rest
                rest += data.ops[i].dur + data.ops[i].setup
            for i in b.ops:
                if i in fset:
                    ready[i] = prev_end
                    break
                prev_end = sched.end[i]
        avail, last_product = {}, {}
        for u in range(len(data.units)):
            before = [i for i in range(n)
                      if sched.unit[i] == u and i not in fset and sched.start[i] < t_lo]
            if before:
                k = max(before, key=lambda i: sched.end[i])
                avail[u] = sched.end[k]
                last_product[u] = data.batches[data.ops[k].batch].product
            else:
                avail[u] = data.units[u].start.free
                last_product[u] = data.units[u].start.last_product
        big = max(sched.end) + sum(data.ops[i].dur + data.ops[i].setup for i in free) + 100.0
        sub = _Sub(tuple(free), ready, avail, {i: tail[i] for i in free}, big, compact=1e-3,
                   last_product=last_product)
        m = build_model(data, sub, obj)
        _warm_start(m, data, sched)
        left = end - time.perf_counter()
        if left < 0.2:
            break
        opts = SolverOptions(name=solver, time_limit=min(left, 2.0), threads=threads, seed=seed)
        res = solve_model(m, opts, warmstart=True)
        if not res.has_solution:
            continue
        units, starts = _read_solution(m, data)
        new_order, _assign, new = _schedule_from_milp(data, segments, order, sched, units,
                                                      starts, free)
        if new.cost(obj) < best_c - 1e-9:
            improved += 1
            order, sched, best_c = new_order, new, new.cost(obj)
            report("lns", best_c, None)
            by_start = sorted(range(n), key=lambda i: sched.start[i])
    return order, sched, {"lns_windows": tries, "lns_improved": improved, "cost": best_c}


def _check_due(data: ApsData) -> None:
    """Raise PlanInfeasibleError for orders whose batches cannot finish by the due date even
    alone (release + the chain of setups and processing times)."""
    late = []
    for o in data.orders:
        for b in o.batches:
            batch = data.batches[b]
            t = batch.ready + sum(data.ops[i].setup + data.ops[i].dur for i in batch.ops)
            if t > o.due + 1e-9:
                late.append((o.id, t - o.due))
                break
    if late:
        raise PlanInfeasibleError(
            [o for o, _ in late], "hard due date",
            "; ".join(f"{o} needs at least {v:.1f} h more than its due date allows "
                      "(release + recipe chain, QC lead time included)" for o, v in late[:5]))


def to_plan(data: ApsData, sched: Schedule, meta: dict[str, Any] | None = None) -> Plan:
    """The plan the twin executes: every operation with its unit, claim, processing start and
    end, and the units' own activities (maintenance, dirty-hold cleans), at full precision (the
    twin replays them exactly)."""
    ops = []
    for i, op in enumerate(data.ops):
        order, idx = data.batches[op.batch].key.rsplit("/", 1)
        ops.append(PlannedOperation(order, int(idx), op.step, data.units[sched.unit[i]].name,
                                    sched.start[i], sched.end[i], sched.dispatch[i]))
    ops.sort(key=lambda o: (o.start, o.unit, o.order, o.batch, o.step))
    acts = tuple(sorted(
        (PlannedActivity(data.units[a.unit].name, a.kind, a.start, a.end)
         for a in sched.activities),
        key=lambda a: (a.start, a.unit, a.kind),
    ))
    return Plan(tuple(ops), created_at=data.t0, meta=dict(meta or {}), activities=acts)


def _result(data, sched, obj, status, bound, t_start, stages) -> ApsResult:
    cost = sched.cost(obj)
    gap = None
    if bound is not None:
        gap = 0.0 if abs(cost) < 1e-9 else max(0.0, (cost - bound) / abs(cost))
    seconds = time.perf_counter() - t_start
    plan = to_plan(data, sched, {"objective": str(obj), "status": status, "cost": cost})
    return ApsResult(
        plan=plan, status=status, objective=cost, bound=bound, gap=gap, seconds=seconds,
        tardiness={o.id: t for o, t in zip(data.orders, sched.order_tardiness, strict=True)},
        weighted_tardiness=sched.tardiness, cleaning_hours=sched.cleaning,
        makespan=sched.makespan, hold_violation_hours=sched.hold_violation, stages=stages,
    )


# --------------------------------------------------------------------------- checker
def check_plan(data: ApsData, plan: Plan, tol: float = 1e-6, holds: bool = True) -> list[str]:
    """Problems of a plan against the data, independent of the decoder: every operation
    planned once on an eligible unit; steps in recipe order; no overlap on a unit including the
    changeover clean and setup; hold times (unless ``holds`` is False); starts inside the unit's
    open windows; staff: the operators of every step, held from setup to end, are granted on
    their shift and never more at once than the qualification counts (cleaning and maintenance
    crews are not in the plan's times and are not counted); planned maintenance: when it falls
    due (every N hours or N batches) before a unit can take its next batch, the unit's idle
    time before that batch holds it."""
    problems: list[str] = []
    units = data.unit_index
    idx = {(data.batches[op.batch].key, op.step): i for i, op in enumerate(data.ops)}
    seen: dict[int, PlannedOperation] = {}
    for p in plan.operations:
        i = idx.get((p.key, p.step))
        if i is None:
            problems.append(f"{p.key} step {p.step}: not an operation of the planned orders")
            continue
        if i in seen:
            problems.append(f"{p.key} step {p.step}: planned twice")
        seen[i] = p
        op = data.ops[i]
        if units.get(p.unit) not in op.units:
            problems.append(f"{p.key} step {p.step}: unit {p.unit} is not of class {op.cls}")
        first = op.index == data.batches[op.batch].ops[0]
        if first and p.start < data.batches[op.batch].ready + op.setup - tol:
            problems.append(f"{p.key} step {p.step}: starts at {p.start:.2f} before its release")
    for i, op in enumerate(data.ops):
        if i not in seen:
            problems.append(f"{data.batches[op.batch].key} step {op.step}: not planned")
    for b in data.batches:
        for a, c in zip(b.ops, b.ops[1:], strict=False):
            if a not in seen or c not in seen:
                continue
            pa, pc = seen[a], seen[c]
            if pc.start - data.ops[c].setup < pa.end - tol:
                problems.append(f"{b.key} step {pc.step}: starts at {pc.start:.2f} before step "
                                f"{pa.step} ends at {pa.end:.2f}")
            mh = data.ops[a].max_hold
            if holds and mh is not None and pc.start - pa.end > mh + tol:
                problems.append(f"{b.key} step {pc.step}: hold time {pc.start - pa.end:.2f} h "
                                f"after step {pa.step} exceeds {mh:g} h")
    by_unit: dict[str, list[tuple[PlannedOperation, int]]] = {}
    for i, p in seen.items():
        by_unit.setdefault(p.unit, []).append((p, i))
    for name, lst in by_unit.items():
        if name not in units:
            continue
        u = data.units[units[name]]
        lst.sort(key=lambda x: x[0].start)
        for (p, i), (q, j) in zip(lst, lst[1:], strict=False):
            pi = data.batches[data.ops[i].batch].product
            pj = data.batches[data.ops[j].batch].product
            need = u.change_clean(pi, pj)
            if u.dirty_hold is not None and q.start - p.end > u.dirty_hold:
                need = 0.0  # the unit was cleaned while it waited
            if q.start - data.ops[j].setup - need < p.end - tol:
                problems.append(f"unit {name}: {q.key} step {q.step} at {q.start:.2f} overlaps "
                                f"{p.key} step {p.step} ending {p.end:.2f} (+{need:g} h clean, "
                                f"{data.ops[j].setup:g} h setup)")
        problems += _check_maintenance(data, u, lst, seen, tol)
        cal = u.calendar
        if cal.always:
            continue
        prev_end = data.t0
        prev_product: str | None = None
        for p, i in lst:
            op = data.ops[i]
            batch = data.batches[op.batch]
            k = batch.ops.index(i)
            pred = batch.ops[k - 1] if k > 0 else None
            ready = seen[pred].end if pred is not None and pred in seen else batch.ready
            need = u.change_clean(prev_product, batch.product)
            if u.dirty_hold is not None and p.start - op.setup - prev_end > u.dirty_hold:
                need = 0.0  # the unit may have been cleaned while it waited
            lo, hi = max(prev_end, ready), p.start - op.setup - need
            if not (cal.is_open(hi) or cal.is_open(lo) or cal.next_change(lo) <= hi + tol):
                problems.append(f"unit {name}: {p.key} step {p.step} must be taken in "
                                f"[{lo:.2f}, {hi:.2f}] h, when the unit is closed")
            prev_end, prev_product = p.end, batch.product
    problems += _check_staff(data, seen, max(tol, 1e-5))
    return problems


def _check_staff(data: ApsData, seen: dict[int, PlannedOperation], tol: float) -> list[str]:
    """Operators per qualification: each step holds its ``count`` from the start of its setup
    to its end, is granted only when its pool is on shift, and a pool never has more booked at
    once than it counts (bookings already taken, ``data.busy``, included)."""
    problems: list[str] = []
    bookings: dict[int, list[tuple[float, float, int, str]]] = {}
    for p, s, e, n in data.busy:
        bookings.setdefault(p, []).append((s, e, n, "booked before planning"))
    for i, pl in sorted(seen.items(), key=lambda kv: kv[1].start):
        op = data.ops[i]
        if op.staff is None:
            continue
        p, n = op.staff
        pool = data.pools[p]
        granted = pl.start - op.setup
        cal = pool.calendar
        # (plan times may be rounded: an instant either side of the grant will do)
        if not (cal.always or any(cal.is_open(granted + d) for d in (0.0, -tol, tol))):
            problems.append(f"staff {pool.name}: {pl.key} step {pl.step} needs {n} from "
                            f"{granted:.2f} h, when the {pool.name} shift is off")
        bookings.setdefault(p, []).append((granted, pl.end, n, f"{pl.key} step {pl.step}"))
    for p, books in sorted(bookings.items()):
        pool = data.pools[p]
        events = sorted([(s + tol, 1, k) for k, (s, e, _, _) in enumerate(books) if e - s > 2 * tol]
                        + [(e - tol, 0, k) for k, (s, e, _, _) in enumerate(books)
                           if e - s > 2 * tol])
        use, active = 0, set()
        for t, starting, k in events:
            if not starting:
                if k in active:
                    active.discard(k)
                    use -= books[k][2]
                continue
            active.add(k)
            use += books[k][2]
            if use > pool.count:
                who = ", ".join(books[a][3] for a in sorted(active, key=lambda a: books[a][0]))
                problems.append(f"staff {pool.name}: {use} booked at {t - tol:.2f} h, only "
                                f"{pool.count} exist ({who})")
                break  # one report per qualification
    return problems


def _check_maintenance(data: ApsData, u: Any, lst: list[tuple[PlannedOperation, int]],
                       seen: dict[int, PlannedOperation], tol: float) -> list[str]:
    """Planned maintenance (``maint_duration`` every ``maint_every`` hours and/or every
    ``maint_every_batches`` batches) waits for the batch in hand and takes the unit before its
    next batch. Wherever it certainly fell due before the unit could take a batch (due while
    the unit was busy or idle, before the batch was there), the time from the later of the
    unit's last end and the due time to the batch's setup must hold it."""
    every, per_batches, dur = u.maint_every, u.maint_every_batches, u.maint_duration
    if dur <= 0 or (every is None and per_batches is None):
        return []
    problems: list[str] = []
    next_due = (math.floor(data.t0 / every) + 1) * every if every else math.inf
    count = u.start.batches_since_maint
    prev_end = max(data.t0, u.start.free)
    for p, i in lst:
        op = data.ops[i]
        batch = data.batches[op.batch]
        k = batch.ops.index(i)
        pred = batch.ops[k - 1] if k > 0 else None
        ready = seen[pred].end if pred is not None and pred in seen else batch.ready
        take = p.start - op.setup  # the unit is set up (and cleaned) by then
        by_batches = per_batches is not None and count >= per_batches
        certain = by_batches or next_due <= max(prev_end, ready) + tol
        possible = certain or next_due <= take + tol
        m_start = max(prev_end, next_due if not by_batches else prev_end)
        if possible:
            fits = take - m_start >= dur - tol
            if certain and not fits:
                why = (f"after {count} batches" if by_batches else f"due at {next_due:.2f} h")
                problems.append(f"unit {u.name}: maintenance ({dur:g} h, {why}) does not fit "
                                f"before {p.key} step {p.step} (set up at {take:.2f} h, unit "
                                f"free from {prev_end:.2f} h)")
            if fits or certain:  # it ran (or has to have run) before this batch
                count = 0
                while next_due <= m_start + tol:
                    next_due += every if every else math.inf
        count += 1
        prev_end = max(prev_end, p.end)
    return problems
