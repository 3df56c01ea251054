"""Benchmark the STN scheduler: the public instances against their published optima, and larger
generated plants with the monolithic MILP, the rolling horizon and `auto` side by side.

The public instances are every `*.json` of benchmarks/instances/stn (solved in `auto` mode, which
is one MILP for them). The generated ones are not in the public set: the Kondili plant over long
horizons (feeds scaled with the horizon) and seeded multi-product plants with finite and NIS
storage, steam, changeovers, cleaning and soft demands (`optimizer.stn_instances`). Each is
solved with the same time limit in each mode; every schedule is replayed by the independent
checker. Prints a table and writes benchmarks/results/stn.json.

    python benchmarks/bench_stn.py                       # 60 s per generated run
    python benchmarks/bench_stn.py --time-limit 20 --instances kondili
    python benchmarks/bench_stn.py --modes auto --instances plant
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
INSTANCES = REPO / "benchmarks" / "instances" / "stn"
RESULTS = REPO / "benchmarks" / "results" / "stn.json"

if str(REPO) not in sys.path:  # allow running the file directly from a checkout
    sys.path.insert(0, str(REPO))

from optimizer.formats.stn import read_stn  # noqa: E402
from optimizer.solvers import SolverOptions  # noqa: E402
from optimizer.stn import solve  # noqa: E402
from optimizer.stn_check import check_schedule  # noqa: E402
from optimizer.stn_data import StnData  # noqa: E402
from optimizer.stn_instances import kondili, multiproduct_plant  # noqa: E402
from optimizer.stn_model import model_data  # noqa: E402

GENERATED = (
    lambda: kondili(40),
    lambda: kondili(120),
    lambda: kondili(240),
    lambda: multiproduct_plant(3, 48, 0),
    lambda: multiproduct_plant(4, 96, 1),
    lambda: multiproduct_plant(6, 168, 2),
)
MODES = ("monolithic", "rolling", "auto")


def run(data: StnData, mode: str, options: SolverOptions) -> dict[str, Any]:
    result = solve(data, options, mode=mode)
    problems: list[str] = []
    if result.schedule is not None:
        problems = list(check_schedule(data, result.schedule).problems)
    gap = result.gap
    return {
        "instance": data.name,
        "periods": data.grid.periods,
        "binaries": model_data(data).binaries,
        "mode": mode,
        "objective": result.objective,
        "bound": result.bound,
        "gap_pct": None if gap is None else 100 * gap,
        "status": result.status,
        "seconds": result.seconds,
        "batches": len(result.schedule.batches) if result.schedule else 0,
        "windows": sum(1 for s in result.stages if s["stage"] == "window"),
        "reference": data.reference.value if data.reference else None,
        "violations": problems,
    }


def fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--instances", default="", help="comma-separated name filters")
    parser.add_argument("--modes", default=",".join(MODES), help="modes for generated ones")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    filters = [f.strip() for f in args.instances.split(",") if f.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        print(f"unknown mode {bad[0]!r}; expected some of {', '.join(MODES)}", file=sys.stderr)
        return 2
    options = SolverOptions(time_limit=args.time_limit, threads=args.threads, mip_gap=0.0)
    jobs: list[tuple[StnData, list[str]]] = []
    for path in sorted(INSTANCES.glob("*.json")):
        jobs.append((read_stn(path), ["auto"]))
    jobs += [(make(), modes) for make in GENERATED]
    jobs = [(d, m) for d, m in jobs if not filters or any(f in d.name for f in filters)]
    if not jobs:
        print(f"no instance matches {args.instances!r}", file=sys.stderr)
        return 2
    header = (
        f"{'instance':<32}{'periods':>8}{'binaries':>9}{'mode':>12}{'objective':>13}"
        f"{'bound':>13}{'gap%':>8}{'status':>11}{'sec':>7}{'ref':>10}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for data, instance_modes in jobs:
        for mode in instance_modes:
            row = run(data, mode, options)
            rows.append(row)
            print(
                f"{row['instance']:<32}{row['periods']:>8}{row['binaries']:>9}{mode:>12}"
                f"{fmt(row['objective'], '.3f'):>13}{fmt(row['bound'], '.3f'):>13}"
                f"{fmt(row['gap_pct'], '.2f'):>8}{row['status']:>11}{row['seconds']:>7.1f}"
                f"{fmt(row['reference']):>10}",
                flush=True,
            )
            if row["violations"]:
                print(f"  INVALID schedule: {row['violations'][:3]}", flush=True)
    public = [r for r in rows if r["reference"] is not None]
    summary = {
        "runs": len(rows),
        "references_reproduced": sum(
            1
            for r in public
            if r["objective"] is not None
            and abs(r["objective"] - r["reference"]) <= 1e-6 * max(1.0, abs(r["reference"]))
        ),
        "references": len(public),
        "invalid_schedules": sum(1 for r in rows if r["violations"]),
        "best_mode": _best_modes(rows),
    }
    print("-" * len(header))
    print(
        f"published optima reproduced: {summary['references_reproduced']}/{summary['references']}"
        f"; invalid schedules: {summary['invalid_schedules']}; best mode per generated "
        f"instance: {summary['best_mode']}"
    )
    report = {
        "settings": {
            "time_limit": args.time_limit,
            "threads": args.threads,
            "mip_gap": 0.0,
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


def _best_modes(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Instance -> the mode with the highest objective (generated instances run in several)."""
    best: dict[str, tuple[float, str]] = {}
    for r in rows:
        if r["objective"] is None or r["reference"] is not None:
            continue
        if r["instance"] not in best or r["objective"] > best[r["instance"]][0]:
            best[r["instance"]] = (r["objective"], r["mode"])
    return {name: mode for name, (_, mode) in best.items()}


if __name__ == "__main__":
    raise SystemExit(main())
