"""The run store: layout, atomic writes under SIGKILL, resuming, DuckDB queries."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import DATA, REPO, SCENARIOS
from twin.eventlog import read_parquet
from twin.experiment import Task, fingerprint, flatten_kpis, model_hash, run_experiment, run_task
from twin.scenario import load_dict, load_yaml_text
from twin.store import Store, StoreError, to_yaml
from twin.variants import resolve

TINY = SCENARIOS / "tiny.yaml"
MM1 = DATA / "mm1.yaml"
SHORT_MM1 = ["simulation.horizon=200h", "simulation.warmup=20h"]


def _rows(table: pa.Table) -> dict[str, list]:
    """A table's values (dictionaries decoded, NaN made comparable)."""
    return {
        c: ["nan" if isinstance(v, float) and v != v else v for v in table.column(c).to_pylist()]
        for c in table.column_names
    }


def _assert_complete(store: Store) -> int:
    """Every visible entry is whole and readable; returns the number of replications."""
    n = 0
    for info in store.runs():
        assert {p.name for p in info.path.iterdir()} >= {"run.json", "scenario.yaml"}
        store.scenario(info.id)  # the resolved scenario loads again
        for r in info.replications:
            rep = info.path / f"rep-{r:04d}"
            assert sorted(p.name for p in rep.iterdir()) == [
                "events.parquet",
                "kpis.json",
                "meta.json",
            ]
            table = read_parquet(rep / "events.parquet")
            meta = json.loads((rep / "meta.json").read_text())
            assert meta["events"] == table.num_rows and meta["replication"] == r
            assert json.loads((rep / "kpis.json").read_text())["replication"] == r
            n += 1
    return n


# --------------------------------------------------------------------------- layout
def test_a_stored_run_holds_scenario_log_kpis_and_metadata(tmp_path):
    store = Store(tmp_path / "runs")
    var = resolve(TINY, overrides=["units.press_1.count=1"])
    [vr] = run_experiment([var], seed=4, replications=2, store=store)
    info = store.get(vr.run_id)
    assert info.replications == (0, 1) and info.complete
    assert vr.run_id.split("-")[2] == "tiny"
    assert vr.run_id.endswith(fingerprint(var.data(), 4)[:6])
    meta = info.meta
    assert meta["seed"] == 4 and meta["variant"] == "units.press_1.count=1"
    assert meta["overrides"] == ["units.press_1.count=1"] and meta["base"] == str(TINY)
    assert {"pharmatwin", "simpy", "numpy", "pyarrow"} <= set(meta["versions"])
    assert meta["host"] and meta["python"] and "git" not in json.dumps(meta)
    assert store.scenario(vr.run_id) == var.scenario
    # the stored log and KPIs are those of a fresh simulation of the same replication
    fresh = run_task(Task("k", var.data(), 4, 1))
    assert _rows(store.events(vr.run_id, 1)) == _rows(fresh.events())
    assert store.kpis(vr.run_id)[1] == json.loads(json.dumps(fresh.kpis))
    assert store.meta(vr.run_id, 1)["wall_seconds"] > 0
    assert _assert_complete(store) == 2


def test_same_request_reuses_and_extends_the_stored_run(tmp_path):
    store = Store(tmp_path)
    var = resolve(MM1, overrides=SHORT_MM1)
    [first] = run_experiment([var], seed=1, replications=2, store=store)
    mtime = (store.get(first.run_id).path / "rep-0000" / "kpis.json").stat().st_mtime_ns
    [again] = run_experiment([var], seed=1, replications=3, store=store)
    assert again.run_id == first.run_id and again.reused == 2 and again.simulated == 1
    assert again.kpis[:2] == first.kpis
    assert (store.get(first.run_id).path / "rep-0000" / "kpis.json").stat().st_mtime_ns == mtime
    assert store.get(first.run_id).requested == 3
    [fresh] = run_experiment([var], seed=1, replications=1, store=store, fresh=True)
    assert fresh.run_id != first.run_id and fresh.reused == 0
    [other_seed] = run_experiment([var], seed=2, replications=1, store=store)
    assert other_seed.reused == 0
    assert len(store.runs()) == 3


def test_saving_a_replication_twice_keeps_the_first(tmp_path):
    store = Store(tmp_path)
    var = resolve(MM1, overrides=SHORT_MM1)
    [vr] = run_experiment([var], seed=1, replications=1, store=store)
    res = run_task(Task(vr.key, var.data(), 1, 0))
    assert store.save(vr.run_id, res) is False


def test_ids_prefixes_and_removal(tmp_path):
    store = Store(tmp_path)
    a, b = run_experiment(
        [
            resolve(MM1, overrides=SHORT_MM1),
            resolve(MM1, overrides=[*SHORT_MM1, "units.m1.count=2"]),
        ],
        seed=1,
        replications=1,
        store=store,
    )
    assert store.get(a.run_id[:-2]).id == a.run_id  # unique prefix
    with pytest.raises(StoreError, match="ambiguous"):
        store.get(a.run_id[:8])
    with pytest.raises(StoreError, match="no such run"):
        store.get("nope")
    store.remove(a.run_id)
    assert [i.id for i in store.runs()] == [b.run_id]
    assert not any((tmp_path / ".tmp").iterdir())


def test_partial_run_status(tmp_path):
    store = Store(tmp_path)
    var = resolve(MM1, overrides=SHORT_MM1)
    [vr] = run_experiment([var], seed=1, replications=2, store=store)
    store.require(vr.run_id, 5)
    info = store.get(vr.run_id)
    assert info.status == "partial" and info.requested == 5


# --------------------------------------------------------------------------- queries
def test_duckdb_views_agree_with_the_files(tmp_path):
    store = Store(tmp_path)
    vs = [resolve(TINY), resolve(TINY, overrides=["units.press_1.count=1"])]
    runs = run_experiment(vs, seed=2, replications=2, store=store)
    ids = [r.run_id for r in runs]
    assert sorted(store.query("SELECT id FROM runs").column("id").to_pylist()) == sorted(ids)
    counts = store.query(
        "SELECT run_id, replication, count(*) AS n FROM events GROUP BY ALL ORDER BY ALL"
    ).to_pylist()
    expected = sorted((i, r, store.meta(i, r)["events"]) for i in ids for r in range(2))
    assert [(c["run_id"], c["replication"], c["n"]) for c in counts] == expected
    # the SQL flattening of kpis.json equals flatten_kpis (two independent implementations)
    values = store.kpi_values(ids)
    for vr in runs:
        for r in range(2):
            assert values[vr.run_id][r] == pytest.approx(flatten_kpis(vr.kpis[r]))
    wall = store.query("SELECT sum(wall_seconds) AS s FROM replications").column("s")[0].as_py()
    assert wall > 0


def test_queries_on_an_empty_store(tmp_path):
    store = Store(tmp_path / "none")
    assert store.runs() == []
    assert store.query("SELECT count(*) AS n FROM kpis").column("n")[0].as_py() == 0
    assert store.query("SELECT count(*) AS n FROM runs").column("n")[0].as_py() == 0


# --------------------------------------------------------------------------- YAML
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _json, max_size=5))
@example({"A\n": None, "\x7f": "\x85\u2028", "yes": ["no", "1e3", "-", "{}"]})
@example({"start": "2026-01-05T06:00:00", "d": "2026-13-45", "t": "12:30", "x": "0x1f"})
@example({})
def test_to_yaml_reads_back_unchanged(data):
    text = to_yaml(data)
    assert yaml.safe_load(text) == data
    assert load_yaml_text(text, "scenario.yaml") == data  # the project's reader


def test_to_yaml_of_real_scenarios():
    for path in (TINY, SCENARIOS / "osd_plant.yaml"):
        data = resolve(path).data()
        text = to_yaml(data)
        assert yaml.safe_load(text) == data
        assert load_yaml_text(text, str(path)) == data
        assert (
            load_dict(load_yaml_text(text, str(path)), "stored").to_dict()
            == resolve(path).scenario.to_dict()
        )


# --------------------------------------------------------------------------- SIGKILL
_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import twin.store as st
    from twin.experiment import run_experiment
    from twin.variants import resolve

    root, where = sys.argv[1], sys.argv[2]
    calls = {"n": 0}

    def hang():
        print("HANG", flush=True)
        time.sleep(120)

    if where == "run":
        to_yaml = st.to_yaml
        def slow_yaml(data):
            text = to_yaml(data)
            hang()
            return text
        st.to_yaml = slow_yaml
    else:
        write_json = st._write_json
        def slow_json(path, data):
            write_json(path, data)
            if path.name == "kpis.json":
                calls["n"] += 1
                if calls["n"] == 3:
                    hang()
        st._write_json = slow_json

    var = resolve(sys.argv[3], overrides=sys.argv[4:])
    run_experiment([var], seed=1, replications=5, store=st.Store(root))
    """
)


def _run_until_hang(args: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "HANG", line
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return proc


def test_sigkill_while_writing_a_replication_leaves_only_whole_entries(tmp_path):
    root = tmp_path / "runs"
    _run_until_hang([str(root), "rep", str(MM1), *SHORT_MM1])
    store = Store(root)
    [info] = store.runs()
    assert info.replications == (0, 1) and info.status == "partial"
    assert _assert_complete(store) == 2
    leftovers = list((root / ".tmp").iterdir())
    assert len(leftovers) == 1 and (leftovers[0] / "kpis.json").exists()  # the cut-off write
    # resuming skips the finished replications and clears the dead writer's leftovers
    var = resolve(MM1, overrides=SHORT_MM1)
    if info.meta["model"] != model_hash():
        pytest.skip("the twin source changed during the test (stored runs not reusable)")
    [vr] = run_experiment([var], seed=1, replications=5, store=store)
    assert vr.run_id == info.id and vr.reused == 2 and vr.simulated == 3
    assert _assert_complete(store) == 5
    assert not any((root / ".tmp").iterdir())


def test_sigkill_while_creating_a_run_leaves_no_run(tmp_path):
    root = tmp_path / "runs"
    _run_until_hang([str(root), "run", str(MM1), *SHORT_MM1])
    store = Store(root)
    assert store.runs() == []
    assert len(list((root / ".tmp").iterdir())) == 1


def _kill_tree(proc: subprocess.Popen) -> None:
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:  # pool workers normally exit by themselves once the parent is gone
        child.kill()


def test_sigkill_mid_sweep_then_resume(tmp_path):
    root = tmp_path / "runs"
    cmd = [
        str(Path(sys.executable).with_name("twin")),
        "sweep", str(MM1), "--grid", "units.m1.count=1,2",
        "--set", "simulation.horizon=400h", "--set", "simulation.warmup=40h",
        "-n", "15", "--seed", "3", "--workers", "2", "--store", str(root), "--json",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(root.glob("*/rep-*"))) < 4:
        time.sleep(0.02)
    _kill_tree(proc)
    store = Store(root)
    done = _assert_complete(store)
    assert 4 <= done < 30, done
    before = {p: p.stat().st_mtime_ns for p in root.glob("*/rep-*/kpis.json")}
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    if len({i.meta["model"] for i in store.runs()}) > 1:
        pytest.skip("the twin source changed between the two runs (stored runs not reusable)")
    assert sum(p["reused"] for p in report["points"]) == done
    assert _assert_complete(store) == 30
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # not rewritten
    assert all(i.complete for i in store.runs())


def test_non_finite_kpis_are_stored_as_null(tmp_path):
    import dataclasses

    store = Store(tmp_path)
    var = resolve(MM1, overrides=SHORT_MM1)
    [vr] = run_experiment([var], seed=1, replications=1, store=store)
    res = run_task(Task(vr.key, var.data(), 1, 1))
    odd = {**res.kpis, "ratio": float("nan"), "peak": float("inf")}
    store.save(vr.run_id, dataclasses.replace(res, kpis=odd))
    assert store.kpis(vr.run_id)[1]["ratio"] is None
    names = store.query("SELECT DISTINCT kpi FROM kpis").column("kpi").to_pylist()
    assert "otif_pct" in names and "ratio" not in names


# --------------------------------------------------------------------------- where a store is
def test_reading_a_store_that_is_not_there_says_so(tmp_path):
    with pytest.raises(StoreError, match="no run store there"):
        Store.existing(tmp_path / "none")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a run store"):
        Store.existing(tmp_path / "file")
    assert Store.existing(tmp_path).runs() == []


def test_a_store_cannot_be_written_where_a_file_is(tmp_path):
    (tmp_path / "file").write_text("x")
    for root in (tmp_path / "file", tmp_path / "file" / "runs"):
        with pytest.raises(StoreError, match="cannot hold a run store"):
            Store(root).check_writable()
    Store(tmp_path / "new" / "runs").check_writable()  # a new path is fine


def test_atomic_text_files_replace_whole_or_not_at_all(tmp_path, monkeypatch):
    from twin import store as store_module
    from twin.store import write_text_atomic

    target = tmp_path / "out.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    # a write that fails half way leaves the old file and no temporary behind

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_text_atomic(target, "newer")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    with pytest.raises(IsADirectoryError):
        write_text_atomic(tmp_path, "x")
