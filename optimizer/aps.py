"""Plant scheduling (APS): the plans the twin executes.

``solve(data, ...) -> ApsResult`` schedules every batch step of the planned orders on the
plant's units. ``ApsData.from_scenario`` prepares the data (``optimizer.aps_data``),
``build_model`` states the MILP, the list-scheduling decoder (``optimizer.aps_schedule``)
turns unit sequences into times exactly as the twin would run them, and the search
(``optimizer.aps_search``) finds good sequences. ``check_plan`` verifies a plan independently.

The MILP (its formulation, ``build_model``) is in ``optimizer.aps_model``; the independent
checker of plans (``check_plan``) in ``optimizer.aps_check``.

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

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from optimizer.aps_check import check_plan
from optimizer.aps_data import (
    ApsData,
    Objective,
    PlanInfeasibleError,
    UnitStart,
    planning_duration,
)
from optimizer.aps_model import SubProblem, build_model, full_problem, read_solution, warm_start
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


# --------------------------------------------------------------------------- solve
def _relist(
    segments: list[Segment], order: list[int], free_segs: set[int], first_start: dict[int, float]
) -> list[int]:
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
        return _result(
            data,
            Schedule((), (), (), (), (), 0.0, 0.0, 0.0, 0.0, tuple(0.0 for _ in data.orders)),
            obj,
            "optimal",
            0.0,
            t_start,
            stages,
        )
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
    order, sched, moves = anneal(
        data,
        segments,
        order,
        obj,
        t_start + share * time_limit,
        rng,
        max_iter=None if max_iter is None else max_iter // 2,
    )
    stages["anneal_1"] = {"moves": moves, "cost": sched.cost(obj)}
    best_c = sched.cost(obj)
    report("anneal", best_c, None)
    # 3. MILP: full or neighbourhoods
    milp_info: dict[str, Any] = {}
    if small and best_c > 1e-9:
        left = deadline - time.perf_counter()
        if left > 0.2:
            res, new = _solve_full(
                data, segments, order, sched, obj, solver, seed, threads, mip_gap, left, deadline
            )
            milp_info = {
                "status": res.status,
                "objective": res.objective,
                "bound": res.bound,
                "seconds": res.seconds,
            }
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
        order, sched, milp_info = _lns(
            data, segments, order, sched, obj, solver, seed, threads, lns_ops, lns_end, rng, report
        )
        best_c = sched.cost(obj)
    stages["milp"] = milp_info
    report("lns" if milp_info.get("lns_windows") else "milp", best_c, bound)
    # 4. annealing again
    if status != "optimal" and deadline - time.perf_counter() > 0.05:
        order2, sched2, moves = anneal(
            data,
            segments,
            order,
            obj,
            deadline,
            rng,
            max_iter=None if max_iter is None else max_iter // 2,
        )
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
        if (
            not u.calendar.always
            or u.maint_every
            or u.maint_every_batches
            or u.campaign_batches
            or u.dirty_hold is not None
            or u.clean_hold is not None
            or u.clean_staff is not None
            or u.start.free > data.t0
        ):
            return False
    return all(op.staff is None and not op.direct for op in data.ops) and not data.busy


def _solve_full(data, segments, order, sched, obj, solver, seed, threads, mip_gap, left, deadline):
    horizon = sched.makespan + sum(o.dur + o.setup for o in data.ops) + 100.0
    sub = full_problem(data, horizon)
    m = build_model(data, sub, obj)
    warm_start(m, data, sched)
    opts = SolverOptions(
        name=solver, time_limit=max(0.1, left), mip_gap=mip_gap, threads=threads, seed=seed
    )
    res = solve_model(m, opts, warmstart=True, deadline=deadline)
    if not res.has_solution:
        return res, None
    units, starts = read_solution(m, data)
    return res, _schedule_from_milp(data, segments, order, sched, units, starts, sub.free)


def _lns(
    data,
    segments,
    order,
    sched,
    obj,
    solver,
    seed,
    threads,
    lns_ops,
    end,
    rng,
    report=lambda *_args: None,
):
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
            free = sorted(by_start[k0 : k0 + lns_ops])
        else:  # a longer time window on the units of one class (its cleaning sequence)
            cls_ops = sorted(by_cls[data.ops[rng.randrange(n)].cls], key=lambda i: sched.start[i])
            k0 = rng.randrange(max(1, len(cls_ops) - lns_ops))
            free = sorted(cls_ops[k0 : k0 + lns_ops])
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
            before = [
                i
                for i in range(n)
                if sched.unit[i] == u and i not in fset and sched.start[i] < t_lo
            ]
            if before:
                k = max(before, key=lambda i: sched.end[i])
                avail[u] = sched.end[k]
                last_product[u] = data.batches[data.ops[k].batch].product
            else:
                avail[u] = data.units[u].start.free
                last_product[u] = data.units[u].start.last_product
        big = max(sched.end) + sum(data.ops[i].dur + data.ops[i].setup for i in free) + 100.0
        sub = SubProblem(
            tuple(free),
            ready,
            avail,
            {i: tail[i] for i in free},
            big,
            compact=1e-3,
            last_product=last_product,
        )
        m = build_model(data, sub, obj)
        warm_start(m, data, sched)
        left = end - time.perf_counter()
        if left < 0.2:
            break
        opts = SolverOptions(name=solver, time_limit=min(left, 2.0), threads=threads, seed=seed)
        res = solve_model(m, opts, warmstart=True)
        if not res.has_solution:
            continue
        units, starts = read_solution(m, data)
        new_order, _assign, new = _schedule_from_milp(
            data, segments, order, sched, units, starts, free
        )
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
            [o for o, _ in late],
            "hard due date",
            "; ".join(
                f"{o} needs at least {v:.1f} h more than its due date allows "
                "(release + recipe chain, QC lead time included)"
                for o, v in late[:5]
            ),
        )


def to_plan(data: ApsData, sched: Schedule, meta: dict[str, Any] | None = None) -> Plan:
    """The plan the twin executes: every operation with its unit, claim, processing start and
    end, and the units' own activities (maintenance, dirty-hold cleans), at full precision (the
    twin replays them exactly)."""
    ops = []
    for i, op in enumerate(data.ops):
        order, idx = data.batches[op.batch].key.rsplit("/", 1)
        ops.append(
            PlannedOperation(
                order,
                int(idx),
                op.step,
                data.units[sched.unit[i]].name,
                sched.start[i],
                sched.end[i],
                sched.dispatch[i],
            )
        )
    ops.sort(key=lambda o: (o.start, o.unit, o.order, o.batch, o.step))
    acts = tuple(
        sorted(
            (
                PlannedActivity(data.units[a.unit].name, a.kind, a.start, a.end)
                for a in sched.activities
            ),
            key=lambda a: (a.start, a.unit, a.kind),
        )
    )
    return Plan(tuple(ops), created_at=data.t0, meta=dict(meta or {}), activities=acts)


def _result(data, sched, obj, status, bound, t_start, stages) -> ApsResult:
    cost = sched.cost(obj)
    gap = None
    if bound is not None:
        gap = 0.0 if abs(cost) < 1e-9 else max(0.0, (cost - bound) / abs(cost))
    seconds = time.perf_counter() - t_start
    plan = to_plan(data, sched, {"objective": str(obj), "status": status, "cost": cost})
    return ApsResult(
        plan=plan,
        status=status,
        objective=cost,
        bound=bound,
        gap=gap,
        seconds=seconds,
        tardiness={o.id: t for o, t in zip(data.orders, sched.order_tardiness, strict=True)},
        weighted_tardiness=sched.tardiness,
        cleaning_hours=sched.cleaning,
        makespan=sched.makespan,
        hold_violation_hours=sched.hold_violation,
        stages=stages,
    )
