"""The optimizer commands as a user meets them: plan, route, run --plan, bad input."""

import json
import subprocess
import sys

import pytest

from ..conftest import INSTANCES, SCENARIOS

TWIN = [sys.executable, "-m", "twin"]
JOBSHOP = INSTANCES / "jobshop"
VRPTW = INSTANCES / "vrptw"


def twin(*args):
    return subprocess.run([*TWIN, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.solver
def test_plan_jobshop_instance_json():
    r = twin(
        "plan", "--format", "jsplib", str(JOBSHOP / "ft06.txt"), "--time-limit", "10", "--json"
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    # proven optimal (a time limit is not a speed goal: those live in benchmarks/)
    assert d["makespan"] == 55 and d["lower_bound"] == 55 and d["status"] == "optimal"


def test_plan_bad_instance_and_bad_solver_exit_2(tmp_path):
    r = twin("plan", "--format", "fjsp", str(JOBSHOP / "ft06.txt"), "--time-limit", "5")
    assert r.returncode == 2 and "line" in r.stderr and "Traceback" not in r.stderr
    r = twin("plan", "--format", "jsplib", str(JOBSHOP / "ft06.txt"), "--solver", "nosuchsolver")
    assert r.returncode == 2 and "nosuchsolver" in r.stderr and "Traceback" not in r.stderr
    r = twin("plan", "--format", "xml", str(JOBSHOP / "ft06.txt"))
    assert r.returncode == 2 and "--format" in r.stderr


@pytest.mark.solver
def test_route_vrplib_json():
    r = twin(
        "route", "--format", "vrplib", str(VRPTW / "C101_25.vrp"), "--time-limit", "20", "--json"
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["distance"] == pytest.approx(191.3) and d["vehicles"] >= 1


@pytest.mark.solver
def test_plan_scenario_then_run_it(tmp_path):
    plan = tmp_path / "plan.json"
    r = twin(
        "plan", str(SCENARIOS / "tiny.yaml"), "--time-limit", "3", "--out", str(plan), "--json"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(plan.read_text())["operations"]
    r = twin("run", str(SCENARIOS / "tiny.yaml"), "--plan", str(plan), "--json")
    assert r.returncode == 0, r.stderr
    adh = json.loads(r.stdout)["plan"]
    assert adh["operations_started"] == adh["operations_planned"] > 0


def test_run_plan_bad_input_exit_2(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text(
        json.dumps(
            {
                "operations": [
                    {"order": "o1", "batch": 1, "step": 0, "unit": "nope", "start": 0, "end": 1}
                ]
            }
        )
    )
    r = twin("run", str(SCENARIOS / "tiny.yaml"), "--plan", str(bad))
    assert r.returncode == 2 and "operations[0].unit" in r.stderr and "Traceback" not in r.stderr
    r = twin("run", str(SCENARIOS / "tiny.yaml"), "--replan-on", "breakdown")
    assert r.returncode == 2 and "--plan" in r.stderr
    r = twin("run", str(SCENARIOS / "tiny.yaml"), "--plan", "auto", "--replan-on", "earthquake")
    assert r.returncode == 2 and "earthquake" in r.stderr


@pytest.mark.solver
def test_plan_over_replications_gives_on_time_probabilities(tmp_path):
    plan = tmp_path / "plan.json"
    assert (
        twin(
            "plan", str(SCENARIOS / "tiny.yaml"), "--time-limit", "2", "--out", str(plan)
        ).returncode
        == 0
    )
    r = twin(
        "run",
        str(SCENARIOS / "tiny.yaml"),
        "--plan",
        str(plan),
        "-n",
        "3",
        "--no-store",
        "--workers",
        "1",
        "--json",
        "--kpi",
        "plan.order_on_time.*",
    )
    assert r.returncode == 0, r.stderr
    kpis = json.loads(r.stdout)["kpis"]
    assert set(kpis) == {f"plan.order_on_time.o{i}" for i in range(1, 6)}
    for v in kpis.values():
        assert 0.0 <= v["mean"] <= 1.0 and v["n"] == 3


def test_missing_files_are_clear_errors(tmp_path):
    for args in (
        ["plan", "--format", "jsplib", str(tmp_path / "none.txt")],
        ["route", "--format", "vrplib", str(tmp_path / "none.vrp")],
        ["fleet", str(tmp_path / "none.yaml")],
        ["route", str(tmp_path / "none.yaml")],
    ):
        r = twin(*args)
        assert r.returncode == 2, args
        assert "Traceback" not in r.stderr and "none." in r.stderr, args


DENSE = SCENARIOS.parent / "tests" / "data" / "dense_loop.yaml"


@pytest.mark.solver
def test_fleet_from_a_plan_file_json(tmp_path):
    plan = tmp_path / "plan.json"
    assert twin("plan", str(DENSE), "--time-limit", "3", "--out", str(plan)).returncode == 0
    r = twin(
        "fleet",
        str(DENSE),
        "--max-wait",
        "5min",
        "--service",
        "95",
        "--plan",
        str(plan),
        "--seeds",
        "1",
        "--time-limit",
        "5",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    (lay,) = d["layouts"]
    assert d["plan"] == str(plan) and lay["demand"] == "plan" and d["service_pct"] == 95
    assert lay["verified_vehicles"] is not None
    rows = {row["vehicles"]: row for row in d["table"]}
    assert rows[lay["verified_vehicles"]]["meets"]


def test_fleet_bad_plan_and_service_exit_2(tmp_path):
    bad = tmp_path / "bad_plan.json"
    bad.write_text(
        json.dumps(
            {
                "operations": [
                    {"order": "o1", "batch": 1, "step": 0, "unit": "nope", "start": 0, "end": 1}
                ]
            }
        )
    )
    r = twin("fleet", str(DENSE), "--plan", str(bad))
    assert r.returncode == 2 and "bad_plan.json" in r.stderr and "operations[0].unit" in r.stderr
    assert "Traceback" not in r.stderr
    r = twin("fleet", str(DENSE), "--plan", str(tmp_path / "none.json"))
    assert r.returncode == 2 and "none.json" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "junk.json").write_text("{not json")
    r = twin("fleet", str(DENSE), "--plan", str(tmp_path / "junk.json"))
    assert r.returncode == 2 and "junk.json" in r.stderr and "Traceback" not in r.stderr
    r = twin("fleet", str(DENSE), "--service", "0")
    assert r.returncode == 2 and "--service" in r.stderr
