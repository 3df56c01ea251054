"""The plant now and what comes next, from the command line: twin run --snapshot-at and
--from-state, twin state, twin forecast, twin export, twin fit, and plans as tables."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.state import load_state

TINY = str(SCENARIOS / "tiny.yaml")


def twin(*args, cwd: Path, code: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80"}
    res = subprocess.run(
        [sys.executable, "-m", "twin", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == code, (res.stdout, res.stderr)
    if code == 2:
        assert res.stderr.startswith("error:") and "Traceback" not in res.stderr
    return res


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli_state")
    twin("run", TINY, "--seed", "3", "--out", "run", "--snapshot-at", "2026-01-07T06:00",
         "--snapshot-at", "100h", cwd=d)  # fmt: skip
    return d


def test_run_writes_plant_states_into_its_folder(run_dir):
    names = sorted(p.name for p in (run_dir / "run").iterdir())
    assert "state-2026-01-07T0600.json" in names and "state-2026-01-09T1000.json" in names
    st = load_state(run_dir / "run" / "state-2026-01-07T0600.json")
    assert st.time == pytest.approx(48.0) and st.scenario == "tiny"
    # a run folder with its states is still a run output: --force replaces it whole
    twin("run", TINY, "--seed", "3", "--out", "run", "--force", cwd=run_dir)
    assert not any(p.name.startswith("state-") for p in (run_dir / "run").iterdir())
    twin("run", TINY, "--seed", "3", "--out", "run", "--force", "--snapshot-at", "48h",
         cwd=run_dir)  # fmt: skip


def test_state_from_a_log_and_a_forecast_from_it(run_dir):
    twin("state", TINY, "run", "--at", "2026-01-07T06:00", "--out", "state.json", cwd=run_dir)
    st = load_state(run_dir / "state.json")
    assert st == load_state(run_dir / "run" / "state-2026-01-07T0600.json")
    res = twin("forecast", TINY, "--state", "state.json", "--horizon", "7d", "-n", "8",
               "--workers", "1", "--json", "--store", "runs", cwd=run_dir)  # fmt: skip
    data = json.loads(res.stdout)
    assert data["at"] == "2026-01-07T06:00" and data["replications"] == 8
    from twin.scenario import load

    later = {o.id for o in load(TINY).orders if 48.0 < o.release <= 48.0 + 168.0}
    assert later  # fixed orders released within the horizon are named too
    assert {o["id"] for o in data["orders"]} == {o.id for o in st.open_orders()} | later
    o = data["orders"][0]
    assert set(o) == {"id", "due", "p_on_time", "completion", "beyond_horizon"}
    assert set(o["completion"]) == {"mean", "p10", "p50", "p90"}
    stored = run_dir / "runs" / "forecasts" / data["id"] / "forecast.json"
    assert json.loads(stored.read_text())["orders"] == data["orders"]
    # the people's form fits 80 columns and names the orders at risk first
    text = twin("forecast", TINY, "--state", "state.json", "-n", "4", "--workers", "1",
                cwd=run_dir).stdout  # fmt: skip
    assert "on time" in text and all(len(line) <= 80 for line in text.splitlines()[:12])


def test_a_run_from_a_state_carries_on(run_dir):
    res = twin("run", TINY, "--seed", "3", "--from-state", "state.json", "--json", cwd=run_dir)
    k = json.loads(res.stdout)
    assert k["window_h"]["warmup"] == pytest.approx(48.0)
    assert k["batches"]["qc_released"] > 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["state", TINY, "run", "--at", "2025-12-01"], "on or after the scenario start"),
        (["state", TINY, "run", "--at", "2027-01-01"], "after the log's last event"),
        (["state", TINY, "no_such_log", "--at", "10h"], "no_such_log"),
        (["forecast", TINY, "--state", "state.json", "--horizon", "0h"], "--horizon"),
        (["forecast", TINY, "--state", "state.json", "-n", "0"], "--replications"),
        (
            ["forecast", str(SCENARIOS / "osd_plant.yaml"), "--state", "state.json"],
            "a state of scenario 'osd_plant'",
        ),
        (["forecast", TINY, "--state", "run/kpis.json"], "format"),
        (["run", TINY, "--snapshot-at", "10h"], "--out"),
        (["run", TINY, "--out", "x", "--snapshot-at", "2030-01-01"], "within the run"),
        (["run", TINY, "--from-state", "run/meta.json"], "format"),
        (["export", "run", "--format", "xes"], "--format"),
        (["fit", TINY, "run", "--bootstrap", "-1"], "--bootstrap"),
    ],
)
def test_bad_input_is_one_paragraph(run_dir, args, says):
    res = twin(*args, cwd=run_dir, code=2)
    assert says in " ".join(res.stderr.split())


def test_export_and_fit_from_the_command_line(run_dir):
    res = twin("export", "run", "--out", "log.jsonocel", "--json", cwd=run_dir)
    assert json.loads(res.stdout)["events"] > 100
    assert json.loads((run_dir / "log.jsonocel").read_text())["objectTypes"]
    twin("fit", TINY, "run", "--bootstrap", "0", "--out", "fitted.yaml", cwd=run_dir)
    from twin.variants import resolve

    sc = resolve(SCENARIOS / "tiny.yaml", [run_dir / "fitted.yaml"], []).scenario
    assert sc.name == "tiny"
    # the OCEL export reads back as a log for the same commands
    twin("state", TINY, "log.jsonocel", "--at", "48h", "--out", "from_ocel.json", cwd=run_dir)
    assert (
        load_state(run_dir / "from_ocel.json").batches.keys()
        == load_state(run_dir / "state.json").batches.keys()
    )


def test_plans_as_spreadsheets(run_dir):
    for suffix in ("csv", "xlsx"):
        twin("plan", TINY, "--time-limit", "2", "--out", f"plan.{suffix}", cwd=run_dir)
        k = json.loads(twin("run", TINY, "--plan", f"plan.{suffix}", "--json", cwd=run_dir).stdout)
        assert k["plan"]["operations_started"] == k["plan"]["operations_planned"] > 0
    rows = list(csv.DictReader((run_dir / "plan.csv").open()))
    assert {"order", "batch", "step", "unit", "start", "end"} <= set(rows[0])
    assert rows[0]["step"] in ("granulation", "compression")  # step names, not indices
    rows[1]["step"] = "polishing"
    with (run_dir / "bad.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = twin("run", TINY, "--plan", "bad.csv", cwd=run_dir, code=2)
    assert "row 3, column step" in res.stderr and "polishing" in res.stderr


def test_a_hostile_mes_log_gives_a_state_that_reads_back(tmp_path):
    """Events a plant state cannot hold (an infinite order quantity and due time, a step
    beyond the recipe, a negative duration, an unknown unit state) are skipped and counted;
    the state written reads back and a run starts from it."""
    log = tmp_path / "mes.csv"
    log.write_text(
        "timestamp,event,unit,batch,order,product,step,state,value,detail\n"
        "2026-01-05T06:00:00,order_release,,,o1,tab_a,0,,inf,inf\n"
        "2026-01-05T06:00:00,order_release,,,o2,tab_a,0,,100,200\n"
        "2026-01-05T06:00:00,batch_release,,B1,o2,tab_a,,,200,\n"
        "2026-01-05T06:10:00,start,gran_1,B1,o2,tab_a,7,,,\n"
        "2026-01-05T06:10:00,start,gran_1,B1,o2,tab_a,0,,-5,\n"
        "2026-01-05T06:20:00,state,gran_1,,,,,bogus,,\n"
        "2026-01-05T06:30:00,state,gran_1,,,,,processing,,\n"
    )
    res = twin("state", TINY, log, "--out", "s.json", cwd=tmp_path)
    st = load_state(tmp_path / "s.json")
    assert set(st.orders) == {"o2"} and st.orders["o2"].due == pytest.approx(100.0)
    assert "cannot hold" in res.stdout
    twin("run", TINY, "--from-state", "s.json", "--json", cwd=tmp_path)
