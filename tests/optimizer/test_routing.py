"""Cold-chain routing: data checks, the feasibility checker, the MILP, the solver, scenarios."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer import distribution
from optimizer.formats.vrplib import read_vrplib, to_routing_data
from optimizer.options import OptionError
from optimizer.progress import Progress
from optimizer.route_commands import format_routes, route_benchmark, route_scenario
from optimizer.routing import (
    Customer,
    Depot,
    RoutePlan,
    RoutingData,
    RoutingInfeasibleError,
    VehicleType,
    build_model,
    check_routes,
    route_schedule,
    solve_routing,
)
from twin.scenario import ScenarioError

REPO = Path(__file__).resolve().parents[2]
VRPTW = REPO / "benchmarks" / "instances" / "vrptw"
SCENARIO = REPO / "scenarios" / "distribution.yaml"


def line_data(
    capacity: float = 2,
    customers: tuple[Customer, ...] | None = None,
    vehicles: tuple[VehicleType, ...] | None = None,
    closes: float = 100,
) -> RoutingData:
    """Depot at x=0, customers at x=1, 2, 3, 4 (distance = |xi - xj|, speed 1)."""
    xs = [0, 1, 2, 3, 4]
    if customers is None:
        customers = tuple(Customer(f"c{x}", ambient=1, x=x, y=0) for x in xs[1:])
    if vehicles is None:
        vehicles = (VehicleType("truck", "ambient", capacity),)
    xs = xs[: len(customers) + 1]
    return RoutingData(
        depot=Depot("plant", 0, closes),
        customers=customers,
        vehicle_types=vehicles,
        distance=tuple(tuple(float(abs(a - b)) for b in xs) for a in xs),
        name="line",
    )


# ------------------------------------------------------------------------- data and checker
def test_data_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="no demand"):
        Customer("x")
    with pytest.raises(ValueError, match='"capacity" must be > 0'):
        VehicleType("v", "cold", 0)
    with pytest.raises(ValueError, match='"temperature"'):
        VehicleType("v", "frozen", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="5 x 5"):
        RoutingData(Depot(), line_data().customers, line_data().vehicle_types, ((0.0,),))


def test_schedule_leaves_as_late_as_the_windows_allow() -> None:
    customers = (
        Customer("a", ambient=1, ready=10, due=12, service=1),
        Customer("b", ambient=1, ready=0, due=100, service=1),
    )
    data = line_data(capacity=5, customers=customers)
    s = route_schedule(data, 0, (0, 1))
    assert s.departure == 11  # reach a (1 away) at 12, the end of its window: no waiting
    assert s.arrivals == (12, 14) and s.starts == (12, 14)
    assert s.return_time == 17 and s.duration == 6 and s.distance == 4 and s.load == 2
    s = route_schedule(data, 0, (1, 0))  # b (x=2) first, then a: leave at 8, a at 12
    assert s.departure == 8 and s.starts == (10, 12) and s.duration == 6


def test_checker_accepts_a_feasible_plan() -> None:
    data = line_data()
    assert check_routes(data, [RoutePlan(0, (0, 1)), RoutePlan(0, (2, 3))]) == []


@pytest.mark.parametrize(
    ("customers", "vehicles", "routes", "words"),
    [
        (
            None,
            None,
            [RoutePlan(0, (0, 1, 2)), RoutePlan(0, (3,))],
            "load 3 exceeds the capacity 2",
        ),
        (
            (Customer("c1", ambient=1, due=5), Customer("c2", ambient=1, due=1)),
            None,
            [RoutePlan(0, (0, 1))],
            'customer "c2" is reached at 2, after its window closes at 1',
        ),
        (
            None,
            (VehicleType("truck", "ambient", 2, max_duration=5),),
            [RoutePlan(0, (0, 1)), RoutePlan(0, (2, 3))],
            "more than the maximum route duration 5",
        ),
        (
            (Customer("c1", cold=1), Customer("c2", ambient=1)),
            (VehicleType("truck", "ambient", 2), VehicleType("reefer", "cold", 2)),
            [RoutePlan(0, (0, 1))],
            'customer "c1" has no ambient demand',
        ),
        (None, None, [RoutePlan(0, (0, 1)), RoutePlan(0, (2,))], '"c4": its ambient demand is not'),
        (
            None,
            None,
            [RoutePlan(0, (0, 1)), RoutePlan(0, (2, 3)), RoutePlan(0, (0,))],
            '"c1": its ambient demand is delivered 2 times',
        ),
        (
            None,
            (VehicleType("truck", "ambient", 2, count=1),),
            [RoutePlan(0, (0, 1)), RoutePlan(0, (2, 3))],
            "used on 2 routes; only 1 available",
        ),
        (None, None, [RoutePlan(0, (0, 1, 2, 3, 9))], "unknown customer indices [9]"),
        (None, None, [RoutePlan(3, (0, 1))], "unknown vehicle type 3"),
        (None, None, [RoutePlan(0, (0, 1)), RoutePlan(0, (2, 3)), RoutePlan(0, ())], "visits no"),
    ],
)
def test_checker_catches_each_violation(customers, vehicles, routes, words) -> None:
    data = line_data(customers=customers, vehicles=vehicles)
    problems = check_routes(data, routes)
    assert any(words in p for p in problems), problems


def test_checker_catches_return_after_depot_closes() -> None:
    data = line_data(capacity=4, closes=7)
    problems = check_routes(data, [RoutePlan(0, (0, 1, 2, 3))])
    assert any("after the depot closes at 7" in p for p in problems), problems


# ---------------------------------------------------------------------------- infeasibility
def test_infeasible_demand_names_the_customers() -> None:
    customers = (
        Customer("far_too_early", ambient=1, due=0.5),
        Customer("ok", ambient=1),
        Customer("too_big", ambient=9),
        Customer("no_reefer", cold=1),
    )
    data = line_data(customers=customers)
    with pytest.raises(RoutingInfeasibleError) as info:
        solve_routing(data, time_limit=5)
    err = info.value
    assert err.customers == ("far_too_early", "too_big", "no_reefer")
    text = str(err)
    assert "closes before the earliest arrival 1" in text
    assert "above every ambient vehicle capacity (largest 2)" in text
    assert "no cold vehicle is available" in text


def test_infeasible_route_duration_and_fleet() -> None:
    data = line_data(vehicles=(VehicleType("truck", "ambient", 2, max_duration=7),))
    with pytest.raises(
        RoutingInfeasibleError, match='"c4": ambient delivery: the direct round trip takes 8'
    ):
        solve_routing(data, time_limit=5)
    data = line_data(vehicles=(VehicleType("truck", "ambient", 2, count=1),))
    with pytest.raises(RoutingInfeasibleError, match="exceeds the ambient fleet capacity 2"):
        solve_routing(data, time_limit=5)


# ----------------------------------------------------------------------------------- MILP
def test_model_structure_on_the_line() -> None:
    m = build_model(line_data())
    # arcs: 4 from and 4 to the depot, 12 between customers (every pair fits capacity 2)
    assert len(m.x) == 20
    assert len(m.t) == 4 and len(m.l) == 4
    assert len(m.visit_once) == 4 and len(m.flow) == 4
    assert len(m.precedence) == 12 and len(m.load_propagation) == 12
    assert not hasattr(m, "r")  # no binding route duration, no departure variables
    m = build_model(line_data(vehicles=(VehicleType("t", "ambient", 2, max_duration=20),)))
    assert len(m.r) == 4 and len(m.same_departure) == 12


@pytest.mark.solver
def test_line_optimum_by_hand() -> None:
    # capacity 2: {c1, c2} (0-1-2-0 = 4) and {c3, c4} (0-3-4-0 = 8): 12 in 2 vehicles
    result = solve_routing(line_data(), time_limit=3, seed=1)
    assert result.status == "optimal"
    assert result.distance == pytest.approx(12)
    assert result.lower_bound == pytest.approx(12)
    assert sorted(tuple(sorted(r.customer_names)) for r in result.routes) == [
        ("c1", "c2"),
        ("c3", "c4"),
    ]
    # one large vehicle: a single trip 0-4-0 = 8
    assert solve_routing(line_data(capacity=10), time_limit=3).distance == pytest.approx(8)


def _milp_optimum(data: RoutingData) -> float:
    """Solve the bare MILP (no heuristic, no warm start) and return its optimum."""
    from optimizer.solvers import SolverOptions, solve_model

    result = solve_model(build_model(data), SolverOptions(time_limit=20))
    assert result.status == "optimal"
    return result.objective


@pytest.mark.solver
def test_milp_respects_the_maximum_route_duration() -> None:
    # service 1 each, at most 7 per route: {c1, c2} (4 + 2) and {c3} (6 + 1), not one trip of 9
    customers = tuple(Customer(f"c{x}", ambient=1, service=1) for x in (1, 2, 3))
    vehicles = (VehicleType("truck", "ambient", 10, max_duration=7),)
    data = line_data(customers=customers, vehicles=vehicles)
    assert _milp_optimum(data) == pytest.approx(10)
    assert _milp_optimum(data.replace(vehicle_types=(VehicleType("t", "ambient", 10),))) == 6
    result = solve_routing(data, time_limit=3)
    assert result.status == "optimal" and result.distance == pytest.approx(10)


@pytest.mark.solver
def test_milp_mixes_vehicle_types_of_one_class() -> None:
    # demand 2 each; one big truck (4) and free small vans (2): big {c3, c4} 8 + vans 2 + 4
    customers = tuple(Customer(f"c{x}", ambient=2) for x in (1, 2, 3, 4))
    vehicles = (VehicleType("big", "ambient", 4, count=1), VehicleType("van", "ambient", 2))
    data = line_data(customers=customers, vehicles=vehicles)
    assert _milp_optimum(data) == pytest.approx(14)
    result = solve_routing(data, time_limit=3)
    assert result.status == "optimal" and result.distance == pytest.approx(14)
    big = [r for r in result.routes if r.vehicle_name == "big"]
    assert len(big) == 1 and set(big[0].customer_names) == {"c3", "c4"}


@pytest.mark.solver
def test_windows_force_a_longer_order() -> None:
    customers = (
        Customer("c1", ambient=1, ready=0, due=100),
        Customer("c2", ambient=1, ready=0, due=2),  # must be served first: 0-2-1-0 = 2+1+1 = 4
    )
    result = solve_routing(line_data(capacity=5, customers=customers), time_limit=3)
    assert result.status == "optimal"
    assert result.distance == pytest.approx(4)
    assert result.routes[0].customer_names == ("c2", "c1")


def test_heuristic_alone_is_feasible_and_not_proven() -> None:
    result = solve_routing(line_data(), time_limit=1, solver=None)
    assert result.status == "time_limit"  # no MILP: nothing is proven
    assert result.lower_bound is None
    assert result.distance == pytest.approx(12)
    assert check_routes(result.data, result.routes) == []
    assert [c.heuristic for c in result.classes] == ["pyvrp"]


# ---------------------------------------------------------------------- temperature classes
@pytest.mark.solver
def test_temperature_classes_ride_in_their_own_vehicles() -> None:
    customers = (
        Customer("both", ambient=1, cold=1),
        Customer("cold_only", cold=1),
        Customer("ambient_only", ambient=1),
    )
    vehicles = (VehicleType("truck", "ambient", 10), VehicleType("reefer", "cold", 10, count=1))
    result = solve_routing(line_data(customers=customers, vehicles=vehicles), time_limit=3)
    assert result.status == "optimal"
    by_class = {r.temperature: r for r in result.routes}
    assert len(result.routes) == 2
    assert by_class["cold"].vehicle_name == "reefer"
    assert set(by_class["cold"].customer_names) == {"both", "cold_only"}
    assert set(by_class["ambient"].customer_names) == {"both", "ambient_only"}
    assert result.distance == pytest.approx(4 + 6)  # 0-1-2-0 and 0-1-3-0


# ---------------------------------------------------------------------------- benchmarks
@pytest.mark.solver
def test_c101_25_reaches_the_proven_optimum() -> None:
    data = to_routing_data(read_vrplib(VRPTW / "C101_25.vrp"))
    result = solve_routing(data, time_limit=20, seed=0)
    assert result.status == "optimal"
    assert result.distance == pytest.approx(191.3, abs=1e-6)
    assert result.lower_bound == pytest.approx(191.3, abs=1e-3)
    assert check_routes(data, result.routes) == []


@pytest.mark.solver
@pytest.mark.slow
def test_heuristic_on_100_customers_is_close_to_the_best_known() -> None:
    # the wall-clock time against the limit is measured in benchmarks/bench_routing.py
    data = to_routing_data(read_vrplib(VRPTW / "R101_100.vrp"))
    result = solve_routing(data, time_limit=4, seed=0, solver=None)
    assert result.status == "time_limit"
    assert result.distance <= 1637.7 * 1.05
    assert check_routes(data, result.routes) == []


class FakeClock:
    """A clock that moves only when a stage says it used its time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_time_limit_is_shared_by_the_classes_and_stages(monkeypatch) -> None:
    """Every stage gets a deadline inside the limit; the classes share it in proportion to
    their visits; a small class gives the heuristic min(25 %, 1 s + 0.1 s per visit) and the
    MILP the rest. Stages that use all their time end the solve exactly at the limit. (The
    clock is a fake one: nothing here depends on how fast the machine is.)"""
    import optimizer.routing as routing

    clock = FakeClock()
    stages: list[tuple[str, str, float, float]] = []

    def heuristic(data, deadline, seed, report=None):
        stages.append(("heuristic", data.name, clock.now, deadline))
        clock.now = deadline  # uses all of its time
        return [RoutePlan(0, (c,)) for c in range(len(data.customers))]

    def milp(data, start, deadline, seed, solver):
        stages.append(("milp", data.name, clock.now, deadline))
        clock.now = deadline
        from optimizer.solvers import SolveResult

        return None, SolveResult("time_limit", None, 0.0, None, 0.0, solver)

    monkeypatch.setattr(routing, "_clock", clock)
    monkeypatch.setattr(routing, "pyvrp_routes", heuristic)
    monkeypatch.setattr(routing, "solve_milp", milp)
    customers = (
        Customer("both", ambient=1, cold=1),
        Customer("a2", ambient=1),
        Customer("a3", ambient=1),
    )
    vehicles = (VehicleType("truck", "ambient", 9), VehicleType("reefer", "cold", 9))
    data = line_data(customers=customers, vehicles=vehicles)
    result = solve_routing(data, time_limit=40, solver="appsi_highs")
    start, limit = 1000.0, 40.0
    # ambient: 3 of the 4 visits, so 30 s: the heuristic 1 + 0.1 * 3 s, the MILP the rest;
    # cold: the 10 s left, the heuristic 1.1 s of them
    assert [(s[0], s[1]) for s in stages] == [
        ("heuristic", "line/ambient"),
        ("milp", "line/ambient"),
        ("heuristic", "line/cold"),
        ("milp", "line/cold"),
    ]
    deadlines = [s[3] for s in stages]
    assert deadlines == pytest.approx([start + 1.3, start + 30, start + 31.1, start + limit])
    for _, _, begin, deadline in stages:
        assert begin <= deadline <= start + limit
    assert result.status == "time_limit" and result.seconds == pytest.approx(limit)
    assert check_routes(data, result.routes) == []


@pytest.mark.parametrize("bad", [-1.0, 0, math.nan, math.inf, "60", True])
def test_bad_time_limits_are_refused_before_solving(bad) -> None:
    for call in (
        lambda: solve_routing(line_data(), time_limit=bad),
        lambda: route_scenario(SCENARIO, time_limit=bad),
        lambda: route_benchmark("vrplib", VRPTW / "C101_25.vrp", time_limit=bad),
    ):
        with pytest.raises(OptionError) as info:
            call()
        err = info.value
        assert err.option == "time_limit" and err.flag == "--time-limit"
        assert "expected a finite number of seconds > 0" in str(err)
        assert err.cli_message().startswith("--time-limit: bad value ")


@pytest.mark.parametrize("bad", [-1, 2**31, 1.5])
def test_bad_seeds_are_refused(bad) -> None:
    with pytest.raises(OptionError, match=r"seed: bad value .*expected an integer from 0 to"):
        route_scenario(SCENARIO, time_limit=1, seed=bad)


def test_bad_time_limit_message_is_one_clear_paragraph() -> None:
    with pytest.raises(OptionError) as info:
        route_scenario(SCENARIO, time_limit=math.nan)
    assert str(info.value) == "time_limit: bad value nan: expected a finite number of seconds > 0"
    assert info.value.cli_message() == (
        "--time-limit: bad value nan: expected a finite number of seconds > 0"
    )


@pytest.mark.solver
def test_route_benchmark_reports_the_best_known_value() -> None:
    out = route_benchmark("vrplib", VRPTW / "R101_25.vrp", time_limit=10)
    assert out["status"] == "optimal" and out["best_known"] == 617.1
    assert out["gap_to_best_known_pct"] == pytest.approx(0, abs=1e-6)
    assert out["vehicles"] == len(out["routes"]) == 8
    json.dumps(out)
    with pytest.raises(OptionError, match="format: bad value 'solomon': expected one of"):
        route_benchmark("solomon", VRPTW / "R101_25.vrp")


# ----------------------------------------------------------------------------- scenarios
@pytest.mark.solver
def test_distribution_scenario_is_planned() -> None:
    out = route_scenario(SCENARIO, time_limit=8, seed=0)
    json.dumps(out)
    assert out["status"] in ("optimal", "time_limit")
    assert {r["temperature"] for r in out["routes"]} == {"ambient", "cold"}
    cold = [r for r in out["routes"] if r["temperature"] == "cold"]
    assert all(r["vehicle_type"] == "reefer van" for r in cold)
    assert out["distance"] == pytest.approx(sum(r["distance"] for r in out["routes"]), abs=1e-3)


@pytest.mark.solver
def test_routes_print_with_units_within_80_columns() -> None:
    out = route_scenario(SCENARIO, time_limit=4, seed=0)
    text = format_routes(out)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert f"distance {round(out['distance'], 1):,} km" in lines[0]
    first = out["routes"][0]
    assert f"{round(first['distance'], 1):,} km" in text
    assert f"{first['load']:g} of {first['capacity']:g} pallets" in text
    assert "distance\n" not in text and " distance," not in text  # never a bare number
    for stop in first["stops"]:
        assert any(
            stop["customer"] in line and line.endswith(f"{stop['delivered']:g} pallets")
            for line in lines
        )


def test_route_printing_fits_80_columns_with_long_names() -> None:
    long_name = "The Very Long Named Regional University Hospital of the Northern Counties"
    result = {
        "name": "a distribution day with a rather long name indeed",
        "status": "time_limit",
        "distance": 1234.5678,
        "vehicles": 1,
        "lower_bound": 1200.04,
        "gap": 0.0279,
        "seconds": 59.987,
        "units": {"distance": "km", "time": "minutes since midnight", "load": "roll cages"},
        "routes": [
            {
                "vehicle_type": "refrigerated twelve-tonne rigid truck with tail lift",
                "temperature": "cold",
                "departure_time": "06:00",
                "return_time": "19:45",
                "duration": 825.4,
                "distance": 1234.5678,
                "load": 15.0,
                "capacity": 18.0,
                "stops": [
                    {"customer": long_name, "start_time": "07:30", "delivered": 15.0},
                ],
            }
        ],
    }
    lines = format_routes(result).splitlines()
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    assert "1,234.6 km" in text and "15 of 18 roll cages" in text and "13 h 45 min" in text
    assert "lower bound 1,200 km (gap 2.79 %)" in text
    assert lines[-1].endswith("15 roll cages") and "The Very Long" in lines[-1]


@pytest.mark.solver
def test_benchmark_routes_print_without_invented_units() -> None:
    out = route_benchmark("vrplib", VRPTW / "C101_25.vrp", time_limit=5)
    text = format_routes(out)
    assert "km" not in text and "pallets" not in text
    assert "distance 191.3" in text and "best known 191.3 (+0.00 %)" in text
    assert max(map(len, text.splitlines())) <= 80


@pytest.mark.solver
def test_progress_reports_stages_incumbent_and_bound() -> None:
    seen: list[Progress] = []
    result = solve_routing(line_data(), time_limit=3, seed=1, progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases[0] == "heuristic" and "milp" in phases
    assert all(a.elapsed <= b.elapsed for a, b in zip(seen, seen[1:], strict=False))
    last = seen[-1]
    assert last.incumbent == pytest.approx(result.distance)
    assert last.bound == pytest.approx(result.lower_bound)
    assert all(len(p.line()) <= 80 for p in seen)


def test_scenario_converts_times_and_classes() -> None:
    sc = distribution.load(SCENARIO)
    data = distribution.to_routing_data(sc)
    hospital = data.customers[0]
    assert (hospital.ready, hospital.due, hospital.service) == (420, 600, 25)
    assert (hospital.cold, hospital.ambient) == (2, 3)
    reefer = data.vehicle_types[0]
    assert reefer.temperature == "cold" and reefer.max_duration == 540
    assert data.distance[0][1] == pytest.approx((12**2 + 8**2) ** 0.5 * 1.3, abs=1e-6)
    assert data.format_time(8 * 60 + 5) == "08:05"


def _scenario_error(tmp_path: Path, change) -> ScenarioError:
    import yaml

    raw = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        distribution.load(path)
    assert str(path) in str(info.value)
    return info.value


def test_scenario_errors_name_path_value_and_expectation(tmp_path: Path) -> None:
    err = _scenario_error(tmp_path, lambda r: r["customers"][1].update(windw=["08:00", "09:00"]))
    assert err.path == "customers[1].windw" and "expected one of" in err.expected
    assert "window" in err.expected
    err = _scenario_error(tmp_path, lambda r: r["customers"][2].update(window=["9h", "10:00"]))
    assert err.path == "customers[2].window[0]" and err.value == "9h"
    assert "HH:MM" in err.expected
    err = _scenario_error(tmp_path, lambda r: r["customers"][0]["demand"].update(aspirin=1))
    assert err.path == "customers[0].demand.aspirin" and "vaccine_flu" in err.expected
    err = _scenario_error(tmp_path, lambda r: r["vehicles"][0].update(temperature="frozen"))
    assert err.path == "vehicles[0].temperature" and err.value == "frozen"
    err = _scenario_error(tmp_path, lambda r: r["vehicles"][1].update(capacity=-3))
    assert err.path == "vehicles[1].capacity" and "greater than 0" in err.expected
    err = _scenario_error(tmp_path, lambda r: r["customers"][3].pop("x_km"))
    assert err.path == "customers[3]" and "x_km and y_km" in err.expected
    err = _scenario_error(tmp_path, lambda r: r["customers"][4].update(window=["15:00", "09:00"]))
    assert "from <= to" in err.expected


def test_scenario_infeasible_customer_is_named(tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    raw["customers"][0]["window"] = ["06:00", "06:05"]  # 18.7 km away, vans leave at 06:00
    path = tmp_path / "early.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(RoutingInfeasibleError) as info:
        route_scenario(path, time_limit=5)
    assert info.value.customers == ("City General Hospital",)
    assert "06:00-06:05 closes before the earliest arrival 06:2" in str(info.value)


@pytest.mark.solver
def test_example_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "distribution_routes.py"), str(SCENARIO), "4"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "reefer van (cold)" in proc.stdout
    assert "City General Hospital" in proc.stdout
