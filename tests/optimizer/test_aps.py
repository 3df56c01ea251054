"""The plant scheduling model: structure, known optima, constraints, the twin running plans."""

from __future__ import annotations

import math
import re

import pytest

from optimizer.aps import (
    ApsData,
    Objective,
    PlanInfeasibleError,
    SolverUnavailableError,
    build_model,
    check_plan,
    solve,
)
from optimizer.plan_commands import ApsPlanner, gantt_rows, plan_scenario, scenario_for_horizon
from twin.deterministic import with_mean_durations, without_material_flow
from twin.plant import generate_orders
from twin.scenario import load, load_dict
from twin.simulate import simulate
from twin.units import Fixed

from ..conftest import SCENARIOS
from ..twin.helpers import load_data

pyo = pytest.importorskip("pyomo.environ")


def mixer_plant(**changes) -> dict:
    """One mixer, products a (2 h) and b (3 h); cleaning a->b 1 h, b->a 4 h, minor 0."""
    data = {
        "name": "mixer",
        "simulation": {"horizon": "1w"},
        "equipment_classes": {
            "mixer": {"cleaning": {"major": "3h", "matrix": {"a": {"b": "1h"}, "b": {"a": "4h"}}}}
        },
        "units": {"m1": {"class": "mixer"}},
        "products": {
            "a": {
                "batch_size": 100,
                "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "2h"}],
            },
            "b": {
                "batch_size": 100,
                "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "3h"}],
            },
        },
        "orders": [
            {"id": "oa1", "product": "a", "quantity": 100, "due": "10h"},
            {"id": "ob1", "product": "b", "quantity": 100, "due": "4h"},
            {"id": "oa2", "product": "a", "quantity": 100, "due": "10h"},
        ],
    }
    data.update(changes)
    return data


def test_model_structure_without_solving():
    data = ApsData.from_scenario(load_dict(mixer_plant()))
    assert [b.key for b in data.batches] == ["oa1/1", "oa2/1", "ob1/1"]  # by release, id
    m = build_model(data, objective=Objective.parse("tardiness+0.5*makespan"))
    # x: 3 ops x 1 unit, y: 3 pairs, s: 3, C: 3, T: 3, Cmax: 1
    assert m.nvariables() == 16
    assert sum(1 for _ in m.component_data_objects(pyo.Var, descend_into=True)) == 16
    # assign 3, no-overlap 2 x 3 pairs, completion 3, tardiness 3, makespan 3
    assert m.nconstraints() == 18
    assert len(m.PAIRU) == 3 and len(m.LINKS) == 0 and len(m.HOLDS) == 0


def test_batches_split_like_the_plant():
    sc = load(SCENARIOS / "tiny.yaml")
    data = ApsData.from_scenario(sc)
    sizes = {b.key: b.size for b in data.batches}
    assert sizes["o4/3"] == 150 and sizes["o1/3"] == 200 and len(data.batches) == 11
    # tab_b compression scales with the batch size (scale_reference 150)
    op = next(o for o in data.ops if data.batches[o.batch].key == "o2/1" and o.step == 1)
    assert op.dur == pytest.approx(5.0 * 150 / 150)
    gen = load(SCENARIOS / "osd_plant.yaml")
    d2 = ApsData.from_scenario(gen, seed=3, horizon=336)
    assert {o.id for o in d2.orders} == {
        o.id for o in generate_orders(gen, 3, 0) if o.release < 336
    }


@pytest.mark.solver
def test_milp_proves_the_hand_computed_optimum():
    # sequences on m1: a,a,b -> makespan 8, b late by 4 -> 4 + 0.5 * 8 = 8
    #                  b,a,a -> 3 | +4 clean +2 = 9 | +2 = 11 -> oa2 late 1 -> 1 + 5.5 = 6.5
    #                  a,b,a -> 2 | +1+3 = 6 (b late 2) | +4+2 = 12 (late 2) -> 4 + 6 = 10
    data = ApsData.from_scenario(load_dict(mixer_plant()))
    res = solve(data, "tardiness+0.5*makespan", time_limit=20, max_iter=50)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(6.5)
    assert res.bound == pytest.approx(6.5, abs=1e-5)
    assert [op.order for op in res.plan.operations][0] == "ob1"
    res2 = solve(data, "makespan", time_limit=20, max_iter=50)
    assert res2.status == "optimal" and res2.objective == pytest.approx(8.0)
    assert check_plan(data, res.plan) == [] and check_plan(data, res2.plan) == []


def test_hold_times_and_calendars_are_respected():
    sc = load_dict(
        mixer_plant(
            shifts={"day": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["06:00-14:00"]}},
            equipment_classes={
                "mixer": {"cleaning": {"minor": "30min", "major": "3h"}},
                "dryer": {"shift": "day", "cleaning": {"minor": "1h"}},
            },
            units={"m1": {"class": "mixer"}, "m2": {"class": "mixer"}, "d1": {"class": "dryer"}},
            products={
                p: {
                    "batch_size": 100,
                    "recipe": [
                        {
                            "name": "mix",
                            "equipment_class": "mixer",
                            "duration": dur,
                            "max_hold": "3h",
                        },
                        {
                            "name": "dry",
                            "equipment_class": "dryer",
                            "duration": "2h",
                            "setup": "30min",
                        },
                    ],
                }
                for p, dur in (("a", "2h"), ("b", "3h"))
            },
            orders=[
                {"id": f"o{k}", "product": "ab"[k % 2], "quantity": 300, "due": "3d"}
                for k in range(4)
            ],
        )
    )
    data = ApsData.from_scenario(sc)
    res = solve(data, "tardiness+0.1*makespan", time_limit=3, use_milp=False, max_iter=300)
    assert res.hold_violation_hours == 0.0
    assert check_plan(data, res.plan) == []
    cal = data.units[data.unit_index["d1"]].calendar
    by_key = {(op.key, op.step): op for op in res.plan.operations}
    for (key, step), op in by_key.items():
        if step == 1:
            assert op.start - by_key[(key, 0)].end <= 3.0 + 1e-6  # hold time
            # the dryer was taken (then cleaned 0 or 1 h, set up 0.5 h) inside the day shift
            assert any(cal.is_open(op.start - 0.5 - clean + 1e-9) for clean in (0.0, 1.0))
    # the checker finds a broken plan
    first = res.plan.operations[0]
    from twin.plan import Plan, PlannedOperation

    bad = Plan(
        (
            PlannedOperation(first.order, first.batch, first.step, "d1", first.start, first.end),
            *res.plan.operations[1:],
        )
    )
    assert any("not of class" in p for p in check_plan(data, bad))


def test_twin_reproduces_the_plan_with_deterministic_durations():
    # three operators, so staff never binds: the twin grants staff first come, first served at
    # the moment of the request, while a plan books them in its own order; where they compete
    # the two can differ by the wait (see docs/planning.md)
    sc = with_mean_durations(load_data(SCENARIOS / "tiny.yaml", **{"staff.operator.count": 3}))
    assert all(isinstance(s.duration, Fixed) for p in sc.products.values() for s in p.recipe)
    assert all(c.failures is None for c in sc.equipment_classes.values())
    plan, report = plan_scenario(
        sc, time_limit=3, objective="tardiness+0.1*makespan", solver="appsi_highs"
    )
    assert report["status"] in ("optimal", "time_limit") and report["hold_violation_hours"] == 0
    run = simulate(sc, plan=plan, early_start=True)
    adh = run.kpis["plan"]
    assert adh["operations_started"] == adh["operations_planned"] == len(plan.operations)
    assert adh["start_deviation_h"]["mean_abs"] == pytest.approx(0.0, abs=1e-6)
    assert adh["on_planned_unit_pct"] == 100.0
    rows = gantt_rows(plan)
    assert {r["unit"] for r in rows} <= {"gran_1", "press_1", "press_1#2"}
    assert sum(r["operations"] for r in rows) == len(plan.operations)


def test_aps_planner_replans_on_breakdowns_and_finishes_every_batch():
    sc = load(SCENARIOS / "tiny.yaml")
    planner = ApsPlanner(time_limit=0.3, max_iter=100)
    run = simulate(sc, seed=1, planner=planner, replan_on=("breakdown",), early_start=True)
    breakdowns = sum(1 for k in run.events.column("kind").to_pylist() if k == "breakdown")
    assert planner.calls == breakdowns + 1
    assert run.kpis["plan"]["replans"] == planner.calls
    kinds = run.events.column("kind").to_pylist()
    assert kinds.count("order_complete") == len(sc.orders)


def test_infeasible_due_dates_name_the_orders():
    sc = load_dict(
        mixer_plant(
            orders=[
                {"id": "fine", "product": "a", "quantity": 100, "due": "10h"},
                {"id": "too_soon", "product": "b", "quantity": 100, "release": "1h", "due": "2h"},
            ]
        )
    )
    with pytest.raises(PlanInfeasibleError, match="too_soon") as exc:
        solve(ApsData.from_scenario(sc), hard_due=True, time_limit=1)
    assert exc.value.orders == ["too_soon"] and "hard due date" in str(exc.value)


def test_unknown_solver_is_a_clear_error():
    with pytest.raises(SolverUnavailableError, match="no_such_solver"):
        solve(ApsData.from_scenario(load_dict(mixer_plant())), solver="no_such_solver")


def test_objective_specs():
    assert Objective.parse("tardiness+0.1*makespan") == Objective(1.0, 0.1, 0.0)
    assert Objective.parse("cleaning") == Objective(0.0, 0.0, 1.0)
    assert str(Objective.parse("2*makespan + cleaning")) == "2*makespan+cleaning"
    with pytest.raises(ValueError, match="bad objective term 'lateness'"):
        Objective.parse("lateness")


def test_scenario_for_horizon_fixes_the_generated_orders():
    base = load(SCENARIOS / "osd_plant.yaml")
    sc = scenario_for_horizon(base, 336, seed=2)
    expected = [o for o in generate_orders(base, 2, 0) if o.release < 336]
    assert sc.order_generator is None
    assert [o.id for o in sc.orders] == [o.id for o in expected]
    assert all(math.isclose(o.due, e.due) for o, e in zip(sc.orders, expected, strict=True))
    flat = without_material_flow(sc)
    assert flat.fleet is None and not flat.materials


@pytest.mark.solver
def test_milp_minimises_cleaning_with_immediate_successors():
    # a,a,b: 0 (minor) + 1 (a->b) = 1 h of cleaning; any other order needs the 4 h b->a clean
    data = ApsData.from_scenario(load_dict(mixer_plant()))
    m = build_model(data, objective=Objective.parse("cleaning"))
    assert len(m.ARCS) == 6 and len(m.z0) == 3
    res = solve(data, "cleaning", time_limit=20, max_iter=20)
    assert res.status == "optimal" and res.objective == pytest.approx(1.0)
    assert res.cleaning_hours == pytest.approx(1.0)


def test_decoder_times_every_sequence_as_the_twin_runs_it():
    # any scheduling list, not only optimised ones: cleaning (minor, matrix, campaign,
    # dirty-hold full cleans, clean-hold re-cleans), maintenance with a technician and
    # operator shifts all come out at the twin's times
    import random

    from optimizer.aps import to_plan
    from optimizer.aps_schedule import decode, segments_of

    sc = with_mean_durations(load_data(SCENARIOS / "tiny.yaml", **{"staff.operator.count": 3}))
    data = ApsData.from_scenario(sc)
    segments = segments_of(data)
    rng = random.Random(7)
    for _ in range(6):
        order = list(range(len(segments)))
        rng.shuffle(order)
        plan = to_plan(data, decode(data, segments, order))
        adh = simulate(sc, plan=plan, early_start=True).kpis["plan"]
        assert adh["operations_started"] == len(plan.operations)
        assert adh["start_deviation_h"]["mean_abs"] == pytest.approx(0.0, abs=1e-6)


def test_planning_from_a_plant_state_keeps_blocked_units_and_claimed_steps():
    """At 2.5 h: o1/1 mixed on m1 (0-2 h, direct transfer) holds m1 waiting for the dryer;
    o2/1 has claimed m1#2 for its mixing. Re-planning keeps m1 held by o1/1 and leaves o2/1's
    mixing where it is."""
    from optimizer.aps_state import data_from_state
    from twin.state import BatchState, OrderState, PlantState, UnitState

    sc = load_dict(
        mixer_plant(
            equipment_classes={"mixer": {}, "dryer": {}},
            units={"m1": {"class": "mixer", "count": 2}, "d1": {"class": "dryer"}},
            products={
                "a": {
                    "batch_size": 100,
                    "recipe": [
                        {
                            "name": "mix",
                            "equipment_class": "mixer",
                            "duration": "2h",
                            "transfer": "direct",
                        },
                        {"name": "dry", "equipment_class": "dryer", "duration": "3h"},
                    ],
                }
            },
            orders=[
                {"id": "o1", "product": "a", "quantity": 100, "due": "1d"},
                {"id": "o2", "product": "a", "quantity": 100, "due": "1d"},
            ],
        )
    )
    state = PlantState(
        time=2.5, start=sc.start, scenario=sc.name,
        units={
            "m1": UnitState("m1", "blocked", 2.0, holder="o1/1"),
            "m1#2": UnitState("m1#2", "idle", 2.0, holder="o2/1"),
            "d1": UnitState("d1", "idle", 0.0),
        },
        batches={
            "o1/1": BatchState("o1/1", 0, "o1", 1, "a", 100.0, 0.0, 1, "blocked", 2.0, "m1"),
            "o2/1": BatchState("o2/1", 1, "o2", 1, "a", 100.0, 0.0, 0, "claimed", 2.0, "m1#2"),
        },
        orders={
            "o1": OrderState("o1", "a", 100.0, 0.0, 24.0, made=1),
            "o2": OrderState("o2", "a", 100.0, 0.0, 24.0, made=1),
        },
        next_batch_id=2,
    )  # fmt: skip
    data = data_from_state(sc, state)
    by_key = {(data.batches[op.batch].key, op.step): op for op in data.ops}
    # o2/1's mixing has its unit: it runs whatever a new plan says; only its drying is planned,
    # ready when the mixing is expected to end (2.5 + 2 h)
    assert set(by_key) == {("o1/1", 1), ("o2/1", 1)}
    assert data.batches[data.ops[by_key[("o1/1", 1)].index].batch].holds == data.unit_index["m1"]
    assert data.batches[data.ops[by_key[("o2/1", 1)].index].batch].ready == pytest.approx(4.5)
    assert data.units[data.unit_index["m1#2"]].start.free == pytest.approx(4.5)
    res = solve(data, time_limit=2, use_milp=False, max_iter=50)
    ops = {(op.key, op.step): op for op in res.plan.operations}
    assert ops[("o1/1", 1)].start == pytest.approx(2.5)  # dries at once, freeing m1
    assert ops[("o2/1", 1)].start >= max(ops[("o1/1", 1)].end, 4.5)


def test_planning_options_tighten_the_data():
    sc = load(SCENARIOS / "osd_plant.yaml")
    base = ApsData.from_scenario(sc, horizon=200)
    safe = ApsData.from_scenario(sc, horizon=200, due_margin=24, hold_slack=0.5)
    assert all(
        b.due == pytest.approx(a.due - 24) for a, b in zip(base.orders, safe.orders, strict=True)
    )
    holds = {
        (a.max_hold, b.max_hold) for a, b in zip(base.ops, safe.ops, strict=True) if a.max_hold
    }
    assert (8.0, 4.0) in holds  # metformin drying: scrapped when late, planned at half
    assert (12.0, 12.0) in holds  # paracetamol drying: a deviation only, kept


# --------------------------------------------------------------------------- staff bookings
def test_two_equal_staff_bookings_are_two_bookings():
    # four packers; two lines booked 2 each over the same hours: a third line has to wait
    # until they end (a set of bookings once counted them as one)
    from types import SimpleNamespace

    from optimizer.aps_schedule import _Pools
    from twin.staff import ALWAYS

    data = SimpleNamespace(pools=[SimpleNamespace(count=4, calendar=ALWAYS)], busy=[])
    pools = _Pools(data)
    pools.add(0, 10.0, 22.0, 2)
    pools.add(0, 10.0, 22.0, 2)
    assert pools.grant(0, 9.0, 12.0, 2, []) == 22.0
    assert pools.grant(0, 0.0, 10.0, 2, []) == 0.0  # fits before them
    # a booking that spans midnight sits in two day buckets and still counts once
    pools.add(0, 20.0, 30.0, 2)
    assert pools.grant(0, 22.0, 4.0, 2, []) == 22.0


def test_osd_month_plan_books_no_more_staff_than_there_is_and_runs_to_its_makespan():
    sc = without_material_flow(scenario_for_horizon(load(SCENARIOS / "osd_plant.yaml"), 4 * 168))
    det = with_mean_durations(sc)
    data = ApsData.from_scenario(det, seed=0)
    res = solve(data, objective="tardiness+makespan+cleaning", seed=0, max_iter=0, use_milp=False)
    # packaging steps need 2 of the 4 packers from the start of setup to the end
    product = {o.id: o.product for o in det.orders}
    spans = []
    for op in res.plan.operations:
        step = det.products[product[op.order]].recipe[op.step]
        if step.operators is not None and step.operators.qualification == "packer":
            spans.append((op.start - step.setup.mean, op.end))
    assert det.staff["packer"].count == 4 and len(spans) > 50
    for t, _ in spans:
        assert 2 * sum(1 for s, e in spans if s <= t + 1e-9 < e - 1e-9) <= 4, t
    run = simulate(det, seed=0, plan=res.plan)
    k = run.kpis["plan"]
    assert k["operations_started"] == k["operations_planned"]
    assert k["makespan_actual_h"] == pytest.approx(k["makespan_planned_h"], abs=0.5)
    assert k["start_deviation_h"]["mean_abs"] < 1.0


# --------------------------------------------------------------------------- the checker
def staffed_plant(**changes) -> dict:
    """Two mixers and one operator on a day shift; every mix needs the operator."""
    data = mixer_plant(
        shifts={"day": {"hours": ["06:00-18:00"]}},
        staff={"operator": {"count": 1, "shift": "day"}},
        equipment_classes={"mixer": {"cleaning": {"minor": "0h", "major": "0h"}}},
        units={"m1": {"class": "mixer", "count": 2}},
        products={
            p: {
                "batch_size": 100,
                "recipe": [
                    {
                        "name": "mix",
                        "equipment_class": "mixer",
                        "duration": "2h",
                        "operators": {"qualification": "operator"},
                    }
                ],
            }
            for p in ("a", "b")
        },
    )
    data["start"] = "2026-01-05T06:00:00"
    data.update(changes)
    return data


def _ops(plan, **moves):
    from twin.plan import Plan, PlannedOperation

    out = []
    for op in plan.operations:
        unit, start = moves.get(op.order, (op.unit, op.start))
        out.append(
            PlannedOperation(op.order, op.batch, op.step, unit, start, start + op.end - op.start)
        )
    return Plan(tuple(out))


def test_checker_counts_operators_on_shift():
    data = ApsData.from_scenario(load_dict(staffed_plant()))
    res = solve(data, "makespan", time_limit=2, use_milp=False, max_iter=50)
    assert check_plan(data, res.plan) == []
    starts = sorted(op.start for op in res.plan.operations)
    assert starts == [0.0, 2.0, 4.0]  # one operator: one mix at a time, whatever the units
    # two mixes at once on the two mixers: one operator too few
    both = _ops(res.plan, oa1=("m1", 0.0), ob1=("m1#2", 1.0), oa2=("m1", 4.0))
    [problem] = check_plan(data, both)
    assert problem.startswith("staff operator: 2 booked at 1.00 h, only 1 exist")
    assert "oa1/1 step 0" in problem and "ob1/1 step 0" in problem
    # a mix started at 20:00 (the shift is 06:00-18:00): the operator is off
    late = _ops(res.plan, oa2=("m1", 14.0))
    assert any("when the operator shift is off" in p for p in check_plan(data, late))


def test_checker_counts_planned_maintenance():
    sc = load_dict(
        mixer_plant(
            equipment_classes={
                "mixer": {
                    "cleaning": {"minor": "0h", "major": "0h"},
                    "maintenance": {"every_batches": 2, "duration": "3h"},
                }
            }
        )
    )
    data = ApsData.from_scenario(sc)
    res = solve(data, "makespan", time_limit=2, use_milp=False, max_iter=50)
    assert check_plan(data, res.plan) == []
    ends = sorted((op.start, op.end) for op in res.plan.operations)
    assert ends[2][0] - ends[1][1] >= 3.0 - 1e-9  # maintenance after two batches
    # back to back: the maintenance due after the second batch does not fit
    order = [op.order for op in sorted(res.plan.operations, key=lambda o: o.start)]
    t, moves = 0.0, {}
    for o in order:
        dur = next(op.end - op.start for op in res.plan.operations if op.order == o)
        moves[o] = ("m1", t)
        t += dur
    [problem] = check_plan(data, _ops(res.plan, **moves))
    assert "maintenance (3 h, after 2 batches) does not fit" in problem
    # every N hours: due at 4 h, while the second batch runs; it must come before the third
    sc = load_dict(
        mixer_plant(
            equipment_classes={
                "mixer": {
                    "cleaning": {"minor": "0h", "major": "0h"},
                    "maintenance": {"every": "4h", "duration": "1h"},
                }
            }
        )
    )
    data = ApsData.from_scenario(sc)
    res = solve(data, "makespan", time_limit=2, use_milp=False, max_iter=50)
    assert check_plan(data, res.plan) == []
    assert any(
        "maintenance (1 h, due at 4.00 h)" in p for p in check_plan(data, _ops(res.plan, **moves))
    )


def test_checker_passes_the_osd_month_plan():
    sc = without_material_flow(scenario_for_horizon(load(SCENARIOS / "osd_plant.yaml"), 4 * 168))
    data = ApsData.from_scenario(with_mean_durations(sc), seed=0)
    assert any(u.maint_every or u.maint_every_batches for u in data.units) and data.pools
    res = solve(data, objective="tardiness+makespan+cleaning", seed=0, max_iter=200, use_milp=False)
    assert check_plan(data, res.plan) == []


def test_solve_reports_progress():
    calls = []
    data = ApsData.from_scenario(load_dict(mixer_plant()))
    res = solve(
        data,
        "tardiness+0.5*makespan",
        time_limit=5,
        max_iter=50,
        progress=lambda *a: calls.append(a),
    )
    stages = [c[0] for c in calls]
    assert stages[0] == "rules" and stages[-1] == "done" and "anneal" in stages
    assert all(e2 >= e1 for (*_, e1), (*_, e2) in zip(calls, calls[1:], strict=False))
    assert calls[-1][1] == pytest.approx(res.objective)
    incumbents = [c[1] for c in calls if c[0] != "done"]
    assert all(b <= a + 1e-9 for a, b in zip(incumbents, incumbents[1:], strict=False))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bogus", "expected [weight*]name with name one of tardiness, makespan, cleaning"),
        ("-1*makespan", "the weight '-1' must be a finite number >= 0"),
        ("tardiness-makespan", "weights are numbers >= 0"),
        ("nan*makespan", "the weight 'nan' must be a finite number >= 0"),
        ("1e400*makespan", "the weight '1e400' must be a finite number >= 0"),
        ("0*tardiness", "no positive weight"),
        ("tardiness++cleaning", "empty term"),
        ("", "empty objective"),
        ("x" * 300, "300 characters"),
    ],
)
def test_bad_objectives_say_what_is_wrong(spec, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        Objective.parse(spec)


# --------------------------------------------------------------------------- plans in runs
def test_plan_scenario_checks_its_options_before_any_work(monkeypatch):
    from optimizer import plan_commands
    from twin.scenario import ScenarioError

    tiny = SCENARIOS / "tiny.yaml"
    for kwargs, option in (
        ({"time_limit": math.nan}, "--time-limit"),
        ({"time_limit": math.inf}, "--time-limit"),
        ({"time_limit": -5}, "--time-limit"),
        ({"threads": 0}, "--threads"),
        ({"mip_gap": -1.0}, "--mip-gap"),
        ({"mip_gap": 1.0}, "--mip-gap"),
        ({"horizon_hours": 0.0}, "--horizon"),
        ({"objective": "-1*makespan"}, "--objective"),
    ):
        with pytest.raises(ScenarioError) as info:
            plan_scenario(tiny, **kwargs)
        assert str(info.value).startswith(f"{option}: bad value"), kwargs
    monkeypatch.setattr(plan_commands, "MAX_PLAN_OPERATIONS", 20)  # tiny has 22
    with pytest.raises(ScenarioError, match="at most 20 operations .* plan a shorter horizon"):
        plan_scenario(tiny, time_limit=1)


def test_a_plan_records_the_scenario_and_runs_only_where_it_fits(tmp_path):
    from optimizer.plan_commands import prepare_plan_run
    from twin.scenario import ScenarioError

    sc = load(SCENARIOS / "tiny.yaml")
    plan, report = plan_scenario(sc, time_limit=1, seed=3)
    assert report["checked"] and plan.meta["seed"] == 3
    assert set(plan.meta["scenario_fingerprint"]) == {"plant", "parameters"}
    path = tmp_path / "plan.json"
    plan.save(path)
    run = prepare_plan_run(sc, 0, path)
    assert run.options["plan"].operations == plan.operations and run.warnings == ()
    assert run.label == f"--plan {path}"
    slower = load_data(SCENARIOS / "tiny.yaml", **{"products.tab_a.recipe.0.duration": "7h"})
    assert "another variant of this plant" in prepare_plan_run(slower, 0, path).warnings[0]
    fewer = load_data(SCENARIOS / "tiny.yaml", **{"units.press_1.count": 1})
    with pytest.raises(ScenarioError):  # press_1#2 is gone: the unit check names it
        prepare_plan_run(fewer, 0, path)
    more = load_data(SCENARIOS / "tiny.yaml", **{"units.gran_1.count": 2})
    with pytest.raises(ScenarioError, match="units, recipes or orders differ"):
        prepare_plan_run(more, 0, path)
    with pytest.raises(ScenarioError, match="need --plan|--plan FILE or --plan auto"):
        prepare_plan_run(sc, 0, None, replan_on=("breakdown",))
    assert prepare_plan_run(sc, 0, path, replan_every=1.0).options["replan_every"] == 1.0
    longer = load_data(SCENARIOS / "tiny.yaml", **{"simulation.horizon": "2000h"})
    with pytest.raises(ScenarioError, match="at most 1,000 re-plans"):
        prepare_plan_run(longer, 0, path, replan_every=1.0)
    with pytest.raises(ScenarioError, match="--replan-time-limit"):
        prepare_plan_run(sc, 0, "auto", time_limit=math.nan)
    with pytest.raises(ScenarioError, match="--replan-time-limit"):
        ApsPlanner(time_limit=-3)
