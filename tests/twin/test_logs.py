"""read_log: every kind of LOG a command takes, and one clear LogError for every class of bad
input (naming the file, where in it, the bad value and what was expected)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import SCENARIOS
from tests.twin.helpers import load_data
from tests.twin.test_ocel import assert_same_log, foreign_doc
from twin import logs, mes
from twin.eventlog import write_parquet
from twin.logs import LogError, ObservedLog, export_log, read_log
from twin.mes import write_mes
from twin.ocel import export_ocel
from twin.ocel import to_table as ocel_import
from twin.simulate import simulate, write_run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    sc = load_data(SCENARIOS / "tiny.yaml")
    r = simulate(sc, seed=11)
    out = tmp_path_factory.mktemp("logs") / "run"
    write_run_dir(r, out)
    return sc, r.events, out


# --------------------------------------------------------------------------- what a LOG is
def test_a_run_folder(run):
    sc, table, out = run
    log = read_log(out)
    assert (
        isinstance(log, ObservedLog) and log.source == "run" and log.path == out / "events.parquet"
    )
    assert_same_log(table, log.table)
    assert log.start == sc.start
    assert (
        log.meta["scenario"] == "tiny" and log.meta["seed"] == 11 and log.meta["replication"] == 0
    )
    assert log.meta["scenario_file"] == str(out / "scenario.yaml")
    t = table["t"].to_pylist()
    assert (log.first, log.end, log.horizon) == (t[0], t[-1], t[-1])
    assert log.hours(sc.start + dt.timedelta(hours=30.5)) == 30.5
    assert log.time(30.5) == sc.start + dt.timedelta(hours=30.5) and not log.batch_ids
    assert read_log(out, start=dt.datetime(2030, 1, 1)).start == sc.start  # its own start wins


def test_a_stored_run_and_its_replications(run, tmp_path):
    sc, table, out = run
    stored = tmp_path / "runs" / "20260101-000000-tiny-abcdef"
    (stored / "rep-0000").mkdir(parents=True)
    shutil.copy(out / "scenario.yaml", stored / "scenario.yaml")
    (stored / "run.json").write_text(json.dumps({"scenario": "tiny", "seed": 11}))
    shutil.copy(out / "events.parquet", stored / "rep-0000" / "events.parquet")
    (stored / "rep-0000" / "meta.json").write_text(json.dumps({"replication": 0, "seed": 11}))
    for where in (stored, stored / "rep-0000", stored / "rep-0000" / "events.parquet"):
        log = read_log(where)
        assert log.start == sc.start and log.meta["seed"] == 11
        assert_same_log(table, log.table)
    shutil.copytree(stored / "rep-0000", stored / "rep-0001")
    with pytest.raises(
        LogError, match=r"a stored run with 2 replications \(rep-0000, rep-0001\); expected one"
    ):
        read_log(stored)


def test_an_events_parquet_on_its_own_needs_a_start(run, tmp_path):
    sc, table, out = run
    lone = tmp_path / "events.parquet"
    shutil.copy(out / "events.parquet", lone)
    with pytest.raises(LogError, match=r"no scenario.yaml beside it .* give the start"):
        read_log(lone)
    log = read_log(lone, start=dt.datetime(2026, 2, 2, 6))
    assert log.source == "events" and log.start == dt.datetime(2026, 2, 2, 6)
    assert_same_log(table, log.table)


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("log.jsonocel", "ocel-json"),
        ("log.json", "ocel-json"),
        ("log.sqlite", "ocel-sqlite"),
        ("log.sqlite3", "ocel-sqlite"),
        ("log.db", "ocel-sqlite"),
        ("log.csv", "mes-csv"),
        ("log.parquet", "mes-parquet"),
    ],
)
def test_every_file_form(run, tmp_path, name, source):
    sc, table, _ = run
    path = tmp_path / name
    if source.startswith("ocel"):
        export_ocel(table, {"start": sc.start, "seed": 11}, path, format=source[5:])
    else:
        write_mes(table, path, start=sc.start)
    log = read_log(path, start=sc.start)
    assert log.source == source and log.path == path and log.start == sc.start
    assert_same_log(table, log.table)
    if source.startswith("ocel"):
        assert log.meta["seed"] == 11 and log.meta["skipped"] == {}


def test_export_log_turns_any_log_into_ocel(run, tmp_path):
    sc, table, out = run
    summary = export_log(out, tmp_path / "run.sqlite", format="ocel2-sqlite")
    assert summary.format == "sqlite" and summary.events == table.num_rows
    back = read_log(tmp_path / "run.sqlite")
    assert back.start == sc.start and back.meta["scenario"] == "tiny" and back.meta["seed"] == 11
    assert_same_log(table, back.table)
    with pytest.raises(
        LogError, match=r"--format: bad value 'ocel1'; expected ocel2-json or ocel2-sqlite"
    ):
        export_log(out, tmp_path / "x", format="ocel1")


def test_foreign_ocel_through_read_log(tmp_path):
    p = tmp_path / "mes.json"
    p.write_text(json.dumps(foreign_doc()))
    with pytest.raises(LogError, match="'Create Invoice'"):
        read_log(p)
    log = read_log(p, unmapped="skip")
    assert log.batch_ids == {0: "B-12", 1: "B-77"} and log.meta["skipped"] == {"Create Invoice": 1}
    assert log.start == dt.datetime(2026, 3, 2) and log.end == 34.0


def test_unmapped_rows_of_a_mes_file_through_read_log(tmp_path):
    p = tmp_path / "mes.csv"
    p.write_text("timestamp,event,unit,state\n1.0,state,u,idle\n2.0,coffee,,\n2.5,coffee,,\n")
    with pytest.raises(LogError, match="line 3: event: bad value 'coffee'"):
        read_log(p, start=dt.datetime(2026, 1, 5))
    log = read_log(p, start=dt.datetime(2026, 1, 5), unmapped="skip")
    assert log.meta["skipped"] == {"coffee": 2} and log.table.num_rows == 1 and log.end == 1.0


# --------------------------------------------------------------------------- bad input
def _write(tmp_path, name: str, data: bytes | str):
    p = tmp_path / name
    if isinstance(data, str):
        p.write_text(data, encoding="utf-8")
    else:
        p.write_bytes(data)
    return p


def _sqlite_without_ocel(tmp_path):
    p = tmp_path / "plant.sqlite"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE readings (tag TEXT, value REAL)")
    con.commit()
    con.close()
    return p


def _parquet(tmp_path, name, table):
    p = tmp_path / name
    pq.write_table(table, p)
    return p


BAD = {
    "missing file": (lambda d: d / "nope.csv", r"nope.csv: no such file or folder"),
    "folder without a run": (
        lambda d: (d / "empty").mkdir() or d / "empty",
        r"empty: a folder without a run \(no events.parquet",
    ),
    "wrong extension": (
        lambda d: _write(d, "log.xlsx", "x"),
        r"log.xlsx: extension '.xlsx'; expected one of .parquet, .csv, .jsonocel",
    ),
    "OCEL XML": (lambda d: _write(d, "log.xmlocel", "<log/>"), r"OCEL XML is not read"),
    "CSV not UTF-8": (
        lambda d: _write(d, "l.csv", b"timestamp,event\n2026-01-01,st\xe4rt\n"),
        r"l.csv: line 2: not UTF-8 text \(byte 29: ",
    ),
    "JSON not UTF-8": (
        lambda d: _write(d, "l.json", b'{"events": [\n"\xff"]}'),
        r"l.json: line 2: not UTF-8 text",
    ),
    "malformed JSON": (
        lambda d: _write(d, "l.jsonocel", '{"eventTypes": [],\n "events": [}'),
        r"l.jsonocel: line 2, column 13: malformed JSON",
    ),
    "JSON that is not OCEL": (
        lambda d: _write(d, "l.json", '{"traces": []}'),
        r"l.json: not an OCEL 2.0 JSON log: missing eventTypes, objectTypes, events, objects",
    ),
    "malformed CSV": (
        lambda d: _write(d, "l.csv", 'timestamp,event,unit\n2026-01-01,state,"u\n'),
        r"l.csv: line \d+: malformed CSV",
    ),
    "SQLite that is not OCEL": (
        _sqlite_without_ocel,
        r"plant.sqlite: not an OCEL 2.0 SQLite log: no table\(s\) event, event_object, object",
    ),
    "not SQLite at all": (
        lambda d: _write(d, "l.sqlite", "timestamp,event\n" * 300),
        r"l.sqlite: not an SQLite database",
    ),
    "bad timestamp in a CSV row": (
        lambda d: _write(
            d,
            "l.csv",
            "timestamp,event,unit,state\n2026-01-01T06:00,state,u,idle\n2026-13-01T06:00,state,u,down\n",
        ),
        r"l.csv: line 3: timestamp: bad value '2026-13-01T06:00'; expected an ISO 8601 date-time",
    ),
    "bad timestamp in an OCEL event": (
        lambda d: _write(
            d,
            "l.json",
            json.dumps(
                {
                    "eventTypes": [],
                    "objectTypes": [],
                    "objects": [{"id": "u", "type": "unit"}],
                    "events": [
                        {
                            "id": "e1",
                            "type": "state",
                            "time": "yesterday",
                            "relationships": [{"objectId": "u", "qualifier": "unit"}],
                        }
                    ],
                }
            ),
        ),
        r"l.json: \$\.events\[0\]: time: bad value 'yesterday'; expected an ISO 8601",
    ),
    "a Parquet file that is not Parquet": (
        lambda d: _write(d, "events.parquet", b"PAR1 not really"),
        r"events.parquet: not a readable Parquet file",
    ),
    "a Parquet file of neither convention": (
        lambda d: _parquet(d, "x.parquet", pa.table({"tag": ["a"], "reading": [1.0]})),
        r"x.parquet: header: no column timestamp or event \(found: tag, reading\)",
    ),
    "a twin log with an unknown kind": (
        lambda d: _parquet(
            d,
            "events.parquet",
            pa.table(
                {
                    c: [v]
                    for c, v in zip(
                        (
                            "t",
                            "kind",
                            "unit",
                            "batch",
                            "order",
                            "product",
                            "step",
                            "state",
                            "value",
                            "detail",
                        ),
                        (0.0, "teleport", None, -1, None, None, -1, None, 0.0, None),
                        strict=True,
                    )
                }
            ),
        ),
        r"events.parquet: column kind: unknown kind\(s\) 'teleport'",
    ),
    "a twin log missing columns": (
        lambda d: _parquet(d, "events.parquet", pa.table({"t": [0.0], "kind": ["state"]})),
        r"events.parquet: not a PharmaTwin event log: missing column\(s\) unit, batch",
    ),
    "an empty OCEL log": (
        lambda d: _write(
            d, "l.json", '{"eventTypes": [], "objectTypes": [], "events": [], "objects": []}'
        ),
        r"l.json: holds no events",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_each_class_of_bad_input_is_one_clear_error(tmp_path, case):
    make, message = BAD[case]
    path = make(tmp_path)
    with pytest.raises(LogError, match=message) as err:
        read_log(path, start=dt.datetime(2026, 1, 1))
    assert str(err.value).startswith(str(path)), "the message starts with the file"
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("name", "module", "bound"),
    [
        ("log.csv", mes, "MAX_CSV_BYTES"),
        ("log.parquet", mes, "MAX_PARQUET_BYTES"),
        ("log.jsonocel", ocel_import, "MAX_JSON_BYTES"),
        ("log.sqlite", ocel_import, "MAX_SQLITE_BYTES"),
        ("events.parquet", logs, "MAX_EVENTS_PARQUET_BYTES"),
    ],
)
def test_absurd_sizes_are_refused_with_the_bound(run, tmp_path, monkeypatch, name, module, bound):
    sc, table, _ = run
    path = tmp_path / name
    if name == "events.parquet":
        write_parquet(table, path)
    elif name.endswith((".csv", ".parquet")):
        write_mes(table, path, start=sc.start)
    else:
        export_ocel(
            table, {"start": sc.start}, path, format="sqlite" if name.endswith("sqlite") else "json"
        )
    assert read_log(path, start=sc.start).table.num_rows == table.num_rows  # fine under the bound
    monkeypatch.setattr(module, bound, 1000)
    with pytest.raises(LogError, match=r"bytes; an? .* may have at most 1,000 bytes") as err:
        read_log(path, start=sc.start)
    assert str(err.value).startswith(str(path))


def test_too_many_events_is_refused(run, tmp_path, monkeypatch):
    sc, table, out = run
    monkeypatch.setattr(logs, "MAX_EVENTS", 10)
    with pytest.raises(LogError, match=r"events; a log may have at most 10"):
        read_log(out)
