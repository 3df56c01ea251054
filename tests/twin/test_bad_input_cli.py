"""Bad input of every class, on every command: exit code 2, one paragraph on stderr that names
the option or file, the bad value and what was expected; no traceback; bounded time and
memory (nothing is simulated, planned or stored first)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA, SCENARIOS
from twin.cli import app

TINY = str(SCENARIOS / "tiny.yaml")
DENSE = str(DATA / "dense_loop.yaml")
STN = str(SCENARIOS.parent / "benchmarks" / "instances" / "stn" / "kondili_stnscheduler_H10.json")
runner = CliRunner()


def bad(*args: str, where: Path | None = None) -> str:
    """Run ``twin args`` in-process; assert the error contract; return stderr."""
    t0 = time.perf_counter()
    res = runner.invoke(app, [str(a) for a in args])
    took = time.perf_counter() - t0
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr, res.exception)
    text = res.stderr
    assert text.startswith("error: "), text
    assert "Traceback" not in text + res.stdout
    assert len(text.strip().splitlines()) == 1, text  # one paragraph
    assert took < 60, took
    return text


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A file of every bad kind."""
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp_path / "binary.json").write_bytes(b"\x00\x01\x02\xff")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    return {
        "missing": tmp_path / "none.yaml",
        "empty": tmp_path / "empty.yaml",
        "latin1": tmp_path / "latin1.yaml",
        "binary": tmp_path / "binary.json",
        "folder": tmp_path / "folder.yaml",
        "list": tmp_path / "list.yaml",
    }


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        # counts that size memory or work: bounded, and the bound is said
        (["run", TINY, "-n", "1000000000"], ["--replications", "1,000,000,000", "1 to 10,000"]),
        (["run", TINY, "-n", str(2**70)], ["--replications", "1 to 10,000"]),
        (["run", TINY, "-n", "2**70"], ["--replications", "'2**70'", "valid integer"]),
        (["run", TINY, "-n", "0"], ["--replications", "bad value 0", "1 to 10,000"]),
        (["run", TINY, "-n", "-1"], ["--replications", "bad value -1"]),
        (["run", TINY, "-n", "1.5"], ["--replications", "'1.5'"]),
        (["compare", TINY, "--variant", TINY, "-n", "0"], ["--replications"]),
        (["sweep", TINY, "--grid", "units.press_1.count=1,2", "-n", "100000"],
         ["--replications", "1 to 10,000"]),
        (["sweep", TINY, "--grid", "units.press_1.count=1,2", "-n", "6000"],
         ["2 points x 6,000 replications = 12,000 simulations", "at most 10,000"]),
        (["run", TINY, "-n", "2", "--workers", "0"], ["--workers", "bad value 0"]),
        (["run", TINY, "-n", "2", "--workers", "100000"], ["--workers", "per core"]),
        (["run", TINY, "--seed", "-1"], ["--seed", "bad value -1", "from 0"]),
        (["run", TINY, "--seed", str(2**64)], ["--seed", "9,223,372,036,854,775,807"]),
        (["run", TINY, "--seed", "abc"], ["--seed", "'abc'", "valid integer"]),
        (["run", TINY, "-n", "2", "--connect-timeout", "nan"], ["--connect-timeout", "nan"]),
        (["run", TINY, "-n", "2", "--connect-timeout", "inf"], ["--connect-timeout", "inf"]),
        (["run", TINY, "-n", "2", "--connect-timeout", "0"], ["--connect-timeout", "> 0"]),
        (["run", TINY, "-n", "2", "--connect-timeout", "1e9"], ["--connect-timeout", "<= 300"]),
        # re-planning: a NaN or negative limit, a period of 0 or a minute (hangs before)
        (["run", TINY, "--plan", "auto", "--replan-time-limit", "nan"],
         ["--replan-time-limit", "bad value nan", "<= 600 seconds"]),
        (["run", TINY, "--plan", "auto", "--replan-time-limit", "-3"],
         ["--replan-time-limit", "bad value -3"]),
        (["run", TINY, "--plan", "auto", "--replan-time-limit", "inf"],
         ["--replan-time-limit", "inf"]),
        (["run", TINY, "--plan", "auto", "--replan-every", "0h"],
         ["--replan-every", "'0h'", "at least 1 h"]),
        (["run", TINY, "--plan", "auto", "--replan-every", "1min"],
         ["--replan-every", "'1min'", "at least 1 h"]),
        (["run", TINY, "--plan", "auto", "--replan-every", "-2h"], ["--replan-every", "'-2h'"]),
        (["run", TINY, "--plan", "auto", "--replan-every", "soon"], ["--replan-every", "'soon'"]),
        (["run", TINY, "--plan", "auto", "--replan-every", "1h", "--set",
          "simulation.horizon=2000h"], ["--replan-every", "at most 1,000 re-plans"]),
        (["run", TINY, "--plan", "auto", "--freeze", "-1h"], ["--freeze", "'-1h'"]),
        (["run", TINY, "--plan", "auto", "--freeze", "nan"], ["--freeze", "'nan'"]),
        (["run", TINY, "--plan", "auto", "--replan-on", ","], ["--replan-on", "breakdown"]),
        (["run", TINY, "--plan", "auto", "--replan-on", "earthquake"],
         ["--replan-on", "'earthquake'", "breakdown, deviation"]),
        (["run", TINY, "--replan-on", "breakdown"], ["--plan FILE or --plan auto"]),
        (["run", TINY, "--early-start"], ["--plan FILE or --plan auto"]),
        # twin plan
        (["plan", TINY, "--objective", "bogus"], ["--objective", "'bogus'", "tardiness"]),
        (["plan", TINY, "--objective", "-1*makespan"], ["--objective", "weight '-1'", ">= 0"]),
        (["plan", TINY, "--objective", "0*makespan"], ["--objective", "no positive weight"]),
        (["plan", TINY, "--threads", "0"], ["--threads", "bad value 0", "1 to 256"]),
        (["plan", TINY, "--threads", "100000"], ["--threads", "1 to 256"]),
        (["plan", TINY, "--mip-gap", "-1"], ["--mip-gap", "bad value -1"]),
        (["plan", TINY, "--mip-gap", "1"], ["--mip-gap", "< 1"]),
        (["plan", TINY, "--mip-gap", "nan"], ["--mip-gap", "nan"]),
        (["plan", TINY, "--time-limit", "nan"], ["--time-limit", "bad value nan", "seconds"]),
        (["plan", TINY, "--time-limit", "inf"], ["--time-limit", "bad value inf"]),
        (["plan", TINY, "--time-limit", "-5"], ["--time-limit", "bad value -5"]),
        (["plan", TINY, "--time-limit", "0"], ["--time-limit", "> 0"]),
        (["plan", TINY, "--time-limit", "1e9"], ["--time-limit", "<= 86,400"]),
        (["plan", TINY, "--horizon", "0h"], ["--horizon", "'0h'", "more than 0 h"]),
        (["plan", TINY, "--horizon", "-4w"], ["--horizon", "'-4w'"]),
        (["plan", TINY, "--horizon", "4 weeks"], ["--horizon", "'4 weeks'"]),
        (["plan", TINY, "--seed", "-1"], ["--seed", "bad value -1"]),
        (["plan", TINY, "--seed", str(2**40)], ["--seed", "2,147,483,647"]),
        (["plan", TINY, "--format", "xml"], ["--format", "'xml'", "scenario, jsplib, fjsp"]),
        (["plan", TINY, "--solver", "no_such_solver", "--time-limit", "1"], ["no_such_solver"]),
        (["plan", "--format", "stn", STN, "--mode", "fast"], ["--mode", "'fast'", "rolling"]),
        (["plan", TINY, "--mode", "rolling"], ["--mode", "only with --format stn"]),
        (["plan", "--format", "stn", STN, "--horizon", "4w"], ["--horizon", "own horizon"]),
        (["plan", "--format", "stn", STN, "--time-limit", "nan"], ["--time-limit", "nan"]),
        # twin route, fleet, dash
        (["route", str(SCENARIOS / "distribution.yaml"), "--time-limit", "nan"],
         ["--time-limit", "nan"]),
        (["route", str(SCENARIOS / "distribution.yaml"), "--seed", "-4"], ["--seed", "-4"]),
        (["route", str(SCENARIOS / "distribution.yaml"), "--format", "xml"], ["--format"]),
        (["fleet", DENSE, "--max-wait", "0min"], ["--max-wait", "'0min'"]),
        (["fleet", DENSE, "--max-wait", "nan"], ["--max-wait", "'nan'"]),
        (["fleet", DENSE, "--max-wait", "100w"], ["--max-wait", "at most 7 d (168 h)"]),
        (["fleet", DENSE, "--seeds", "0"], ["--seeds", "1 to 100"]),
        (["fleet", DENSE, "--seeds", "1000000"], ["--seeds", "1 to 100"]),
        (["fleet", DENSE, "--service", "nan"], ["--service", "nan"]),
        (["fleet", DENSE, "--service", "0"], ["--service", "> 0"]),
        (["fleet", DENSE, "--service", "101"], ["--service", "<= 100"]),
        (["fleet", DENSE, "--time-limit", "-1"], ["--time-limit", "-1"]),
        (["dash", "--port", "0"], ["--port", "bad value 0", "1 to 65535"]),
        (["dash", "--port", "70000"], ["--port", "70000"]),
        (["dash", "--port", "http"], ["--port", "'http'"]),
    ],
)  # fmt: skip
def test_bad_numbers_and_words(tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    text = bad(*args)
    for f in fragments:
        assert f in text, (f, text)
    assert not (tmp_path / "runs").exists()  # nothing was stored


# --------------------------------------------------------------------------- files
@pytest.mark.parametrize("kind", ["missing", "empty", "latin1", "binary", "folder", "list"])
@pytest.mark.parametrize(
    "command",
    [
        ["validate", "{f}"],
        ["run", "{f}"],
        ["run", TINY, "--variant", "{f}"],
        ["compare", TINY, "--variant", "{f}", "-n", "2"],
        ["compare", TINY, "--common", "{f}", "--variant", TINY, "-n", "2"],
        ["sweep", TINY, "--variant", "{f}", "--grid", "units.press_1.count=1,2", "-n", "2"],
        ["run", TINY, "--plan", "{f}"],
        ["run", TINY, "--plan", "{f}", "-n", "2"],
        ["plan", "{f}"],
        ["layout", "{f}"],
    ],
)
def test_bad_files_are_named(tmp_path, monkeypatch, files, kind, command):
    monkeypatch.chdir(tmp_path)
    f = files[kind]
    text = bad(*(a.replace("{f}", str(f)) for a in command))
    assert str(f) in " ".join(text.split()), text
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(tmp_path):
    f = tmp_path / "secret.yaml"
    f.write_text((SCENARIOS / "tiny.yaml").read_text())
    f.chmod(0)
    for args in (["validate", f], ["run", TINY, "--variant", f], ["run", TINY, "--plan", f]):
        assert str(f) in bad(*args)


def test_bad_instance_files_are_named(tmp_path, files):
    for fmt in ("jsplib", "fjsp", "stn"):
        for kind in ("missing", "empty", "binary", "folder"):
            assert str(files[kind]) in bad(
                "plan", "--format", fmt, files[kind], "--time-limit", "1"
            )
    for kind in ("missing", "folder"):
        assert str(files[kind]) in bad("route", "--format", "vrplib", files[kind])
        assert str(files[kind]) in bad("route", files[kind])
        assert str(files[kind]) in bad("fleet", files[kind])


# --------------------------------------------------------------------------- plans
def _plan_file(tmp_path: Path, *ops: dict, meta: dict | None = None) -> Path:
    p = tmp_path / "plan.json"
    p.write_text(json.dumps({"operations": list(ops), "meta": meta or {}}))
    return p


def _op(**changes) -> dict:
    op = {"order": "o1", "batch": 1, "step": 0, "unit": "gran_1", "start": 0.0, "end": 4.0}
    op.update(changes)
    return op


def test_a_plan_with_nan_times_is_refused_not_run(tmp_path):
    p = tmp_path / "plan.json"
    p.write_text('{"operations": [{"order": "o1", "batch": 1, "step": 0, "unit": "gran_1", '
                 '"start": NaN, "end": 4}]}')  # fmt: skip
    assert "no NaN or Infinity" in bad("run", TINY, "--plan", p)
    p.write_text(json.dumps({"operations": [_op(start=1e308, end=1e308)]}))
    assert "operations[0].start" in bad("run", TINY, "--plan", p)


@pytest.mark.parametrize(
    ("op", "fragments"),
    [
        (_op(order="o99"), ["operations[0].order", "'o99'", "an order of scenario 'tiny'"]),
        (_op(batch=4), ["operations[0].batch", "a batch 1..3 of order o1"]),
        (_op(step=2), ["operations[0].step", "a step 0..1"]),
        (_op(unit="press_1"), ["operations[0].unit", "a unit of class granulator"]),
    ],
)
def test_a_plan_that_does_not_fit_the_scenario_is_refused(tmp_path, op, fragments):
    p = _plan_file(tmp_path, op)
    for extra in ([], ["-n", "2", "--no-store"]):
        text = bad("run", TINY, "--plan", p, *extra)
        for f in fragments:
            assert f in text, (f, text)


def test_a_duplicate_operation_is_refused(tmp_path):
    p = _plan_file(tmp_path, _op(), _op(start=10.0, end=14.0))
    assert "operations[1]" in bad("run", TINY, "--plan", p)


def test_a_plan_for_another_plant_is_refused_and_for_other_durations_warned(tmp_path):
    from twin.plan import scenario_fingerprint
    from twin.variants import resolve

    sc = resolve(TINY).scenario
    made = {"scenario": "tiny", "scenario_fingerprint": scenario_fingerprint(sc)}
    p = _plan_file(tmp_path, _op(), meta=made)
    text = bad("run", TINY, "--plan", p, "--set", "units.gran_1.count=2")
    assert "meta.scenario_fingerprint" in text and "units, recipes or orders differ" in text
    res = runner.invoke(app, ["run", TINY, "--plan", str(p), "--json", "--set",
                              "products.tab_a.recipe.granulation.duration=5h"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert res.stderr.startswith("warning: ") and "another variant of this plant" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- sweeps, KPIs
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--grid", "units.press_1.count=1,2", "--grid", "units.press_1.count=3"],
         ["--grid units.press_1.count=3", "already an axis", "--grid units.press_1.count=1,2"]),
        (["--grid", "units.press_1.count=1,2", "--set", "units.press_1.count=3"],
         ["--set units.press_1.count=3", "is a --grid axis"]),
        (["--point", "units.press_1.count=1; units.press_1.count=2"], ["set twice in one point"]),
        ([*(x for k in range(5) for x in ("--grid", f"orders[{k}].priority=" +
                                          ",".join(str(v) for v in range(10))))],
         ["100,000 points", "at most 1,000 points"]),
        (["--grid", "units.press_1.count="], ["--grid units.press_1.count=", "at least one value"]),
        ([], ["--grid/--point: missing"]),
    ],
)  # fmt: skip
def test_bad_sweeps(tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    text = bad("sweep", TINY, *args, "-n", "2")
    for f in fragments:
        assert f in text, (f, text)
    assert not (tmp_path / "runs").exists()


def test_a_sweep_of_ten_thousand_points_is_refused_at_once():
    grid = ",".join(str(v) for v in range(100))
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "twin", "sweep", TINY, "--grid", f"orders[0].priority={grid}",
         "--grid", f"orders[1].priority={grid}", "-n", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and "10,000 points" in res.stderr and "at most 1,000" in res.stderr
    assert time.perf_counter() - t0 < 60


def test_unknown_kpis_are_refused_with_and_without_replications(tmp_path):
    for extra in ([], ["--json"], ["-n", "2", "--workers", "1", "--no-store"]):
        text = bad("run", TINY, "--set", "simulation.horizon=100h", "--kpi", "nope", *extra)
        assert "--kpi: bad value 'nope': no such KPI" in text and "otif_pct" in text
    assert "--kpi" in bad("run", TINY, "--kpi", " ")


def test_a_known_kpi_without_replications_is_shown_alone():
    res = runner.invoke(app, ["run", TINY, "--kpi", "otif_pct", "--kpi", "oee.gran_1.*"])
    assert res.exit_code == 0, res.stderr
    assert "otif_pct" in res.stdout and "oee.gran_1.availability" in res.stdout
    assert "throughput" not in res.stdout  # the selection, not the full report


# --------------------------------------------------------------------------- the store
def test_a_store_that_is_not_there_is_not_empty(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cmd in (["runs", "list"], ["runs", "show", "x"], ["runs", "rm", "x"],
                ["runs", "compare", "x", "y"]):  # fmt: skip
        assert "no run store there" in bad(*cmd, "--store", tmp_path / "none")
    (tmp_path / "file").write_text("x")
    assert "not a run store" in bad("runs", "list", "--store", tmp_path / "file")
    assert "cannot hold a run store" in bad("run", TINY, "-n", "2", "--store", tmp_path / "file")
    res = runner.invoke(app, ["runs", "list"])  # the default store, not made yet
    assert res.exit_code == 0 and "no run store yet" in res.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", TINY, "-n", "2", "--no-store", "--store", "x"], ["--no-store"]),
        (["run", TINY, "-n", "2", "--out", "x"], ["--out", "--replications"]),
        (["run", TINY, "--force"], ["--force", "--out"]),
        (["run", TINY, "--workers", "2"], ["--workers", "only with --replications"]),
        (["run", TINY, "--dask", "local", "--fresh"], ["--dask/--fresh", "only with"]),
        (["run", TINY, "--dispatch", "fastest"], ["--dispatch", "'fastest'", "edd"]),
        (["run", TINY, "--transport-dispatch", "teleport"], ["--transport-dispatch"]),
        (["run", TINY, "--set", "units.press_1.cnt=2"], ["--set units.press_1.cnt=2"]),
        (["run", TINY, "--set", "novalue"], ["--set novalue"]),
        (["run", TINY, "--bogus"], ["--bogus", "twin run --help"]),
        (["run"], ["scenario", "missing argument"]),
        (["runs", "nope"], ["nope"]),
        (["compare", TINY], ["--variant: missing"]),
        (["layout", TINY], ["layout", "expected a layout section"]),
    ],
)  # fmt: skip
def test_bad_combinations_and_words(tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    text = bad(*args)
    for f in fragments:
        assert f in text, (f, text)


# --------------------------------------------------------------------------- dashboard
def test_dash_refuses_a_taken_port_and_an_unknown_host_at_once(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        text = bad("dash", "--port", port, "--store", tmp_path)
        assert f"--port: bad value {port}: already in use" in text
    text = bad("dash", "--host", "no-such-host.invalid", "--store", tmp_path)
    assert "--host: bad value 'no-such-host.invalid'" in text
    (tmp_path / "file").write_text("x")
    assert "file" in bad("dash", "--store", tmp_path / "file")


def test_twin_run_with_a_billion_replications_ends_at_once_in_a_subprocess():
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "twin", "run", TINY, "-n", "1000000000"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and "1 to 10,000" in res.stderr and "Traceback" not in res.stderr
    assert time.perf_counter() - t0 < 60
