"""Forecast accuracy on held-out data, and how fast a forecast is (issue 13, section 6).

A "true plant" is osd_plant with parameters the forecaster is not told, written as a variant:
paracetamol_500's compression 12% slower, the tablet presses' MTBF halved (150 h -> 75 h),
and every product's QC lead time 25% longer. For each truth seed the true plant runs six weeks
(the history: its event log) and one more (what it then did). At the cut the plant state is
folded from the history (``twin.state``), and four forecasters look seven days ahead:

- scenario: osd_plant as it is (100 replications);
- calibrated: osd_plant with ``twin fit`` on the history (``twin.fit.fit_log``, no bootstrap)
  with ``scale_below=30`` (a quantity seen fewer than 30 times is fitted as the scenario's own
  distribution times one factor) and ``keep_consistent`` (a fitted value replaces the
  scenario's only where a likelihood-ratio test at 5% says the log contradicts it): the
  recommended rules;
- calibrated+pu: the same fit with its parameter uncertainty: the replications spread over
  an ensemble of 20 plants whose fitted values are basic parametric bootstrap draws around the
  fit (``twin.fit_ensemble``; member 0 is the fit itself);
- consistent: ``keep_consistent`` alone (free fits of every family where the log
  contradicts the scenario);
- fitted, all: every fitted value written (what ``twin fit`` does without options);
- naive: the historical lead time per product (``twin.forecast_accuracy.naive_forecast``);
- oracle: the true plant's own scenario, which no forecaster can know: a reference for what
  the calibration could at best achieve (the rest is the plant's own randomness).

Scores (``twin.forecast_accuracy``), pooled over seeds, at 24 h and 7 d after the cut: MAE of
the completion times of orders and batches (the forecast median; the naive mean), p10-p90
coverage (nominal 80%) and the Brier score of on-time probabilities. The 24 h figures come
from the same 7-day forecasts (their first day: common random numbers make a 1-day forecast
the same replications cut short).

Speed: 100 replications of 7 days from the state of osd_plant on a process pool of 2 workers,
the pool started once and reused (as ``twin forecast`` in a long-lived process and the live
twin do); the pool's start-up is reported apart.

    python benchmarks/bench_forecast.py [--seeds 12] [--quick]

Prints a table, says whether each goal is met, and writes benchmarks/results/forecast.json
(with the load average before and after: the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OSD = ROOT / "scenarios" / "osd_plant.yaml"
OUT = ROOT / "benchmarks" / "results" / "forecast.json"
WEEK = 168.0
HISTORY_H = 6 * WEEK
HORIZON_H = WEEK
WINDOWS = {"24h": 24.0, "7d": WEEK}
REPLICATIONS = 100
FORECASTERS = ("scenario", "calibrated", "calibrated+pu", "consistent", "fitted, all",
               "naive", "oracle")  # fmt: skip
SCALE_BELOW = 30  # fewer observations: one factor on the scenario's own distribution
MEMBERS = 20  # plants in the parameter-uncertainty ensemble
SLOW_STEP = ("paracetamol_500", "compression", 1.12)
MTBF_HALVED = "tablet_press"
QC_LONGER = 1.25


def truth_patch(data: dict) -> dict:
    """The variant (a partial scenario) that makes the true plant from osd_plant's data."""
    product, step_name, factor = SLOW_STEP
    recipe = []
    for step in data["products"][product]["recipe"]:
        step = dict(step)
        if step["name"] == step_name:
            d = dict(step["duration"])
            for k in ("low", "mode", "high", "mean", "sd", "value"):
                if isinstance(d.get(k), int | float):
                    d[k] = round(d[k] * factor, 4)
            step["duration"] = d
        recipe.append(step)
    failures = data["equipment_classes"][MTBF_HALVED]["failures"]
    mtbf = dict(failures["mtbf"])
    mtbf["mean"] = mtbf["mean"] / 2
    products: dict = {product: {"recipe": recipe}}
    for pid, prod in data["products"].items():
        qc = dict(prod["qc"])
        lead = dict(qc["lead_time"])
        for k in ("low", "mode", "high", "mean", "sd", "value"):
            if isinstance(lead.get(k), int | float):
                lead[k] = round(lead[k] * QC_LONGER, 4)
        products.setdefault(pid, {})["qc"] = {**qc, "lead_time": lead}
    return {
        "products": products,
        "equipment_classes": {MTBF_HALVED: {"failures": {"mtbf": mtbf}}},
    }


def with_horizon(sc, hours: float):
    sim = sc.simulation.model_copy(update={"horizon": hours, "warmup": 0.0})
    return sc.model_copy(update={"simulation": sim})


def one_seed(seed: int, model, truth, folder: Path, pool, replications: int) -> dict:
    """The forecasters' items and the truth for one truth seed."""
    from twin.fit import fit_log, write_variant
    from twin.fit_ensemble import ensemble
    from twin.forecast import forecast
    from twin.forecast_accuracy import naive_forecast, outcomes, points_of
    from twin.simulate import simulate
    from twin.state import state_from_events
    from twin.variants import resolve

    run = simulate(with_horizon(truth, HISTORY_H + HORIZON_H), seed=seed)
    t = run.events.column("t")
    history = run.events.filter(pc.less_equal(t, HISTORY_H))
    state = state_from_events(model, history, at=HISTORY_H, source=f"truth seed {seed}")
    truth_done = outcomes(state, run.events)
    t0 = time.perf_counter()
    fitted = fit_log(str(OSD), history, until=HISTORY_H, bootstrap=0, seed=seed)
    fit_s = time.perf_counter() - t0
    calibrated = fit_log(str(OSD), history, until=HISTORY_H, bootstrap=0, seed=seed,
                         keep_consistent=True, scale_below=SCALE_BELOW)  # fmt: skip
    consistent = fit_log(str(OSD), history, until=HISTORY_H, bootstrap=0, seed=seed,
                         keep_consistent=True)  # fmt: skip
    variants = {
        "calibrated": write_variant(calibrated, folder / f"calibrated-{seed}.yaml"),
        "consistent": write_variant(consistent, folder / f"consistent-{seed}.yaml"),
        "fitted, all": write_variant(fitted, folder / f"fitted-{seed}.yaml"),
    }
    models = {"scenario": model} | {k: resolve(OSD, [v]).scenario for k, v in variants.items()}
    plants = [
        resolve(OSD, [write_variant(m, folder / f"member-{seed}-{k}.yaml")]).scenario
        for k, m in enumerate(ensemble(calibrated, MEMBERS, seed=seed))
    ]
    items = {}
    seconds = {}
    for name, sc in [*models.items(), ("calibrated+pu", models["calibrated"]), ("oracle", truth)]:
        t0 = time.perf_counter()
        fc = forecast(sc, state, HORIZON_H, replications, seed=1000 + seed, executor=pool,
                      members=plants if name == "calibrated+pu" else ())  # fmt: skip
        seconds[name] = time.perf_counter() - t0
        items[name] = points_of(fc)
    items["naive"] = naive_forecast(history, state)
    written = {k: sum(1 for line in Path(v).read_text().splitlines() if "# n=" in line)
               for k, v in variants.items()}  # fmt: skip
    return {
        "items": items,
        "truth": truth_done,
        "cut": state.time,
        "open_orders": sum(1 for o in state.orders.values() if o.completed is None),
        "fit_s": fit_s,
        "forecast_s": seconds,
        "values_written": written,
    }


def score(per_seed: list[dict]) -> dict:
    from twin.forecast_accuracy import Errors, window_items

    out: dict = {}
    for wname, window in WINDOWS.items():
        for what in ("orders", "batches"):
            errs = {f: Errors() for f in FORECASTERS}
            for s in per_seed:
                truth = s["truth"][what]
                preds = [s["items"][f][what] for f in FORECASTERS]
                shared = window_items(s["cut"], window, truth, preds)
                for f in FORECASTERS:
                    errs[f].add(s["items"][f][what], truth, s["cut"], window, shared)
            for f in FORECASTERS:
                out.setdefault(wname, {}).setdefault(what, {})[f] = errs[f].summary()
    return out


def speed(model, state, pool_workers: int, replications: int) -> dict:
    from twin.executors import InProcess, LocalPool
    from twin.forecast import forecast

    t0 = time.perf_counter()
    pool = LocalPool(pool_workers)
    started = time.perf_counter() - t0
    try:
        forecast(model, state, 24.0, 2, seed=0, executor=pool)  # workers have imported it all
        times = []
        for k in range(5):
            t0 = time.perf_counter()
            forecast(model, state, HORIZON_H, replications, seed=k, executor=pool)
            times.append(time.perf_counter() - t0)
    finally:
        pool.close()
    t0, c0 = time.perf_counter(), time.process_time()
    n1 = 20
    forecast(model, state, HORIZON_H, n1, seed=0, executor=InProcess())
    per_rep = (time.perf_counter() - t0) / n1
    cpu_per_rep = (time.process_time() - c0) / n1
    return {
        "replications": replications,
        "horizon_h": HORIZON_H,
        "workers": pool_workers,
        "pool_start_s": started,
        "seconds": times,
        "best_s": min(times),
        "one_process_s_per_replication": per_rep,
        # CPU time is what a replication costs whatever else the shared machine runs; two
        # uncontended cores would take about replications * cpu / 2
        "one_process_cpu_s_per_replication": cpu_per_rep,
        "two_free_cores_estimate_s": replications * cpu_per_rep / pool_workers,
        "load_during": os.getloadavg(),
    }


def speed_goal(fast: dict) -> dict:
    return {
        "met": fast["best_s"] < 5.0,
        "detail": f"best {fast['best_s']:.2f} s at load {fast['load_during'][0]:.1f} "
        f"(CPU {fast['one_process_cpu_s_per_replication'] * 1000:.0f} ms a replication: "
        f"{fast['two_free_cores_estimate_s']:.1f} s on two free cores)",
    }


def main() -> None:
    from twin.executors import LocalPool
    from twin.scenario import load
    from twin.simulate import simulate
    from twin.state import state_from_events
    from twin.variants import resolve

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=12, help="truth seeds (default 12)")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 20 replications (smoke)")
    ap.add_argument("--speed-only", action="store_true",
                    help="measure the speed again and update only that part of the results")  # fmt: skip
    args = ap.parse_args()
    seeds = list(range(1, (2 if args.quick else args.seeds) + 1))
    reps = 20 if args.quick else REPLICATIONS
    load_before = os.getloadavg()
    t_all = time.perf_counter()

    model = load(OSD)
    folder = Path(tempfile.mkdtemp(prefix="bench_forecast."))
    patch = truth_patch(model.to_dict())
    variant = folder / "true_plant.yaml"
    variant.write_text(yaml.safe_dump(patch, sort_keys=False))
    truth = resolve(OSD, [variant]).scenario

    # speed first, while the machine is as quiet as it will be
    run = simulate(with_horizon(model, 4 * WEEK), seed=7)
    state = state_from_events(model, run.events, at=4 * WEEK, source="osd_plant seed 7")
    fast = speed(model, state, 2, REPLICATIONS)
    if args.speed_only:
        results = json.loads(OUT.read_text())
        results["speed"] = fast
        results["goals"]["100 replications of 7 days < 5 s on 2 cores"] = speed_goal(fast)
        OUT.write_text(json.dumps(results, indent=1))
        print(json.dumps(fast, indent=1))
        return
    print(f"speed: {REPLICATIONS} replications of 7 days on 2 workers: best "
          f"{fast['best_s']:.2f} s of {', '.join(f'{x:.2f}' for x in fast['seconds'])} "
          f"(pool start {fast['pool_start_s']:.2f} s; one process "
          f"{fast['one_process_s_per_replication'] * 1000:.0f} ms/replication)",
          flush=True)  # fmt: skip

    per_seed = []
    with_pool = LocalPool(2)
    try:
        for seed in seeds:
            s = one_seed(seed, model, truth, folder, with_pool, reps)
            per_seed.append(s)
            print(f"seed {seed}: {s['open_orders']} open orders at the cut, "
                  f"{len(s['truth']['batches'])} batches done in the week after; fit "
                  f"{s['fit_s']:.1f} s, values written {s['values_written']}", flush=True)  # fmt: skip
    finally:
        with_pool.close()
    scores = score(per_seed)

    print()
    head = f"{'window':<6} {'items':<8} {'forecaster':<13} {'MAE h':>7} {'n':>4} " \
           f"{'p10-p90':>8} {'n':>4} {'Brier':>6} {'n':>4}"  # fmt: skip
    print(head)
    print("-" * len(head))
    for wname, by_what in scores.items():
        for what, by_f in by_what.items():
            for f, m in by_f.items():

                def fmt(x, spec):
                    return "-" if x is None else format(x, spec)

                print(f"{wname:<6} {what:<8} {f:<13} {fmt(m['mae_h'], '7.1f')} {m['n_mae']:>4} "
                      f"{fmt(m['coverage'], '8.0%')} {m['n_coverage']:>4} "
                      f"{fmt(m['brier'], '6.3f')} {m['n_brier']:>4}")  # fmt: skip

    goals = {}
    for cal in ("calibrated", "calibrated+pu"):
        wins, ties, total = 0, 0, 0
        for by_what in scores.values():
            for by_f in by_what.values():
                c = by_f[cal]
                for other in ("scenario", "naive"):
                    for metric in ("mae_h", "brier"):
                        x, y = c[metric], by_f[other][metric]
                        if x is None or y is None:
                            continue
                        total += 1
                        wins += round(x, 3) < round(y, 3)
                        ties += round(x, 3) == round(y, 3)
        goals[f"{cal} beats scenario and naive on MAE and Brier (every window, orders and "
              "batches)"] = {"met": wins == total,
                             "detail": f"better in {wins} of {total}, equal in {ties}"}  # fmt: skip
        cov = [by_f[cal]["coverage"] for by_what in scores.values()
               for by_f in by_what.values() if by_f[cal]["coverage"] is not None]  # fmt: skip
        goals[f"{cal} p10-p90 coverage within 70-90%"] = {
            "met": all(0.70 <= x <= 0.90 for x in cov),
            "detail": ", ".join(f"{x:.0%}" for x in cov) + " (24h orders, batches; 7d ...)",
        }
    goals["100 replications of 7 days < 5 s on 2 cores"] = speed_goal(fast)
    print()
    for g, v in goals.items():
        print(f"{'MET ' if v['met'] else 'NOT MET'} {g}: {v['detail']}")

    results = {
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "cores": os.cpu_count(),
        "seconds": time.perf_counter() - t_all,
        "truth": {
            "variant": patch,
            "description": f"{SLOW_STEP[0]} {SLOW_STEP[1]} x{SLOW_STEP[2]}, {MTBF_HALVED} "
            f"MTBF halved, QC lead times x{QC_LONGER}",
        },
        "history_h": HISTORY_H,
        "horizon_h": HORIZON_H,
        "replications": reps,
        "seeds": seeds,
        "per_seed": [{k: v for k, v in s.items() if k not in ("items", "truth")} for s in per_seed],
        "scores": scores,
        "speed": fast,
        "goals": goals,
    }
    if not args.quick:
        OUT.write_text(json.dumps(results, indent=1))
        print(f"\nwrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
