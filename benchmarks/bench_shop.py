"""Benchmark `solve_shop` on the public job-shop and flexible job-shop instances, beside CP-SAT.

Runs every instance of benchmarks/instances/jobshop and benchmarks/instances/fjsp with the same
time limit and two cores for both solvers (our solver with `threads=2`, OR-Tools CP-SAT with two
workers), prints a table against the best-known makespans and writes
benchmarks/results/shop.json.

    python benchmarks/bench_shop.py                      # 60 s per instance and solver
    python benchmarks/bench_shop.py --time-limit 30 --instances ft10,mk03
    python benchmarks/bench_shop.py --no-cpsat           # ours only

OR-Tools is a development dependency only: the CP-SAT model lives in this file.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks" / "instances"
RESULTS = REPO / "benchmarks" / "results" / "shop.json"

if str(REPO) not in sys.path:  # allow running the file directly from a checkout
    sys.path.insert(0, str(REPO))

from optimizer.formats import ShopInstance  # noqa: E402
from optimizer.formats.fjsp import read_fjsp  # noqa: E402
from optimizer.formats.jobshop import read_jobshop  # noqa: E402
from optimizer.shop import check_schedule, solve_shop  # noqa: E402


def load_instances(filters: list[str]) -> list[tuple[ShopInstance, dict[str, Any]]]:
    """(instance, best-known row) for every benchmark file whose name matches a filter."""
    out = []
    for folder, reader in (("jobshop", read_jobshop), ("fjsp", read_fjsp)):
        table = json.loads((BENCHMARKS / folder / "best_known.json").read_text(encoding="utf-8"))
        known = {row["instance"]: row for row in table}
        for path in sorted((BENCHMARKS / folder).glob("*.txt")):
            if filters and not any(f in path.stem for f in filters):
                continue
            out.append((reader(path), known.get(path.stem, {})))
    return out


def cpsat_solve(instance: ShopInstance, time_limit: float, workers: int, seed: int) -> dict:
    """Makespan minimisation with interval variables (optional ones for machine choices)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    horizon = sum(max(d for _, d in op) for job in instance.jobs for op in job)
    on_machine: dict[int, list[Any]] = defaultdict(list)
    job_ends = []
    for j, job in enumerate(instance.jobs):
        previous_end = None
        for i, op in enumerate(job):
            start = model.new_int_var(0, horizon, f"start_{j}_{i}")
            end = model.new_int_var(0, horizon, f"end_{j}_{i}")
            if len(op) == 1:
                machine, duration = op[0]
                interval = model.new_interval_var(start, duration, end, f"op_{j}_{i}")
                on_machine[machine].append(interval)
            else:
                chosen = []
                for machine, duration in op:
                    lit = model.new_bool_var(f"on_{j}_{i}_{machine}")
                    interval = model.new_optional_interval_var(
                        start, duration, end, lit, f"op_{j}_{i}_{machine}"
                    )
                    on_machine[machine].append(interval)
                    chosen.append(lit)
                model.add_exactly_one(chosen)
            if previous_end is not None:
                model.add(start >= previous_end)
            previous_end = end
        job_ends.append(previous_end)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, job_ends)
    for intervals in on_machine.values():
        model.add_no_overlap(intervals)
    model.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    started = time.perf_counter()
    status = solver.solve(model)
    seconds = time.perf_counter() - started
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return {
        "makespan": int(solver.objective_value) if found else None,
        "bound": int(round(solver.best_objective_bound)) if found else None,
        "status": solver.status_name(status).lower(),
        "seconds": seconds,
    }


def gap(value: int | None, best: int | None) -> float | None:
    if value is None or not best:
        return None
    return 100.0 * (value - best) / best


def fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--instances", default="", help="comma-separated name filters")
    parser.add_argument("--threads", type=int, default=2, help="cores for each solver")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cpsat", action="store_true", help="skip the CP-SAT comparison")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not BENCHMARKS.is_dir():
        print(f"benchmark instances not found at {BENCHMARKS}", file=sys.stderr)
        return 2
    filters = [f.strip() for f in args.instances.split(",") if f.strip()]
    instances = load_instances(filters)
    if not instances:
        print(f"no instance matches {args.instances!r}", file=sys.stderr)
        return 2

    header = (
        f"{'instance':<9}{'size':>8}{'best':>7}{'ours':>7}{'gap%':>7}{'lb':>7}"
        f"{'status':>11}{'sec':>7}{'cpsat':>8}{'gap%':>7}{'sec':>7}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for instance, known in instances:
        best = known.get("best_known")
        ours = solve_shop(
            instance, time_limit=args.time_limit, seed=args.seed, threads=args.threads
        )
        problems = check_schedule(instance, ours.schedule)
        cp = None
        if not args.no_cpsat:
            cp = cpsat_solve(instance, args.time_limit, args.threads, args.seed)
        row = {
            "instance": instance.name,
            "jobs": instance.n_jobs,
            "machines": instance.n_machines,
            "flexible": instance.is_flexible,
            "best_known": best,
            "makespan": ours.makespan,
            "gap_pct": gap(ours.makespan, best),
            "lower_bound": ours.lower_bound,
            "status": ours.status,
            "seconds": ours.seconds,
            "found_by": ours.found_by,
            "tabu_iterations": ours.tabu_iterations,
            "milp_status": ours.milp_status,
            "violations": problems,
            "cpsat": cp,
            "cpsat_gap_pct": gap(cp["makespan"], best) if cp else None,
        }
        rows.append(row)
        size = f"{instance.n_jobs}x{instance.n_machines}"
        print(
            f"{instance.name:<9}{size:>8}{fmt(best):>7}{ours.makespan:>7}"
            f"{fmt(row['gap_pct'], '.2f'):>7}{ours.lower_bound:>7}{ours.status:>11}"
            f"{ours.seconds:>7.1f}{fmt(cp and cp['makespan']):>8}"
            f"{fmt(row['cpsat_gap_pct'], '.2f'):>7}{fmt(cp and cp['seconds'], '.1f'):>7}",
            flush=True,
        )
        if problems:
            print(f"  INVALID schedule: {problems[:3]}", flush=True)

    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return sum(values) / len(values) if values else None

    summary = {
        "instances": len(rows),
        "mean_gap_pct": mean("gap_pct"),
        "cpsat_mean_gap_pct": mean("cpsat_gap_pct"),
        "optimal_reached": sum(1 for r in rows if r["gap_pct"] == 0),
        "proven_optimal": sum(1 for r in rows if r["status"] == "optimal"),
        "max_seconds": max(r["seconds"] for r in rows),
    }
    print("-" * len(header))
    print(
        f"mean gap: ours {fmt(summary['mean_gap_pct'], '.2f')}%, "
        f"CP-SAT {fmt(summary['cpsat_mean_gap_pct'], '.2f')}%; best-known reached on "
        f"{summary['optimal_reached']}/{len(rows)}, proven optimal {summary['proven_optimal']}"
    )
    report = {
        "settings": {
            "time_limit": args.time_limit,
            "threads": args.threads,
            "seed": args.seed,
            "cpsat": not args.no_cpsat,
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "summary": summary,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
