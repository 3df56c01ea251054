"""The shadow twin without a network: a disordered, duplicated feed gives exactly the state
the fold of the log gives; a restart resumes from the last save and loses nothing; the state
file, the status, the live log, forecasts, forecast errors and re-plans land where they
should."""

from __future__ import annotations

import json
import random
import time

import pytest

from twin.live.emulator import events_of
from twin.live.events import encode_event
from twin.live.lookahead import Lookahead
from twin.live.session import LiveSession, list_sessions
from twin.live.shadow import ShadowOptions, ShadowTwin
from twin.scenario import load
from twin.simulate import simulate
from twin.state import load_state, state_from_events


@pytest.fixture(scope="module")
def plant():
    sc = load("scenarios/osd_plant.yaml")
    sc = sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"horizon": 400.0})})
    run = simulate(sc, seed=4)
    events = events_of(run.events)
    payloads = [
        encode_event(e, f"p:{i}", sc.start, "p", i, time.time()) for i, e in enumerate(events)
    ]
    return sc, run.events, payloads


def drain(twin: ShadowTwin) -> None:
    for _ in range(10_000):
        if not twin.step(0) and not twin.sequencer.held and twin.inbox.empty():
            return
    raise AssertionError("the twin does not settle")


def same_state(a, b) -> None:
    assert a.time == pytest.approx(b.time)
    assert {n: (u.state, u.holder) for n, u in a.units.items()} == {
        n: (u.state, u.holder) for n, u in b.units.items()
    }
    assert {k: (x.phase, x.step, x.unit) for k, x in a.batches.items()} == {
        k: (x.phase, x.step, x.unit) for k, x in b.batches.items()
    }
    assert {k: (o.made, o.released, o.completed) for k, o in a.orders.items()} == {
        k: (o.made, o.released, o.completed) for k, o in b.orders.items()
    }


def test_a_shuffled_duplicated_feed_gives_the_folds_state(plant):
    sc, table, payloads = plant
    rnd = random.Random(3)
    order = list(range(len(payloads)))
    for k in range(0, len(order) - 8, 4):  # deliveries cross within a few messages
        j = k + rnd.randrange(1, 8)
        order[k], order[j] = order[j], order[k]
    order += rnd.sample(range(len(payloads)), 500)  # QoS 1 redeliveries
    twin = ShadowTwin(sc, say=lambda _m: None)
    for i in order:
        twin.submit(payloads[i])
    drain(twin)
    same_state(twin.builder.state(), state_from_events(sc, table))
    s = twin.status()
    assert s["counts"]["applied"] == table.num_rows and s["counts"]["duplicates"] == 500
    assert s["divergences"]["total"] == 0 and s["sync"]["status"] == "in sync"
    assert s["lag"]["n"] > 0 and s["lag"]["p95_s"] >= s["lag"]["p50_s"] >= 0


def test_a_restart_resumes_from_the_last_save_and_loses_nothing(plant, tmp_path):
    sc, table, payloads = plant
    half = len(payloads) // 2
    out = tmp_path / "state.json"
    sess = LiveSession(tmp_path / "runs", "s1")
    sess.create(sc, {})
    twin = ShadowTwin(sc, sess, state_out=out, say=lambda _m: None)
    for p in payloads[:half]:
        twin.submit(p)
    drain(twin)
    twin.save()
    saved = twin.builder.state()
    for p in payloads[half : half + 300]:  # applied, never saved: the process is killed here
        twin.submit(p)
    drain(twin)
    assert load_state(out).time == pytest.approx(saved.time)

    again = ShadowTwin(sc, sess, state_out=out, say=lambda _m: None)
    assert again.resumed and again.builder.time == pytest.approx(saved.time)
    for p in payloads:  # the source sends everything again (a replay from 0)
        again.submit(p)
    drain(again)
    again.close()
    same_state(again.builder.state(), state_from_events(sc, table))
    assert again.sequencer.duplicates == half and again.sequencer.lost == 0
    log = LiveSession(tmp_path / "runs", "s1").events()
    assert log.num_rows == table.num_rows  # the live log has every event once
    assert log.column("t").to_pylist() == table.column("t").to_pylist()
    assert load_state(out).time == pytest.approx(table.column("t")[-1].as_py())
    assert list_sessions(tmp_path / "runs")[0]["name"] == "s1"


def test_the_live_log_reads_as_a_run_folder(plant, tmp_path):
    from twin.logs import read_log

    sc, table, payloads = plant
    sess = LiveSession(tmp_path, "log")
    sess.create(sc, {})
    twin = ShadowTwin(sc, sess, options=ShadowOptions(save_every=1e-6), say=lambda _m: None)
    for k in range(0, len(payloads), 700):  # several saves, several parts
        for p in payloads[k : k + 700]:
            twin.submit(p)
        drain(twin)
    twin.close()
    obs = read_log(sess.path)
    assert obs.table.num_rows == table.num_rows and obs.start == sc.start
    assert not list((sess.path / "events").glob("part-*"))


def test_the_status_file_holds_what_the_dashboard_shows(plant, tmp_path):
    sc, table, payloads = plant
    sess = LiveSession(tmp_path, "st")
    sess.create(sc, {"mqtt": "mqtt://user:***@host:1883"})
    twin = ShadowTwin(sc, sess, options=ShadowOptions(status_every=1e-6), say=lambda _m: None)
    for p in payloads[:2000]:
        twin.submit(p)
    twin.submit(b'{"id": 1}')
    twin.submit_status(json.dumps({"src": "p", "seq": 2500, "t": 300.0, "speed": 3600.0,
                                   "state": "running", "sent": time.time()}).encode())  # fmt: skip
    drain(twin)
    s = json.loads((sess.path / "status.json").read_text())
    assert set(s["units"]) == {n for n, _ in sc.unit_names()}
    assert all(u["state"] for u in s["units"].values())
    assert s["vehicles"] and s["counts"]["bad"] == 1 and "id" in s["counts"]["bad_reasons"]
    assert s["plant_clock_h"] >= 300.0 and s["behind_h"] >= 0
    assert s["sources"]["p"]["announced"] == 2500 and s["sync"]["gaps"] == 0  # not yet timed out


def test_forecasts_every_period_are_stored_and_scored(plant, tmp_path):
    sc, table, payloads = plant
    sess = LiveSession(tmp_path, "fc")
    sess.create(sc, {})
    look = Lookahead(sc, 96.0, 3, seed=1)
    twin = ShadowTwin(sc, sess, options=ShadowOptions(forecast_every_h=48.0, status_every=1e-6),
                      lookahead=look, say=lambda _m: None)  # fmt: skip
    for k in range(0, len(payloads), 200):
        for p in payloads[k : k + 200]:
            twin.submit(p)
        drain(twin)
        look.wait(60)
        drain(twin)
    twin.close()
    files = sorted((sess.path / "forecasts").glob("*.json"))
    assert len(files) >= 4 and look.count == len(files)
    fc = json.loads(files[-1].read_text())
    assert fc["replications"] == 3 and fc["horizon_h"] == 96.0 and fc["trigger"] == "every"
    s = json.loads((sess.path / "status.json").read_text())
    assert s["forecast"]["id"] == fc["id"] and s["forecast"]["orders"]
    assert s["forecast_error"]["n"] > 0 and 0 <= s["forecast_error"]["coverage"] <= 1


@pytest.mark.solver
def test_an_order_at_risk_triggers_a_replan_that_says_what_changes(tmp_path):
    from optimizer.plan_commands import plan_from_state
    from twin.live.replan import replan_callback

    sc = load("scenarios/tiny.yaml")
    orders = tuple(o.model_copy(update={"due": o.release + 20.0}) for o in sc.orders)
    sc = sc.model_copy(update={"orders": orders})  # due dates no plant can meet
    events = events_of(simulate(sc, seed=2).events)
    sess = LiveSession(tmp_path, "rp")
    sess.create(sc, {})
    look = Lookahead(sc, 120.0, 4, replan=replan_callback(plan_from_state, 2.0, 0, 4),
                     threshold=0.9)  # fmt: skip
    twin = ShadowTwin(sc, sess, lookahead=look, say=lambda _m: None)
    for i, e in enumerate(events):
        if e.t > 30.0:
            break
        twin.submit(encode_event(e, f"t:{i}", sc.start, "t", i))
    drain(twin)
    assert twin.forecast_now()
    look.wait(120)
    [change] = look.replans
    assert change["orders"] and all(o["p_on_time_before"] < 0.9 for o in change["orders"])
    assert change["operations"] > 0 and " on time" in change["summary"]
    stored = json.loads(next((sess.path / "replans").glob("*.json")).read_text())
    assert stored["summary"] == change["summary"] and stored["plan"]["operations"]
    look.close()
