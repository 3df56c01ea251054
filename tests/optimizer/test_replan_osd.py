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
    run = simulate(
        sc,
        seed=seed,
        plan=plan,
        planner=ApsPlanner(time_limit=0.3, seed=0),
        replan_on=("breakdown", "scrap"),
    )
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


@pytest.fixture(scope="module")
def deterministic_month():
    from twin.deterministic import with_mean_durations, without_material_flow

    base = scenario_for_horizon(load(SCENARIOS / "osd_plant.yaml"), 4 * 168, 0)
    return with_mean_durations(without_material_flow(base))


@pytest.mark.solver
def test_a_plan_is_never_worse_than_the_twins_own_rules(deterministic_month):
    """The search starts from each twin dispatch rule run ahead (a rollout), so the plan's
    objective is at most the best of them, whatever the time limit."""
    from twin.lookahead import plain_rules

    _plan, rep = plan_scenario(deterministic_month, None, time_limit=0.5, objective="makespan")
    costs = rep["stages"]["rules"]["costs"]
    assert {f"twin {r}" for r in plain_rules()} <= set(costs)
    assert rep["objective"] <= min(costs.values()) + 1e-6


def test_rule_sequences_from_a_state_name_every_step_left_once(deterministic_month):
    """From a plant state mid-month, each rule's sequence names every step still to be
    claimed exactly once, with the batch keys the planner uses."""
    from optimizer.aps_state import data_from_state
    from twin.evaluate import rule_sequences
    from twin.state import state_from_events

    run = simulate(deterministic_month, seed=0)
    state = state_from_events(deterministic_month, run.events, 200.0)
    data = data_from_state(deterministic_month, state)
    left = {(data.batches[op.batch].key, op.step) for op in data.ops}
    for rule, seq in rule_sequences(deterministic_month, ["fifo", "edd"], state).items():
        assert len(seq) == len(set(seq)), rule
        assert left <= set(seq), (rule, sorted(left - set(seq))[:5])
