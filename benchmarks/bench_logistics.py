"""Benchmark: AGV fleet sizing and the optimised transport dispatch on the OSD plant.

1. Fleet sizing (``optimizer.fleet_commands.fleet_size``) of ``scenarios/osd_plant.yaml`` and
   of its layout-B variant for a maximum wait (default 10 min) and a service level (default
   95 % of pick-ups within it): the model's answer, its bound and seconds, and the twin check
   (seeds 0-2) of every fleet size the verification walked through (at least n and n - 1).
2. Transport dispatch: ``nearest`` against ``optimised`` on the same seeds (0-4): mean and p95
   transport wait with the plant's own fleet (6 AGVs) and with a smaller one (3 AGVs), where
   vehicles are scarcer.

Prints the tables and writes ``benchmarks/results/logistics.json``; the progress of the fleet
sizing goes to stderr. The twin runs use a local process pool on all cores.

    .venv/bin/python benchmarks/bench_logistics.py [--max-wait-min 10] [--service 95]
        [--time-limit 60] [--skip-dispatch]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from optimizer.fleet_commands import compare_dispatch, fleet_size
from optimizer.progress import Progress
from twin.executors import LocalPool
from twin.experiment import model_hash

ROOT = Path(__file__).resolve().parents[1]


def _f(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "osd_plant.yaml"))
    ap.add_argument("--variant", default=str(ROOT / "scenarios" / "variants" / "layout_b.yaml"))
    ap.add_argument("--max-wait-min", type=float, default=10.0)
    ap.add_argument("--service", type=float, default=95.0, help="percent within the wait")
    ap.add_argument("--skip-dispatch", action="store_true", help="fleet sizing only")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--check-seeds", type=int, default=3)
    ap.add_argument("--dispatch-seeds", type=int, default=5)
    ap.add_argument("--small-fleet", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "logistics.json"))
    args = ap.parse_args()

    def show(p: Progress) -> None:
        print(p.line(), file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    sizing = fleet_size(
        args.scenario,
        args.max_wait_min / 60.0,
        time_limit=args.time_limit,
        seeds=range(args.check_seeds),
        compare_paths=(args.variant,),
        service=args.service / 100.0,
        progress=show,
    )
    sizing_wall = time.perf_counter() - t0
    print(
        f"Fleet sizing, {args.service:g}% within {args.max_wait_min:g} min (twin check: seeds "
        f"0-{args.check_seeds - 1}); wall {sizing_wall:.0f} s"
    )
    print(
        f"{'scenario':<28} {'model':>5} {'bound':>5} {'model s':>7} {'verified':>8} "
        f"{'twin s':>6} {'demand s':>8} {'best model %':>12}"
    )
    for lay in sizing["layouts"]:
        f = lay["fleet"]
        print(
            f"{Path(lay['scenario']).name:<28} {lay['model_vehicles']!s:>5} "
            f"{f['lower_bound']:>5} {f['seconds']:>7.1f} {lay['verified_vehicles']!s:>8} "
            f"{lay['twin_seconds']:>6.1f} {lay['demand_seconds']:>8.1f} "
            f"{_f(f['best_within_pct'], 1):>12}"
        )
        for size in f["sizes"] + f["milp_passes"]:
            print(
                f"    model {size['method']:<6} {size['vehicles']:>3} AGVs: "
                f"{_f(size['within_max_wait_pct'], 2)}% within ({size['late']} late of "
                f"{size['trips']}, complete {size['complete']}, MILP episodes "
                f"{size['milp_episodes']} of {size['episodes']}, unsolved {size['unsolved_episodes']}, "
                f"{size['seconds']:.1f} s)"
            )
    print(
        f"\n{'scenario':<28} {'AGVs':>4} {'':>9} {'mean min':>8} {'p95 min':>8} {'max min':>8} "
        f"{'<=max %':>8} {'meets':>5} {'served':>13}"
    )
    for row in sizing["table"]:
        mark = ",".join(k for k in ("model", "verified") if row[k])
        print(
            f"{Path(row['scenario']).name:<28} {row['vehicles']:>4} {mark:>9} "
            f"{_f(row['mean_wait_min']):>8} {_f(row['p95_wait_min']):>8} "
            f"{_f(row['max_wait_min'], 1):>8} {_f(row['within_max_wait_pct'], 2):>8} "
            f"{row['meets']!s:>5} {row['served']:>6}/{row['requests']:<6}"
        )
    if args.skip_dispatch:
        _write(args, sizing, sizing_wall, None)
        return

    dispatch = []
    seeds = list(range(args.dispatch_seeds))
    model_hash()  # hashed before the fork: the workers run this process's code
    pool = LocalPool()
    for vehicles in (None, args.small_fleet):
        t1 = time.perf_counter()
        res = compare_dispatch(args.scenario, seeds=seeds, vehicles=vehicles, executor=pool)
        res["seconds"] = time.perf_counter() - t1
        near = res["rules"]["nearest"]["runs"]
        opt = res["rules"]["optimised"]["runs"]
        diff = [o["mean_wait_min"] - n["mean_wait_min"] for o, n in zip(opt, near, strict=True)]
        res["paired_mean_diff_min"] = float(np.mean(diff))
        res["seeds_optimised_better"] = int(sum(d < 0 for d in diff))
        dispatch.append(res)
    pool.close()
    print(f"\nTransport dispatch, seeds {seeds[0]}-{seeds[-1]} (same seeds for both rules)")
    print(f"{'AGVs':>4} {'rule':<10} {'mean min':>8} {'p95 min':>8}  per-seed mean wait (min)")
    for res in dispatch:
        for rule, r in res["rules"].items():
            per = " ".join(f"{x['mean_wait_min']:.3f}" for x in r["runs"])
            print(
                f"{res['vehicles']:>4} {rule:<10} {r['mean_wait_min']:>8.3f} "
                f"{r['p95_wait_min']:>8.3f}  {per}"
            )
        print(
            f"{'':>4} optimised - nearest: {res['paired_mean_diff_min']:+.3f} min "
            f"(better on {res['seeds_optimised_better']}/{len(seeds)} seeds)"
        )

    _write(args, sizing, sizing_wall, dispatch)


def _write(
    args: argparse.Namespace, sizing: dict, sizing_wall: float, dispatch: list | None
) -> None:
    """Write the results; with ``--skip-dispatch`` the dispatch part of an existing results
    file is kept as it was."""
    path = Path(args.out)
    if dispatch is None and path.exists():
        dispatch = json.loads(path.read_text()).get("dispatch")
    out = {
        "benchmark": "logistics",
        "command": "python benchmarks/bench_logistics.py "
        f"--max-wait-min {args.max_wait_min:g} --service {args.service:g} "
        f"--time-limit {args.time_limit:g}" + (" --skip-dispatch" if args.skip_dispatch else ""),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "fleet_sizing": {**sizing, "wall_seconds": sizing_wall},
        "dispatch": dispatch,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=float))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
