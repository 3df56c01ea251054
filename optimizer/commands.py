"""Entry points behind the CLI's optimisation commands; they return JSON-ready dicts.

`twin plan --format jsplib|fjsp FILE --json` calls `plan_benchmark`, `twin plan --format stn
FILE` calls `plan_stn` (and `stn_summary` for the one-line text answer). The CLI stays a thin
shell: reading, solving and shaping the answer happen here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optimizer.formats import ShopInstance
from optimizer.solvers import DEFAULT_SOLVER

__all__ = [
    "BENCHMARK_FORMATS",
    "STN_MODES",
    "plan_benchmark",
    "plan_stn",
    "read_benchmark",
    "stn_summary",
]

BENCHMARK_FORMATS = ("jsplib", "fjsp")
"""`jsplib`: OR-Library/JSPLIB job shop; `fjsp`: Brandimarte flexible job shop."""


def read_benchmark(fmt: str, path: str | Path) -> ShopInstance:
    """Read a benchmark instance in format `fmt` (one of `BENCHMARK_FORMATS`)."""
    if fmt == "jsplib":
        from optimizer.formats.jobshop import read_jobshop

        return read_jobshop(path)
    if fmt == "fjsp":
        from optimizer.formats.fjsp import read_fjsp

        return read_fjsp(path)
    raise ValueError(
        f'unknown benchmark format "{fmt}"; expected one of {", ".join(BENCHMARK_FORMATS)}.'
    )


def plan_benchmark(
    fmt: str,
    path: str | Path,
    time_limit: float = 60.0,
    solver: str = DEFAULT_SOLVER,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Schedule a public benchmark instance and describe the result as a JSON-ready dict.

    Keys: instance, format, path, jobs, machines, operations, flexible, makespan, lower_bound,
    gap, status, seconds, found_by, tabu_iterations, milp_status, best_known (from a
    `best_known.json` beside the file, else None) and schedule (a list of
    {job, operation, machine, start, end}). Raises `InstanceFormatError` for a malformed file
    and `SolverUnavailableError` for a solver that cannot run here.
    """
    from optimizer.shop import solve_shop

    instance = read_benchmark(fmt, path)
    result = solve_shop(
        instance, time_limit=time_limit, seed=seed, threads=threads, solver=solver
    ).to_dict()
    return {
        "instance": instance.name,
        "format": fmt,
        "path": str(path),
        "jobs": instance.n_jobs,
        "machines": instance.n_machines,
        "operations": instance.n_operations,
        "flexible": instance.is_flexible,
        "makespan": result["makespan"],
        "lower_bound": result["lower_bound"],
        "gap": result["gap"],
        "status": result["status"],
        "seconds": result["seconds"],
        "found_by": result["found_by"],
        "tabu_iterations": result["tabu_iterations"],
        "milp_status": result["milp_status"],
        "best_known": _best_known(Path(path), instance.name),
        "schedule": result["schedule"],
    }


STN_MODES = ("auto", "monolithic", "rolling")
"""How `plan_stn` solves: see `optimizer.stn` (auto: one MILP when small, else a rolling horizon
then the whole MILP warm-started from it)."""


def plan_stn(
    path: str | Path,
    time_limit: float | None = 120.0,
    solver: str = DEFAULT_SOLVER,
    threads: int = 1,
    mip_gap: float | None = None,
    mode: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Schedule an STN instance (JSON, benchmarks/instances/stn/README.md) as a JSON-ready dict.

    Keys, in this order: objective (the checker's recomputation from the schedule; null when no
    schedule was found), status (optimal | time_limit | feasible | infeasible | error), bound
    (an upper bound on the objective, null when unknown), seconds, then gap, instance, path,
    format, solver, mode, message, reference ({value, sense, source} or null),
    reference_reached (objective equals a "max" reference to 1e-6; null without one), size
    ({states, tasks, units, periods}), batches (count), schedule (a list of {task, unit, start,
    end, size, hold}), shipped (per demand), times (the grid), stock ({state: level at each grid
    point}), utility_use and stages (what each solver stage did).

    `mip_gap` None proves optimality (gap 0) within the time limit. Raises
    `InstanceFormatError` for a missing or malformed file, `SolverUnavailableError` for a solver
    that cannot run here and `ValueError` for a bad time limit, threads, gap or mode.
    """
    from optimizer.formats.stn import read_stn
    from optimizer.solvers import SolverOptions
    from optimizer.stn import solve

    if mode not in STN_MODES:
        raise ValueError(f"--mode: bad value {mode!r}; expected one of: {', '.join(STN_MODES)}.")
    options = SolverOptions(
        name=solver, time_limit=time_limit, mip_gap=mip_gap, threads=threads, seed=seed
    )
    data = read_stn(path)
    result = solve(data, options, mode=mode).to_dict()
    reference = None
    reached = None
    if data.reference is not None:
        ref = data.reference
        reference = {"value": ref.value, "sense": ref.sense, "source": ref.source}
        if ref.sense == "max" and result["objective"] is not None:
            reached = abs(result["objective"] - ref.value) <= 1e-6 * max(1.0, abs(ref.value))
    return {
        "objective": result["objective"],
        "status": result["status"],
        "bound": result["bound"],
        "seconds": result["seconds"],
        "gap": result["gap"],
        "instance": data.name,
        "path": str(path),
        "format": "stn",
        "solver": result["solver"],
        "mode": result["mode"],
        "message": result["message"],
        "reference": reference,
        "reference_reached": reached,
        "size": {
            "states": len(data.states),
            "tasks": len(data.tasks),
            "units": len(data.units),
            "periods": data.grid.periods,
        },
        "batches": result["batches"],
        "schedule": result["schedule"],
        "shipped": result["shipped"],
        "times": result["times"],
        "stock": result["stock"],
        "utility_use": result["utility_use"],
        "stages": result["stages"],
    }


def stn_summary(result: dict[str, Any]) -> str:
    """One line for `plan_stn`'s answer, e.g. `kondili_stnscheduler_H10: objective 2744.375
    (bound 2744.375, optimal, 0.4 s, 16 batches); reference 2744.375 reached`."""

    def num(x: float | None) -> str:
        return "none" if x is None else f"{x:.6f}".rstrip("0").rstrip(".")

    line = (
        f"{result['instance']}: objective {num(result['objective'])} (bound "
        f"{num(result['bound'])}, {result['status']}, {result['seconds']:.1f} s, "
        f"{result['batches']} batches)"
    )
    ref = result.get("reference")
    if ref is not None:
        verdict = {True: "reached", False: "not reached", None: "not compared"}
        line += f"; reference {num(ref['value'])} {verdict[result['reference_reached']]}"
    if result["message"] and result["objective"] is None:
        line += f"; {result['message']}"
    return line


def _best_known(path: Path, name: str) -> int | None:
    """Best-known makespan from `best_known.json` next to the instance file, if listed there."""
    table = path.parent / "best_known.json"
    try:
        rows = json.loads(table.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rows, list):
        return None
    for row in rows:
        if isinstance(row, dict) and row.get("instance") == name:
            value = row.get("best_known")
            return value if isinstance(value, int) else None
    return None
