"""The experiment commands: run -n, compare, sweep, runs list|show|compare|rm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA, REPO, SCENARIOS
from twin.cli import app
from twin.store import Store

TINY = str(SCENARIOS / "tiny.yaml")
MM1 = str(DATA / "mm1.yaml")
SHORT = ["--set", "simulation.horizon=300h", "--set", "simulation.warmup=30h"]
runner = CliRunner()


def twin(*args: str, code: int = 0):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr, res.exception)
    return res


def twin_json(*args: str):
    return json.loads(twin(*args, "--json").stdout)


# --------------------------------------------------------------------------- run
def test_plain_run_json_is_one_object_of_kpis():
    k = twin_json("run", TINY, "--seed", "7")
    assert k["scenario"] == "tiny" and k["seed"] == 7
    assert {"throughput", "otif_pct", "oee", "lead_time_h"} <= set(k)


def test_plain_run_accepts_set_and_does_not_store_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = twin_json("run", TINY, "--seed", "7")
    one_press = twin_json("run", TINY, "--seed", "7", "--set", "units.press_1.count=1")
    assert "press_1#2" in base["oee"] and "press_1#2" not in one_press["oee"]
    assert not (tmp_path / "runs").exists()


def test_plain_run_with_store_keeps_one_replication(tmp_path):
    twin("run", TINY, "--seed", "7", "--store", tmp_path)
    [info] = Store(tmp_path).runs()
    assert info.replications == (0,) and info.meta["seed"] == 7


def test_run_with_replications_reports_intervals_and_stores(tmp_path):
    r = twin_json("run", MM1, *SHORT, "-n", "4", "--seed", "2", "--workers", "1",
                  "--store", tmp_path, "--kpi", "lead_time_h.mean",
                  "--kpi", "oee.*.oee")  # fmt: skip
    assert r["replications"] == 4 and r["reused"] == 0
    assert set(r["kpis"]) == {"lead_time_h.mean", "oee.m1.oee"}
    lead = r["kpis"]["lead_time_h.mean"]
    assert lead["n"] == 4 and lead["low"] < lead["mean"] < lead["high"]
    [info] = Store(tmp_path).runs()
    assert info.id == r["run_id"] and info.replications == (0, 1, 2, 3)
    again = twin_json("run", MM1, *SHORT, "-n", "4", "--seed", "2", "--store", tmp_path)
    assert again["reused"] == 4 and again["run_id"] == r["run_id"]


def test_run_with_replications_table(tmp_path):
    res = twin("run", MM1, *SHORT, "-n", "3", "--workers", "1", "--store", tmp_path)
    assert "95% CI" in res.stdout and "lead_time_h.mean" in res.stdout
    assert "stored in" in res.stdout


def test_run_replications_without_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = twin_json("run", MM1, *SHORT, "-n", "2", "--workers", "1", "--no-store")
    assert r["run_id"] is None
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", TINY, "--set", "units.press_1.cnt=2"],
         ["--set units.press_1.cnt=2", "unknown key"]),
        (["run", TINY, "-n", "2", "--set", "units.press_1.count=two"], ["'two'", "integer"]),
        (["sweep", TINY, "--grid", "units.presss_1.count=1,2"], ["--grid units.presss_1.count=1"]),
        (["sweep", TINY, "--grid", "units.press_1.count=1,0"], ["units.press_1.count", "0"]),
        (["sweep", TINY], ["--grid/--point"]),
        (["compare", TINY], ["--variant"]),
        (["compare", TINY, "--variant", "nope.yaml"], ["nope.yaml", "no such file"]),
        (["run", TINY, "-n", "0"], ["--replications"]),
        (["run", TINY, "-n", "2", "--out", "x"], ["--out"]),
        (["run", TINY, "-n", "2", "--workers", "0"], ["--workers"]),
        (["run", TINY, "-n", "2", "--plan", "no_such_plan.json"], ["no_such_plan.json", "no such file"]),
        (["run", TINY, "-n", "2", "--dask", "tcp://127.0.0.1:1", "--connect-timeout", "0.5"],
         ["cannot reach a Dask scheduler", "dask scheduler"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_message_exit_2_and_the_store_untouched(tmp_path, args, fragments):
    store = tmp_path / "runs"
    res = twin(*args, "--store", store, code=2)
    assert "Traceback" not in res.stderr and res.stderr.startswith("error:")
    for frag in fragments:
        assert frag in res.stderr, (frag, res.stderr)
    assert not store.exists() or not Store(store).runs()


def test_unknown_kpi_is_a_clear_error(tmp_path):
    res = twin("run", MM1, *SHORT, "-n", "2", "--workers", "1", "--store", tmp_path,
               "--kpi", "lead_tme", code=2)  # fmt: skip
    assert "no such KPI" in res.stderr and "lead_time_h.mean" in res.stderr


# --------------------------------------------------------------------------- compare, sweep
def test_compare_reports_paired_differences(tmp_path):
    variant = tmp_path / "two_machines.yaml"
    variant.write_text("units:\n  m1: {count: 2}\n")
    r = twin_json("compare", MM1, "--variant", variant, *SHORT, "-n", "5", "--workers", "1",
                  "--store", tmp_path / "runs", "--kpi", "lead_time_h.mean")  # fmt: skip
    [v] = r["variants"]
    assert v["variant"] == "two_machines" and v["file"] == str(variant)
    base_mean = r["base"]["kpis"]["lead_time_h.mean"]["mean"]
    diff = v["difference"]["lead_time_h.mean"]
    assert diff["mean"] == pytest.approx(v["kpis"]["lead_time_h.mean"]["mean"] - base_mean)
    assert diff["high"] < 0  # a second machine cuts the time in system
    table = twin("compare", MM1, "--variant", variant, *SHORT, "-n", "5",
                 "--store", tmp_path / "runs")  # fmt: skip
    assert "Δ two_machines" in table.stdout and "reused" in table.stdout


def test_sweep_grid_and_points(tmp_path):
    r = twin_json("sweep", MM1, *SHORT, "--grid", "units.m1.count=1,2",
                  "--grid", "products.widget.recipe.work.duration.mean=0.5h,0.8h",
                  "--point", "units.m1.count=3; products.widget.recipe.work.duration.mean=0.8h",
                  "-n", "2", "--workers", "1", "--store", tmp_path,
                  "--kpi", "lead_time_h.mean")  # fmt: skip
    assert r["axes"] == ["units.m1.count", "products.widget.recipe.work.duration.mean"]
    assert [p["set"] for p in r["points"]] == [
        {"units.m1.count": 1, "products.widget.recipe.work.duration.mean": "0.5h"},
        {"units.m1.count": 1, "products.widget.recipe.work.duration.mean": "0.8h"},
        {"units.m1.count": 2, "products.widget.recipe.work.duration.mean": "0.5h"},
        {"units.m1.count": 2, "products.widget.recipe.work.duration.mean": "0.8h"},
        {"units.m1.count": 3, "products.widget.recipe.work.duration.mean": "0.8h"},
    ]
    lead = [p["kpis"]["lead_time_h.mean"]["mean"] for p in r["points"]]
    assert lead[1] > lead[0] and lead[1] > lead[3] > lead[4]  # slower or fewer machines wait more
    assert len(Store(tmp_path).runs()) == 5
    table = twin("sweep", MM1, *SHORT, "--grid", "units.m1.count=1,2", "-n", "2",
                 "--store", tmp_path)  # fmt: skip
    assert "m1.count" in table.stdout


def test_sweep_on_the_local_pool(tmp_path):
    r = twin_json("sweep", MM1, *SHORT, "--grid", "units.m1.count=1,2", "-n", "3",
                  "--workers", "2", "--no-store")  # fmt: skip
    serial = twin_json("sweep", MM1, *SHORT, "--grid", "units.m1.count=1,2", "-n", "3",
                       "--workers", "1", "--no-store")  # fmt: skip
    assert r["points"] == serial["points"]


# --------------------------------------------------------------------------- runs
def test_runs_list_show_compare_rm(tmp_path):
    store = ["--store", str(tmp_path)]
    a = twin_json("run", MM1, *SHORT, "-n", "3", "--workers", "1", *store)["run_id"]
    b = twin_json("run", MM1, *SHORT, "--set", "units.m1.count=2", "-n", "3", "--workers", "1",
                  *store)["run_id"]  # fmt: skip
    c = twin_json("run", MM1, *SHORT, "-n", "3", "--seed", "9", "--workers", "1", *store)["run_id"]
    listed = twin_json("runs", "list", *store)
    assert [r["id"] for r in listed] == sorted([a, b, c])
    assert all(r["status"] == "complete" and r["stored"] == 3 for r in listed)
    assert a in twin("runs", "list", *store).stdout

    shown = twin_json("runs", "show", a[:-1], *store)
    assert shown["run"]["id"] == a and shown["replications"] == [0, 1, 2]
    assert shown["kpis"]["lead_time_h.mean"]["n"] == 3
    assert "replications" in twin("runs", "show", a, *store).stdout

    cmp = twin_json("runs", "compare", a, b, *store, "--kpi", "lead_time_h.mean")
    assert cmp["paired"] is True and cmp["replications"] == 3
    d = cmp["difference"]["lead_time_h.mean"]
    assert d["mean"] == pytest.approx(
        cmp["second"]["kpis"]["lead_time_h.mean"]["mean"]
        - cmp["first"]["kpis"]["lead_time_h.mean"]["mean"]
    )
    assert twin_json("runs", "compare", a, c, *store)["paired"] is False  # other seed: Welch
    assert "Δ second − first" in twin("runs", "compare", a, b, *store).stdout

    assert twin_json("runs", "rm", b, *store) == {"removed": [b]}
    assert [r["id"] for r in twin_json("runs", "list", *store)] == sorted([a, c])
    res = twin("runs", "rm", "nope", *store, code=2)
    assert "no such run" in res.stderr
    assert "no such run" in twin("runs", "show", b, *store, code=2).stderr


def test_runs_list_on_an_empty_store(tmp_path):
    assert twin_json("runs", "list", "--store", tmp_path) == []
    # (the message may wrap at 80 columns after the store's path)
    assert "no runs yet" in " ".join(twin("runs", "list", "--store", tmp_path).stdout.split())
    res = twin("runs", "list", "--store", tmp_path / "none", code=2)  # a typo is not "empty"
    assert "no run store there" in res.stderr


# --------------------------------------------------------------------------- processes
def test_twin_command_keeps_stdout_for_json(tmp_path):
    exe = Path(sys.executable).with_name("twin")
    res = subprocess.run(
        [str(exe), "run", MM1, *SHORT, "-n", "2", "--workers", "2", "--store", str(tmp_path),
         "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["replications"] == 2
    assert res.stderr == ""  # no progress bar with --json


@pytest.mark.parametrize("script", ["what_if.py", "sweep_on_dask.py"])
def test_examples_run(script, tmp_path):
    res = subprocess.run(
        [sys.executable, str(REPO / "examples" / script)],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()
    assert not (tmp_path / "runs").exists()


def test_sweep_stacks_variant_files_under_every_point(tmp_path):
    # two servers from the first file, a faster service from the second: stacked, the sweep
    # over the arrival rate equals the same sweep with both changes given by --set
    (tmp_path / "two.yaml").write_text("units:\n  m1: {class: machine, count: 2}\n")
    (tmp_path / "fast.yaml").write_text(
        "products:\n  widget:\n    recipe:\n"
        "      - {name: work, equipment_class: machine, duration: {dist: exponential, mean: 1.2h}}\n"
    )
    grid = ["--grid", "order_generator.products.widget.interarrival.mean=1h,0.8h"]
    common = [*SHORT, *grid, "-n", "2", "--workers", "1", "--no-store", "--kpi", "wip.mean"]
    stacked = twin_json(
        "sweep", MM1, "--variant", tmp_path / "two.yaml", "--variant", tmp_path / "fast.yaml",
        *common,
    )  # fmt: skip
    by_set = twin_json(
        "sweep", MM1, "--set", "units.m1.count=2",
        "--set", "products.widget.recipe.work.duration.mean=1.2h", *common,
    )  # fmt: skip
    means = [p["kpis"] for p in stacked["points"]]
    assert means == [p["kpis"] for p in by_set["points"]]
    assert len(means) == 2
