"""The plant scheduling MILP of the APS (``optimizer.aps``): ``build_model(data, sub,
objective)`` states it for all operations or for a sub-problem of the large-neighbourhood
search; ``warm_start`` loads a decoded schedule into it and ``read_solution`` reads units and
starts back. No solving and no I/O here.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyomo.environ as pyo

from optimizer.aps_data import ApsData, Objective
from optimizer.aps_schedule import Schedule

__all__ = ["SubProblem", "full_problem", "build_model", "warm_start", "read_solution"]


@dataclass(frozen=True)
class SubProblem:
    """Which operations a MILP decides and what the rest fixes."""

    free: tuple[int, ...]
    ready: dict[int, float]  # earliest processing-step dispatch (fixed predecessors, release)
    avail: dict[int, float]  # unit -> free from
    tail: dict[int, float]  # remaining work after the operation (sub-problems)
    big_m: float
    compact: float = 0.0  # weight of sum s_i
    last_product: dict[int, str | None] = field(default_factory=dict)  # unit -> before the ops


def full_problem(data: ApsData, horizon: float) -> SubProblem:
    ready = {}
    for b in data.batches:
        if b.ops:
            ready[b.ops[0]] = b.ready
    avail = {u: max(data.t0, unit.start.free) for u, unit in enumerate(data.units)}
    last = {u: unit.start.last_product for u, unit in enumerate(data.units)}
    return SubProblem(tuple(range(len(data.ops))), ready, avail, {}, horizon, last_product=last)


def build_model(
    data: ApsData, sub: SubProblem | None = None, objective: Objective = Objective()
) -> pyo.ConcreteModel:
    """The scheduling MILP (module docstring) for all operations, or the sub-problem ``sub``."""
    if sub is None:
        horizon = (
            max((b.ready for b in data.batches), default=0.0)
            + sum(o.dur + o.setup for o in data.ops)
            + sum(
                max(u.major, u.minor, *(v for row in u.matrix.values() for v in row.values()), 0.0)
                for u in data.units
            )
            * len(data.ops)
        )
        sub = full_problem(data, horizon)
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


def _add_variables(m: pyo.ConcreteModel, data: ApsData, sub: SubProblem) -> None:
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


def _add_availability(m: pyo.ConcreteModel, data: ApsData, sub: SubProblem) -> None:
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
    m.HOLDS = pyo.Set(
        dimen=2, initialize=[(i, j) for i, j in m.LINKS if data.ops[i].max_hold is not None]
    )

    @m.Constraint(m.HOLDS)
    def hold(m, i, j):
        return m.s[j] - m.s[i] - data.ops[i].dur <= data.ops[i].max_hold


def _add_no_overlap(m: pyo.ConcreteModel, data: ApsData, sub: SubProblem) -> None:
    """Both orders of two operations on a shared unit, with the changeover clean between:
    s_j - q_j - c_iju >= s_i + p_i - M (1 - y_ij) - M (2 - x_iu - x_ju) and the mirror."""
    big = sub.big_m
    prod = [data.batches[o.batch].product for o in data.ops]

    @m.Constraint(m.PAIRU)
    def i_before_j(m, i, j, u):
        c = data.units[u].change_clean(prod[i], prod[j])
        return m.s[j] - data.ops[j].setup - c >= m.s[i] + data.ops[i].dur - big * (
            1 - m.y[i, j]
        ) - big * (2 - m.x[i, u] - m.x[j, u])

    @m.Constraint(m.PAIRU)
    def j_before_i(m, i, j, u):
        c = data.units[u].change_clean(prod[j], prod[i])
        return m.s[i] - data.ops[i].setup - c >= m.s[j] + data.ops[j].dur - big * m.y[
            i, j
        ] - big * (2 - m.x[i, u] - m.x[j, u])


def _add_completion(m: pyo.ConcreteModel, data: ApsData, sub: SubProblem) -> None:
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


def _add_cleaning(m: pyo.ConcreteModel, data: ApsData, sub: SubProblem) -> None:
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
    m.cleaning = pyo.Expression(
        expr=sum(data.units[u].change_clean(prod[i], prod[j]) * m.z[i, j, u] for i, j, u in arcs)
        + sum(
            data.units[u].change_clean(sub.last_product.get(u), prod[j]) * m.z0[j, u]
            for j, u in m.ELIG
        )
    )


def _add_objective(
    m: pyo.ConcreteModel, data: ApsData, sub: SubProblem, objective: Objective
) -> None:
    """min alpha sum_o w_o T_o + beta Cmax (+ compact * sum_i s_i)."""
    expr = objective.tardiness * sum(data.orders[o].weight * m.T[o] for o in m.ORDERS)
    expr += objective.makespan * m.Cmax
    if objective.cleaning:
        expr += objective.cleaning * m.cleaning
    if sub.compact:
        expr += sub.compact * sum(m.s[i] for i in m.OPS)
    m.obj = pyo.Objective(expr=expr, sense=pyo.minimize)


def warm_start(m: pyo.ConcreteModel, data: ApsData, sched: Schedule) -> None:
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


def read_solution(m: pyo.ConcreteModel, data: ApsData) -> tuple[dict[int, int], dict[int, float]]:
    units, starts = {}, {}
    for i in m.OPS:
        units[i] = max(data.ops[i].units, key=lambda u: pyo.value(m.x[i, u]))
        starts[i] = float(pyo.value(m.s[i]))
    return units, starts
