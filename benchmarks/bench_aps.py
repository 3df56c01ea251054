"""APS benchmark: the optimised plan, run in the twin, against every dispatch rule.

On ``scenarios/osd_plant.yaml`` with the orders released in the first 4 weeks
(``scenario_for_horizon``), the objective is weighted tardiness + makespan (hours), measured on
the twin's event log: an order is late by (order complete - due), weighted by 1 + priority;
the makespan is the end of the last processing step. Compared:

1. deterministic durations (``with_mean_durations``): the plan followed as ``twin run --plan``
   does (processing at the planned start; row ``plan``) and with ``--early-start`` (row
   ``plan_early``), against the twin running each dispatch rule;
2. 20 stochastic replications (breakdowns, random durations): both plan modes vs the best
   rule, mean, p5 and p95 of the objective and the paired difference;
3. a larger instance (8 weeks, 500+ operations): solve time and result.

Run: ``.venv/bin/python benchmarks/bench_aps.py [--time-limit 60] [--replications 20]``;
writes ``benchmarks/results/aps.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer.aps import ApsData, solve  # noqa: E402
from optimizer.plan_commands import plan_scenario, scenario_for_horizon  # noqa: E402
from twin.deterministic import with_mean_durations, without_material_flow  # noqa: E402
from twin.dispatch import make_policy  # noqa: E402
from twin.scenario import load  # noqa: E402
from twin.simulate import simulate  # noqa: E402

RULES = ("fifo", "edd", "spt", "priority", "min_changeover")
OBJECTIVE = "tardiness+makespan+cleaning"
PLAN_MODES = {"plan": False, "plan_early": True}  # name -> FollowPlan(early_start=...)


def twin_objective(run, weights: dict[str, float]) -> dict[str, float]:
    """Weighted tardiness + makespan (h) of a run, from its event log."""
    cols = {c: run.events.column(c).to_pylist() for c in ("kind", "t", "order", "value")}
    due, done, mk, clean = {}, {}, 0.0, 0.0
    for kind, t, order, value in zip(cols["kind"], cols["t"], cols["order"], cols["value"],
                                     strict=True):
        if kind == "order_release":
            due[order] = value
        elif kind == "order_complete":
            done[order] = t
        elif kind == "step_end":
            mk = max(mk, t)
        elif kind == "clean_start":
            clean += value
    end = max(cols["t"])
    tard = sum(weights.get(o, 1.0) * max(0.0, done.get(o, end) - d) for o, d in due.items())
    return {"objective": tard + mk + clean, "weighted_tardiness": tard, "makespan": mk,
            "cleaning": clean,
            "orders_late": sum(1 for o, d in due.items() if done.get(o, end) > d + 1e-9),
            "orders_incomplete": sum(1 for o in due if o not in done)}


def stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs)
    return {"mean": float(a.mean()), "p5": float(np.percentile(a, 5)),
            "p95": float(np.percentile(a, 95))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weeks", type=int, default=4)
    ap.add_argument("--large-weeks", type=int, default=8)
    ap.add_argument("--due-margin", type=float, default=24.0,
                    help="hours of safety margin the plan keeps before due dates")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "aps.json"))
    args = ap.parse_args()
    base = load(REPO / "scenarios" / "osd_plant.yaml")
    sc = without_material_flow(scenario_for_horizon(base, args.weeks * 168, args.seed))
    weights = {o.id: (1.0 + o.priority if o.priority >= 0 else 1 / (1 - o.priority))
               for o in sc.orders}
    det = with_mean_durations(sc)
    t0 = time.perf_counter()
    plan, report = plan_scenario(det, None, time_limit=args.time_limit, objective=OBJECTIVE,
                                 seed=args.seed, due_margin=args.due_margin)
    plan_s = time.perf_counter() - t0
    out: dict = {"scenario": "osd_plant", "weeks": args.weeks, "objective": OBJECTIVE,
                 "time_limit": args.time_limit, "due_margin": args.due_margin,
                 "operations": report["operations"], "orders": report["orders"],
                 "plan": {k: report[k] for k in ("status", "objective", "seconds", "makespan",
                                                 "weighted_tardiness", "cleaning_hours")},
                 "plan_wall_s": plan_s}
    # 1. deterministic; the plan as `twin run --plan` follows it (processing at the planned
    # start) and with --early-start (each unit takes its planned batches as soon as they are
    # there, which can take staff that a later planned operation elsewhere was booked on)
    det_rows = {}
    for name, early in PLAN_MODES.items():
        run = simulate(det, seed=args.seed, plan=plan, early_start=early)
        det_rows[name] = {
            **twin_objective(run, weights),
            "start_dev_mean_abs_h": run.kpis["plan"]["start_deviation_h"]["mean_abs"],
        }
    for rule in RULES:
        det_rows[rule] = twin_objective(simulate(det, seed=args.seed, policy=make_policy(rule)),
                                        weights)
    best_rule = min(RULES, key=lambda r: det_rows[r]["objective"])
    out["deterministic"] = det_rows
    out["best_rule"] = best_rule
    out["plan_beats_best_rule"] = det_rows["plan"]["objective"] < det_rows[best_rule]["objective"]
    # 2. stochastic replications (common random numbers: replication r is the same plant-month)
    objs: dict[str, list[float]] = {name: [] for name in (*PLAN_MODES, best_rule)}
    for rep in range(args.replications):
        for name, early in PLAN_MODES.items():
            r = simulate(sc, seed=args.seed, replication=rep, plan=plan, early_start=early)
            objs[name].append(twin_objective(r, weights)["objective"])
        r = simulate(sc, seed=args.seed, replication=rep, policy=make_policy(best_rule))
        objs[best_rule].append(twin_objective(r, weights)["objective"])
    out["stochastic"] = {"replications": args.replications, best_rule: stats(objs[best_rule])}
    for name in PLAN_MODES:
        diff = [a - b for a, b in zip(objs[name], objs[best_rule], strict=True)]
        out["stochastic"][name] = stats(objs[name])
        out["stochastic"][f"{name}_minus_rule"] = stats(diff)
        out["stochastic"][f"{name}_better_share"] = sum(d < 0 for d in diff) / len(diff)
    # 3. large instance (skipped with --large-weeks 0)
    print(json.dumps({k: out[k] for k in out if k != "large"}, indent=1, default=str), flush=True)
    if args.large_weeks <= 0:
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
        return
    large = scenario_for_horizon(base, args.large_weeks * 168, args.seed)
    data = ApsData.from_scenario(large)
    t0 = time.perf_counter()
    res = solve(data, objective=OBJECTIVE, time_limit=args.time_limit, seed=args.seed)
    lns = res.stages.get("milp", {})
    out["large"] = {"weeks": args.large_weeks, "operations": len(data.ops),
                    "wall_s": time.perf_counter() - t0, "status": res.status,
                    "objective": res.objective, "rules": res.stages["rules"]["costs"],
                    "hold_violation_h": res.hold_violation_hours,
                    "best_rule_cost": min(res.stages["rules"]["costs"].values()),
                    "lns_windows": lns.get("lns_windows"), "lns_improved": lns.get("lns_improved")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=float))
    _print(out)


def _print(out: dict) -> None:
    print(f"osd_plant, {out['weeks']} weeks: {out['operations']} operations, "
          f"{out['orders']} orders; objective {out['objective']} (twin, h)")
    print(f"{'policy':<16}{'objective':>11}{'w.tardiness':>13}{'makespan':>10}{'cleaning':>10}"
          f"{'late':>6}")
    for name, row in out["deterministic"].items():
        print(f"{name:<16}{row['objective']:>11.1f}{row['weighted_tardiness']:>13.1f}"
              f"{row['makespan']:>10.1f}{row['cleaning']:>10.1f}{row['orders_late']:>6}")
    print(f"plan beats best rule ({out['best_rule']}): {out['plan_beats_best_rule']}")
    st = out["stochastic"]
    names = (*PLAN_MODES, out["best_rule"], *(f"{m}_minus_rule" for m in PLAN_MODES))
    for name in names:
        s = st[name]
        print(f"stochastic {name:<22} mean {s['mean']:9.1f}  p5 {s['p5']:9.1f}  p95 {s['p95']:9.1f}")
    for m in PLAN_MODES:
        print(f"{m} better than {out['best_rule']} in {100 * st[f'{m}_better_share']:.0f}% of runs")
    lg = out["large"]
    print(f"large: {lg['weeks']} weeks, {lg['operations']} operations, {lg['wall_s']:.1f} s, "
          f"{lg['status']}, objective {lg['objective']:.1f} (best rule {lg['best_rule_cost']:.1f}, "
          f"LNS windows {lg['lns_windows']}, improved {lg['lns_improved']})")
    if not math.isfinite(out["plan"]["objective"]):
        print("warning: plan objective not finite")


if __name__ == "__main__":
    main()
