"""Disjunctive MILP of the (flexible) job shop, warm-started from a heuristic schedule.

Notation: operations `o` with eligible machines `k` and durations `p[o,k]`; `e[o]` and `l[o]`
are the earliest and latest start times implied by the job order, minimum durations and the
horizon `H` (the makespan of the warm start, so only schedules at least as good are searched).
Binary `x[o,k]` assigns a flexible operation to a machine (fixed operations have no `x`); binary
`y[o1,o2]` is 1 when `o1` precedes `o2`. Each big-M is the smallest value that relaxes its
constraint over the start windows, which is what makes the warm-started model prove optimality
on small instances.

`build_model(data)` does no solving and no I/O; `solve_milp` runs it through
`optimizer.solvers.solve_model` and returns plain values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import pyomo.environ as pyo

from optimizer.shop_graph import FlatShop, ScheduleRow, Sequencing
from optimizer.solvers import SolveResult, SolverOptions, solve_model

__all__ = ["MilpOutcome", "ShopMilpData", "build_model", "milp_data", "solve_milp"]


@dataclass(frozen=True)
class ShopMilpData:
    """Everything the model needs, prepared outside Pyomo."""

    n_machines: int
    ops: tuple[int, ...]
    durations: dict[tuple[int, int], int]
    """p[o,k] for every eligible (operation, machine)."""
    fixed_machine: dict[int, int]
    """Operations with a single eligible machine -> that machine."""
    job_arcs: tuple[tuple[int, int], ...]
    last_ops: tuple[int, ...]
    pairs: tuple[tuple[int, int, int], ...]
    """(o1, o2, k), o1 < o2 of different jobs, both eligible on machine k."""
    earliest: dict[int, int]
    latest: dict[int, int]
    horizon: int
    lower_bound: int

    @cached_property
    def machines_of(self) -> dict[int, list[int]]:
        """Eligible machines of every operation."""
        out: dict[int, list[int]] = {o: [] for o in self.ops}
        for o, k in self.durations:
            out[o].append(k)
        return out

    @cached_property
    def flexible_assign(self) -> tuple[tuple[int, int], ...]:
        return tuple(key for key in self.durations if key[0] not in self.fixed_machine)

    @cached_property
    def order_pairs(self) -> tuple[tuple[int, int], ...]:
        return tuple(dict.fromkeys((o1, o2) for o1, o2, _ in self.pairs))


def milp_data(flat: FlatShop, horizon: int, lower_bound: int) -> ShopMilpData:
    """Prepare the model data for makespans up to `horizon`."""
    durations = {(o, k): d for o in range(flat.n_ops) for k, d in flat.alternatives[o]}
    fixed = {o: a[0][0] for o, a in enumerate(flat.alternatives) if len(a) == 1}
    min_dur = [min(d for _, d in a) for a in flat.alternatives]
    earliest: dict[int, int] = {}
    latest: dict[int, int] = {}
    job_arcs = []
    last_ops = []
    for ids in flat.op_id:
        acc = 0
        for o in ids:
            earliest[o] = acc
            acc += min_dur[o]
        acc = 0
        for o in reversed(ids):
            acc += min_dur[o]
            latest[o] = horizon - acc
        job_arcs.extend(zip(ids, ids[1:], strict=False))
        last_ops.append(ids[-1])
    on_machine: list[list[int]] = [[] for _ in range(flat.n_machines)]
    for o, k in durations:
        on_machine[k].append(o)
    pairs = []
    for k, ops in enumerate(on_machine):
        ops.sort()
        for i, o1 in enumerate(ops):
            for o2 in ops[i + 1 :]:
                if flat.job_of[o1] != flat.job_of[o2]:
                    pairs.append((o1, o2, k))
    pairs.sort()
    return ShopMilpData(
        n_machines=flat.n_machines,
        ops=tuple(range(flat.n_ops)),
        durations=durations,
        fixed_machine=fixed,
        job_arcs=tuple(job_arcs),
        last_ops=tuple(last_ops),
        pairs=tuple(pairs),
        earliest=earliest,
        latest=latest,
        horizon=horizon,
        lower_bound=min(lower_bound, horizon),
    )


def build_model(data: ShopMilpData) -> pyo.ConcreteModel:
    """The makespan MILP: minimise cmax.

    Families, in the order they are added: assignment of flexible operations, job precedence,
    machine disjunctions, makespan definition, machine-load cuts (flexible shops) and
    sequence cuts (operations with a fixed machine). Each `_add_*` function states its math.
    """
    m = pyo.ConcreteModel(name="shop_makespan")
    _add_sets(m, data)
    _add_variables(m, data)
    _add_assignment(m, data)
    _add_precedence(m, data)
    _add_disjunctive(m, data)
    _add_makespan(m, data)
    _add_machine_load(m, data)
    _add_sequence_cuts(m, data)
    m.objective = pyo.Objective(expr=m.cmax, sense=pyo.minimize)
    return m


def _add_sets(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    m.OPS = pyo.Set(initialize=data.ops)
    m.FLEX_ASSIGN = pyo.Set(initialize=data.flexible_assign, dimen=2)
    m.FLEX_OPS = pyo.Set(initialize=sorted({o for o, _ in data.flexible_assign}))
    m.JOB_ARCS = pyo.Set(initialize=data.job_arcs, dimen=2)
    m.LAST = pyo.Set(initialize=data.last_ops)
    m.PAIRS = pyo.Set(initialize=data.pairs, dimen=3)
    m.ORDER = pyo.Set(initialize=data.order_pairs, dimen=2)
    loaded = sorted({k for o, k in data.flexible_assign})
    m.FLEX_MACHINES = pyo.Set(initialize=loaded)


def _add_variables(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    """start[o] in [e[o], l[o]]; x[o,k], y[o1,o2] binary; cmax in [LB, H]."""
    m.start = pyo.Var(
        m.OPS, domain=pyo.NonNegativeReals, bounds=lambda _, o: (data.earliest[o], data.latest[o])
    )
    m.x = pyo.Var(m.FLEX_ASSIGN, domain=pyo.Binary)
    m.y = pyo.Var(m.ORDER, domain=pyo.Binary)
    m.cmax = pyo.Var(bounds=(data.lower_bound, data.horizon))


def _duration(m: pyo.ConcreteModel, data: ShopMilpData, o: int):
    """p(o) = p[o,k] for a fixed operation, sum_k p[o,k] x[o,k] for a flexible one."""
    if o in data.fixed_machine:
        return data.durations[o, data.fixed_machine[o]]
    return sum(data.durations[o, k] * m.x[o, k] for k in data.machines_of[o])


def _add_assignment(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    """sum_k x[o,k] = 1 for every flexible operation o."""

    @m.Constraint(m.FLEX_OPS)
    def assign_once(m, o):
        return sum(m.x[o, k] for k in data.machines_of[o]) == 1


def _add_precedence(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    """start[o'] >= start[o] + p(o) for consecutive operations o -> o' of a job."""

    @m.Constraint(m.JOB_ARCS)
    def precedence(m, o, nxt):
        return m.start[nxt] >= m.start[o] + _duration(m, data, o)


def _add_disjunctive(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    """No overlap of o1, o2 when both run on machine k:

    start[o2] >= start[o1] + p[o1,k] - M1 (1 - y[o1,o2]) - M1 (a[o1,k] + a[o2,k])
    start[o1] >= start[o2] + p[o2,k] - M2 y[o1,o2]       - M2 (a[o1,k] + a[o2,k])

    with a[o,k] = 1 - x[o,k] for a flexible operation (0 for a fixed one),
    M1 = l[o1] + p[o1,k] - e[o2] and M2 = l[o2] + p[o2,k] - e[o1] (floored at 0).
    """
    e, lt, p = data.earliest, data.latest, data.durations

    def away(m, o1, o2, k):
        terms = [1 - m.x[o, k] for o in (o1, o2) if o not in data.fixed_machine]
        return sum(terms) if terms else 0

    @m.Constraint(m.PAIRS)
    def o1_first(m, o1, o2, k):
        big_m = max(0, lt[o1] + p[o1, k] - e[o2])
        return m.start[o2] >= m.start[o1] + p[o1, k] - big_m * (
            1 - m.y[o1, o2] + away(m, o1, o2, k)
        )

    @m.Constraint(m.PAIRS)
    def o2_first(m, o1, o2, k):
        big_m = max(0, lt[o2] + p[o2, k] - e[o1])
        return m.start[o1] >= m.start[o2] + p[o2, k] - big_m * (m.y[o1, o2] + away(m, o1, o2, k))


def _add_makespan(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    """cmax >= start[o] + p(o) for the last operation o of every job."""

    @m.Constraint(m.LAST)
    def makespan(m, o):
        return m.cmax >= m.start[o] + _duration(m, data, o)


def _add_machine_load(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    """cmax >= sum_o p(o on k) for machines that flexible operations may use (a valid cut)."""
    fixed_load = [0] * data.n_machines
    for o, k in data.fixed_machine.items():
        fixed_load[k] += data.durations[o, k]

    flexible_on: dict[int, list[int]] = {}
    for o, k in data.flexible_assign:
        flexible_on.setdefault(k, []).append(o)

    @m.Constraint(m.FLEX_MACHINES)
    def machine_load(m, k):
        flexible = sum(data.durations[o, k] * m.x[o, k] for o in flexible_on[k])
        return m.cmax >= fixed_load[k] + flexible


def _add_sequence_cuts(m: pyo.ConcreteModel, data: ShopMilpData) -> None:
    """Valid cuts per machine k and operation o fixed on k (others fixed on k: F(k, o)):

    cmax     >= start[o] + p[o] + sum_{o' in F} p[o'] before(o, o') + min_{F(k)} q_min
    start[o] >= min_{F(k)} e + sum_{o' in F} p[o'] before(o', o)

    where before(a, b) is y[a,b] (or 1 - y[b,a]) and q_min is the minimum work after an
    operation in its job: whatever follows o on k runs after it, back to back at best.
    """
    on_machine: dict[int, list[int]] = {}
    for o, k in data.fixed_machine.items():
        on_machine.setdefault(k, []).append(o)
    fixed_pairs = {
        (o1, o2)
        for o1, o2, k in data.pairs
        if data.fixed_machine.get(o1) == k and data.fixed_machine.get(o2) == k
    }
    tail = {
        o: data.horizon - data.latest[o] - data.durations[o, data.fixed_machine[o]]
        for o in data.fixed_machine
    }
    keys = []
    others: dict[tuple[int, int], list[int]] = {}
    for k, ops in on_machine.items():
        for o in ops:
            rest = [x for x in ops if (min(o, x), max(o, x)) in fixed_pairs]
            if rest:
                keys.append((k, o))
                others[k, o] = rest
    min_tail = {k: min(tail[o] for o in ops) for k, ops in on_machine.items()}
    min_head = {k: min(data.earliest[o] for o in ops) for k, ops in on_machine.items()}
    m.SEQ_CUTS = pyo.Set(initialize=keys, dimen=2)

    def before(m, a, b):
        return m.y[a, b] if a < b else 1 - m.y[b, a]

    @m.Constraint(m.SEQ_CUTS)
    def tail_cut(m, k, o):
        p = data.durations
        after = sum(p[x, k] * before(m, o, x) for x in others[k, o])
        return m.cmax >= m.start[o] + p[o, k] + after + min_tail[k]

    @m.Constraint(m.SEQ_CUTS)
    def head_cut(m, k, o):
        p = data.durations
        ahead = sum(p[x, k] * before(m, x, o) for x in others[k, o])
        return m.start[o] >= min_head[k] + ahead


# ------------------------------------------------------------------------- warm start, read
def set_warm_start(
    m: pyo.ConcreteModel, data: ShopMilpData, rows: tuple[ScheduleRow, ...], flat: FlatShop
) -> None:
    """Give every variable the value it has in the schedule `rows`."""
    start = {}
    machine = {}
    for job, index, k, s, _ in rows:
        o = flat.op_id[job][index]
        start[o] = s
        machine[o] = k
    for o in data.ops:
        m.start[o].set_value(start[o], skip_validation=True)
    for o, k in data.flexible_assign:
        m.x[o, k].set_value(1 if machine[o] == k else 0)
    for o1, o2 in data.order_pairs:
        m.y[o1, o2].set_value(1 if start[o1] <= start[o2] else 0)
    m.cmax.set_value(max(r[4] for r in rows), skip_validation=True)


def read_sequencing(m: pyo.ConcreteModel, data: ShopMilpData) -> Sequencing:
    """Machines and orders of the solution loaded in the model (order by start time)."""
    machine_of = [0] * len(data.ops)
    for o in data.ops:
        if o in data.fixed_machine:
            machine_of[o] = data.fixed_machine[o]
        else:
            options = [(pyo.value(m.x[o, k]), k) for k in data.machines_of[o]]
            machine_of[o] = max(options)[1]
    per_machine: list[list[tuple[float, int, int]]] = [[] for _ in range(data.n_machines)]
    for o in data.ops:
        k = machine_of[o]
        per_machine[k].append((pyo.value(m.start[o]), data.durations[o, k], o))
    sequences = tuple(tuple(o for *_, o in sorted(ops)) for ops in per_machine)
    return Sequencing(tuple(machine_of), sequences)


@dataclass(frozen=True)
class MilpOutcome:
    """Plain result of `solve_milp`: the solver result and the sequencing it found, if any."""

    result: SolveResult
    sequencing: Sequencing | None


def solve_milp(
    flat: FlatShop,
    rows: tuple[ScheduleRow, ...],
    lower_bound: int,
    options: SolverOptions,
    deadline: float | None = None,
) -> MilpOutcome:
    """Build the model with horizon = makespan of `rows`, warm-start from them and solve.

    With a `deadline` (a `time.perf_counter()` value) the solver gets the time left after
    building the model, at most `options.time_limit`.
    """
    horizon = max(r[4] for r in rows)
    data = milp_data(flat, horizon, lower_bound)
    model = build_model(data)
    set_warm_start(model, data, rows, flat)
    if deadline is not None and deadline - time.perf_counter() <= 0.05:
        empty = SolveResult("time_limit", None, None, None, 0.0, options.name, "no time left")
        return MilpOutcome(empty, None)
    result = solve_model(model, options, warmstart=True, deadline=deadline)
    sequencing = read_sequencing(model, data) if result.has_solution else None
    return MilpOutcome(result, sequencing)
