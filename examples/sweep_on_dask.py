"""A parameter sweep on Dask: a LocalCluster here, or a running cluster given its address.

    python examples/sweep_on_dask.py                      # starts a 2-worker LocalCluster
    python examples/sweep_on_dask.py tcp://host:8786      # uses a running scheduler

Workers receive each resolved scenario as plain data and return KPIs; the same seed gives the
same numbers on any executor. (The CLI equivalent: twin sweep scenarios/tiny.yaml
--grid units.press_1.count=1,2,3 --grid staff.operator.count=2,3 -n 4 --dask local)
"""

import sys
from pathlib import Path

from twin.executors import DaskExecutor
from twin.experiment import run_experiment, summarize
from twin.variants import resolve_many, sweep_points

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "tiny.yaml"


def main(address: str = "local") -> None:
    points = sweep_points(["units.press_1.count=1,2,3", "staff.operator.count=2,3"], [])
    variants = resolve_many(SCENARIO, points)
    with DaskExecutor(address, workers=2) as dask:
        results = run_experiment(variants, seed=1, replications=4, executor=dask)
    print(f"{'presses':>7} {'operators':>9} {'lead time h':>16} {'WIP':>14}")
    for point, vr in zip(points, results, strict=True):
        s = summarize(vr.kpis, ["lead_time_h.mean", "wip.mean"])
        lead, wip = s["lead_time_h.mean"], s["wip.mean"]
        print(
            f"{point[0].value:>7} {point[1].value:>9} {lead.mean:9.2f} ± {lead.half_width:<4.2f}"
            f" {wip.mean:7.2f} ± {wip.half_width:<4.2f}"
        )


if __name__ == "__main__":
    main(*sys.argv[1:2])
