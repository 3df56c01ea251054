"""Fleet sizing: a hand-computed line case, model structure without solving, the window
search on a simulated run, and bad input."""

from __future__ import annotations

from pathlib import Path

import pyomo.environ as pyo
import pytest

from optimizer.fleet_commands import fleet_size
from optimizer.logistics import (
    FleetData,
    TransportDemand,
    build_model,
    clique_bound,
    greedy_chains,
    size_fleet,
    solve,
)
from optimizer.solvers import SolverOptions, solve_model
from twin import load, simulate

DATA = Path(__file__).parents[1] / "data"
S = 1 / 3600  # one second in hours

# A line A - B - C, 100 s per segment, no handling, no charging. Four trips:
#   r1 at   0 s A->B,  r2 at  60 s B->A,  r3 at 200 s B->C,  r4 at 300 s C->B
# Wait 0: r1 and r2 overlap (2 vehicles); one vehicle then does r1, r3, r4 exactly on time.
# Wait 100 s: one vehicle does r1 (0-100), r2 (100-200, waits 40 s), r3 (drives A->B,
# picks up at 300 s, waits 100 s), r4 (at C at 400 s, waits 100 s). Wait 99 s: r3 is 1 s late
# and no other order fits, so 2.
NODES = ("A", "B", "C")
POS = {"A": 0, "B": 1, "C": 2}
HOURS = {a: {b: abs(POS[a] - POS[b]) * 100 * S for b in NODES} for a in NODES}
METRES = {a: {b: abs(POS[a] - POS[b]) * 100.0 for b in NODES} for a in NODES}


def line_demand() -> TransportDemand:
    return TransportDemand(
        times=(0.0, 60 * S, 200 * S, 300 * S),
        origins=("A", "B", "B", "C"),
        dests=("B", "A", "C", "B"),
        hours=HOURS,
        metres=METRES,
        handling=0.0,
    )


def milp_vehicles(data: FleetData) -> int:
    m = build_model(data)
    res = solve_model(m, SolverOptions(time_limit=None))
    assert res.status == "optimal"
    return round(pyo.value(m.vehicles))


@pytest.mark.solver
@pytest.mark.parametrize(("wait_s", "vehicles"), [(0, 2), (99, 2), (100, 1), (600, 1)])
def test_line_case_hand_computed(wait_s, vehicles):
    data = FleetData.build(line_demand(), wait_s * S)
    assert milp_vehicles(data) == vehicles
    sol = solve(data)
    assert sol.vehicles == vehicles and sol.proven
    # the chains cover every trip once and respect the windows
    assert sorted(j for c in sol.chains for j in c) == [0, 1, 2, 3]
    for j, s in enumerate(sol.pickups):
        assert data.earliest[j] - 1e-9 <= s <= data.latest[j] + 1e-9


def test_line_case_pickups_of_one_vehicle():
    sol = greedy_chains(FleetData.build(line_demand(), 100 * S))
    assert sol.chains == ((0, 1, 2, 3),)
    assert [round(p / S) for p in sol.pickups] == [0, 100, 300, 400]


def test_model_structure_without_solving():
    data = FleetData.build(line_demand(), 100 * S)
    # arcs: r1->r2, r1->r3, r1->r4, r2->r3, r2->r4, r3->r4 (hand-checked e_i + g_ij <= l_j)
    assert sorted(data.arcs) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    m = build_model(data)
    assert sum(1 for _ in m.component_data_objects(pyo.Var)) == 6 + 4  # x per arc, s per trip
    assert len(m.one_successor) == 2  # r1, r2 have more than one successor
    assert len(m.one_predecessor) == 2  # r3, r4 have more than one predecessor
    # M = l_i + g_ij - e_j: r1->r3 and r1->r4 have M = 0 (always fit), the other four need one
    assert sorted(m.timing) == [(0, 1), (1, 2), (1, 3), (2, 3)]
    assert len(m.reach) == 0  # start="anywhere"
    n_con = sum(1 for _ in m.component_data_objects(pyo.Constraint))
    assert n_con == 2 + 2 + 4
    assert clique_bound(FleetData.build(line_demand(), 0.0)) == 2


def test_chain_start_and_charging_change_the_data():
    d = line_demand()
    charged = TransportDemand(**{**d.__dict__, "drain_per_m": 0.001, "charge_kw": 1.0})
    # 100 m costs 0.1 kWh = 0.1 h at 1 kW on top of 100 s of driving
    data = FleetData.build(charged, 1.0)
    assert data.service[0] == pytest.approx(100 * S + 0.1)
    assert FleetData.build(charged, 1.0, charging="none").service[0] == pytest.approx(100 * S)
    rest = TransportDemand(**{**d.__dict__, "rest": ("C",)})
    data = FleetData.build(rest, 300 * S, start="chargers")
    assert data.reach == pytest.approx((200 * S, 100 * S, 100 * S, 0.0))
    assert len(build_model(data).reach) == 3


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="max_wait"):
        FleetData.build(line_demand(), -0.1)
    d = TransportDemand(**{**line_demand().__dict__, "handling": 0.05})
    with pytest.raises(ValueError, match="shorter than loading"):
        FleetData.build(d, 0.01)
    with pytest.raises(ValueError, match="no layout and fleet"):
        TransportDemand.from_run(simulate(load(DATA / "mm1.yaml"), seed=0))
    with pytest.raises(ValueError, match="max_wait"):
        fleet_size(DATA / "dense_loop.yaml", -1.0)
    with pytest.raises(ValueError, match="no fleet"):
        fleet_size(DATA / "mm1.yaml", 0.2, seeds=(0,))
    with pytest.raises(ValueError, match="window_h"):
        size_fleet(line_demand(), 0.1, window_h=0)


@pytest.mark.solver
def test_size_fleet_on_a_simulated_run_holds_in_the_twin():
    sc = load(DATA / "dense_loop.yaml")
    run = simulate(sc, seed=0)
    demand = TransportDemand.from_run(run)
    assert demand.n == run.kpis["transport"]["requests"]
    assert set(demand.origins) <= set(sc.layout.nodes)
    res = size_fleet(demand, 5 / 60, window_h=4.0, time_limit=20)
    assert res.proven and res.vehicles >= 1
    assert res.peak is not None and res.peak.vehicles == res.vehicles
    out = fleet_size(DATA / "dense_loop.yaml", 5 / 60, time_limit=20, seeds=(0,), window_h=4.0)
    (lay,) = out["layouts"]
    assert lay["fleet"]["vehicles"] == res.vehicles
    sizes = [c["vehicles"] for c in lay["twin"]]
    assert sizes == [v for v in (res.vehicles, res.vehicles - 1) if v >= 1]
    for row in out["table"]:
        assert row["served"] == row["requests"]


def test_greedy_clique_is_used_on_large_windows(monkeypatch):
    import optimizer.logistics as lg

    data = FleetData.build(line_demand(), 0.0)
    monkeypatch.setattr(lg, "EXACT_CLIQUE_MAX", 0)
    assert clique_bound(data) == 2


def test_compare_paths_accept_variant_files():
    from optimizer.fleet_commands import load_layout_scenario

    root = Path(__file__).parents[2] / "scenarios"
    base = load(root / "osd_plant.yaml")
    b = load_layout_scenario(root / "variants" / "layout_b.yaml", base=root / "osd_plant.yaml")
    full = load_layout_scenario(root / "osd_plant_layout_b.yaml", base=root / "osd_plant.yaml")
    assert b.layout != base.layout and b.layout == full.layout
    assert b.fleet == base.fleet
