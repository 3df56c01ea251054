"""Plans on the reference plant, with materials, AGVs, breakdowns and scrap: every batch of
the planned orders must finish (no deadlock between units following a plan)."""

import pytest

from optimizer.plan_commands import ApsPlanner, plan_scenario, scenario_for_horizon
from twin.scenario import load
from twin.simulate import simulate

from ..conftest import SCENARIOS


@pytest.fixture(scope="module")
def four_weeks():
    sc = scenario_for_horizon(load(SCENARIOS / "osd_plant.yaml"), 4 * 168, 0)
    plan, _ = plan_scenario(sc, None, time_limit=2)
    return sc, plan


@pytest.mark.slow
@pytest.mark.solver
@pytest.mark.parametrize("seed", [1, 4])
def test_plan_with_replanning_finishes_every_batch(four_weeks, seed):
    sc, plan = four_weeks
    run = simulate(sc, seed=seed, plan=plan, planner=ApsPlanner(time_limit=0.3, seed=0),
                   replan_on=("breakdown", "scrap"))
    k = run.kpis
    assert k["batches"]["wip_at_end"] == 0
    assert k["window_h"]["end"] < sc.simulation.horizon
    assert k["plan"]["replans"] >= 2


@pytest.mark.slow
@pytest.mark.solver
def test_plan_alone_finishes_every_batch(four_weeks):
    sc, plan = four_weeks
    k = simulate(sc, seed=1, plan=plan).kpis
    assert k["batches"]["wip_at_end"] == 0
    assert k["plan"]["operations_started"] >= k["plan"]["operations_planned"] - 5
