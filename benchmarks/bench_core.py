"""Twin core speed and memory, measured as a user runs the twin.

1. Two flow lines (Poisson arrivals, three stations, exponential service, FIFO, unlimited
   buffers): a single-unit line (one unit per station) and a multi-server line (stations of
   2, 3 and 2 identical units). Each runs as ``simulate()`` end to end (plant, event log,
   Arrow table and KPIs, what ``twin run`` does) and as ``Plant.run`` alone, against a bare
   SimPy model of the same line that draws from the standard library's ``random.Random``
   (``expovariate``: the cheapest idiomatic draw; a NumPy scalar draw per call would slow the
   bare model and flatter the ratio). Ratio = twin jobs/s / bare jobs/s over the same
   horizon, i.e. bare time / twin time per job. Goal: >= 0.5 on both lines for ``simulate()``.
   Every model runs ``--repeats`` times, alternating, each in a fresh process; the best run of
   each counts, since the machine is shared. The ratios are given on wall time and on CPU time
   (``time.process_time``), which other processes on a shared machine disturb less.
2. A cProfile of ``simulate()`` on each line: where the time goes (SimPy's kernel, the
   per-step checks of units, dispatch and batches, the event log, random draws, and each KPI
   pass), so a regression can be traced to its part.
3. One simulated year of scenarios/osd_plant.yaml: wall time, events per second, peak RSS.
4. A log of about one million events: peak memory of the whole process and of the log itself.

    python benchmarks/bench_core.py [--jobs 80000] [--repeats 3]

Each measurement runs in a fresh subprocess so peak RSS figures do not mix.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (units per station, mean service hours per station); arrivals 1 per hour
LINES: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "single": ((1, 1, 1), (0.7, 0.8, 0.6)),  # loads 0.7, 0.8, 0.6
    "multi": ((2, 3, 2), (1.6, 2.4, 1.4)),  # loads 0.8, 0.8, 0.7
}


def line_scenario(jobs: int, line: str = "single") -> dict:
    servers, means = LINES[line]
    return {
        "name": f"flow_line_{line}",
        "simulation": {"horizon": f"{jobs}h"},
        "dispatch": "fifo",
        "equipment_classes": {f"s{i}": {} for i in range(len(means))},
        "units": {f"u{i}": {"class": f"s{i}", "count": c} for i, c in enumerate(servers)},
        "products": {
            "p": {
                "batch_size": 1,
                "recipe": [
                    {
                        "name": f"s{i}",
                        "equipment_class": f"s{i}",
                        "duration": {"dist": "exponential", "mean": m},
                    }
                    for i, m in enumerate(means)
                ],
            }
        },
        "order_generator": {
            "products": {
                "p": {
                    "interarrival": {"dist": "exponential", "mean": 1},
                    "quantity": 1,
                    "due_after": "10h",
                }
            }
        },
    }


def bare_simpy(jobs: int, line: str) -> dict:
    """The same line in plain SimPy, drawing from ``random.Random`` (no log, no KPIs)."""
    import random

    import simpy

    servers, means = LINES[line]
    env = simpy.Environment()
    stages = [(simpy.Resource(env, c), 1.0 / m) for c, m in zip(servers, means, strict=True)]
    rng = random.Random(1)
    expo = rng.expovariate
    done = [0]

    def job(env):
        for res, rate in stages:
            with res.request() as req:
                yield req
                yield env.timeout(expo(rate))
        done[0] += 1

    def source(env):
        while True:
            yield env.timeout(expo(1.0))
            env.process(job(env))

    env.process(source(env))
    t0, c0 = time.perf_counter(), time.process_time()
    env.run(until=jobs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"jobs": done[0], "wall_s": wall, "jobs_per_s": done[0] / wall, "cpu_s": cpu}


def twin_simulate(jobs: int, line: str) -> dict:
    """``simulate()`` end to end: build the plant, run it, the Arrow table and every KPI."""
    from twin.scenario import load_dict
    from twin.simulate import simulate

    sc = load_dict(line_scenario(jobs, line), "flow_line")
    t0, c0 = time.perf_counter(), time.process_time()
    run = simulate(sc, seed=1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = run.kpis["batches"]["qc_released"]
    return {
        "jobs": n,
        "wall_s": wall,
        "jobs_per_s": n / wall,
        "cpu_s": cpu,
        "events": run.kpis["events"],
        "events_per_s": run.kpis["events"] / wall,
    }


def twin_plant_run(jobs: int, line: str) -> dict:
    """``Plant.run`` alone (no Arrow table, no KPIs)."""
    from twin.plant import Plant
    from twin.scenario import load_dict

    sc = load_dict(line_scenario(jobs, line), "flow_line")
    plant = Plant(sc, seed=1)
    t0, c0 = time.perf_counter(), time.process_time()
    plant.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    from twin.kpi import compute_kpis

    kpis = compute_kpis(plant.log.to_table())
    post = time.perf_counter() - t1
    n = kpis["batches"]["qc_released"]
    return {"jobs": n, "wall_s": wall, "jobs_per_s": n / wall, "cpu_s": cpu, "log_and_kpi_s": post}


# What each part of the profile is: (part, test on "file:function")
_PARTS = (
    ("KPI passes", ("twin/kpi.py", "twin/flow_kpi.py", "pyarrow")),
    ("event log", ("twin/eventlog.py", "numpy")),
    ("random draws", ("twin/streams.py", "twin/units.py", "random.py", "_hashlib", "blake2b")),
    ("SimPy kernel", ("simpy/", "twin/callbacks.py")),
    ("per-step checks", ("twin/equipment.py", "twin/dispatch.py", "twin/rules.py")),
    (
        "batches and orders",
        ("twin/batches.py", "twin/plain_batch.py", "twin/plant.py", "twin/staff.py"),
    ),
)


def _part(filename: str, func: str) -> str:
    where = f"{filename}:{func}"
    for part, needles in _PARTS:
        if any(n in where for n in needles):
            return part
    return "other"


def profile(jobs: int, line: str) -> dict:
    """cProfile of ``simulate()``: self time by part, the costliest functions, and each KPI
    pass's cumulative time (a profiled run is slower; read the shares, not the seconds)."""
    import cProfile
    import pstats

    from twin.scenario import load_dict
    from twin.simulate import simulate

    sc = load_dict(line_scenario(jobs, line), "flow_line")
    prof = cProfile.Profile()
    prof.enable()
    simulate(sc, seed=1)
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())  # self times add up to the whole
    parts: dict[str, float] = {}
    funcs = []
    passes: dict[str, float] = {}
    for (filename, _line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        fn = filename.replace(str(ROOT) + os.sep, "")
        part = _part(fn, func)
        parts[part] = parts.get(part, 0.0) + tt
        funcs.append((tt, ct, nc, f"{Path(fn).name}:{func}"))
        name = _PASSES.get((fn, func))
        if name is not None:
            passes[name] = passes.get(name, 0.0) + ct
    funcs.sort(reverse=True)
    return {
        "total_s": total,
        "share_by_part": {
            k: round(v / total, 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        },
        "top_self_time": [
            {"function": name, "self_share": round(tt / total, 3), "calls": nc}
            for tt, _ct, nc, name in funcs[:18]
        ],
        "passes_share": {
            k: round(v / total, 3) for k, v in sorted(passes.items(), key=lambda kv: -kv[1])
        },
    }


# the passes of simulate(), by (file, function): cumulative shares of the profiled run
_PASSES = {
    ("twin/plant.py", "__init__"): "Plant() (orders generated)",
    ("twin/plant.py", "run"): "Plant.run",
    ("twin/eventlog.py", "_flush"): "log packing (in Plant.run)",
    ("twin/eventlog.py", "to_table"): "log -> Arrow",
    ("twin/kpi.py", "compute_kpis"): "compute_kpis",
    ("twin/kpi.py", "__init__"): "  LogView columns",
    ("twin/kpi.py", "codes"): "  string columns",
    ("twin/kpi.py", "state_hours"): "  state hours (shares, OEE, energy)",
    ("twin/kpi.py", "wip_series"): "  WIP series",
    ("twin/kpi.py", "_time_average"): "  WIP time average",
    ("twin/flow_kpi.py", "flow_kpis"): "  material-flow KPIs",
    ("twin/kpi.py", "plan_adherence"): "plan_adherence",
}


def osd_year() -> dict:
    from twin.scenario import load
    from twin.simulate import simulate

    sc = load(ROOT / "scenarios" / "osd_plant.yaml")
    t0 = time.perf_counter()
    run = simulate(sc, seed=7)
    wall = time.perf_counter() - t0
    return {"events": run.kpis["events"], "wall_s": wall, "events_per_s": run.kpis["events"] / wall}


def million_events() -> dict:
    import numpy as np
    import pyarrow as pa

    from twin.plant import Plant
    from twin.scenario import load_dict

    sc = load_dict(line_scenario(85_000), "flow_line")
    pa.table({"x": pa.array(["warm", "up"])})  # load Arrow's code pages before the baseline
    base = peak_rss_mb()
    plant = Plant(sc, seed=2)
    plant.run()
    log_bytes = plant.log.nbytes
    table = plant.log.to_table()
    return {
        "events": len(plant.log),
        "log_mb": log_bytes / 2**20,
        "rows": table.num_rows,
        "rss_before_mb": base,
        "bytes_per_event": log_bytes / len(plant.log),
        "_": int(np.int8(0)),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(name: str, jobs: int, line: str) -> None:
    fn = {
        "bare": lambda: bare_simpy(jobs, line),
        "twin": lambda: twin_simulate(jobs, line),
        "plant": lambda: twin_plant_run(jobs, line),
        "profile": lambda: profile(jobs, line),
        "osd": osd_year,
        "million": million_events,
    }[name]
    result = fn()
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(name: str, jobs: int, line: str = "single") -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--jobs", str(jobs), "--line", line],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_line(line: str, jobs: int, repeats: int) -> dict:
    """Best of ``repeats`` alternating runs of the bare model, simulate() and Plant.run."""
    runs: dict[str, list[dict]] = {"bare": [], "twin": [], "plant": []}
    for _ in range(repeats):
        for name, results in runs.items():
            results.append(measure(name, jobs, line))
    best = {k: max(v, key=lambda r: r["jobs_per_s"]) for k, v in runs.items()}
    bare = best["bare"]["jobs_per_s"]
    # the same on CPU time (time.process_time), which a busy shared machine disturbs less
    cpu = {k: max(r["jobs"] / r["cpu_s"] for r in v) for k, v in runs.items()}
    return {
        "servers": LINES[line][0],
        "mean_service_h": LINES[line][1],
        "jobs_horizon_h": jobs,
        **best,
        "ratio_simulate": best["twin"]["jobs_per_s"] / bare,
        "ratio_plant_run": best["plant"]["jobs_per_s"] / bare,
        "ratio_simulate_cpu": cpu["twin"] / cpu["bare"],
        "ratio_plant_run_cpu": cpu["plant"] / cpu["bare"],
        "all_runs_jobs_per_s": {k: [round(r["jobs_per_s"]) for r in v] for k, v in runs.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--jobs", type=int, default=80_000, help="hours of arrivals (1 job/h; at most 87,600)"
    )
    ap.add_argument("--child")
    ap.add_argument("--line", default="single", choices=sorted(LINES))
    ap.add_argument("--repeats", type=int, default=3, help="runs per model; the best counts")
    ap.add_argument("--profile-jobs", type=int, default=30_000)
    ap.add_argument("--quick", action="store_true", help="the two lines only (no OSD, no 1M)")
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.jobs, args.line)
        return
    load_before = os.getloadavg()
    results: dict = {"command": " ".join(sys.argv), "loadavg_start": load_before, "lines": {}}
    for line in LINES:
        r = bench_line(line, args.jobs, args.repeats)
        results["lines"][line] = r
        servers = "-".join(map(str, r["servers"]))
        print(
            f"{line} line (units per station {servers}), {args.jobs:,} h of arrivals, "
            f"best of {args.repeats} alternating runs each"
        )
        print(f"  bare SimPy (random.Random) : {r['bare']['jobs_per_s']:>9,.0f} jobs/s")
        print(
            f"  twin simulate() end to end : {r['twin']['jobs_per_s']:>9,.0f} jobs/s  "
            f"ratio {r['ratio_simulate']:.2f}, on CPU time {r['ratio_simulate_cpu']:.2f} "
            "(goal >= 0.50; "
            f"{r['twin']['events_per_s']:,.0f} log events/s)"
        )
        print(
            f"  twin Plant.run alone       : {r['plant']['jobs_per_s']:>9,.0f} jobs/s  "
            f"ratio {r['ratio_plant_run']:.2f}, on CPU time {r['ratio_plant_run_cpu']:.2f} "
            "(log->Arrow+KPIs "
            f"{r['plant']['log_and_kpi_s']:.2f} s after {r['plant']['wall_s']:.2f} s of run)"
        )
    for line in LINES:
        p = measure("profile", args.profile_jobs, line)
        results["lines"][line]["profile"] = p
        print(f"profile of simulate(), {line} line, {args.profile_jobs:,} h (shares of self time)")
        print("  by part: " + ", ".join(f"{k} {v:.0%}" for k, v in p["share_by_part"].items()))
        print(
            "  passes (cumulative): "
            + ", ".join(f"{k.strip()} {v:.1%}" for k, v in p["passes_share"].items())
        )
        print(
            "  costliest: "
            + ", ".join(f"{f['function']} {f['self_share']:.1%}" for f in p["top_self_time"][:10])
        )
    if not args.quick:
        osd = measure("osd", 0)
        mil = measure("million", 0)
        results["osd_year"] = osd
        results["million"] = mil
        print(
            f"osd_plant.yaml, one year: {osd['events']:,} events in {osd['wall_s']:.2f} s "
            f"({osd['events_per_s']:,.0f} events/s), peak RSS {osd['peak_rss_mb']:.0f} MB"
        )
        run_mb = mil["peak_rss_mb"] - mil["rss_before_mb"]
        print(
            f"log of {mil['events']:,} events: columns {mil['log_mb']:.1f} MB "
            f"({mil['bytes_per_event']:.0f} B/event), Arrow table wraps them without a copy; "
            f"peak memory of the run {run_mb:.0f} MB (goal < 150 MB) = process peak "
            f"{mil['peak_rss_mb']:.0f} MB - {mil['rss_before_mb']:.0f} MB of interpreter and "
            "libraries loaded before it"
        )
    results["loadavg_end"] = os.getloadavg()
    print(
        "load average at start {:.2f} {:.2f} {:.2f}, at end {:.2f} {:.2f} {:.2f}".format(
            *load_before, *results["loadavg_end"]
        )
    )
    if args.quick:
        return  # a partial run does not replace the recorded results
    out = ROOT / "benchmarks" / "results" / "core.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
