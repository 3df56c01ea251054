"""APS benchmark: optimised plans, run in the twin, against every dispatch rule.

Instances (``scenarios/osd_plant.yaml`` without material flow, the orders released in the first
4 weeks fixed by ``scenario_for_horizon``):

- ``loose``: the reference plant's due dates (3-5 weeks after release: no policy is late);
- ``tight``: the same plant with ``scenarios/variants/tight_due.yaml`` (due 6-10 days after
  release: tardiness decides).

Objective, measured on the twin's event log: weighted tardiness (h, weight 1 + priority) +
makespan (end of the last processing step, h) + cleaning hours started before it.

For each of ``--seeds`` search seeds, a plan is made (``--time-limit`` s) on the deterministic
instance (every duration at its mean, no breakdowns) and run

1. deterministically: the plan as planned (FollowPlan), with ``--early-start``, and each rule;
2. in ``--replications`` stochastic replications (random durations, breakdowns, QC rejects;
   common random numbers: replication r is the same plant-month for every policy) as
   ``plan`` (followed as planned), ``plan_early`` (each unit takes its planned work as soon as
   it can), ``plan_replan`` (taken as soon as it can, and re-planned from the plant state on
   breakdowns, scrap, QC rejects and every ``--replan-every`` hours, ``--replan-time-limit`` s
   each; every re-plan starts from the plan it replaces and from each twin rule run ahead
   from the state, so it is a rollout of the rules), and every rule.
   The best rule is the one with the lowest mean over the replications (not the best in the
   deterministic run): a plan has to beat the rule that does best under uncertainty.
3. the ``lookahead`` policy (``twin/lookahead.py``): at every decision the rules contest, and
   whenever a unit is left idle and dirty (clean it now, minor or major, or leave it for the
   next batch or the full clean at its dirty-hold limit), the twin runs the plant ahead from
   its state once per choice and takes the cheapest future: re-planning from the plant state
   at every decision. It has no search seed, so each seed runs it on its own set of
   replications instead (seed k: replications k*R .. k*R+R-1, against the best rule on the
   same set): three times as many plant-months.
4. references on the first set, to show where the gain comes from: the lookahead without idle
   cleaning (dispatch decisions only), and the best rule with every idle dirty unit given a
   minor clean at once (a fixed cleaning rule instead of a decided one).

Goal (issue #12): for every seed and instance, better than the best rule in at least 90% of
the replications and by at least 5% on the mean objective (reported for ``plan_replan`` and
for ``lookahead``; for the lookahead, on each replication set).

Run: ``.venv/bin/python benchmarks/bench_aps.py [--time-limit 60] [--replications 20]
[--seeds 0 1 2]``; writes ``benchmarks/results/aps.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer.plan_commands import ApsPlanner, plan_scenario, scenario_for_horizon  # noqa: E402
from twin.deterministic import with_mean_durations, without_material_flow  # noqa: E402
from twin.dispatch import make_policy  # noqa: E402
from twin.lookahead import Lookahead  # noqa: E402
from twin.plan import Plan  # noqa: E402
from twin.simulate import simulate  # noqa: E402
from twin.variants import resolve  # noqa: E402

RULES = ("fifo", "edd", "spt", "priority", "min_changeover")
OBJECTIVE = "tardiness+makespan+cleaning"
REPLAN_ON = ("breakdown", "scrap", "qc_reject")


def twin_objective(run, weights: dict[str, float]) -> dict[str, float]:
    """Weighted tardiness + makespan + cleaning (h) of a run, from its event log."""
    cols = {c: run.events.column(c).to_pylist() for c in ("kind", "t", "order", "value")}
    due, done, mk = {}, {}, 0.0
    cleans = []
    for kind, t, order, value in zip(cols["kind"], cols["t"], cols["order"], cols["value"],
                                     strict=True):  # fmt: skip
        if kind == "order_release":
            due[order] = value
        elif kind == "order_complete":
            done[order] = t
        elif kind == "step_end":
            mk = max(mk, t)
        elif kind == "clean_start":
            cleans.append((t, value))
    clean = sum(v for t, v in cleans if t < mk)  # cleaning of production, not after it
    end = max(cols["t"])
    tard = sum(weights.get(o, 1.0) * max(0.0, done.get(o, end) - d) for o, d in due.items())
    return {
        "objective": tard + mk + clean,
        "weighted_tardiness": tard,
        "makespan": mk,
        "cleaning": clean,
        "orders_late": sum(1 for o, d in due.items() if done.get(o, end) > d + 1e-9),
    }


def stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs)
    return {"mean": float(a.mean()), "p5": float(np.percentile(a, 5)),
            "p95": float(np.percentile(a, 95))}  # fmt: skip


def instance(name: str, weeks: int, seed: int):
    base_path = REPO / "scenarios" / "osd_plant.yaml"
    variants = [REPO / "scenarios" / "variants" / "tight_due.yaml"] if name == "tight" else []
    base = resolve(base_path, variants, []).scenario
    return without_material_flow(scenario_for_horizon(base, weeks * 168, seed))


def run_instance(name: str, args: argparse.Namespace) -> dict:
    sc = instance(name, args.weeks, 0)
    weights = {o.id: (1.0 + o.priority if o.priority >= 0 else 1 / (1 - o.priority))
               for o in sc.orders}  # fmt: skip
    det = with_mean_durations(sc)
    out: dict = {"instance": name, "orders": len(sc.orders), "seeds": {}}
    rule_det = {r: twin_objective(simulate(det, seed=0, policy=make_policy(r)), weights)
                for r in RULES}  # fmt: skip
    out["deterministic_rules"] = rule_det
    reps = range(args.replications)
    with ProcessPoolExecutor(args.workers) as pool:
        rule_objs = {r: list(pool.map(partial(_one, name, args, r, None, 0), reps)) for r in RULES}
    best_rule = min(RULES, key=lambda r: float(np.mean(rule_objs[r])))
    out["stochastic_rules"] = {r: {**stats(v), "values": v} for r, v in rule_objs.items()}
    out["best_rule"] = best_rule
    best = rule_objs[best_rule]
    out["lookahead"] = _lookahead_sets(name, args)
    out["lookahead_pooled"] = pooled(out["lookahead"])
    with ProcessPoolExecutor(args.workers) as pool:
        out["references"] = {
            m: _versus(list(pool.map(partial(_one, name, args, m, None, 0), reps)), best)
            for m in ("lookahead_no_idle_clean", f"{best_rule}+idle_minor")
        }
    for m, r in out["references"].items():
        print(f"[{name}] reference {m}: mean {r['mean']:.1f} {r['vs_best_rule_pct']:+.1f}%, "
              f"better in {100 * r['better_share']:.0f}% of replications", flush=True)  # fmt: skip
    for seed in args.seeds:
        t0 = time.perf_counter()
        plan, report = plan_scenario(det, None, time_limit=args.time_limit, objective=OBJECTIVE,
                                     seed=seed, due_margin=args.due_margin)  # fmt: skip
        row: dict = {"plan_objective": report["objective"], "plan_seconds":
                     time.perf_counter() - t0, "deterministic": {}, "stochastic": {}}  # fmt: skip
        for mode, early in (("plan", False), ("plan_early", True)):
            run = simulate(det, seed=0, plan=plan, early_start=early)
            row["deterministic"][mode] = twin_objective(run, weights)
        with ProcessPoolExecutor(args.workers) as pool:
            modes = {m: list(pool.map(partial(_one, name, args, m, plan, seed), reps))
                     for m in ("plan", "plan_early", "plan_replan")}  # fmt: skip
        for mode, objs in modes.items():
            row["stochastic"][mode] = _versus(objs, best)
        out["seeds"][str(seed)] = row
        _print_seed(name, seed, row)
    return out


def _lookahead_sets(name: str, args: argparse.Namespace) -> dict:
    """The lookahead on one replication set per seed, each against the best rule on that set
    (the rule with the lowest mean there)."""
    sets = {}
    for k in args.seeds:
        reps = range(k * args.replications, (k + 1) * args.replications)
        with ProcessPoolExecutor(args.workers) as pool:
            rules = {r: list(pool.map(partial(_one, name, args, r, None, 0), reps)) for r in RULES}
            ahead = list(pool.map(partial(_one, name, args, "lookahead", None, 0), reps))
        best = min(RULES, key=lambda r: float(np.mean(rules[r])))
        sets[str(k)] = {"replications": [reps.start, reps.stop - 1], "best_rule": best,
                        "best_rule_mean": float(np.mean(rules[best])),
                        **_versus(ahead, rules[best])}  # fmt: skip
        s = sets[str(k)]
        print(f"[{name}] lookahead, replications {reps.start}-{reps.stop - 1}: mean "
              f"{s['mean']:.1f} against {best} {s['best_rule_mean']:.1f}: "
              f"{s['vs_best_rule_pct']:+.1f}%, better in {100 * s['better_share']:.0f}% of "
              "replications", flush=True)  # fmt: skip
    return sets


class _IdleAtOnce:
    """A rule, and every idle dirty unit given a ``kind`` clean at once (a reference: a fixed
    cleaning rule where the lookahead decides)."""

    def __init__(self, rule: str, kind: str) -> None:
        self.rule, self.kind = make_policy(rule), kind

    def assign(self, queue, now):
        return self.rule.assign(queue, now)

    def clean_idle(self, unit, now) -> str:
        return self.kind


def _policy(mode: str):
    if mode == "lookahead_no_idle_clean":
        return Lookahead(clean_kinds=())
    if mode.endswith("+idle_minor"):
        return _IdleAtOnce(mode.removesuffix("+idle_minor"), "minor")
    return make_policy(mode)


def _versus(objs: list[float], best: list[float]) -> dict:
    """A policy's replications against the best rule's (common random numbers: pairwise)."""
    diff = [a - b for a, b in zip(objs, best, strict=True)]
    return {
        **stats(objs),
        "vs_best_rule_pct": 100.0 * (np.mean(objs) / np.mean(best) - 1.0),
        "better_share": sum(d < 0 for d in diff) / len(diff),
        "values": objs,
    }


def _one(
    name: str, args: argparse.Namespace, mode: str, plan: Plan | None, seed: int, rep: int
) -> float:
    """The objective of replication ``rep`` of instance ``name`` under a rule or a plan mode
    (run in a worker process)."""
    sc = instance(name, args.weeks, 0)
    weights = {o.id: (1.0 + o.priority if o.priority >= 0 else 1 / (1 - o.priority))
               for o in sc.orders}  # fmt: skip
    if plan is None:
        run = simulate(sc, seed=0, replication=rep, policy=_policy(mode))
        return twin_objective(run, weights)["objective"]
    kw: dict = {"plan": plan, "early_start": mode != "plan"}
    if mode == "plan_replan":
        kw.update(
            planner=ApsPlanner(time_limit=args.replan_time_limit, objective=OBJECTIVE, seed=seed,
                               max_iter=args.replan_iterations),
            replan_on=REPLAN_ON,
            replan_every=args.replan_every,
        )  # fmt: skip
    run = simulate(sc, seed=0, replication=rep, **kw)
    return twin_objective(run, weights)["objective"]


def _print_seed(name: str, seed: int, row: dict) -> None:
    print(f"[{name}] seed {seed}: plan {row['plan_objective']:.1f} (decoder), "
          f"{row['plan_seconds']:.0f} s; deterministic twin "
          + ", ".join(f"{m} {r['objective']:.1f}" for m, r in row["deterministic"].items()),
          flush=True)  # fmt: skip
    for mode, s in row["stochastic"].items():
        print(f"[{name}]   {mode:<12} mean {s['mean']:8.1f}  {s['vs_best_rule_pct']:+6.1f}%  "
              f"better in {100 * s['better_share']:.0f}% of replications", flush=True)  # fmt: skip


def _met(r: dict) -> bool:
    return r["better_share"] >= 0.9 and r["vs_best_rule_pct"] <= -5.0


def goals(result: dict) -> dict[str, bool]:
    """The issue's goal per policy: ``plan_replan`` on every search seed; ``lookahead`` on the
    replications the rules and plans run (the first set: the issue's protocol; the lookahead
    has no search seed, so three runs give the same figures), and, stricter, on every set."""
    insts = list(result["instances"].values())
    first = str(min(int(k) for k in insts[0]["lookahead"])) if insts else "0"
    return {
        "plan_replan": all(_met(s["stochastic"]["plan_replan"]) for i in insts
                           for s in i["seeds"].values()),
        "lookahead": all(_met(i["lookahead"][first]) for i in insts),
        "lookahead_every_set": all(_met(s) for i in insts for s in i["lookahead"].values()),
    }  # fmt: skip


def pooled(sets: dict) -> dict:
    """The lookahead over all its replication sets (equal sizes): mean against the best
    rules' mean, and the share of replications better than the set's best rule."""
    n = sum(len(s["values"]) for s in sets.values())
    wins = sum(s["better_share"] * len(s["values"]) for s in sets.values())
    ahead = float(np.mean([v for s in sets.values() for v in s["values"]]))
    best = float(np.mean([s["best_rule_mean"] for s in sets.values()]))
    return {
        "replications": n,
        "better_share": wins / n,
        "vs_best_rule_pct": 100 * (ahead / best - 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--weeks", type=int, default=4)
    ap.add_argument("--instances", nargs="+", default=["loose", "tight"])
    ap.add_argument(
        "--due-margin",
        type=float,
        default=0.0,
        help="hours of safety margin the plan keeps before due dates",
    )
    ap.add_argument("--replan-every", type=float, default=12.0)
    ap.add_argument("--replan-time-limit", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--replan-iterations", type=int, default=None)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "aps.json"))
    args = ap.parse_args()
    result = {"objective": OBJECTIVE, "time_limit": args.time_limit,
              "replications": args.replications, "weeks": args.weeks,
              "replan_every_h": args.replan_every, "replan_time_limit": args.replan_time_limit,
              "instances": {}}  # fmt: skip
    for name in args.instances:
        result["instances"][name] = run_instance(name, args)

    result["goal_met"] = goals(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=float))
    for policy, ok in result["goal_met"].items():
        print(f"goal (>= 90% of replications and >= 5% on the mean, both instances), "
              f"{policy}: {'met' if ok else 'not met'}")  # fmt: skip


if __name__ == "__main__":
    main()
