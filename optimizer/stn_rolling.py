"""Rolling horizon for STN instances with many grid points (relax-and-fix with a look-ahead).

Window by window from the grid start: the sub-problem from the current point t0 covers `window`
periods with integer starts and `lookahead` more with starts relaxed to [0, 1] (so material made
late in the window is still worth something, and demands ahead are seen); it is solved, the
batches starting in the first `commit` periods are fixed, and t0 moves on by `commit`. The last
window reaches the grid stop and fixes everything.

Each sub-problem is an ordinary `StnData` built from the plant as the fixed batches leave it:
stock at t0, batches still running (their outputs arrive, their units and utilities stay busy),
units free after their last batch with its cleaning and changeovers. That is the re-planning
machinery of `StnData`, so the rolling horizon and re-planning from a running plant are the same
code path. The final-stock demands (`extra`) count only in windows that reach the stop.

The concatenated schedule is replayed by the independent checker against the whole problem; its
bound is the LP relaxation of the whole grid (when that is not too large to build).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from optimizer.solvers import SolverOptions, solve_model
from optimizer.stn import (
    LP_BOUND_MAX_STARTS,
    StnResult,
    extract_schedule,
    round_objective,
    verified,
)
from optimizer.stn_check import Batch, StnSchedule, check_schedule
from optimizer.stn_data import (
    BatchInProgress,
    Grid,
    Receipt,
    StnData,
    UnitInit,
    grid_index,
)
from optimizer.stn_model import build_model, model_data

__all__ = ["WINDOW_BINARIES", "RollingOptions", "solve_rolling", "window_data"]

LP_BOUND_SHARE = 0.15
"""Share of the time limit the LP bound may take, before the windows."""
WINDOW_BINARIES = 200
"""Integer starts per window that HiGHS solves to a small gap in seconds on the benchmark
plants; the window length follows from it and the number of unit-task pairs."""


@dataclass(frozen=True)
class RollingOptions:
    """Sizes in grid periods: `window` with integer starts, of which the first `commit` are
    fixed each time, then `lookahead` relaxed periods; each window is solved to `mip_gap`
    (relative), which keeps the windows quick and, being no clock, the result repeatable."""

    window: int = 24
    commit: int = 12
    lookahead: int = 24
    mip_gap: float = 0.005

    def __post_init__(self) -> None:
        for name in ("window", "commit"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f'"{name}" must be an integer >= 1, got {value!r}.')
        if not (isinstance(self.lookahead, int) and self.lookahead >= 0):
            raise ValueError(f'"lookahead" must be an integer >= 0, got {self.lookahead!r}.')
        if not (isinstance(self.mip_gap, int | float) and 0 <= self.mip_gap < 1):
            raise ValueError(f'"mip_gap" must be in [0, 1), got {self.mip_gap!r}.')
        if self.commit > self.window:
            raise ValueError(f'"commit" ({self.commit}) must be at most "window" ({self.window}).')

    @classmethod
    def for_data(cls, data: StnData) -> RollingOptions:
        """About `WINDOW_BINARIES` integer starts per window (windows from 12 periods and at
        least three times the longest task), half of each fixed, a look-ahead as long as the
        window."""
        longest = max(data.duration(t) for t in data.tasks)
        span = max(1, math.ceil(longest / data.grid.step - 1e-9))
        jobs = max(1, len(data.unit_tasks))
        window = max(12, 3 * span, min(48, WINDOW_BINARIES // jobs))
        return cls(window=window, commit=window // 2, lookahead=window)


def solve_rolling(
    data: StnData,
    options: SolverOptions,
    rolling: RollingOptions,
    started: float | None = None,
) -> StnResult:
    """The rolling horizon (module docstring). Each window gets an equal share of the time
    left; with a time limit large enough that every window is solved to optimality the result
    depends on the data only."""
    started = time.perf_counter() if started is None else started
    deadline = None if options.time_limit is None else started + options.time_limit
    bound_deadline = None
    if options.time_limit is not None:
        bound_deadline = started + LP_BOUND_SHARE * options.time_limit
    bound, lp_stage = lp_bound(data, options, bound_deadline)
    n = data.grid.periods
    times = tuple(data.grid.time(k) for k in range(n + 1))
    fixed: list[Batch] = []
    shipped: dict[int, float] = {}
    stages: list[dict] = [lp_stage] if lp_stage else []
    carry: tuple[Batch, ...] = ()
    t0 = 0
    clock = failed = False
    while True:
        reach = min(n, t0 + rolling.window + rolling.lookahead)
        last = reach == n and t0 + rolling.window >= n
        sub, demand_ids = window_data(data, fixed, shipped, t0, reach)
        md = model_data(sub, relax_from=None if last else rolling.window, open_end=reach < n)
        windows_left = max(1, -(-(n - t0 - rolling.window) // rolling.commit) + 1)
        opts = replace(options, mip_gap=max(options.mip_gap or 0.0, rolling.mip_gap))
        if deadline is not None:
            left = deadline - time.perf_counter()
            opts = replace(opts, time_limit=max(0.05, left / windows_left))
        m = build_model(md)
        if carry:
            _warm_starts(m, md, carry)
        res = solve_model(m, opts, warmstart=bool(carry))
        stages.append(
            {
                "stage": "window",
                "from": times[t0],
                "to": times[reach],
                "binaries": md.binaries,
                "status": res.status,
                "objective": res.objective,
                "seconds": res.seconds,
            }
        )
        clock = clock or res.status == "time_limit"
        cut = sub.grid.time(n - t0 if last else rolling.commit)
        integral_end = sub.grid.time(n - t0 if last else rolling.window)
        carry = ()
        if res.objective is None:
            failed = True  # nothing fixed here: the next window starts from the plant as it is
        else:
            part = extract_schedule(m, md)
            tiny = 1e-9 * data.grid.step
            fixed += [b for b in part.batches if last or b.start < cut - tiny]
            carry = tuple(b for b in part.batches if cut - tiny <= b.start < integral_end - tiny)
            for d, amount in zip(demand_ids, part.shipped, strict=True):
                if (
                    last
                    or grid_index(data.grid, data.demands[d].time, "down") < t0 + rolling.commit
                ):
                    shipped[d] = amount
        if last:
            break
        t0 += rolling.commit
    fixed.sort(key=lambda b: (b.start, b.unit, b.task))
    schedule = StnSchedule(
        tuple(fixed), tuple(shipped.get(d, 0.0) for d in range(len(data.demands)))
    )
    if failed:
        check = check_schedule(data, schedule)
        if check.problems:  # a window without a schedule left a demand unmet
            statuses = {st["status"] for st in stages if st["objective"] is None}
            return StnResult(
                instance=data.name,
                status="infeasible" if statuses == {"infeasible"} else "time_limit",
                objective=None,
                bound=None,
                seconds=time.perf_counter() - started,
                solver=options.name,
                mode="rolling",
                schedule=None,
                check=None,
                times=times,
                message="windows without a schedule ("
                + ", ".join(sorted(statuses))
                + f") left the plan short: {check.problems[0]}",
                stages=tuple(stages),
            )
    check = verified(data, schedule, None)
    objective = round_objective(check.objective)
    if bound is not None and bound < objective:
        bound = objective
    proven = bound is not None and bound <= objective + 1e-9 * max(1.0, abs(objective))
    return StnResult(
        instance=data.name,
        status="optimal" if proven else "time_limit" if clock or failed else "feasible",
        objective=objective,
        bound=bound,
        seconds=time.perf_counter() - started,
        solver=options.name,
        mode="rolling",
        schedule=schedule,
        check=check,
        times=times,
        stages=tuple(stages),
    )


def _warm_starts(m, md, batches: tuple[Batch, ...]) -> None:
    """W = 1 where the previous window started these batches, 0 elsewhere (HiGHS completes the
    sizes and stocks by an LP, so a partial start is enough)."""
    index = {
        (job.unit, job.hold_of or job.task, job.hold_of is not None): a
        for a, job in enumerate(md.jobs)
    }
    step = md.data.grid.step
    for key in m.W:
        m.W[key].set_value(0)
    for b in batches:
        a = index.get((b.unit, b.task, b.hold))
        k = round((b.start - md.times[0]) / step)
        if a is not None and (a, k) in m.W:
            m.W[a, k].set_value(1)


def lp_bound(
    data: StnData, options: SolverOptions, deadline: float | None
) -> tuple[float | None, dict | None]:
    """The LP relaxation of the whole grid: an upper bound on every schedule."""
    md = model_data(data, relax_from=0)
    starts = sum(len(job.starts) for job in md.jobs)
    if starts > LP_BOUND_MAX_STARTS:
        return None, None
    left = None if deadline is None else max(0.5, deadline - time.perf_counter())
    m = build_model(md)
    res = solve_model(m, replace(options, time_limit=left))
    stage = {
        "stage": "lp_bound",
        "status": res.status,
        "bound": res.objective,
        "seconds": res.seconds,
    }
    if res.status != "optimal" or res.objective is None:
        return None, stage
    return round_objective(res.objective), stage


def window_data(
    data: StnData, fixed: list[Batch], shipped: dict[int, float], t0: int, reach: int
) -> tuple[StnData, list[int]]:
    """The sub-problem from grid point `t0` to `reach` once the batches `fixed` (all starting
    before t0) and the shipments `shipped` (demand index -> amount, all due before t0) are
    done, and the indices in `data.demands` of the demands it holds."""
    g = data.grid
    t_start, t_stop = g.time(t0), g.time(reach)
    tiny = 1e-9 * g.step
    keep = [
        d for d, dem in enumerate(data.demands) if t0 <= grid_index(g, dem.time, "down") <= reach
    ]
    final_min = data.final_min if reach == g.periods else ()
    if t0 == 0:
        sub = data.replace(
            grid=Grid(g.start, t_stop, g.step),
            final_min=final_min,
            demands=tuple(data.demands[d] for d in keep),
            receipts=tuple(r for r in data.receipts if r.time <= t_stop + tiny),
            reference=None,
        )
        return sub, keep
    stock = {s.name: s.initial for s in data.states}
    pending: list[tuple[str, float, float]] = []  # (state, time, amount) usable from t0 on
    inputs: dict[str, list] = {}
    for a in data.inputs:
        inputs.setdefault(a.task, []).append(a)

    def arrive(state: str, when: float, amount: float) -> None:
        if grid_index(g, when, "up") < t0:
            stock[state] += amount
        else:
            pending.append((state, when, amount))

    def outputs_of(task: str, start: float, size: float) -> None:
        for o in data.task_outputs(task):
            arrive(o.state, start + o.duration, o.fraction * size)

    for r in data.receipts:
        arrive(r.state, r.time, r.amount)
    running: dict[str, BatchInProgress] = {}
    last_on: dict[str, tuple[float, str | None]] = {
        ui.unit: (ui.free_at, ui.last_task) for ui in data.unit_init
    }
    for b in data.in_progress:
        if b.start + data.duration(b.task) > t_start + tiny:
            running[b.unit] = b
            for o in data.task_outputs(b.task):  # outputs due in [start, t0) are stock by now
                if 0 <= grid_index(g, b.start + o.duration, "up") < t0:
                    stock[o.state] += o.fraction * b.size
        else:
            outputs_of(b.task, b.start, b.size)
            last_on[b.unit] = (b.start + data.duration(b.task), b.task)
    last_batch: dict[str, Batch] = {}
    for b in sorted(fixed, key=lambda b: b.start):
        last_batch[b.unit] = b
        if b.hold:
            stock[b.task] -= b.size
            arrive(b.task, b.start + g.step, b.size)
            free, last = last_on.get(b.unit, (g.start, None))
            last_on[b.unit] = (max(free, b.end), last)
            continue
        for a in inputs.get(b.task, ()):
            stock[a.state] -= a.fraction * b.size
        if b.end > t_start + tiny:
            running[b.unit] = BatchInProgress(b.task, b.unit, b.start, b.size)
            last_on.pop(b.unit, None)
            for o in data.task_outputs(b.task):  # outputs due before t0 are stock by now
                if grid_index(g, b.start + o.duration, "up") < t0:
                    stock[o.state] += o.fraction * b.size
        else:
            outputs_of(b.task, b.start, b.size)
            last_on[b.unit] = (b.end, b.task)
    held: dict[str, tuple[tuple[str, float], ...]] = {}
    for unit, b in last_batch.items():
        if unit in running or grid_index(g, b.end, "up") != t0:
            continue
        # NIS material the batch left in its unit at t0 stays there (it may be held on)
        if b.hold:
            left = [(b.task, b.start + g.step, b.size)]
        else:
            left = [
                (o.state, b.start + o.duration, o.fraction * b.size)
                for o in data.task_outputs(b.task)
                if data.state(o.state).policy == "none"
                and abs(o.duration - data.duration(b.task)) <= tiny
            ]
        for item in left:
            pending.remove(item)
        if left:
            held[unit] = tuple((state, amount) for state, _, amount in left)
    for d, amount in shipped.items():
        stock[data.demands[d].state] -= amount
    states = []
    for s in data.states:
        level = max(0.0, stock[s.name])
        cap = s.effective_capacity
        states.append(replace(s, initial=level if cap is None else min(cap, level)))
    sub = data.replace(
        states=tuple(states),
        grid=Grid(t_start, t_stop, g.step),
        final_min=final_min,
        demands=tuple(data.demands[d] for d in keep),
        receipts=tuple(
            Receipt(state, max(when, t_start), amount)
            for state, when, amount in pending
            if when <= t_stop + tiny
        ),
        unit_init=tuple(
            UnitInit(unit, free, last, held.get(unit, ()))
            for unit, (free, last) in last_on.items()
            if unit not in running
        ),
        in_progress=tuple(running.values()),
        reference=None,
    )
    return sub, keep
