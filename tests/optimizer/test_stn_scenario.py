"""Process-plant scenarios as STNs (optimizer.stn_scenario) and their plans in the twin: with
deterministic durations the twin starts every planned batch when planned."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml

from optimizer.stn_scenario import PROCESS_PLAN_KIND, WASTE_STATE, plan_process, stn_from_scenario
from twin.process import simulate_process
from twin.scenario import load, load_dict

from ..conftest import DATA, SCENARIOS

MIX_SPLIT = DATA / "process_mix_split.yaml"
pytestmark = pytest.mark.solver


def test_the_stn_of_mix_split_mirrors_the_scenario():
    d = stn_from_scenario(load(MIX_SPLIT))
    assert (d.grid.start, d.grid.stop, d.grid.step) == (0.0, 10.0, 1.0)
    assert {s.name: (s.capacity, s.initial, s.price, s.policy) for s in d.states} == {
        "A": (None, 100.0, 0.0, "store"),
        "B": (None, 100.0, 0.0, "store"),
        "M": (200.0, 0.0, 0.0, "store"),
        "P1": (None, 0.0, 10.0, "store"),
        "P2": (None, 0.0, 5.0, "store"),
    }
    assert {(a.state, a.task, a.fraction) for a in d.inputs} == {
        ("A", "mix", 0.5),
        ("B", "mix", 0.5),
        ("M", "split", 1.0),
    }
    assert {(o.task, o.state, o.fraction, o.duration) for o in d.outputs} == {
        ("mix", "M", 1.0, 1.0),
        ("split", "P1", 0.4, 1.0),
        ("split", "P2", 0.6, 2.0),
    }
    assert {(u.unit, u.task, u.bmin, u.bmax) for u in d.unit_tasks} == {
        ("mixer_1", "mix", 10.0, 80.0),
        ("splitter_1", "split", 10.0, 100.0),
    }
    assert [(x.state, x.time, x.amount, x.penalty) for x in d.demands] == [("P1", 8.0, 50.0, 0.0)]
    # a shorter horizon cuts the grid (and the demands after it)
    short = stn_from_scenario(load(MIX_SPLIT), 7.5)
    assert short.grid.stop == 7.0 and short.demands == ()


def test_yield_losses_go_to_a_waste_state_and_durations_grow_with_size():
    sc = load(SCENARIOS / "api_plant.yaml")
    d = stn_from_scenario(sc, 168)
    assert d.state(WASTE_STATE).price == 0.0
    mill = {o.state: (o.fraction, o.duration) for o in d.task_outputs("mill")}
    # 1 h + 0.01 h/kg at the largest batch (1,000 kg); 1% lost
    assert mill == {"api": (0.99, 11.0), WASTE_STATE: (pytest.approx(0.01), 11.0)}
    fd = {o.state: o.duration for o in d.task_outputs("filter_dry")}
    assert fd["spent_solvent"] == 4.0 and fd["wet_cake"] == pytest.approx(32 / 3)  # a mean
    assert {(c.unit, c.task): c.duration for c in d.cleanings}[("R1", "react_1")] == 3.0
    assert d.state("slurry").policy == "none"
    assert len(d.receipts) == 0 and [x.time for x in d.demands] == [168.0]


def test_mix_split_plan_is_optimal_and_the_twin_follows_it_to_the_hour(tmp_path):
    plan = plan_process(MIX_SPLIT, time_limit=30)
    assert plan["kind"] == PROCESS_PLAN_KIND and plan["scenario"] == "process_mix_split"
    # all 200 kg go through: 80 kg of P1 at 10 and 120 of P2 at 5, and the demand ships
    assert plan["status"] == "optimal" and plan["objective"] == pytest.approx(1400.0)
    json.dumps(plan)  # JSON-ready
    r = simulate_process(load(MIX_SPLIT), seed=0, plan=plan)
    adherence = r.kpis["plan"]
    assert adherence["planned"] == plan["batches"] == adherence["on_time"]
    assert r.kpis["demand"]["fill_pct"] == 100.0
    assert r.kpis["throughput"]["P1"]["produced"] == pytest.approx(80.0)


def deterministic_api(tmp_path, horizon: str = "3d"):
    """api_plant without breakdowns, with each duration at its mode, no hold limits and no
    CIP for cleaning (what the STN leaves out), intermediates valued so a short plan runs."""
    d = yaml.safe_load((SCENARIOS / "api_plant.yaml").read_text())
    d["simulation"]["horizon"] = horizon
    for c in d["equipment_classes"].values():
        c.pop("failures", None)
    p = d["process"]
    for t in p["tasks"].values():
        if isinstance(t["duration"], dict):
            t["duration"] = t["duration"]["mode"]
        if "cleaning" in t:
            t["cleaning"].pop("utilities", None)
    for m in p["materials"].values():
        m.pop("max_hold", None)
    p["demands"], p["receipts"] = [], []
    values = {"int_1": 100, "crude_2": 200, "wet_cake": 500, "dry_api": 800, "api": 1000}
    for name, v in values.items():
        p["materials"][name]["value"] = v
    path = tmp_path / "api_det.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_with_deterministic_durations_the_twin_starts_every_task_when_planned(tmp_path):
    path = deterministic_api(tmp_path)
    plan = plan_process(path, time_limit=60, mip_gap=0.01)
    assert plan["objective"] is not None and plan["batches"] >= 10
    sc = load(path)
    r = simulate_process(sc, seed=0, plan=plan)
    a = r.kpis["plan"]
    assert a["planned"] == a["started"] == a["on_time"] == plan["batches"]
    assert a["delay_max_h"] == 0.0
    # the same tasks on the same units at the planned times
    want = sorted((b["start"], b["task"], b["unit"]) for b in plan["schedule"] if not b["hold"])
    cols = r.events.to_pydict()
    got = sorted(
        (t, task, unit)
        for t, kind, task, unit in zip(
            cols["t"], cols["kind"], cols["detail"], cols["unit"], strict=True
        )
        if kind == "task_start"
    )
    assert got == want
    assert r.kpis["mass_balance"]["relative_error"] < 1e-9


def test_a_plan_under_uncertainty_through_the_cli(tmp_path):
    """twin plan writes the plan; twin run --plan -n follows it in every replication."""
    plan_file = tmp_path / "plan.json"
    twin = [sys.executable, "-m", "twin"]
    r = subprocess.run(
        [*twin, "plan", str(MIX_SPLIT), "--time-limit", "30", "--out", str(plan_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(plan_file.read_text())["kind"] == PROCESS_PLAN_KIND
    data = yaml.safe_load(MIX_SPLIT.read_text())
    data["process"]["tasks"]["split"]["duration"] = {"dist": "uniform", "low": "1h", "high": "3h"}
    noisy = tmp_path / "noisy.yaml"
    noisy.write_text(yaml.safe_dump(data))
    r = subprocess.run(
        [*twin, "run", str(noisy), "--plan", str(plan_file), "-n", "4", "--no-store", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["replications"] == 4
    names = {k["name"] if isinstance(k, dict) else k for k in out["kpis"]}
    assert "plan.on_time_pct" in str(names)
    # a plan for another plant is refused by name
    other = copy.deepcopy(data)
    other["name"] = "elsewhere"
    bad = tmp_path / "other.yaml"
    bad.write_text(yaml.safe_dump(other))
    r = subprocess.run(
        [*twin, "run", str(bad), "--plan", str(plan_file)], capture_output=True, text=True
    )
    assert r.returncode == 2 and "a plan for 'elsewhere'" in " ".join(r.stderr.split())
    assert load_dict(other).name == "elsewhere"
