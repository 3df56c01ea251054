"""What if? Compare a plant with two changes, using common random numbers.

Replication r of every variant uses the same random streams (order arrivals, step
durations, breakdowns), so the paired differences isolate the effect of each change.

    python examples/what_if.py
"""

from pathlib import Path

from twin.experiment import differences, run_experiment, summarize
from twin.variants import resolve

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "tiny.yaml"
KPIS = ["lead_time_h.mean", "wip.mean", "energy_kwh.per_batch", "cleaning_share"]


def main() -> None:
    variants = [
        resolve(SCENARIO),
        resolve(SCENARIO, overrides=["units.press_1.count=1"], name="one press"),
        resolve(SCENARIO, overrides=["staff.operator.count=3"], name="third operator"),
    ]
    # store=Store("runs") would keep every replication; executor=LocalPool() uses all cores
    base, *others = run_experiment(variants, seed=1, replications=10)
    means = summarize(base.kpis, KPIS)
    print(f"{'KPI':22} {'base':>16}" + "".join(f" {'Δ ' + o.variant.name:>24}" for o in others))
    for name in KPIS:
        row = f"{name:22} {means[name].mean:9.3f} ± {means[name].half_width:<5.2g}"
        for other in others:
            d = differences(base.kpis, other.kpis, [name])[name]
            mark = "*" if not d.covers(0.0) else " "
            row += f" {d.mean:+12.3f} ± {d.half_width:<7.2g}{mark}"
        print(row)
    print("Δ: variant − base, paired 95% CI over 10 replications; * the interval excludes 0")


if __name__ == "__main__":
    main()
