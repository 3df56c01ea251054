"""Benchmark: a year of the OSD plant with 10 AGVs.

Prints and writes ``benchmarks/results/transport.json``: the wall time of one plain run, and,
from a second run under cProfile, the share of the time spent in the transport layer
(the ``twin/transport/`` package: routing, reservations, vehicle processes, dispatch rules) and in the
materials layer (``twin/materials.py``), measured as own time (``tottime``) of their functions.

    .venv/bin/python benchmarks/bench_transport.py [--agvs 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import time
from pathlib import Path

from twin import load, simulate

ROOT = Path(__file__).resolve().parents[1]


def _share(stats: pstats.Stats, fragment: str) -> float:
    own = sum(v[2] for k, v in stats.stats.items() if fragment in k[0])  # type: ignore[attr-defined]
    return own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "osd_plant.yaml"))
    ap.add_argument("--agvs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "transport.json"))
    args = ap.parse_args()

    sc = load(args.scenario)
    sc = sc.model_copy(update={"fleet": sc.fleet.model_copy(update={"size": args.agvs})})

    t0 = time.perf_counter()
    run = simulate(sc, seed=args.seed)
    wall = time.perf_counter() - t0

    prof = cProfile.Profile()
    prof.enable()
    simulate(sc, seed=args.seed)
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    transport = _share(stats, "twin/transport/")
    materials = _share(stats, "twin/materials.py")
    k = run.kpis["transport"]
    result = {
        "scenario": sc.name,
        "agvs": args.agvs,
        "horizon_h": sc.simulation.horizon,
        "seed": args.seed,
        "events": run.meta["events"],
        "wall_seconds": round(wall, 3),
        "events_per_second": round(run.meta["events"] / wall),
        "profiled_seconds": round(total, 3),
        "transport_share": round(transport / total, 4),
        "materials_share": round(materials / total, 4),
        "transport_requests": k["requests"],
        "agv_distance_km": round(k["distance_m"] / 1000, 1),
        "qc_released": run.kpis["batches"]["qc_released"],
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{sc.name}, {args.agvs} AGVs, {sc.simulation.horizon / 168:.0f} weeks: "
        f"{result['events']:,} events in {wall:.2f} s ({result['events_per_second']:,} events/s); "
        f"under cProfile the transport layer takes {100 * result['transport_share']:.1f}% "
        f"(materials {100 * result['materials_share']:.1f}%) of {total:.2f} s; "
        f"{k['requests']:,} transport requests, {result['agv_distance_km']} km driven"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
