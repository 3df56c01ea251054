"""The ``optimised`` transport dispatch rule: exact assignment per decision epoch."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import pytest

from twin import load, simulate
from twin.eventlog import write_parquet
from twin.transport import (
    Fleet,
    Layout,
    OptimisedDispatch,
    Trip,
    Vehicle,
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
