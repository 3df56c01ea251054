"""Hand-computed small cases: every number here was worked out on paper."""

import pytest

from twin.simulate import simulate

from ..conftest import DATA
from .helpers import events, load_data


def test_minor_then_major_clean_with_matrix():
    # FIFO: a, a (minor 0.5 h between), then b (matrix a->b 3 h): 0-2, 2.5-4.5, 7.5-9.5
    run = simulate(load_data(DATA / "one_unit.yaml"))
    starts = [e["t"] for e in events(run.events, "step_start")]
    assert starts == [0.0, 2.5, 7.5]
    cleans = [(e["t"], e["state"], e["value"]) for e in events(run.events, "clean_start")]
    assert cleans == [(2.0, "minor", 0.5), (4.5, "major", 3.0)]
    assert run.kpis["makespan_h"] == pytest.approx(9.5)
    # energy: 6 h processing at 10 kW + 3.5 h cleaning at 5 kW = 77.5 kWh over the run
    assert run.kpis["energy_kwh"]["total"] == pytest.approx(77.5)
    assert run.kpis["cleaning_share"] == pytest.approx(3.5 / 9.5)


def test_min_changeover_runs_the_same_product_first():
    # orders released together: b (due 5), a (due 10, 2 batches); unit starts clean.
    # EDD would run b first then a, a (major b->a default 2 h): ends 2 + 2 + 2 + 0.5 + 2 = 8.5
    edd = simulate(load_data(DATA / "one_unit.yaml", dispatch="edd"))
    assert edd.kpis["makespan_h"] == pytest.approx(8.5)
    assert [e["product"] for e in events(edd.events, "step_start")] == ["b", "a", "a"]


def test_hold_time_violation_scraps_and_replaces_batch():
    # batch 0: s1 0-2, s2 2-6. batch 1: s1 0-2 on the second unit, hold limit 1 h runs out at
    # t=3 while s2 is busy -> deviation and scrap at 3; replacement s1 3-5, s2 6-10.
    run = simulate(load_data(DATA / "two_stage.yaml"))
    dev = events(run.events, "deviation")
    assert [(e["t"], e["state"]) for e in dev] == [(3.0, "hold_time")]
    scrap = events(run.events, "scrap")
    assert [(e["t"], e["detail"]) for e in scrap] == [(3.0, "hold_time")]
    assert run.kpis["makespan_h"] == pytest.approx(10.0)
    assert run.kpis["batches"]["qc_released"] == 2


def test_hold_time_deviation_without_scrap_keeps_batch():
    run = simulate(
        load_data(DATA / "two_stage.yaml", **{"products.p.recipe.0.on_hold_violation": "deviation"})
    )
    assert [e["t"] for e in events(run.events, "deviation")] == [3.0]
    assert not events(run.events, "scrap")
    assert run.kpis["makespan_h"] == pytest.approx(10.0)  # 0-2, 2-6 | 0-2, 6-10


def test_breakdown_resume_and_scrap():
    base = {
        "equipment_classes.s2.failures": {"mtbf": "5h", "mttr": "1h"},
        "products.p.recipe.1.duration": "12h",
        "orders": [{"id": "o", "product": "p", "quantity": 10, "due": "50h"}],
    }
    # s1 0-2; s2 starts at 2, fails at 7 (5 h of processing), repaired 7-8, fails again at 13,
    # repaired 13-14, last 2 h: ends at 16.
    run = simulate(load_data(DATA / "two_stage.yaml", **base))
    assert [e["t"] for e in events(run.events, "breakdown")] == [7.0, 13.0]
    assert run.kpis["makespan_h"] == pytest.approx(16.0)
    assert run.kpis["state_share"]["u2"]["down"] == pytest.approx(2 / 16)
    scrap = simulate(
        load_data(
            DATA / "two_stage.yaml",
            replace_scrapped=False,
            **{**base, "products.p.recipe.1.on_breakdown": "scrap"},
        )
    )
    assert [(e["t"], e["detail"]) for e in events(scrap.events, "scrap")] == [(8.0, "breakdown")]
    assert scrap.kpis["batches"]["qc_released"] == 0


def test_unit_calendar_finishes_batch_then_goes_off_shift():
    # Monday 06:00 start, unit open 06:00-22:00 on weekdays; two 20 h batches: the first runs
    # into the night (overtime), the unit rests off-shift, the second starts Tue 06:00 (t=24).
    sc = load_data(
        DATA / "one_unit.yaml",
        shifts={"days": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["06:00-22:00"]}},
        **{
            "units.m1.shift": "days",
            "products.a.recipe.0.duration": "20h",
            "orders": [{"id": "o", "product": "a", "quantity": 200, "due": "3d"}],
            "equipment_classes.mixer.cleaning": {},
        },
    )
    run = simulate(sc)
    assert [e["t"] for e in events(run.events, "step_start")] == [0.0, 24.0]
    states = [(e["t"], e["state"]) for e in events(run.events, "state")]
    assert (20.0, "off_shift") in states and (24.0, "processing") in states
    assert run.kpis["state_share"]["m1"]["off_shift"] == pytest.approx(4 / 44)


def test_qc_release_waits_for_analyst_and_lead_time():
    # one analyst, hands-on 4 h, lead time 10 h from quarantine. Batches finish at 2 and 4.5
    # (one unit). Batch 0: analyst 2-6, released at 12. Batch 1 (done 4.5): analyst 6-10,
    # released at max(4.5 + 10, 10) = 14.5.
    sc = load_data(
        DATA / "one_unit.yaml",
        staff={"analyst": {"count": 1}},
        qc={"qualification": "analyst", "hands_on": "4h", "lead_time": "10h"},
        orders=[{"id": "o", "product": "a", "quantity": 200, "due": "1d"}],
    )
    run = simulate(sc)
    assert [e["t"] for e in events(run.events, "qc_start")] == [2.0, 6.0]
    assert [e["t"] for e in events(run.events, "qc_release")] == [12.0, 14.5]
    assert run.kpis["lead_time_h"]["mean"] == pytest.approx((12 + 14.5) / 2)
    assert run.kpis["otif_pct"] == 100.0


def test_operators_limit_parallel_work():
    # two units but one operator: the second batch waits for the operator (unit starved).
    sc = load_data(
        DATA / "two_stage.yaml",
        staff={"op": {"count": 1}},
        **{
            "products.p.recipe.0.operators": {"qualification": "op"},
            "products.p.recipe.0.max_hold": None,
        },
    )
    run = simulate(sc)
    s1 = [e["t"] for e in events(run.events, "step_start") if e["step"] == 0]
    assert s1 == [0.0, 2.0]
    assert any(e["state"] == "starved" for e in events(run.events, "state"))


def test_direct_transfer_blocks_the_unit():
    # stage 1 transfers directly into stage 2 (one s2 unit, 4 h): batch 1 finishes s1 at 2 and
    # holds its unit (blocked) until s2 frees at 6.
    sc = load_data(
        DATA / "two_stage.yaml",
        **{"products.p.recipe.0.transfer": "direct", "products.p.recipe.0.max_hold": None},
    )
    run = simulate(sc)
    blocked = [(e["t"], e["unit"]) for e in events(run.events, "state") if e["state"] == "blocked"]
    assert (2.0, "u1#2") in blocked
    assert run.kpis["state_share"]["u1#2"]["blocked"] == pytest.approx(4 / 10)


def test_preventive_maintenance_every_n_batches():
    sc = load_data(
        DATA / "one_unit.yaml",
        **{"equipment_classes.mixer.maintenance": {"every_batches": 2, "duration": "5h"}},
    )
    run = simulate(sc)
    # a 0-2, minor 2-2.5, a 2.5-4.5 -> maintenance 4.5-9.5, major a->b 9.5-12.5, b 12.5-14.5
    assert [e["t"] for e in events(run.events, "maintenance_start")] == [4.5]
    assert [e["t"] for e in events(run.events, "step_start")] == [0.0, 2.5, 12.5]


def test_dirty_hold_limit_triggers_full_clean():
    # a single batch ends at 2; nothing else comes: after the 10 h dirty-hold limit the unit
    # is cleaned fully (major, 2 h) at t=12 and stays idle.
    sc = load_data(
        DATA / "one_unit.yaml",
        simulation={"horizon": "30h", "stop_when_done": False},
        orders=[{"id": "o", "product": "a", "quantity": 100, "due": "1d"}],
        **{"equipment_classes.mixer.cleaning.dirty_hold": "10h"},
    )
    run = simulate(sc)
    assert [(e["t"], e["state"]) for e in events(run.events, "clean_start")] == [(12.0, "full")]
    share = run.kpis["state_share"]["m1"]
    assert share["dirty_hold"] == pytest.approx(10 / 30)
    assert share["idle"] == pytest.approx(16 / 30)
