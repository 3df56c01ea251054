"""Layout, routing, the AGV fleet and its reservations, checked against hand computations and
against the event log."""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pytest
import yaml

from dashboard.layout_html import layout_figure
from twin import load, simulate
from twin.eventlog import write_parquet
from twin.plant import Plant
from twin.transport import Layout, Trip, Vehicle, edd, fcfs, nearest, rule_names

DATA = Path(__file__).parents[1] / "data"
LINE = DATA / "flow_line.yaml"
DENSE = DATA / "dense_loop.yaml"
H = 1 / 60  # one minute of handling, in hours


def test_single_agv_on_a_line_gives_hand_computed_times():
    run = simulate(load(LINE), seed=0)
    rows = run.events.to_pylist()
    done = [r["t"] for r in rows if r["kind"] == "transport_done"]
    # warehouse -> mixer: load 1 min, 100 m at 1 m/s, unload 1 min
    t1 = 2 * H + 100 / 3600
    # mixing 1 h; mixer -> IBC store 100 m; store -> press 100 m at the 0.5 m/s limit
    t2 = t1 + 1.0 + 2 * H + 100 / 3600
    t3 = t2 + 2 * H + 200 / 3600
    # pressing 2 h; press -> warehouse: 100 m slow + 200 m
    t4 = t3 + 2.0 + 2 * H + (200 + 200) / 3600
    assert done == pytest.approx([t1, t2, t3, t4], abs=1e-9)
    kinds = [r["state"] for r in rows if r["kind"] == "transport_request"]
    assert kinds == ["material", "ibc", "ibc", "finished"]
    k = run.kpis["transport"]
    assert k["distance_m"] == pytest.approx(600.0)
    assert k["served"] == 4 and k["requests"] == 4
    assert k["wait_h"]["mean"] == pytest.approx(H)  # the vehicle was always already there
    # time shares: 800 s loaded (100 + 100 + 200 + 400), 8 x 1 min handling, never empty
    span = run.kpis["window_h"]["end"] - run.kpis["window_h"]["warmup"]
    share = k["vehicles"]["agv_1"]["share"]
    assert share["loaded"] * span == pytest.approx(800 / 3600)
    assert share["handling"] * span == pytest.approx(8 * H)
    assert "empty" not in share and sum(share.values()) == pytest.approx(1.0)
    assert k["vehicles"]["agv_1"]["trips"] == 4
    # the warehouse: 2 pallets of api (100 kg / 50) + 2 of excipient from the start (picking
    # 20 kg and 10 kg frees none), then 1 pallet of tablets when the run ends
    wh = run.kpis["warehouses"]["main"]["ambient"]
    assert wh["mean"] == pytest.approx(4.0) and wh["max"] == 5.0
    # the mixer is blocked until its IBC is picked up, then idle
    mix = [(r["t"], r["state"]) for r in rows if r["kind"] == "state" and r["unit"] == "mix_1"]
    assert ("blocked" in dict((s, t) for t, s in mix)) and mix[-1][1] == "idle"
    blocked_t = next(t for t, s in mix if s == "blocked")
    freed_t = next(t for t, s in mix if t > blocked_t)
    assert freed_t - blocked_t == pytest.approx(H)
    # battery: 600 m at 0.5 Wh/m, plus idle drain
    last = [r["value"] for r in rows if r["kind"] == "agv_state"][-1]
    assert last < 20.0 - 0.3 + 1e-9


def random_requests(plant: Plant, rate_per_h: float, until: float, seed: int = 7):
    fleet = plant.fleet
    rng = np.random.default_rng(seed)
    nodes = list(plant.scenario.layout.nodes)
    requested: list[tuple[float, object]] = []

    def gen(env):
        while env.now < until:
            yield env.timeout(rng.exponential(1 / rate_per_h))
            a, b = rng.choice(len(nodes), size=2, replace=False)
            ev = fleet.request(nodes[a], nodes[b], int(rng.integers(1, 3)), env.now + 2.0)
            requested.append((env.now, ev))

    plant.env.process(gen(plant.env))
    return requested


def segment_intervals(rows) -> dict[str, list[tuple[float, float, str]]]:
    """Per segment: (enter, leave, vehicle), where a vehicle leaves a segment at its next event."""
    by_vehicle: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["unit"] and r["unit"].startswith("agv_"):
            by_vehicle[r["unit"]].append(r)
    out: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for v, evs in by_vehicle.items():
        for i, r in enumerate(evs):
            if r["kind"] == "agv_move":
                nxt = evs[i + 1]["t"]
                out[r["state"]].append((r["t"], nxt, v))
    return out


@pytest.fixture(scope="module")
def dense_month():
    sc = load(DENSE)
    plant = Plant(sc, seed=0)
    requested = random_requests(plant, rate_per_h=20.0, until=29 * 24.0)
    plant.env.run(until=30 * 24.0)
    return plant, requested, plant.log.to_table().to_pylist()


def test_dense_fleet_runs_a_month_without_deadlock(dense_month):
    plant, requested, rows = dense_month
    assert len(requested) > 10_000
    open_ = [t for t, ev in requested if not ev.triggered]
    assert not open_, f"{len(open_)} requests never delivered, first at {open_[:3]}"
    assert not plant.fleet.traffic.waiting
    assert all(not v.busy for v in plant.fleet.vehicles)
    kinds = {r["kind"] for r in rows}
    assert "traffic_wait" in kinds  # congestion is real
    # and bounded: routes are granted in arrival order, so no vehicle waits for long
    waits = [r["value"] for r in rows if r["kind"] == "traffic_wait"]
    assert len(waits) > 1000 and max(waits) < 0.5
    assert "charge_start" in kinds  # small batteries: vehicles went charging


def test_no_two_vehicles_on_one_segment_at_the_same_time(dense_month):
    _, _, rows = dense_month
    intervals = segment_intervals(rows)
    assert len(intervals) == 12
    for seg, ivs in intervals.items():
        ivs.sort()
        for (a0, a1, va), (b0, b1, vb) in zip(ivs, ivs[1:], strict=False):
            assert b0 >= a1 - 1e-9, f"{seg}: {va} [{a0}, {a1}) overlaps {vb} [{b0}, {b1})"


def test_one_way_segments_and_battery(dense_month):
    _, _, rows = dense_month
    moves = {r["detail"] for r in rows if r["kind"] == "agv_move"}
    assert "n4>n3" not in moves and "n5>n4" not in moves
    assert "n3>n4" in moves
    assert all(r["value"] >= 0 for r in rows if r["kind"] == "agv_state")


def test_routing_never_searches_during_a_run(monkeypatch):
    sc = load(DENSE)
    plant = Plant(sc, seed=1)
    random_requests(plant, rate_per_h=20.0, until=48.0)

    def boom(*a, **k):
        raise AssertionError("shortest-path search during the run")

    for name in ("shortest_path", "dijkstra_path", "single_source_dijkstra", "all_pairs_dijkstra"):
        monkeypatch.setattr(nx, name, boom)
    plant.env.run(until=50.0)
    assert len(plant.log) > 1000


def test_dispatch_rules_choose_different_vehicles():
    sc = load(LINE)
    fleet = SimpleNamespace(layout=Layout(sc.layout, speed=1.0))
    near = Vehicle("agv_1", 0, 0, "st_mix", 20.0, idle_since=3.0)  # 100 m from the pick-up
    far = Vehicle("agv_2", 1, 1, "wh_gate", 20.0, idle_since=1.0)  # 200 m, idle longest
    old = Trip(1, "store", "st_press", 1, due=50.0, created=0.0, batch=0, code=0, job=None)
    urgent = Trip(2, "wh_gate", "st_mix", 1, due=5.0, created=1.0, batch=1, code=1, job=None)
    pending, idle = [old, urgent], [far, near]
    assert rule_names() == ["edd", "fcfs", "nearest", "optimised"]
    assert nearest(pending, idle, fleet) == (old, near)
    assert fcfs(pending, idle, fleet) == (old, far)
    assert edd(pending, idle, fleet) == (urgent, far)  # far is at wh_gate, the pick-up


def test_layout_lengths_from_coordinates_and_speed_limits():
    sc = load(LINE)
    lay = Layout(sc.layout, speed=1.0)
    r = lay.route("wh_gate", "st_press")
    assert r.nodes == ("wh_gate", "st_mix", "store", "st_press")
    assert r.metres == pytest.approx(300.0)
    assert r.hours == pytest.approx((100 + 100 + 200) / 3600)


def test_same_seed_same_log_bytes_with_material_flow(tmp_path):
    def bytes_of(path: Path) -> bytes:
        run = simulate(load(path), seed=11)
        out = tmp_path / "x.parquet"
        write_parquet(run.events, out)
        return out.read_bytes()

    for p in (DENSE, DATA / "flow_supply.yaml"):
        assert bytes_of(p) == bytes_of(p)


def test_layout_figure_draws_nodes_edges_arrows_and_labels():
    sc = load(DENSE)
    fig = layout_figure(sc.layout, {"n0": ["a_1"], "n8": ["a_2"]}, title="dense")
    names = {t.name for t in fig.data}
    assert {"segments", "station", "charger", "waypoint"} <= names
    assert len(fig.layout.annotations) == 2  # the two one-way segments
    station = next(t for t in fig.data if t.name == "station")
    assert "a_1" in station.text
    buf = io.StringIO()
    fig.write_html(buf, include_plotlyjs=False)
    assert "dense" in buf.getvalue()


def _random_layout(rng: np.random.Generator, n: int) -> dict:
    """A random strongly connected layout: a two-way spanning tree plus one-way extras."""
    nodes = {
        f"v{i}": {"x": float(rng.uniform(0, 200)), "y": float(rng.uniform(0, 200))}
        for i in range(n)
    }
    for v in nodes.values():
        v["x"], v["y"] = round(v["x"], 1), round(v["y"], 1)
    edges = []
    for i in range(1, n):
        edges.append({"from": f"v{i}", "to": f"v{int(rng.integers(0, i))}"})
    for _ in range(n // 2):
        a, b = rng.choice(n, size=2, replace=False)
        edges.append({"from": f"v{a}", "to": f"v{b}", "one_way": True, "speed_limit": 0.5})
    nodes["v0"]["kind"] = "charger"
    return {"nodes": nodes, "edges": edges, "ibc_store": "v0"}


@pytest.mark.parametrize("case", range(6))
def test_random_layouts_and_fleets_deliver_everything_without_overlap(case):
    from twin.scenario import load_dict

    rng = np.random.default_rng(100 + case)
    n = int(rng.integers(3, 10))
    data = yaml.safe_load(LINE.read_text())
    data["layout"] = _random_layout(rng, n)
    data["units"] = {
        "mix_1": {"class": "mixer", "station": "v1"},
        "press_1": {"class": "press", "station": f"v{n - 1}"},
    }
    data["warehouses"]["main"]["gate"] = "v0"
    data["fleet"].update(
        size=int(rng.integers(1, 9)),
        home=["v0"],
        chargers=["v0"],
        battery_kwh=1.0,
        dispatch=["nearest", "fcfs", "edd"][case % 3],
    )
    plant = Plant(load_dict(data, f"random{case}.yaml"), seed=case)
    size = plant.scenario.fleet.size
    requested = random_requests(plant, rate_per_h=4.0 * size, until=40.0, seed=case)
    plant.env.run(until=400.0)
    assert requested and all(ev.triggered for _, ev in requested)
    rows = plant.log.to_table().to_pylist()
    for seg, ivs in segment_intervals(rows).items():
        ivs.sort()
        for (_, a1, va), (b0, _, vb) in zip(ivs, ivs[1:], strict=False):
            assert b0 >= a1 - 1e-9, (seg, va, vb)
    # travel legs take exactly length / speed
    lay = plant.layout
    for r in rows:
        if r["kind"] == "agv_move":
            u, v = r["detail"].split(">")
            assert r["value"] == pytest.approx(lay.graph.edges[u, v]["metres"])
