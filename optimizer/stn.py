"""STN scheduling of batch plants: `solve(data) -> StnResult`.

`data` is an `StnData` (`optimizer.stn_data`; read from JSON by `optimizer.formats.stn`). The
discrete-time MILP of Kondili, Pantelides and Sargent (`optimizer.stn_model`) is solved by HiGHS
by default, or by any MILP solver Pyomo knows (`optimizer.solvers`). Three modes:

- `monolithic`: the whole grid in one MILP, solved to optimality (gap 0 unless `mip_gap` is
  given) or until the time limit; its bound is the solver's.
- `rolling`: a rolling horizon for long grids (`optimizer.stn_rolling`): windows with integer
  starts and a relaxed look-ahead, the first part of each window fixed before moving on; its
  bound is the LP relaxation of the whole grid.
- `auto` (default): monolithic when the MILP is small (at most `AUTO_MONOLITHIC_BINARIES`
  integer starts); otherwise the rolling horizon first, then, when the whole MILP is not too
  large, the monolithic MILP warm-started from it with the time left, which keeps the better
  schedule and gives a proper bound.

Every schedule returned has been replayed by the independent checker (`optimizer.stn_check`),
and the objective reported is the checker's recomputation from the schedule. An optimal
monolithic schedule is first tidied (`tidy`: the same starts with the least material processed),
so it carries no batch that changes nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from optimizer.solvers import SolverOptions, check_solver, solve_model
from optimizer.stn_check import Batch, StnCheck, StnSchedule, check_schedule
from optimizer.stn_data import StnData
from optimizer.stn_model import StnModelData, build_model, model_data

if TYPE_CHECKING:
    from optimizer.stn_rolling import RollingOptions

__all__ = [
    "AUTO_MONOLITHIC_BINARIES",
    "Batch",
    "StnResult",
    "StnSchedule",
    "check_schedule",
    "extract_schedule",
    "set_warm_start",
    "solve",
    "solve_monolithic",
]

StnStatus = Literal["optimal", "time_limit", "feasible", "infeasible", "error"]
Mode = Literal["auto", "monolithic", "rolling"]

AUTO_MONOLITHIC_BINARIES = 500
"""`auto` solves MILPs with at most this many integer starts in one piece."""
AUTO_POLISH_BINARIES = 40_000
"""...and warm-starts the whole MILP after the rolling horizon up to this many."""
ROLLING_SHARE = 0.85
"""Share of the time limit the rolling horizon may take in `auto` mode; the whole MILP,
warm-started from it, gets the rest and whatever the windows leave (they stop on their gap).
Measured (bench_stn): on the generated plants the windows need the time and the whole MILP
rarely improves them; on Kondili the windows finish early and the whole MILP polishes."""
LP_BOUND_MAX_STARTS = 150_000
"""The rolling horizon's LP bound is computed when the whole grid has at most this many starts."""


@dataclass(frozen=True)
class StnResult:
    """A solve's schedule and report; plain Python, no Pyomo.

    `status`: `optimal` (proven), `time_limit` (the clock stopped the search: a schedule if
    `objective` is set), `feasible` (a schedule without proof, e.g. from the rolling horizon),
    `infeasible` (proven: no schedule meets the demands), `error` (the solver failed; see
    `message`). `objective` is the checker's recomputation; `bound` an upper bound on it.
    """

    instance: str
    status: StnStatus
    objective: float | None
    bound: float | None
    seconds: float
    solver: str
    mode: str
    schedule: StnSchedule | None
    check: StnCheck | None
    times: tuple[float, ...]
    message: str = ""
    stages: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def gap(self) -> float | None:
        """(bound - objective) / |objective| (0 when both are 0)."""
        if self.objective is None or self.bound is None:
            return None
        diff = max(0.0, self.bound - self.objective)
        if diff <= 1e-9 * max(1.0, abs(self.objective)):
            return 0.0
        return diff / abs(self.objective) if self.objective else math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (infinite gaps become null)."""
        gap = self.gap
        batches = self.schedule.batches if self.schedule else ()
        return {
            "instance": self.instance,
            "objective": self.objective,
            "status": self.status,
            "bound": self.bound,
            "gap": gap if gap is None or math.isfinite(gap) else None,
            "seconds": self.seconds,
            "solver": self.solver,
            "mode": self.mode,
            "message": self.message,
            "batches": len([b for b in batches if not b.hold]),
            "schedule": [b.to_dict() for b in batches],
            "shipped": [round(x, 6) for x in self.schedule.shipped] if self.schedule else [],
            "times": list(self.times),
            "stock": {s: [round(x, 6) for x in v] for s, v in self.check.stock.items()}
            if self.check
            else {},
            "utility_use": {u: [round(x, 6) for x in v] for u, v in self.check.utility_use.items()}
            if self.check
            else {},
            "stages": list(self.stages),
        }


def solve(
    data: StnData,
    options: SolverOptions | None = None,
    mode: Mode = "auto",
    rolling: RollingOptions | None = None,
) -> StnResult:
    """Schedule `data` (module docstring). `options` default to HiGHS, 60 s, gap 0 (a gap of
    None is read as 0: the published optima are exact); `rolling` sizes the rolling horizon
    (None: `RollingOptions.for_data`). Raises `SolverUnavailableError` for a solver that cannot
    run here and ValueError for a bad mode."""
    started = time.perf_counter()
    options = options or SolverOptions()
    if options.mip_gap is None:
        options = replace(options, mip_gap=0.0)
    if mode not in ("auto", "monolithic", "rolling"):
        raise ValueError(f'"mode" must be auto, monolithic or rolling, got {mode!r}.')
    check_solver(options.name)
    from optimizer.stn_rolling import RollingOptions, solve_rolling

    md = model_data(data)
    if mode == "monolithic" or (mode == "auto" and md.binaries <= AUTO_MONOLITHIC_BINARIES):
        return solve_monolithic(data, options, started=started, md=md)
    rolling = rolling or RollingOptions.for_data(data)
    polish = mode == "auto" and md.binaries <= AUTO_POLISH_BINARIES
    first = options
    if polish and options.time_limit is not None:
        first = replace(options, time_limit=ROLLING_SHARE * options.time_limit)
    rolled = solve_rolling(data, first, rolling, started=started)
    if not polish:
        return rolled
    left = None
    if options.time_limit is not None:
        left = options.time_limit - (time.perf_counter() - started)
        if left < 1.0:
            return replace(rolled, mode="auto")
    polished = solve_monolithic(
        data,
        replace(options, time_limit=left),
        started=started,
        md=md,
        warm=rolled.schedule,
    )
    return _better(rolled, polished, started)


def _better(rolled: StnResult, polished: StnResult, started: float) -> StnResult:
    """The better schedule of the rolling horizon and the whole MILP started from it, with the
    tighter bound of the two."""
    bounds = [b for b in (rolled.bound, polished.bound) if b is not None]
    bound = min(bounds) if bounds else None
    stages = rolled.stages + polished.stages
    seconds = time.perf_counter() - started
    best = polished
    if polished.objective is None or (
        rolled.objective is not None and rolled.objective > polished.objective
    ):
        best = rolled
    if best.objective is None:
        return replace(best, mode="auto", bound=bound, stages=stages, seconds=seconds)
    bound = max(bound, best.objective) if bound is not None else None
    status = best.status
    if bound is not None and bound <= best.objective + 1e-9 * max(1.0, abs(best.objective)):
        status = "optimal"
    elif "time_limit" in (rolled.status, polished.status):
        status = "time_limit"
    return replace(best, mode="auto", bound=bound, status=status, stages=stages, seconds=seconds)


def solve_monolithic(
    data: StnData,
    options: SolverOptions,
    started: float | None = None,
    md: StnModelData | None = None,
    warm: StnSchedule | None = None,
) -> StnResult:
    """The whole grid as one MILP, optionally warm-started from the schedule `warm`."""
    started = time.perf_counter() if started is None else started
    md = md or model_data(data)
    m = build_model(md)
    if warm is not None:
        set_warm_start(m, md, warm)
    res = solve_model(m, options, warmstart=warm is not None)
    stage = {
        "stage": "monolithic",
        "binaries": md.binaries,
        "status": res.status,
        "objective": res.objective,
        "bound": res.bound,
        "seconds": res.seconds,
        "warm_start": warm is not None,
    }
    if res.objective is None:
        status = res.status if res.status in ("infeasible", "time_limit") else "error"
        return StnResult(
            instance=data.name,
            status=status,
            objective=None,
            bound=round_objective(res.bound),
            seconds=time.perf_counter() - started,
            solver=options.name,
            mode="monolithic",
            schedule=None,
            check=None,
            times=md.times,
            message=res.message,
            stages=(stage,),
        )
    schedule = extract_schedule(m, md)
    check = verified(data, schedule, res.objective)
    tidied = tidy(m, md, options, check.objective, started)
    if tidied is not None:
        schedule, check = tidied
    objective = round_objective(check.objective)
    bound = round_objective(res.bound)
    if bound is not None and bound < objective:
        bound = objective  # within the solver's tolerance: a bound is never below a schedule
    status = res.status if res.status in ("optimal", "time_limit") else "feasible"
    return StnResult(
        instance=data.name,
        status=status,
        objective=objective,
        bound=bound,
        seconds=time.perf_counter() - started,
        solver=options.name,
        mode="monolithic",
        schedule=schedule,
        check=check,
        times=md.times,
        message=res.message,
        stages=(stage,),
    )


def tidy(
    m: Any, md: StnModelData, options: SolverOptions, objective: float, started: float
) -> tuple[StnSchedule, StnCheck] | None:
    """The same starts with the least material processed, at no loss of objective.

    A MILP optimum often carries batches that change nothing (a heating whose output is never
    used, when nothing costs): with the starts fixed, an LP minimises the total batch size
    subject to objective >= the optimum less 1e-7, and batches left empty drop out.
    Skipped (None) when less than a second or a tenth of the time limit is left, or when the LP
    does not end optimal; the caller keeps the MILP's schedule then.
    """
    import pyomo.environ as pyo

    if options.time_limit is not None:
        left = options.time_limit - (time.perf_counter() - started)
        if left < max(1.0, 0.1 * options.time_limit):
            return None
    values = {key: pyo.value(var) for key, var in m.W.items()}
    for key, var in m.W.items():
        var.fix(1 if values[key] > 0.5 else 0)
    m.objective.deactivate()
    tol = max(1e-7, 1e-10 * abs(objective))  # far below the 1e-6 the objective is given to
    m.keep_objective = pyo.Constraint(expr=m.value - m.penalty - m.cost >= objective - tol)
    m.least_material = pyo.Objective(expr=sum(m.B.values()), sense=pyo.minimize)
    try:
        lp_options = replace(options, mip_gap=None, node_limit=None)
        if options.time_limit is not None:
            lp_options = replace(lp_options, time_limit=max(0.5, 0.5 * left))
        res = solve_model(m, lp_options)
        if res.status != "optimal":
            return None
        schedule = extract_schedule(m, md)
        check = check_schedule(md.data, schedule)
        if check.problems or check.objective < objective - 2 * tol:
            return None
        return schedule, check
    finally:
        m.del_component(m.least_material)
        m.del_component(m.keep_objective)
        m.objective.activate()
        for var in m.W.values():
            var.unfix()


def verified(data: StnData, schedule: StnSchedule, solver_objective: float | None) -> StnCheck:
    """The checker's replay of `schedule`; an internal error when it finds a problem or
    disagrees with the solver's objective."""
    check = check_schedule(data, schedule)
    if check.problems:
        raise RuntimeError(
            "internal error: the STN schedule failed verification: " + "; ".join(check.problems[:5])
        )
    if solver_objective is not None:
        scale = max(1.0, abs(solver_objective))
        if abs(check.objective - solver_objective) > 1e-5 * scale:
            raise RuntimeError(
                f"internal error: the checker recomputes the objective as {check.objective!r}, "
                f"the solver reported {solver_objective!r}."
            )
    return check


def extract_schedule(m: Any, md: StnModelData) -> StnSchedule:
    """Batches (W = 1 and a size above zero, or any size when Bmin > 0) and shipments."""
    import pyomo.environ as pyo

    batches = []
    for a, k in m.STARTS:
        w = pyo.value(m.W[a, k], exception=False)
        if w is None or w < 0.5:
            continue
        job = md.jobs[a]
        size = min(job.bmax, max(job.bmin, pyo.value(m.B[a, k], exception=False) or 0.0))
        if size <= 1e-9 and job.bmin == 0:
            continue  # an empty start changes nothing: leave it out
        start = md.times[k]
        task = job.hold_of if job.hold_of is not None else job.task
        batches.append(
            Batch(task, job.unit, start, start + job.duration, size, job.hold_of is not None)
        )
    batches.sort(key=lambda b: (b.start, b.unit, b.task))
    shipped = []
    for d, _, _, amount, penalty in md.demands:
        short = 0.0 if penalty is None else pyo.value(m.U[d], exception=False) or 0.0
        shipped.append(min(amount, max(0.0, amount - short)))
    return StnSchedule(tuple(batches), tuple(shipped))


def set_warm_start(m: Any, md: StnModelData, schedule: StnSchedule) -> None:
    """Set W, B, U (and S from a replay) to `schedule` so a solver can start from it."""
    index = {
        (job.unit, job.hold_of or job.task, job.hold_of is not None): a
        for a, job in enumerate(md.jobs)
    }
    for a, k in m.STARTS:
        m.W[a, k].set_value(0)
        m.B[a, k].set_value(0.0)
    for b in schedule.batches:
        a = index.get((b.unit, b.task, b.hold))
        k = round((b.start - md.times[0]) / (md.times[1] - md.times[0]))
        if a is not None and (a, k) in m.STARTS:
            m.W[a, k].set_value(1)
            m.B[a, k].set_value(b.size)
    for d, *_, penalty in md.demands:
        if penalty is not None:
            m.U[d].set_value(md.demands[d][3] - schedule.shipped[d])
    stock = check_schedule(md.data, schedule).stock
    for s in m.STATES:
        cap = md.capacity[s]
        for k in m.TIME:
            level = max(0.0, stock[s][k])
            m.S[s, k].set_value(level if cap is None else min(cap, level), skip_validation=True)


def round_objective(x: float | None) -> float | None:
    """Objective values to 1e-6: solver noise (2744.3749999998) is not a result."""
    return None if x is None else round(x, 6) + 0.0
