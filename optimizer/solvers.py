"""Solver choice and results shared by every Pyomo model of the project.

`solve_model(model, options)` runs any MILP solver Pyomo knows by name and returns a plain
`SolveResult`; the best solution found (if any) is loaded into the model's variables, so the
module that built the model can read it back. HiGHS is the default, through Pyomo's APPSI
interface (`"appsi_highs"`, which accepts a warm start) or the newer `"highs"` interface.
Pyomo objects never leave `optimizer/`: callers outside it see only `SolverOptions` and
`SolveResult`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "DEFAULT_SOLVER",
    "SolveResult",
    "SolveStatus",
    "SolverOptions",
    "SolverUnavailableError",
    "available_solvers",
    "check_solver",
    "solve_model",
]

DEFAULT_SOLVER = "appsi_highs"

SolveStatus = Literal["optimal", "feasible", "infeasible", "time_limit", "error"]

# MILP solvers worth naming when the requested one is missing (checked in this order).
_CANDIDATES = (
    "appsi_highs",
    "highs",
    "cbc",
    "appsi_cbc",
    "glpk",
    "scip",
    "gurobi",
    "gurobi_direct",
    "appsi_gurobi",
    "cplex",
    "cplex_direct",
    "appsi_cplex",
    "xpress",
    "mosek",
)

# Option names of the classic (legacy) Pyomo interfaces, per solver family.
_LEGACY_OPTIONS: dict[str, dict[str, str]] = {
    "cbc": {
        "time_limit": "sec",
        "mip_gap": "ratio",
        "threads": "threads",
        "seed": "randomSeed",
        "node_limit": "maxNodes",
    },
    "glpk": {"time_limit": "tmlim", "mip_gap": "mipgap"},
    "gurobi": {
        "time_limit": "TimeLimit",
        "mip_gap": "MIPGap",
        "threads": "Threads",
        "seed": "Seed",
        "node_limit": "NodeLimit",
    },
    "cplex": {
        "time_limit": "timelimit",
        "mip_gap": "mip_tolerances_mipgap",
        "threads": "threads",
        "seed": "randomseed",
        "node_limit": "mip_limits_nodes",
    },
    "scip": {
        "time_limit": "limits/time",
        "mip_gap": "limits/gap",
        "seed": "randomization/randomseedshift",
        "node_limit": "limits/nodes",
    },
    "xpress": {"time_limit": "maxtime", "mip_gap": "miprelstop", "threads": "threads"},
    "mosek": {"time_limit": "dparam.optimizer_max_time", "mip_gap": "dparam.mio_tol_rel_gap"},
}


class SolverUnavailableError(RuntimeError):
    """The requested solver is unknown to Pyomo or not installed on this machine."""

    def __init__(self, name: str, reason: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        names = ", ".join(f'"{a}"' for a in available) if available else "none"
        super().__init__(
            f'solver "{name}" {reason}. Solvers available here: {names}. '
            f'The default is "{DEFAULT_SOLVER}" (HiGHS, installed with the highspy package).'
        )


@dataclass(frozen=True)
class SolverOptions:
    """Which solver to run and its limits; every field is checked on construction."""

    name: str = DEFAULT_SOLVER
    time_limit: float | None = 60.0
    """Wall-clock seconds for the solver run; None for no limit."""
    mip_gap: float | None = None
    """Relative gap at which to stop; None keeps the solver's default."""
    threads: int | None = 1
    seed: int = 0
    node_limit: int | None = None
    """Branch-and-bound nodes at which to stop (makes runs repeatable); None for no limit."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f'"name" must be a non-empty solver name, got {self.name!r}.')
        if self.time_limit is not None and not (
            isinstance(self.time_limit, int | float) and self.time_limit > 0
        ):
            raise ValueError(f'"time_limit" must be > 0 seconds or None, got {self.time_limit!r}.')
        if self.mip_gap is not None and not (
            isinstance(self.mip_gap, int | float) and 0 <= self.mip_gap < 1
        ):
            raise ValueError(f'"mip_gap" must be in [0, 1) or None, got {self.mip_gap!r}.')
        if self.threads is not None and not (isinstance(self.threads, int) and self.threads >= 1):
            raise ValueError(f'"threads" must be an integer >= 1 or None, got {self.threads!r}.')
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f'"seed" must be an integer >= 0, got {self.seed!r}.')
        if self.node_limit is not None and not (
            isinstance(self.node_limit, int) and self.node_limit >= 1
        ):
            raise ValueError(
                f'"node_limit" must be an integer >= 1 or None, got {self.node_limit!r}.'
            )


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solver run, free of Pyomo objects.

    `objective` is the best feasible objective (None without a solution), `bound` the best proven
    bound, `gap` the relative gap `|objective - bound| / |objective|`.
    """

    status: SolveStatus
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    solver: str
    message: str = ""

    @property
    def has_solution(self) -> bool:
        return self.objective is not None


def available_solvers() -> list[str]:
    """Names of the MILP solvers that Pyomo can run on this machine."""
    return [name for name in _CANDIDATES if _is_available(name)]


def check_solver(name: str) -> None:
    """Raise `SolverUnavailableError` unless Pyomo can run the solver `name` here."""
    import pyomo.environ as pyo

    if name not in set(pyo.SolverFactory):
        raise SolverUnavailableError(name, "is not a solver name Pyomo knows", available_solvers())
    if not _is_available(name):
        raise SolverUnavailableError(name, "is not installed on this machine", available_solvers())


def solve_model(
    model: Any,
    options: SolverOptions,
    warmstart: bool = False,
    deadline: float | None = None,
) -> SolveResult:
    """Solve a Pyomo model with `options`; load the best solution found into its variables.

    `warmstart=True` passes the current variable values as a starting solution to solvers that
    accept one (appsi_highs does; the `highs` interface ignores it). `deadline`, a
    `time.perf_counter()` value, shortens the time limit to what is left once the model has
    been handed to the solver (that hand-over takes seconds on large models). Raises
    `SolverUnavailableError` for a solver that is unknown or not installed.
    """
    name = options.name
    if name == "appsi_highs":
        return _solve_appsi_highs(model, options, warmstart, deadline)
    if name == "highs":
        return _solve_highs(model, _until(options, deadline))
    return _solve_legacy(model, _until(options, deadline), warmstart)


def _until(options: SolverOptions, deadline: float | None) -> SolverOptions:
    """`options` with the time limit cut to the time left before `deadline` (at least 10 ms)."""
    if deadline is None:
        return options
    left = max(0.01, deadline - time.perf_counter())
    if options.time_limit is None or left < options.time_limit:
        return replace(options, time_limit=left)
    return options


# --------------------------------------------------------------------------- HiGHS (APPSI)
def _solve_appsi_highs(
    model: Any, options: SolverOptions, warmstart: bool, deadline: float | None
) -> SolveResult:
    from pyomo.contrib.appsi.base import TerminationCondition as TC
    from pyomo.contrib.appsi.solvers import Highs

    solver = Highs()
    if not solver.available():
        raise SolverUnavailableError(
            "appsi_highs", "is not installed (pip install highspy)", available_solvers()
        )
    solver.config.load_solution = False
    solver.config.warmstart = warmstart
    started = time.perf_counter()
    try:
        solver.set_instance(model)
    except Exception as exc:
        return _error(options, started, exc)
    options = _until(options, deadline)
    if options.time_limit is not None:
        solver.config.time_limit = float(options.time_limit)
    if options.mip_gap is not None:
        solver.config.mip_gap = float(options.mip_gap)
    solver.highs_options = _highs_options(options)
    try:
        res = solver.solve(model)
    except Exception as exc:  # a solver crash is a result, not a reason to lose the caller
        return _error(options, started, exc)
    seconds = time.perf_counter() - started
    objective = res.best_feasible_objective
    if objective is not None:
        try:
            res.solution_loader.load_vars()
        except Exception as exc:  # HiGHS returned no usable values (e.g. numerically unsound)
            return _error(options, started, exc)
    tc = res.termination_condition
    if tc == TC.optimal:
        status: SolveStatus = "optimal"
    elif tc == TC.maxTimeLimit:
        status = "time_limit"
    elif tc == TC.infeasible:
        status = "infeasible"
    else:
        status = "feasible" if objective is not None else "error"
    bound = res.best_objective_bound
    return _result(status, objective, bound, seconds, options, str(tc))


def _highs_options(options: SolverOptions) -> dict[str, Any]:
    out: dict[str, Any] = {"random_seed": options.seed, "output_flag": False}
    if options.threads is not None:
        out["threads"] = options.threads
    if options.node_limit is not None:
        out["mip_max_nodes"] = options.node_limit
    return out


# ------------------------------------------------------------------ HiGHS (new interface)
def _solve_highs(model: Any, options: SolverOptions) -> SolveResult:
    from pyomo.contrib.solver.common.results import TerminationCondition as TC
    from pyomo.contrib.solver.solvers.highs import Highs

    solver = Highs()
    if not solver.available():
        raise SolverUnavailableError(
            "highs", "is not installed (pip install highspy)", available_solvers()
        )
    kwargs: dict[str, Any] = {
        "load_solutions": False,
        "raise_exception_on_nonoptimal_result": False,
        "solver_options": _highs_options(options),
    }
    if options.time_limit is not None:
        kwargs["time_limit"] = float(options.time_limit)
    if options.mip_gap is not None:
        kwargs["rel_gap"] = float(options.mip_gap)
    started = time.perf_counter()
    try:
        res = solver.solve(model, **kwargs)
    except Exception as exc:
        return _error(options, started, exc)
    seconds = time.perf_counter() - started
    objective = res.incumbent_objective
    if objective is not None:
        try:
            res.solution_loader.load_vars()
        except Exception as exc:  # no usable values (e.g. numerically unsound)
            return _error(options, started, exc)
    tc = res.termination_condition
    if tc == TC.convergenceCriteriaSatisfied:
        status: SolveStatus = "optimal"
    elif tc == TC.maxTimeLimit:
        status = "time_limit"
    elif tc in (TC.provenInfeasible, TC.locallyInfeasible):
        status = "infeasible"
    else:
        status = "feasible" if objective is not None else "error"
    return _result(status, objective, res.objective_bound, seconds, options, str(tc))


# ------------------------------------------------------------------- any other solver
def _solve_legacy(model: Any, options: SolverOptions, warmstart: bool) -> SolveResult:
    import pyomo.environ as pyo
    from pyomo.opt import TerminationCondition as TC

    name = options.name
    check_solver(name)
    solver = pyo.SolverFactory(name)
    family = _family(name)
    names = _LEGACY_OPTIONS.get(family, {})
    solver_options: dict[str, Any] = {}
    for field in ("time_limit", "mip_gap", "threads", "seed", "node_limit"):
        value = getattr(options, field)
        if value is not None and field in names:
            solver_options[names[field]] = value
    kwargs: dict[str, Any] = {"load_solutions": False, "options": solver_options}
    if warmstart and getattr(solver, "warm_start_capable", lambda: False)():
        kwargs["warmstart"] = True
    started = time.perf_counter()
    try:
        res = solver.solve(model, **kwargs)
    except Exception as exc:
        return _error(options, started, exc)
    seconds = time.perf_counter() - started
    objective = None
    if len(res.solution) > 0:
        try:
            model.solutions.load_from(res)
            objective = pyo.value(next(model.component_data_objects(pyo.Objective, active=True)))
        except Exception as exc:  # a solution the model cannot take back
            return _error(options, started, exc)
    tc = res.solver.termination_condition
    if tc in (TC.optimal, TC.globallyOptimal, TC.locallyOptimal):
        status: SolveStatus = "optimal"
    elif tc == TC.maxTimeLimit:
        status = "time_limit"
    elif tc == TC.infeasible:
        status = "infeasible"
    else:
        status = "feasible" if objective is not None else "error"
    bound = _legacy_bound(model, res)
    return _result(status, objective, bound, seconds, options, str(tc))


def _legacy_bound(model: Any, res: Any) -> float | None:
    import pyomo.environ as pyo

    try:
        objective = next(model.component_data_objects(pyo.Objective, active=True))
        raw = (
            res.problem.lower_bound if objective.sense == pyo.minimize else res.problem.upper_bound
        )
        bound = float(raw)
    except (StopIteration, TypeError, ValueError, AttributeError):
        return None
    return bound if math.isfinite(bound) else None


def _family(name: str) -> str:
    base = name.removeprefix("appsi_")
    for suffix in ("_direct", "_persistent", "_shell"):
        base = base.removesuffix(suffix)
    return base


def _is_available(name: str) -> bool:
    import logging

    import pyomo.environ as pyo

    if name not in set(pyo.SolverFactory):
        return False
    logger = logging.getLogger("pyomo")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return bool(pyo.SolverFactory(name).available(exception_flag=False))
    except Exception:
        return False
    finally:
        logger.setLevel(level)


# ----------------------------------------------------------------------------- helpers
def _result(
    status: SolveStatus,
    objective: float | None,
    bound: float | None,
    seconds: float,
    options: SolverOptions,
    message: str,
) -> SolveResult:
    if bound is not None and not math.isfinite(bound):
        bound = None
    gap = None
    if objective is not None and bound is not None:
        gap = abs(objective - bound) / max(abs(objective), 1e-9) if objective != bound else 0.0
    return SolveResult(status, objective, bound, gap, seconds, options.name, message)


def _error(options: SolverOptions, started: float, exc: Exception) -> SolveResult:
    seconds = time.perf_counter() - started
    return SolveResult(
        "error", None, None, None, seconds, options.name, f"{type(exc).__name__}: {exc}"
    )
