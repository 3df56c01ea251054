"""The twin executes plans: FollowPlan, adherence KPIs, re-planning through the protocol."""

import json

import pytest

from twin.plan import Plan, PlannedOperation, load_plan, plan_from_dict, validate_plan
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
        self.states = []

    def plan(self, scenario, state, current=None):
        self.states.append(state)
        free = {u: state.time for u, _ in scenario.unit_names()}
        for b in state.batches.values():  # a step under way holds its unit until it ends
            if b.phase in ("setup", "processing", "down") and b.unit is not None:
                d = scenario.products[b.product].recipe[b.step].duration.mean
                free[b.unit] = max(free[b.unit], b.since + d)
        ops = []
        waiting = sorted(
            (b.key, b.step)
            for b in state.batches.values()
            if b.phase in ("queued", "blocked", "claimed")
        )
        for key, step in waiting:
            order, idx = key.rsplit("/", 1)
            prod = scenario.products[next(o.product for o in scenario.orders if o.id == order)]
            if step >= len(prod.recipe):
                continue
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


def test_replanning_on_breakdown_plans_from_the_plant_state():
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
    first = planner.states[0]
    assert first.time == 0.0
    assert sorted((b.key, b.step, b.phase) for b in first.batches.values()) == [
        ("o1/1", 0, "queued"),
        ("o1/2", 0, "queued"),
    ]
    later = planner.states[1]  # the first breakdown, on u2 while it processes
    on_u2 = [b for b in later.batches.values() if b.unit == "u2"]
    assert on_u2 and all(b.phase == "down" and b.step == 1 for b in on_u2)
    assert all(b.step >= 1 for b in later.batches.values())  # both passed stage 1


def test_same_plan_same_seed_same_log():
    sc = load_data(DATA / "one_unit.yaml")
    a = simulate(sc, plan=Plan(OPS), seed=3)
    b = simulate(sc, plan=Plan(OPS), seed=3)
    assert a.events.to_pydict().keys() == b.events.to_pydict().keys()
    assert a.kpis == b.kpis


# --------------------------------------------------------------------------- plans as input
def _op(**changes):
    op = {"order": "o1", "batch": 1, "step": 0, "unit": "m1", "start": 0.0, "end": 2.0}
    op.update(changes)
    return op


@pytest.mark.parametrize(
    ("op", "where", "expected"),
    [
        (_op(start=float("nan")), "operations[0].start", "finite number of hours"),
        (_op(end=float("inf")), "operations[0].end", "finite number of hours"),
        (_op(start=-1.0), "operations[0].start", "0 to 1,000,000"),
        (_op(start=1e300, end=1e300), "operations[0].start", "0 to 1,000,000"),
        (_op(batch=0), "operations[0].batch", "integer >= 1"),
        (_op(batch=1.5), "operations[0].batch", "integer >= 1"),
        (_op(step=True), "operations[0].step", "integer >= 0"),
        (_op(unit=""), "operations[0].unit", "non-empty text"),
        (_op(order=7), "operations[0].order", "non-empty text"),
        (_op(end=-0.5, start=0.0), "operations[0].end", "0 to"),
        (_op(start=3.0, end=2.0), "operations[0].end", "an end >= the start 3"),
        ({**_op(), "colour": "red"}, "operations[0].colour", "unknown key"),
    ],
)
def test_plan_entries_are_checked_one_by_one(op, where, expected):
    with pytest.raises(ScenarioError) as info:
        plan_from_dict({"operations": [op]}, "p.json")
    assert info.value.path == where and expected in str(info.value)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"operations": [], "meta": []}, "meta"),
        ({"operations": [], "meta": {"horizon_hours": float("nan")}}, "meta.horizon_hours"),
        ({"operations": [], "meta": {"horizon_hours": 0}}, "meta.horizon_hours"),
        ({"operations": [], "meta": {"seed": "7"}}, "meta.seed"),
        ({"operations": [], "meta": {"seed": -1}}, "meta.seed"),
        ({"operations": [], "meta": {"scenario_fingerprint": "x"}}, "meta.scenario_fingerprint"),
        ({"operations": [], "created_at": float("nan")}, "created_at"),
        ({"operations": {}}, "operations"),
    ],
)
def test_plan_meta_the_twin_reads_is_checked(data, where):
    with pytest.raises(ScenarioError) as info:
        plan_from_dict(data, "p.json")
    assert info.value.path == where


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "an empty file"),
        (b"   \n", "an empty file"),
        (b'{"operations": [', "valid JSON"),
        (b'{"operations": [{"order": "o1", "batch": 1, "step": 0, "unit": "m1", "start": NaN, '
         b'"end": 2}]}', "no NaN or Infinity"),
        (b"\xff\xfe\x00{", "UTF-8"),
        (b"[" * 100_000, "JSON nested at most"),
    ],
)  # fmt: skip
def test_unreadable_plan_files_are_one_paragraph(tmp_path, content, expected):
    p = tmp_path / "plan.json"
    p.write_bytes(content)
    with pytest.raises(ScenarioError) as info:
        load_plan(p)
    assert str(p) in str(info.value) and expected in str(info.value)


def test_a_folder_or_a_missing_file_is_not_a_plan(tmp_path):
    with pytest.raises(ScenarioError, match="a folder; expected a plan JSON file"):
        load_plan(tmp_path)
    with pytest.raises(ScenarioError, match="no such file"):
        load_plan(tmp_path / "none.json")


def test_saving_a_plan_is_atomic_and_round_trips(tmp_path):
    p = tmp_path / "plan.json"
    p.write_text("old")
    Plan(OPS, meta={"objective": float("nan")}).save(p)
    again = load_plan(p)
    assert again.operations == OPS and again.meta == {"objective": None}
    assert [f.name for f in tmp_path.iterdir()] == ["plan.json"]  # no temporary left


TWO_STAGE = DATA / "two_stage.yaml"


@pytest.mark.parametrize(
    ("op", "where", "expected"),
    [
        (PlannedOperation("o9", 1, 0, "u1", 0, 2), "operations[0].order",
         "an order of scenario 'two_stage': o1"),
        (PlannedOperation("o1", 3, 0, "u1", 0, 2), "operations[0].batch",
         "a batch 1..2 of order o1 (20 of p in batches of 10)"),
        (PlannedOperation("o1", 1, 2, "u1", 0, 2), "operations[0].step",
         "a step 0..1 of the recipe of p"),
        (PlannedOperation("o1", 1, 0, "u2", 0, 2), "operations[0].unit",
         "a unit of class s1 (step 0 'first' of p); u2 is a s2"),
        (PlannedOperation("o1", 1, 0, "u9", 0, 2), "operations[0].unit",
         "a unit of scenario 'two_stage'"),
    ],
)  # fmt: skip
def test_a_plan_that_does_not_fit_the_scenario_is_refused(op, where, expected):
    with pytest.raises(ScenarioError) as info:
        validate_plan(Plan((op,)), load_data(TWO_STAGE), "p.json")
    assert info.value.path == where and expected in str(info.value)


def test_a_step_planned_twice_is_refused():
    op = PlannedOperation("o1", 1, 0, "u1", 0, 2)
    twice = Plan((op, PlannedOperation("o1", 2, 0, "u1#2", 0, 2), op))
    with pytest.raises(ScenarioError, match=r"operations\[2\].*operations\[0\] plans it already"):
        validate_plan(twice, load_data(TWO_STAGE), "p.json")


def test_the_scenario_a_plan_was_made_for_is_checked():
    from twin.plan import scenario_fingerprint

    sc = load_data(TWO_STAGE)
    ops = (PlannedOperation("o1", 1, 0, "u1", 0, 2),)
    made = Plan(
        ops, meta={"scenario": "two_stage", "scenario_fingerprint": scenario_fingerprint(sc)}
    )
    assert validate_plan(made, sc, "p.json") == []
    # the same plant with other durations (a what-if variant): runs, with one warning
    slower = load_data(TWO_STAGE, **{"products.p.recipe.1.duration": "5h"})
    [warning] = validate_plan(made, slower, "p.json")
    assert warning.startswith("p.json was made for another variant") and "\n" not in warning
    # another plant or other orders: refused
    for changes in (
        {"units.u1.count": 3},
        {"orders.0.quantity": 30},
        {"products.p.batch_size": 5},
        {"products.p.recipe.1.name": "dry"},
    ):
        other = load_data(TWO_STAGE, **changes)
        with pytest.raises(ScenarioError, match="made for 'two_stage', whose units, recipes or"):
            validate_plan(made, other, "p.json")
    # names, the horizon and the dispatch rule do not matter
    same = load_data(TWO_STAGE, **{"name": "renamed", "simulation.horizon": "300h",
                                   "dispatch": "edd"})  # fmt: skip
    assert validate_plan(made, same, "p.json") == []


def test_replanning_options_are_bounded():
    from twin.plan import check_replanning

    check_replanning(("breakdown",), 24.0, 8.0, horizon=672.0)
    for kwargs, where, expected in (
        ({"replan_on": ("earthquake",)}, "--replan-on", "breakdown, deviation"),
        ({"replan_every": 0.0}, "--replan-every", "at least 1 h"),
        ({"replan_every": 1 / 60}, "--replan-every", "at least 1 h"),
        ({"replan_every": float("nan")}, "--replan-every", "at least 1 h"),
        ({"replan_every": 1.0, "horizon": 8760.0}, "--replan-every", "at most 1,000 re-plans"),
        ({"freeze": -1.0}, "--freeze", ">= 0"),
        ({"freeze": float("inf")}, "--freeze", ">= 0"),
    ):
        with pytest.raises(ScenarioError) as info:
            check_replanning(**kwargs)
        assert str(info.value).startswith(where) and expected in str(info.value), kwargs
