"""Fleet sizing: hand-computed line and burst cases (every request, and a service level),
model structures without solving, the window search on a simulated run, the twin-verified
walk, sizing from a plan, and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pyomo.environ as pyo
import pytest

from optimizer.fleet_commands import fleet_size, twin_check
from optimizer.logistics import (
    FleetData,
    PreparedTrips,
    ServiceData,
    TransportDemand,
    VehicleState,
    build_model,
    build_service_model,
    clique_bound,
    greedy_chains,
    greedy_dispatch,
    size_fleet,
    size_fleet_service,
    solve,
    solve_service,
    start_states,
)
from optimizer.options import OptionError
from optimizer.progress import Progress
from optimizer.solvers import SolverOptions, solve_model
from twin import load, simulate
from twin.executors import InProcess

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
def test_size_fleet_on_a_simulated_run():
    sc = load(DATA / "dense_loop.yaml")
    run = simulate(sc, seed=0)
    demand = TransportDemand.from_run(run)
    assert demand.n == run.kpis["transport"]["requests"]
    assert set(demand.origins) <= set(sc.layout.nodes)
    res = size_fleet(demand, 5 / 60, window_h=4.0, time_limit=20)
    assert res.proven and res.vehicles >= 1
    assert res.peak is not None and res.peak.vehicles == res.vehicles
    # with positions (parked where they unloaded), reactive dispatch and a 100 % service
    # level, the service model needs at least as many (vehicles "anywhere" is a relaxation)
    strict = size_fleet_service(demand, 5 / 60, 1.0, window_h=4.0, time_limit=10)
    assert strict.vehicles is None or strict.vehicles >= res.vehicles


def test_greedy_clique_is_used_on_large_windows(monkeypatch):
    import optimizer.logistics_cover as cover

    data = FleetData.build(line_demand(), 0.0)
    monkeypatch.setattr(cover, "EXACT_CLIQUE_MAX", 0)
    assert clique_bound(data) == 2


@pytest.mark.parametrize("seed", range(3))
def test_greedy_clique_is_a_clique_at_least_as_large_as_networkx_finds(seed):
    """Why the greedy clique is kept (see its docstring): on dense graphs its bound is larger
    than that of networkx's large_clique_size, and it is always a clique."""
    import networkx as nx

    from optimizer.logistics_cover import greedy_clique

    g = nx.gnp_random_graph(90, 0.8, seed=seed)
    clique = greedy_clique(g)
    assert all(g.has_edge(a, b) for i, a in enumerate(clique) for b in clique[i + 1 :])
    assert len(clique) >= nx.approximation.large_clique_size(g)


def test_compare_paths_accept_variant_files():
    from optimizer.fleet_commands import load_layout_scenario

    root = Path(__file__).parents[2] / "scenarios"
    base = load(root / "osd_plant.yaml")
    b = load_layout_scenario(root / "variants" / "layout_b.yaml", base=root / "osd_plant.yaml")
    full = load_layout_scenario(root / "osd_plant_layout_b.yaml", base=root / "osd_plant.yaml")
    assert b.layout != base.layout and b.layout == full.layout
    assert b.fleet == base.fleet


# --------------------------------------------------------------------------- service level
# A line A - B, 100 s each way, no handling, no charging; the fleet parks at A. A burst of k
# pallets A->B at t = 0 with a 150 s wait: a vehicle that took one is back at A after 200 s,
# too late for another, so n vehicles pick up n on time and k - n late. Every pick-up on time
# needs k vehicles; a share P needs k - floor((1 - P) k).
BURST_NODES = ("A", "B")
BURST_HOURS = {a: {b: (a != b) * 100 * S for b in BURST_NODES} for a in BURST_NODES}
BURST_METRES = {a: {b: (a != b) * 100.0 for b in BURST_NODES} for a in BURST_NODES}


def burst(k: int, home: str = "A") -> TransportDemand:
    return TransportDemand(
        times=(0.0,) * k,
        origins=("A",) * k,
        dests=("B",) * k,
        hours=BURST_HOURS,
        metres=BURST_METRES,
        handling=0.0,
        home=(home,),
    )


@pytest.mark.solver
@pytest.mark.parametrize(
    ("k", "service", "vehicles"),
    [(5, 1.0, 5), (5, 0.8, 4), (5, 0.6, 3), (5, 0.59, 3), (6, 0.5, 3), (4, 0.2, 1)],
)
def test_burst_hand_computed(k, service, vehicles):
    res = size_fleet_service(burst(k), 150 * S, service, time_limit=20)
    assert res.late_allowed == math.floor((1 - service) * k + 1e-9)
    assert res.vehicles == vehicles == k - res.late_allowed
    assert res.lower_bound == vehicles and res.proven  # the clique (the burst) minus late
    greedy = {s.vehicles: s.late for s in res.sizes}
    assert greedy[vehicles] == k - vehicles
    # the MILP of the one window agrees: n vehicles leave k - n late
    data = ServiceData.build(burst(k), 150 * S, vehicles)
    sol = solve_service(data, PreparedTrips.of(burst(k), 150 * S, "amortised"))
    assert sol.late == k - vehicles


def test_service_model_structure_without_solving():
    data = ServiceData.build(burst(3), 150 * S, 2)
    # identical trips go in index order: arcs 0->1, 0->2, 1->2; every vehicle can start any
    assert sorted(data.arcs) == [(0, 1), (0, 2), (1, 2)]
    assert len(data.first) == 2 * 3
    assert data.first[(0, 0)] == 0.0  # parked at the pick-up
    m = build_service_model(data)
    # x per arc, y per (vehicle, trip), late and s per trip
    assert sum(1 for _ in m.component_data_objects(pyo.Var)) == 3 + 6 + 3 + 3
    assert len(m.served) == 3 and len(m.one_first) == 2 and len(m.one_successor) == 1
    assert len(m.dispatch) == 3 and len(m.on_time) == 3
    assert sorted(m.timing) == [(0, 1), (0, 2), (1, 2)]
    # the burst is a clique larger than the fleet: late_0 + late_1 + late_2 >= 3 - 2
    assert data.cliques == ((0, 1, 2),) and len(m.late_clique) == 1
    assert data.twins == ((0, 1), (1, 2)) and len(m.twin_start) == len(m.twin_late) == 2


def test_vehicles_start_where_they_stand():
    # parked at B, 100 s from the pick-up, with a 90 s wait: late whatever the fleet size,
    # though a vehicle "anywhere" would be on time
    res = size_fleet_service(burst(2, home="B"), 90 * S, 1.0, time_limit=5, max_vehicles=6)
    assert res.vehicles is None and res.best is not None and res.best.share == 0.0
    assert size_fleet(burst(2, home="B"), 90 * S).vehicles == 2
    # with 100 s it is exactly on time
    assert size_fleet_service(burst(2, home="B"), 100 * S, 1.0, time_limit=5).vehicles == 2


# Line E - M - Z, 100 s per segment, vehicles parked at Z and at E, a 150 s wait. Two trips at
# t = 0: M->E and Z->M. The greedy (trips in order, each to the vehicle that can start it
# first) gives M to the vehicle at Z (a tie), so the one at E needs 200 s for Z: one late.
# Swapping them serves both on time: the MILP finds it. (The vehicle at E picks up at M at
# 100 s and is back at E at 200 s; the one at Z unloads at M at 100 s.)
SWAP_POS = {"E": 0, "M": 1, "Z": 2}
SWAP_HOURS = {a: {b: abs(SWAP_POS[a] - SWAP_POS[b]) * 100 * S for b in SWAP_POS} for a in SWAP_POS}
SWAP_METRES = {a: {b: abs(SWAP_POS[a] - SWAP_POS[b]) * 100.0 for b in SWAP_POS} for a in SWAP_POS}


@pytest.mark.solver
def test_milp_beats_the_greedy_dispatch():
    demand = TransportDemand(
        times=(0.0, 0.0),
        origins=("M", "Z"),
        dests=("E", "M"),
        hours=SWAP_HOURS,
        metres=SWAP_METRES,
        handling=0.0,
        home=("Z", "E"),
    )
    prep = PreparedTrips.of(demand, 150 * S, "amortised")
    states = start_states(demand, 2)
    greedy = greedy_dispatch(prep, [0, 1], states)
    assert greedy.late == 1 and greedy.vehicle == (0, 1)
    sol = solve_service(ServiceData.build(demand, 150 * S, 2), prep)
    assert sol.late == 0 and sol.vehicle == (1, 0) and sol.method == "milp"
    assert [round(p / S) for p in sol.pickups] == [100, 0]
    assert sol.exit == (VehicleState("M", 100 * S), VehicleState("E", 200 * S))
    # one vehicle is enough: from Z it takes Z->M at 0 s and M->E at 100 s. The greedy needs
    # three (with two it repeats the tie above; with one it takes M first, then Z at 400 s)
    res = size_fleet_service(demand, 150 * S, 1.0, time_limit=10)
    assert [(s.vehicles, s.late) for s in res.sizes] == [(1, 1), (2, 1), (3, 0)]
    assert [(m.vehicles, m.late, m.complete) for m in res.milp] == [(2, 0, True), (1, 0, True)]
    assert res.vehicles == 1 and res.proven


def test_service_bad_input_is_named():
    with pytest.raises(ValueError, match="service"):
        size_fleet_service(burst(2), 150 * S, 0.0)
    with pytest.raises(ValueError, match="max_vehicles"):
        size_fleet_service(burst(2), 150 * S, 0.9, max_vehicles=0)
    with pytest.raises(ValueError, match="shorter than loading"):
        size_fleet_service(TransportDemand(**{**burst(2).__dict__, "handling": 0.1}), 0.05)
    with pytest.raises(ValueError, match="service"):
        fleet_size(DATA / "dense_loop.yaml", 0.1, service=1.5)


@pytest.mark.parametrize(
    ("kwargs", "option", "expected"),
    [
        ({"time_limit": -1.0}, "time_limit", "a finite number of seconds > 0"),
        ({"time_limit": math.nan}, "time_limit", "a finite number of seconds > 0"),
        ({"time_limit": math.inf}, "time_limit", "a finite number of seconds > 0"),
        ({"max_wait_hours": math.nan}, "max_wait", "a finite number of hours >= 0"),
        ({"max_wait_hours": math.inf}, "max_wait", "a finite number of hours >= 0"),
        ({"service": 1.5}, "service", "a share in (0, 1]"),
        ({"service": math.nan}, "service", "a share in (0, 1]"),
        ({"seeds": ()}, "seeds", "at least one seed"),
        ({"seeds": (0, -3)}, "seeds", "an integer from 0 to"),
        ({"window_h": 0}, "window_h", "a finite number of hours > 0"),
        ({"max_steps": -1}, "max_steps", "an integer >= 0"),
    ],
)
def test_fleet_options_are_checked_before_any_work(kwargs, option, expected):
    args = {"scenario_path": DATA / "dense_loop.yaml", "max_wait_hours": 0.1, **kwargs}
    with pytest.raises(OptionError) as info:
        fleet_size(**args)
    err = info.value
    assert err.option == option and expected in str(err)
    assert str(err).startswith(f"{option}: bad value ")
    assert err.cli_message().startswith(f"--{option.replace('_', '-')}: bad value ")


@pytest.mark.solver
def test_fleet_progress_reports_each_phase():
    seen: list[Progress] = []
    out = fleet_size(
        DATA / "dense_loop.yaml",
        5 / 60,
        time_limit=10,
        seeds=(0,),
        executor=InProcess(),
        progress=seen.append,
    )
    phases = [p.phase for p in seen]
    assert phases[0] == "demand" and "bound" in phases and "greedy" in phases
    assert phases[-1] == "twin"
    assert all(a.elapsed <= b.elapsed for a, b in zip(seen, seen[1:], strict=False))
    assert all(p.unit == "AGVs" and len(p.line()) <= 80 for p in seen)
    (lay,) = out["layouts"]
    model = [p for p in seen if p.phase in ("greedy", "milp")]
    assert model[-1].incumbent == lay["model_vehicles"]
    assert model[-1].bound == lay["fleet"]["lower_bound"]
    assert seen[-1].incumbent == lay["verified_vehicles"]


@pytest.mark.solver
def test_twin_check_is_the_same_on_a_process_pool():
    from twin.executors import LocalPool

    sc = load(DATA / "dense_loop.yaml")
    here = twin_check(sc, [1, 2], (0, 1), 5 / 60, executor=InProcess())
    with LocalPool(workers=2) as pool:
        there = twin_check(sc, [1, 2], (0, 1), 5 / 60, executor=pool)
    assert [(c["vehicles"], c["runs"]) for c in here] == [(c["vehicles"], c["runs"]) for c in there]
    # and the same as simulating one run after another
    run = simulate(sc.model_copy(update={"fleet": sc.fleet.model_copy(update={"size": 2})}), seed=1)
    assert here[1]["runs"][1]["requests"] == run.kpis["transport"]["requests"]
    assert here[1]["runs"][1]["mean_wait_min"] == pytest.approx(
        60 * run.kpis["transport"]["wait_h"]["mean"]
    )


@pytest.mark.solver
def test_fleet_size_walks_to_the_boundary_in_the_twin():
    out = fleet_size(DATA / "dense_loop.yaml", 5 / 60, time_limit=10, seeds=(0,), service=0.95)
    (lay,) = out["layouts"]
    n = lay["verified_vehicles"]
    assert n is not None and lay["model_vehicles"] is not None
    rows = {r["vehicles"]: r for r in out["table"]}
    assert rows[n]["meets"] and rows[n]["verified"]
    assert rows[n]["within_max_wait_pct"] >= 95.0
    if n > 1:  # the boundary: one vehicle fewer misses the service level
        assert not rows[n - 1]["meets"] and rows[n - 1]["within_max_wait_pct"] < 95.0
    model = lay["model_vehicles"]
    assert model in rows and (model == 1 or model - 1 in rows)  # n and n - 1 at least
    for row in out["table"]:
        assert row["served"] == row["requests"]


@pytest.mark.solver
def test_fleet_size_from_a_plan(tmp_path):
    from optimizer.plan_commands import plan_scenario

    plan, _ = plan_scenario(DATA / "dense_loop.yaml", None, 2)
    path = tmp_path / "plan.json"
    plan.save(path)
    out = fleet_size(DATA / "dense_loop.yaml", 5 / 60, time_limit=5, seeds=(0,), plan=path)
    (lay,) = out["layouts"]
    assert out["plan"] == str(path) and lay["demand"] == "plan"
    assert lay["fleet"]["trips"] > 0 and lay["verified_vehicles"] is not None
    auto = fleet_size(DATA / "dense_loop.yaml", 5 / 60, time_limit=2, seeds=(0,), plan="auto")
    assert auto["plan"] == "auto" and auto["layouts"][0]["demand"] == "plan"


@pytest.mark.parametrize(
    ("start", "steps", "verified", "evaluated"),
    [
        (5, 3, 3, [2, 3, 4, 5]),  # 5 and 4 meet: walk down to 3 (2 fails)
        (3, 3, 3, [2, 3]),  # the model's answer holds: n meets, n - 1 fails
        (1, 3, 3, [1, 2, 3]),  # 1 fails: walk up to 3
        (5, 1, None, [3, 4, 5]),  # one step down is not enough to find the boundary
        (1, 1, None, [1, 2]),
    ],
)
def test_verify_walks_to_the_boundary(monkeypatch, start, steps, verified, evaluated):
    import optimizer.fleet_commands as fc

    share = {1: 80.0, 2: 94.0, 3: 95.5, 4: 97.0, 5: 99.0}
    calls = []

    def fake_check(scenario, sizes, seeds, max_wait, plan=None, **_):
        calls.extend(sizes)
        return [
            {"vehicles": n, "summary": {"within_max_wait_pct": {"mean": share[n]}}} for n in sizes
        ]

    monkeypatch.setattr(fc, "twin_check", fake_check)
    got, checks = fc.verify_fleet(None, start, (0,), 0.1, 0.95, max_steps=steps)
    assert got == verified
    assert [c["vehicles"] for c in checks] == evaluated == sorted(set(calls))
    assert all(c["meets"] == (share[c["vehicles"]] >= 95.0) for c in checks)
