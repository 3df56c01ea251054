"""The ``optimised`` transport dispatch rule: exact assignment per decision epoch, and dwell
points for the vehicles left idle."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.twin.helpers import load_data
from tests.twin.test_transport import random_requests, segment_intervals
from twin import load, simulate
from twin.eventlog import write_parquet
from twin.kpi import compute_kpis
from twin.plant import Plant
from twin.transport import (
    DwellPoints,
    DwellPolicy,
    Fleet,
    Layout,
    OptimisedDispatch,
    Trip,
    Vehicle,
    expected_travel,
    joint_dwell_points,
    nearest,
    rule_names,
    with_transport_dispatch,
)

DATA = Path(__file__).parents[1] / "data"
LINE = DATA / "flow_line.yaml"
DENSE = DATA / "dense_loop.yaml"


def trip(seq: int, origin: str, created: float = 0.0) -> Trip:
    return Trip(seq, origin, "st_press", 1, due=99.0, created=created, batch=0, code=seq, job=None)


def test_registered_and_selectable():
    assert "optimised" in rule_names()
    sc = with_transport_dispatch(load(DENSE), "optimised")
    assert sc.fleet.dispatch == "optimised"
    with pytest.raises(ValueError, match="unknown transport dispatch rule 'fastest'"):
        with_transport_dispatch(sc, "fastest")
    with pytest.raises(ValueError, match="has no fleet"):
        with_transport_dispatch(load(DATA / "mm1.yaml"), "optimised")
    with pytest.raises(ValueError, match="age_weight"):
        OptimisedDispatch(age_weight=-1)
    with pytest.raises(ValueError, match="move_weight"):
        DwellPolicy(move_weight=-1)
    with pytest.raises(ValueError, match="capacity"):
        DwellPolicy(capacity=0)


def test_assignment_is_the_exact_optimum_of_its_costs():
    sc = load(LINE)  # wh_gate -100- st_mix -100- store -200 (slow)- st_press
    fleet = SimpleNamespace(layout=Layout(sc.layout, speed=1.0), env=SimpleNamespace(now=0.0))
    a = Vehicle("agv_1", 0, 0, "store", 20.0)
    b = Vehicle("agv_2", 1, 1, "wh_gate", 20.0)
    old, new = trip(1, "st_mix"), trip(2, "store")
    # nearest serves the oldest trip first with its nearest vehicle (a tie, so agv_1), and
    # leaves agv_2 200 m from the second trip; the assignment moves 100 m in all
    t, v = nearest([old, new], [a, b], fleet)
    assert (t, v) == (old, a)
    rule = OptimisedDispatch(age_weight=0.0)
    assert rule.assign([old, new], [a, b], fleet) == [(old, b), (new, a)]
    # against brute force on a larger random-looking case, with ages
    nodes = ["wh_gate", "st_mix", "store", "st_press"]
    trips = [trip(i, nodes[(3 * i) % 4], created=-0.01 * i) for i in range(5)]
    vehicles = [Vehicle(f"v{k}", k, k, nodes[(k + 1) % 4], 20.0) for k in range(3)]
    rule = OptimisedDispatch(age_weight=0.5)
    cost = rule.cost(trips, vehicles, fleet)
    pairs = rule.assign(trips, vehicles, fleet)
    got = sum(cost[trips.index(t), vehicles.index(v)] for t, v in pairs)
    best = min(
        sum(cost[r, c] for c, r in enumerate(rows))
        for rows in itertools.permutations(range(len(trips)), len(vehicles))
    )
    assert len(pairs) == len(vehicles) and got == pytest.approx(best)


def test_never_leaves_an_idle_vehicle_beside_a_waiting_trip(monkeypatch):
    checks = []
    original = Fleet._epoch

    def checked(self, event=None):
        original(self, event)
        idle = [v for v in self.vehicles if not v.busy]
        checks.append((len(self.pending), len(idle)))
        assert not (self.pending and idle), (self.env.now, self.pending, idle)

    monkeypatch.setattr(Fleet, "_epoch", checked)
    sc = load(DENSE)
    sc = with_transport_dispatch(
        sc.model_copy(update={"fleet": sc.fleet.model_copy(update={"size": 3})}), "optimised"
    )
    run = simulate(sc, seed=0)
    assert len(checks) > 20
    assert any(p > 0 for p, _ in checks)  # epochs with more trips than vehicles happened
    k = run.kpis["transport"]
    assert k["served"] == k["requests"] > 0


def test_optimised_waits_no_longer_than_nearest_on_a_dense_case():
    sc = load(DENSE)
    sc = sc.model_copy(update={"fleet": sc.fleet.model_copy(update={"size": 2})})
    waits = {}
    for rule in ("nearest", "optimised"):
        k = simulate(with_transport_dispatch(sc, rule), seed=0).kpis["transport"]
        assert k["served"] == k["requests"]
        waits[rule] = k["wait_h"]["mean"]
    assert waits["optimised"] <= waits["nearest"]


def test_same_seed_same_log_with_the_optimised_rule(tmp_path):
    sc = with_transport_dispatch(load(DENSE), "optimised")
    out = []
    for k in range(2):
        path = tmp_path / f"{k}.parquet"
        write_parquet(simulate(sc, seed=3).events, path)
        out.append(path.read_bytes())
    assert out[0] == out[1]


# --------------------------------------------------------------------------- dwell points
def _line_plant(rule: str) -> Plant:
    """flow_line's layout with no batches before 40 h: one AGV, requests scripted by the test.

    wh_gate -100 m- st_mix -100 m- store -200 m at 0.5 m/s- st_press; 1 m/s, 1 min handling.
    """
    sc = load_data(LINE, **{"orders.0.release": "40h", "orders.0.due": "47h"})
    return Plant(with_transport_dispatch(sc, rule), seed=0)


def _line_waits(rule: str) -> tuple[list[float], list[dict]]:
    """Twelve hourly requests wh_gate -> store, and one st_mix -> st_press 570 s after the
    eleventh; the waits (request to loaded) in seconds and the log."""
    plant = _line_plant(rule)
    fleet = plant.fleet

    def script(env):
        for k in range(12):
            fleet.request("wh_gate", "store", 1, env.now + 1.0)
            if k == 10:
                yield env.timeout(570 / 3600)
                fleet.request("st_mix", "st_press", 1, env.now + 1.0)
                yield env.timeout(1.0 - 570 / 3600)
            else:
                yield env.timeout(1.0)

    plant.env.process(script(plant.env))
    plant.env.run(until=13.0)
    rows = plant.log.to_table().to_pylist()
    waits = [r["value"] * 3600 for r in rows if r["kind"] == "transport_pickup"]
    return waits, rows


def test_dwell_point_on_a_line_gives_hand_computed_waits():
    # nearest leaves the vehicle where it unloaded (store): every request from wh_gate after
    # the first waits 200 s of empty travel + 60 s loading. The T12 request from st_mix finds
    # it at store (100 s + 60 s); T13 finds it at st_press (200 m at 0.5 + 200 m, + 60 s).
    waits, rows = _line_waits("nearest")
    assert waits == pytest.approx([60.0] + [260.0] * 10 + [160.0, 460.0])
    assert not any(r["state"] == "repositioning" for r in rows if r["kind"] == "agv_state")
    # optimised: the origin weights exist from the tenth request event on (all at wh_gate);
    # after unloading T11 at store (t = 10 h + 520 s) the vehicle repositions towards wh_gate
    # (moving 200 m costs 0.05 x 200 s, saves 200 s for the next request). T12 (st_mix, at
    # 10 h + 570 s) takes it over at st_mix, its next node, at 10 h + 620 s: 50 s + 60 s.
    # After T12 it repositions to wh_gate again, so T13 waits only for loading.
    waits, rows = _line_waits("optimised")
    assert waits == pytest.approx([60.0] + [260.0] * 10 + [110.0, 60.0])
    t0 = 10.0
    seq = [
        (round((r["t"] - t0) * 3600, 6), r["state"] if r["kind"] == "agv_state" else r["detail"])
        for r in rows
        if r["kind"] in ("agv_state", "agv_move") and t0 <= r["t"] < 11.0
    ]
    assert seq[8:13] == [
        (520.0, "idle"),
        (520.0, "repositioning"),
        (520.0, "store>st_mix"),  # taken over: stops at st_mix, nothing beyond it is driven
        (620.0, "handling"),
        (680.0, "loaded"),
    ]
    assert seq[-5:] == [
        (1040.0, "repositioning"),
        (1040.0, "st_press>store"),
        (1240.0, "store>st_mix"),
        (1340.0, "st_mix>wh_gate"),
        (1440.0, "idle"),
    ]


def test_expected_travel_and_spot_by_hand_and_the_joint_optimum_by_brute_force():
    sc = load(LINE)
    lay = Layout(sc.layout, speed=1.0)
    names = lay.names  # wh_gate, st_mix, store, st_press
    s = 1 / 3600

    def learn(dwell: DwellPoints) -> DwellPoints:
        # request events: 3 at wh_gate (one of them 2 trips), 2 at store; the last call
        # flushes them (an event is counted once its instant is over) and stays open
        for t, origin, trips in [
            (0, "wh_gate", 2),
            (1, "wh_gate", 1),
            (2, "wh_gate", 1),
            (3, "store", 1),
            (4, "store", 1),
            (5, "wh_gate", 1),
        ]:
            dwell.observe(origin, trips, float(t))
        return dwell

    dwell = DwellPoints(DwellPolicy(first_refresh=5, move_weight=0.0), lay, vehicles=2)
    assert dwell.spot([], "store") == "store"  # nothing learned yet: stay
    learn(dwell)
    assert dwell.events == 5
    w = dwell.weight
    assert w[names.index("wh_gate")].tolist() == pytest.approx([3 / 5, 1 / 5])
    assert w[names.index("store")].tolist() == pytest.approx([2 / 5, 0.0])
    # one vehicle at st_mix: 100 s to either origin
    assert expected_travel(dwell.travel, w, [1]) == pytest.approx(100 * s)
    # vehicles at wh_gate and store: 0 for every first trip; the second trip of an event at
    # wh_gate (probability 1/5) comes from store, 200 s
    assert expected_travel(dwell.travel, w, [0, 2]) == pytest.approx(200 * s / 5)
    # a lone vehicle: wh_gate (2/5 x 200 s = 80 s) beats st_mix (100 s) and store (120 s)
    assert dwell.spot([], "st_press") == "wh_gate"
    # the bay at wh_gate is taken: store (1/5 x 200 s = 40 s) beats st_mix (1/5 x 100 s for
    # the second wh_gate trip + 2/5 x 100 s for store = 60 s)
    assert dwell.spot(["wh_gate"], "st_press") == "store"
    # a move must pay for itself (move_weight 0.5): from st_mix (100 s) wh_gate would cost
    # 80 + 0.5 x 100 s, so it stays; from st_press (3/5 x 600 + 2/5 x 400 = 520 s if it
    # stays) store costs 120 + 0.5 x 400 = 320 s, less than wh_gate (80 + 0.5 x 600 s)
    lazy = learn(DwellPoints(DwellPolicy(first_refresh=5, move_weight=0.5), lay, vehicles=2))
    assert lazy.spot([], "st_mix") == "st_mix"
    assert lazy.spot([], "st_press") == "store"

    # the joint p-median (MILP) against enumeration of every placement, on the dense grid
    grid = Layout(load(DENSE).layout, speed=1.0)
    n = len(grid.names)
    travel = np.array([[grid.distance(a, b) for b in grid.names] for a in grid.names])
    rng = np.random.default_rng(5)
    for p, cap in [(1, 1), (2, 1), (3, 1), (3, 2)]:
        weight = np.zeros((n, 3))
        weight[:, 0] = rng.dirichlet(np.ones(n)) * (rng.random(n) < 0.6)
        weight[:, 1] = weight[:, 0] * rng.random(n) * 0.7
        weight[:, 2] = weight[:, 1] * rng.random(n) * 0.5
        weight /= weight[:, 0].sum()
        y = joint_dwell_points(travel, weight, p, cap)
        got = expected_travel(travel, weight, np.repeat(np.arange(n), y))
        best = min(
            expected_travel(travel, weight, c)
            for c in itertools.combinations_with_replacement(range(n), p)
            if max(np.bincount(c)) <= cap
        )
        assert y.sum() == p and y.max() <= cap and got == pytest.approx(best)


def _dense_with_requests(rule: str, seed: int, days: float):
    sc = load(DENSE)
    sc = sc.model_copy(update={"fleet": sc.fleet.model_copy(update={"size": 6})})
    plant = Plant(with_transport_dispatch(sc, rule), seed=seed)
    requested = random_requests(plant, rate_per_h=6.0, until=days * 24.0, seed=seed)
    plant.env.run(until=days * 24.0 + 24.0)
    return plant, requested, plant.log.to_table().to_pylist()


def test_repositioning_keeps_one_vehicle_per_segment_and_serves_every_request_once():
    plant, requested, rows = _dense_with_requests("optimised", seed=2, days=4)
    states = [r["state"] for r in rows if r["kind"] == "agv_state"]
    assert states.count("repositioning") > 50
    # trips took over vehicles on their way to a dwell point
    relocating = {}
    taken = 0
    for r in rows:
        if r["kind"] == "agv_state":
            if relocating.pop(r["unit"], False) and r["state"] in ("empty", "handling", "traffic"):
                taken += 1
            if r["state"] == "repositioning":
                relocating[r["unit"]] = True
    assert taken > 5
    # no overlap on any segment (leaving a segment = the vehicle's next event)
    for seg, ivs in segment_intervals(rows).items():
        ivs.sort()
        for (a0, a1, va), (b0, b1, vb) in zip(ivs, ivs[1:], strict=False):
            assert b0 >= a1 - 1e-9, f"{seg}: {va} [{a0}, {a1}) overlaps {vb} [{b0}, {b1})"
    # conservation: every request picked up once and delivered once, nothing left over
    assert requested and all(ev.triggered for _, ev in requested)
    codes = [r["detail"] for r in rows if r["kind"] == "transport_request"]
    for kind in ("transport_pickup", "transport_done"):
        seen = [r["detail"] for r in rows if r["kind"] == kind]
        assert sorted(seen) == sorted(codes) and len(set(seen)) == len(seen)
    fleet = plant.fleet
    assert not fleet.pending and not fleet.traffic.waiting
    assert all(not v.busy and not v.relocating and v.claim is None for v in fleet.vehicles)
    # the repositioning drives are in the distance and the time shares
    k = compute_kpis(plant.log.to_table())["transport"]
    share = sum(d["share"].get("repositioning", 0.0) for d in k["vehicles"].values())
    assert share > 0


def test_same_seed_same_log_with_repositioning(tmp_path):
    out = []
    for k in range(2):
        plant, _, rows = _dense_with_requests("optimised", seed=4, days=1)
        assert any(r["state"] == "repositioning" for r in rows if r["kind"] == "agv_state")
        path = tmp_path / f"{k}.parquet"
        write_parquet(plant.log.to_table(), path)
        out.append(path.read_bytes())
    assert out[0] == out[1]
