"""The twin executes plans: FollowPlan, adherence KPIs, re-planning through the protocol."""

import json

import pytest

from twin.plan import Plan, PlannedOperation, Snapshot, load_plan, plan_from_dict, validate_plan
from twin.scenario import ScenarioError
from twin.simulate import simulate

from ..conftest import DATA
from .helpers import events, load_data

OPS = (
    PlannedOperation("o2", 1, 0, "m1", 0.0, 2.0),
    PlannedOperation("o1", 1, 0, "m1", 5.0, 7.0),
    PlannedOperation("o1", 2, 0, "m1", 6.0, 8.0),
)


def test_follow_plan_keeps_order_and_never_starts_early():
    # planned times are processing starts; a unit is claimed the expected cleaning + setup
    # before. b 0-2; a1 planned 5: claimed at 3 (major b->a 2 h), runs 5-7 on plan; a2
    # planned 6: claimed at 5.5 but the unit is busy until 7, minor clean 7-7.5, runs 7.5-9.5.
    run = simulate(load_data(DATA / "one_unit.yaml"), plan=Plan(OPS))
    starts = [(e["t"], e["order"]) for e in events(run.events, "step_start")]
    assert starts == [(0.0, "o2"), (5.0, "o1"), (7.5, "o1")]
    adh = run.kpis["plan"]
    assert adh["operations_planned"] == 3 and adh["operations_started"] == 3
    assert adh["start_deviation_h"]["mean"] == pytest.approx(1.5 / 3)
    assert adh["late_operations"] == 1
    assert adh["on_planned_unit_pct"] == 100.0
    assert adh["makespan_planned_h"] == 8.0 and adh["makespan_actual_h"] == 9.5
    assert adh["order_on_time"] == {"o1": 1.0, "o2": 1.0}  # o1 due 10 h, o2 due 5 h


def test_early_start_runs_in_plan_order_without_waiting():
    run = simulate(load_data(DATA / "one_unit.yaml"), plan=Plan(OPS), early_start=True)
    # o2 0-2; o1/1 claimed at 2: major clean 2-4, runs 4-6; o1/2: minor 6-6.5, runs 6.5-8.5
    assert [e["t"] for e in events(run.events, "step_start")] == [0.0, 4.0, 6.5]


def test_unplanned_work_fills_gaps_only():
    # only o2 is planned, at t=10: the two unplanned a batches (2 h + 0.5 h minor) fit
    # before; the unit is claimed for o2 at 7 (matrix a->b 3 h) and processes at 10 on plan.
    plan = Plan((PlannedOperation("o2", 1, 0, "m1", 10.0, 12.0),))
    run = simulate(load_data(DATA / "one_unit.yaml"), plan=plan)
    starts = [(e["t"], e["order"]) for e in events(run.events, "step_start")]
    assert starts == [(0.0, "o1"), (2.5, "o1"), (10.0, "o2")]


def test_plan_files_are_validated(tmp_path):
    p = tmp_path / "plan.json"
    p.write_text(
        json.dumps(
            {
                "operations": [
                    {"order": "o1", "batch": 1, "step": 0, "unit": "m1", "start": "x", "end": 2}
                ]
            }
        )
    )
    with pytest.raises(ScenarioError, match=r"operations\[0\]\.start"):
        load_plan(p)
    good = plan_from_dict(
        {
            "operations": [
                {"order": "o1", "batch": 1, "step": 0, "unit": "m9", "start": 0, "end": 2}
            ]
        },
        "p",
    )
    with pytest.raises(ScenarioError, match=r"operations\[0\]\.unit: bad value 'm9'"):
        validate_plan(good, load_data(DATA / "one_unit.yaml"), "p")
    Plan(OPS).save(p)
    assert load_plan(p).operations == OPS


class GreedyPlanner:
    """A test planner: every waiting batch step on its class's first free unit, by due date."""

    def __init__(self):
        self.snapshots: list[Snapshot] = []

    def plan(self, scenario, snapshot):
        self.snapshots.append(snapshot)
        free = dict(snapshot.unit_free_at)
        ops = []
        for key, step in sorted(snapshot.waiting):
            order, idx = key.rsplit("/", 1)
            prod = scenario.products[next(o.product for o in scenario.orders if o.id == order)]
            cls = prod.recipe[step].equipment_class
            unit = min(
                (
                    u
                    for u, spec in scenario.unit_names()
                    if scenario.units[spec].equipment_class == cls
                ),
                key=lambda u: free[u],
            )
            start = free[unit]
            free[unit] = start + prod.recipe[step].duration.mean
            ops.append(PlannedOperation(order, int(idx), step, unit, start, free[unit]))
        return Plan(tuple(ops))


def test_replanning_on_breakdown_uses_a_snapshot():
    sc = load_data(
        DATA / "two_stage.yaml",
        **{
            "equipment_classes.s2.failures": {"mtbf": "3h", "mttr": "1h"},
            "products.p.recipe.0.max_hold": None,
        },
    )
    planner = GreedyPlanner()
    run = simulate(sc, planner=planner, replan_on=("breakdown",))
    k = run.kpis
    assert k["batches"]["qc_released"] == 2
    assert k["plan"]["replans"] == len(events(run.events, "breakdown")) + 1  # + the initial plan
    first = planner.snapshots[0]
    assert first.time == 0.0 and sorted(first.waiting) == [("o1/1", 0), ("o1/2", 0)]
    later = planner.snapshots[1]
    assert later.running and all(op.unit == "u2" for op in later.running)
    assert {(op.order, op.batch, op.step) for op in later.done} >= {("o1", 1, 0), ("o1", 2, 0)}


def test_same_plan_same_seed_same_log():
    sc = load_data(DATA / "one_unit.yaml")
    a = simulate(sc, plan=Plan(OPS), seed=3)
    b = simulate(sc, plan=Plan(OPS), seed=3)
    assert a.events.to_pydict().keys() == b.events.to_pydict().keys()
    assert a.kpis == b.kpis
