"""Entry points behind the CLI's optimisation commands; they return JSON-ready dicts.

`twin plan --format jsplib|fjsp FILE --json` calls `plan_benchmark`. The CLI stays a thin shell:
reading, solving and shaping the answer happen here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optimizer.formats import ShopInstance
from optimizer.solvers import DEFAULT_SOLVER

__all__ = ["BENCHMARK_FORMATS", "plan_benchmark", "read_benchmark"]

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
