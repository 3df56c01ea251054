"""Divergences: the model explains its own runs completely (no false alarms over months of a
plant and on every small scenario), and each rule fires on the event that breaks it."""

from __future__ import annotations

import math

import pytest

from twin.live.divergence import (
    ENTER_ONLY_FROM,
    LEAVE_ONLY_TO,
    DivergenceDetector,
    SyncIndicator,
    upper_bound,
)
from twin.live.emulator import events_of
from twin.scenario import load
from twin.simulate import simulate
from twin.state import Event, StateBuilder


def fold_with_checks(sc, events):
    sb = StateBuilder(sc)
    det = DivergenceDetector(sc)
    found = []
    for i, e in enumerate(events):
        found += det.check(sb, e, str(i))
        sb.apply_event(e)
        found += det.after(sb, e, str(i))
        if i % 25 == 0:
            found += det.tick(sb, e.t)
    return sb, det, found


def horizon(sc, hours):
    return sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"horizon": hours})})


@pytest.mark.parametrize(
    ("path", "hours", "seed"),
    [
        ("scenarios/osd_plant.yaml", 12 * 168.0, 11),
        ("scenarios/tiny.yaml", None, 2),
        ("tests/data/mm1.yaml", None, 1),
        ("tests/data/flow_supply.yaml", None, 4),
    ],
)
def test_the_model_explains_its_own_runs(path, hours, seed):
    sc = load(path)
    if hours is not None:
        sc = horizon(sc, hours)
    run = simulate(sc, seed=seed)
    sb, det, found = fold_with_checks(sc, events_of(run.events))
    assert found == [], found[:3]
    assert sb.events == run.events.num_rows
    if det.drift is not None:  # steps as long as the model draws them, on average
        assert 0.9 < det.drift < 1.1


@pytest.fixture(scope="module")
def tiny_run():
    sc = load("scenarios/tiny.yaml")
    events = events_of(simulate(sc, seed=2).events)
    return sc, events


def prefix_until(sc, events, pred):
    """The fold of the events before the first one matching ``pred``, and that event."""
    sb = StateBuilder(sc)
    for e in events:
        if pred(e):
            return sb, e
        sb.apply_event(e)
    raise AssertionError("no such event")


def test_a_unit_reporting_a_batch_the_model_has_elsewhere(tiny_run):
    sc, events = tiny_run
    sb, start = prefix_until(sc, events, lambda e: e.kind == "step_start" and e.unit == "press_1")
    sb.apply_event(start)
    twin = Event(start.t + 0.1, "step_start", "press_1#2", start.batch, start.order,
                 start.product, start.step)  # fmt: skip
    [d] = DivergenceDetector(sc).check(sb, twin, "x")
    assert d.reason == "batch_elsewhere" and "press_1" in d.message and d.event_id == "x"


def test_a_step_started_out_of_recipe_order_and_on_the_wrong_class(tiny_run):
    sc, events = tiny_run
    sb, start = prefix_until(sc, events, lambda e: e.kind == "step_start" and e.step == 0)
    wrong = Event(start.t, "step_start", "press_1", start.batch, start.order, start.product, 1)
    reasons = {d.reason for d in DivergenceDetector(sc).check(sb, wrong)}
    assert reasons == {"step_order"}
    odd = Event(start.t, "step_start", "press_1", start.batch, start.order, start.product, 0)
    assert {d.reason for d in DivergenceDetector(sc).check(sb, odd)} == {"wrong_class"}


def test_a_step_longer_than_its_distribution_allows(tiny_run):
    sc, events = tiny_run
    sb, end = prefix_until(sc, events, lambda e: e.kind == "step_end" and e.step == 0)
    step = sc.products[end.product].recipe[0]
    limit = upper_bound(step.duration)
    ok = Event(end.t, "step_end", end.unit, end.batch, end.order, end.product, 0, None, limit)
    det = DivergenceDetector(sc)
    assert det.check(sb, ok) == []  # exactly the upper end is allowed
    long = Event(
        end.t, "step_end", end.unit, end.batch, end.order, end.product, 0, None, limit * 1.01
    )
    [d] = det.check(sb, long)
    assert d.reason == "step_too_long" and f"{limit:.2f} h" in d.message


def test_a_running_step_past_its_bound_is_flagged_once_before_it_ends(tiny_run):
    sc, events = tiny_run
    sb, end = prefix_until(sc, events, lambda e: e.kind == "step_end" and e.step == 0)
    limit = upper_bound(sc.products[end.product].recipe[0].duration)
    det = DivergenceDetector(sc)
    assert det.tick(sb, sb.time) == []
    b = sb.batches[end.batch]
    [d] = det.tick(sb, b.since + limit + 0.5)
    assert d.reason == "step_overdue" and d.batch == end.batch
    assert det.tick(sb, b.since + limit + 1.0) == []  # once
    long = Event(b.since + limit + 2, "step_end", end.unit, end.batch, end.order, end.product,
                 0, None, limit + 2)  # fmt: skip
    assert det.check(sb, long) == []  # already said while it ran


def test_impossible_state_changes(tiny_run):
    sc, events = tiny_run
    sb = StateBuilder(sc)
    sb.apply_event(Event(0.0, "state", "gran_1", state="idle"))
    det = DivergenceDetector(sc)
    assert [d.reason for d in det.check(sb, Event(1.0, "state", "gran_1", state="down"))] == [
        "impossible_state"
    ]
    assert det.check(sb, Event(1.0, "state", "gran_1", state="cleaning")) == []
    assert det.invalid(sb, Event(1.0, "state", "gran_1", state="melting")).reason == "invalid"
    assert det.invalid(sb, Event(1.0, "state", "gran_1", state="down")) is None
    sb.apply_event(Event(1.0, "state", "gran_1", state="dirty_hold"))
    assert det.check(sb, Event(2.0, "state", "gran_1", state="processing"))[0].reason == (
        "impossible_state"
    )
    assert set(ENTER_ONLY_FROM["down"]) == {"processing"} and "processing" in LEAVE_ONLY_TO["setup"]


def test_the_folds_anomalies_count_as_divergences(tiny_run):
    sc, _ = tiny_run
    sb = StateBuilder(sc)
    det = DivergenceDetector(sc)
    for e in (Event(1.0, "repair_end", "no_such_unit"), Event(2.0, "qc_release", batch=99)):
        sb.apply_event(e)
        [d] = det.after(sb, e)
        assert d.reason == "fold"
    e = Event(3.0, "state", "gran_1", state="idle")
    sb.apply_event(e)
    assert det.after(sb, e) == []


def test_upper_bounds_of_every_family():
    sc = load("scenarios/tiny.yaml")
    tri = sc.products["tab_a"].recipe[0].duration
    norm = sc.products["tab_a"].recipe[1].duration
    assert upper_bound(tri) == 6.0
    assert upper_bound(norm) == pytest.approx(6.0 + 3.719016 * 0.5)
    assert upper_bound(sc.products["tab_b"].recipe[1].duration) == 5.0
    assert math.isfinite(upper_bound(sc.equipment_classes["granulator"].failures.mtbf))


def test_sync_indicator_words():
    s = SyncIndicator()
    assert s.status(None, 0, False, False) == "waiting"
    for _ in range(200):
        s.record([])
    assert s.status(1.02, 0, False, False) == "in sync"
    assert s.status(1.3, 0, False, False) == "drifting"
    assert s.status(1.02, 1, False, False) == "drifting"
    assert s.status(1.02, 0, False, True) == "out of sync"
    assert s.status(1.8, 0, False, False) == "out of sync"


def test_events_the_state_cannot_hold_are_invalid(tiny_run):
    sc, events = tiny_run
    sb, start = prefix_until(sc, events, lambda e: e.kind == "step_start")
    det = DivergenceDetector(sc)
    bad = [
        Event(start.t, "step_start", start.unit, start.batch, start.order, start.product, 7),
        Event(start.t, "order_release", order="o9", product="tab_a", value=10.0, detail="inf"),
        Event(start.t, "order_release", order="o9", product="tab_a", value=math.nan, detail="5"),
        Event(start.t, "batch_release", batch=99, order="o1", product="tab_a", value=-5.0),
        Event(start.t, "agv_added", "agv_9", value=math.inf, detail="n1"),
    ]
    for e in bad:
        assert det.invalid(sb, e).reason == "invalid", e
    assert det.invalid(sb, start) is None
