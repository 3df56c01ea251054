"""OCEL 2.0 export and import: the one table of column meanings, the official JSON schema,
exact round trips on real runs (with material flow and transport), the SQLite layout, and logs
from other systems mapped by the documented convention."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sqlite3
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import DATA, REPO, SCENARIOS
from tests.twin.helpers import load_data
from twin.eventlog import KINDS
from twin.kpi import compute_kpis
from twin.log_schema import (
    COLUMNS,
    EVENT_SCHEMA,
    O2O,
    OBJECT_COLUMNS,
    OBJECT_TYPES,
    SCHEMA,
    Attr,
    LogError,
    Obj,
    batch_ids,
    make_table,
    markdown_table,
)
from twin.ocel import export_ocel, import_ocel
from twin.simulate import simulate

OCEL_SCHEMA = REPO / "twin" / "schemas" / "ocel20-schema-json.json"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ONE_MS_H = 1e-3 / 3600


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def osd():
    """Three weeks of the reference plant: equipment, QC, materials, AGVs, charging."""
    sc = load_data(
        SCENARIOS / "osd_plant.yaml", **{"simulation.horizon": "3w", "simulation.warmup": "0h"}
    )
    return sc, simulate(sc, seed=5).events


@pytest.fixture(scope="module")
def supply():
    """Four weeks of suppliers, quarantine, expiry, a full cold store, shipments, stockouts."""
    sc = load_data(DATA / "flow_supply.yaml")
    return sc, simulate(sc, seed=3).events


def _values(table: pa.Table, column: str) -> list:
    return [
        "nan" if isinstance(v, float) and math.isnan(v) else v for v in table[column].to_pylist()
    ]


def assert_same_log(a: pa.Table, b: pa.Table) -> None:
    """Same rows and values; times within 1 ms."""
    assert b.schema.remove_metadata() == EVENT_SCHEMA
    assert a.num_rows == b.num_rows
    dt_max = np.abs(a["t"].to_numpy() - b["t"].to_numpy()).max()
    assert dt_max <= ONE_MS_H, f"times differ by {dt_max * 3.6e6:.3f} ms"
    for c in COLUMNS[1:]:
        va, vb = _values(a, c), _values(b, c)
        diff = [(i, x, y) for i, (x, y) in enumerate(zip(va, vb, strict=True)) if x != y]
        assert not diff, f"column {c}: {len(diff)} rows differ, first {diff[:3]}"


def assert_close(got, want, path="kpis"):
    """Equal structure; numbers equal to 1e-6 (the times moved by at most a microsecond)."""
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            assert_close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6, nan_ok=True), path
    else:
        assert got == want, path


def _all_kinds_table() -> pa.Table:
    """One row per kind with every column the table describes filled (and one row with
    undescribed columns filled too, which must survive as generic attributes)."""
    rows = []
    for k, kind in enumerate(KINDS):
        row = {"t": 0.25 * k, "kind": kind}
        for c in OBJECT_COLUMNS:
            s = SCHEMA[kind].columns.get(c)
            if s is None:
                row[c] = {"batch": -1, "step": -1, "value": math.nan}.get(c)
            elif c == "batch":
                row[c] = 7 + k
            elif c == "step":
                row[c] = 2
            elif c == "value":
                row[c] = 1.0 / 3.0 + k
            else:
                row[c] = f"{c}-{kind}-é"
        rows.append(row)
    rows.append(
        {
            "t": 99.0,
            "kind": "breakdown",
            "unit": "gran_1",
            "batch": 4,
            "order": "o9",
            "product": "p",
            "step": 1,
            "state": "odd",
            "value": 2.5e-7,
            "detail": 'free text, with "quotes" and\nnewline',
        }
    )
    return make_table({c: [r[c] for r in rows] for c in COLUMNS})


# --------------------------------------------------------------------------- the table
def test_every_kind_is_described_and_the_table_is_consistent():
    assert set(SCHEMA) == set(KINDS)
    for kind, spec in SCHEMA.items():
        assert spec.kind == kind and spec.doc
        assert set(spec.columns) <= set(OBJECT_COLUMNS), kind
        types = [o.type for o in spec.objects().values()]
        assert len(types) == len(set(types)), f"{kind}: two columns name one object type"
        names = [a.name for a in spec.attributes().values()]
        assert len(names) == len(set(names)), f"{kind}: two columns share an attribute name"
        for c, s in spec.columns.items():
            if isinstance(s, Obj):
                assert s.type in OBJECT_TYPES and s.qualifier, (kind, c)
            else:
                assert isinstance(s, Attr)
                expected = {"step": {"integer"}, "batch": {"integer"}, "value": {"float"}}
                assert s.type in expected.get(c, {"string"}), (kind, c, s.type)
                # an attribute never takes another column's name (it would read back wrongly)
                assert s.name not in OBJECT_COLUMNS or s.name == c, (kind, c, s.name)
        for ch in spec.changes:
            target = spec.columns[ch.column]
            assert isinstance(target, Obj), (kind, ch)
            assert ch.attribute in OBJECT_TYPES[target.type].attributes, (kind, ch)
            src = ch.source.lstrip("-")
            assert ch.source.startswith("=") or src in spec.columns, (kind, ch)
    for src, dst, q in O2O:
        assert src in OBJECT_TYPES and dst in OBJECT_TYPES and q
    # one attribute name, one type, whichever kind has it: process-mining tools flatten event
    # attributes into one table of columns
    typed: dict[str, set[str]] = {}
    for spec in SCHEMA.values():
        for a in spec.attributes().values():
            typed.setdefault(a.name, set()).add(a.type)
    assert {n: t for n, t in typed.items() if len(t) > 1} == {}


def test_the_docs_hold_the_table():
    doc = (REPO / "docs" / "event_logs.md").read_text(encoding="utf-8")
    assert markdown_table() in doc, "docs/event_logs.md: paste log_schema.markdown_table()"


def test_the_stored_schema_is_the_official_one():
    schema = json.loads(OCEL_SCHEMA.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["eventTypes", "objectTypes", "events", "objects"]
    event = schema["properties"]["events"]["items"]
    assert event["required"] == ["id", "type", "time"]
    rel = event["properties"]["relationships"]["items"]
    assert rel["required"] == ["objectId", "qualifier"]
    obj_attr = schema["properties"]["objects"]["items"]["properties"]["attributes"]["items"]
    assert obj_attr["required"] == ["name", "value", "time"]
    assert "licence" in (REPO / "twin" / "schemas" / "README.md").read_text()


# --------------------------------------------------------------------------- export
def test_json_export_validates_against_the_ocel_schema(osd, tmp_path):
    import jsonschema  # a test-only dependency (never imported by twin)

    sc, table = osd
    out = tmp_path / "osd.jsonocel"
    export_ocel(table, {"start": sc.start, "scenario": sc.name}, out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(json.loads(OCEL_SCHEMA.read_text()))
    errors = list(validator.iter_errors(doc))
    assert not errors, errors[0].message
    times = [e["time"] for e in doc["events"]] + [
        a["time"] for o in doc["objects"] for a in o["attributes"]
    ]
    assert all(RFC3339.match(t) for t in times)
    # negative control: the validator is live (a numeric value breaks the official schema)
    doc["events"][0]["attributes"] = [{"name": "x", "value": 1}]
    assert list(validator.iter_errors(doc))


def test_json_export_relates_objects_and_tracks_their_attributes(osd, tmp_path):
    sc, table = osd
    out = tmp_path / "osd.jsonocel"
    summary = export_ocel(table, {"start": sc.start, "seed": 5}, out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert summary.events == table.num_rows == len(doc["events"])
    assert doc["pharmatwin"]["start"] == sc.start.isoformat() and doc["pharmatwin"]["seed"] == 5
    objects = {o["id"]: o for o in doc["objects"]}
    assert len(objects) == len(doc["objects"]) == summary.objects
    declared = {
        t["name"]: {a["name"]: a["type"] for a in t["attributes"]} for t in doc["eventTypes"]
    }
    spec_names = {k: {a.name for a in SCHEMA[k].attributes().values()} for k in SCHEMA}
    for e in doc["events"]:
        for r in e["relationships"]:
            assert r["objectId"] in objects
        for a in e["attributes"]:
            assert a["name"] in declared[e["type"]]
            assert a["name"] in spec_names[e["type"]], "the twin needed a generic attribute"
    # the first step of the first batch: unit, batch, order and product, with qualifiers
    step = next(e for e in doc["events"] if e["type"] == "step_start")
    quals = {r["qualifier"]: r["objectId"] for r in step["relationships"]}
    assert set(quals) == {"unit", "batch", "order", "product"}
    when = sc.start + dt.timedelta(hours=table["t"][int(step["id"][1:])].as_py())
    written = dt.datetime.fromisoformat(step["time"]).replace(tzinfo=None)
    assert abs(written - when) <= dt.timedelta(microseconds=1)
    batch = objects[quals["batch"]]
    assert {(r["objectId"], r["qualifier"]) for r in batch["relationships"]} == {
        (quals["order"], "part of"),
        (quals["product"], "makes"),
    }
    statuses = [a["value"] for a in batch["attributes"] if a["name"] == "status"]
    assert statuses[:3] == ["released", "processing", "step_done"]
    # a unit's state attribute is its state after each instant at which it changed
    unit = quals["unit"]
    after: dict[str, str] = {}  # instant -> the state after it (the last event of the instant)
    for e in doc["events"]:
        if e["type"] == "state" and e["relationships"][0]["objectId"] == unit:
            after[e["time"]] = next(a["value"] for a in e["attributes"] if a["name"] == "state")
    changes, before = [], None
    for time, value in after.items():
        if value != before:
            changes.append((time, value))
        before = value
    tracked = [(a["time"], a["value"]) for a in objects[unit]["attributes"] if a["name"] == "state"]
    assert tracked == changes and len(changes) > 3
    cls = [r for r in objects[unit]["relationships"] if r["qualifier"] == "instance of"]
    assert len(cls) == 1 and objects[cls[0]["objectId"]]["type"] == "equipment_class"
    # a lot's quantity goes down by what is picked from it
    lot_id = next(
        r["objectId"]
        for e in doc["events"]
        if e["type"] == "material_pick"
        for r in e["relationships"]
        if r["qualifier"] == "lot"
    )
    lot = objects[lot_id]
    received = float(next(a["value"] for a in lot["attributes"] if a["name"] == "quantity"))
    picked = sum(
        float(next(a["value"] for a in e["attributes"] if a["name"] == "quantity"))
        for e in doc["events"]
        if e["type"] == "material_pick"
        and {"objectId": lot_id, "qualifier": "lot"} in e["relationships"]
    )
    last = float([a["value"] for a in lot["attributes"] if a["name"] == "quantity"][-1])
    assert last == pytest.approx(received - picked)
    assert any(r["qualifier"] == "of material" for r in lot["relationships"])
    # vehicles are objects of their own, not units
    assert any(o["type"] == "vehicle" for o in doc["objects"])
    agv = next(e for e in doc["events"] if e["type"] == "agv_state")
    assert objects[agv["relationships"][0]["objectId"]]["type"] == "vehicle"


def test_sqlite_export_has_the_ocel_relational_layout(osd, tmp_path):
    sc, table = osd
    out = tmp_path / "osd.sqlite"
    summary = export_ocel(table, {"start": sc.start}, out, format="sqlite")
    con = sqlite3.connect(out)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "event",
        "object",
        "event_object",
        "object_object",
        "event_map_type",
        "object_map_type",
    } <= tables
    maps = dict(con.execute("SELECT ocel_type, ocel_type_map FROM event_map_type"))
    assert set(maps) == set(table["kind"].to_pylist())
    assert all(f"event_{m}" in tables for m in maps.values())
    assert con.execute("SELECT count(*) FROM event").fetchone()[0] == summary.events
    n_state = con.execute("SELECT count(*) FROM event_state").fetchone()[0]
    assert n_state == Counter(table["kind"].to_pylist())["state"]
    cols = [r[1] for r in con.execute("PRAGMA table_info(event_state)")]
    assert cols == ["ocel_id", "ocel_time", "state", "power_kw"]
    t0 = con.execute("SELECT ocel_time FROM event_state ORDER BY rowid LIMIT 1").fetchone()[0]
    assert t0 == sc.start.strftime("%Y-%m-%d %H:%M:%S.%f")
    # the object tables hold what the JSON form holds: static values in the initial row,
    # then one row per change
    export_ocel(table, {"start": sc.start}, tmp_path / "osd.json")
    doc = json.loads((tmp_path / "osd.json").read_text(encoding="utf-8"))
    omap = dict(con.execute("SELECT ocel_type, ocel_type_map FROM object_map_type"))
    from_sqlite: dict[str, list] = {}
    for suffix in omap.values():
        names = [r[1] for r in con.execute(f"PRAGMA table_info(object_{suffix})")]
        assert names[:3] == ["ocel_id", "ocel_time", "ocel_changed_field"]
        for row in con.execute(f"SELECT * FROM object_{suffix} ORDER BY rowid"):
            oid, time, changed, *values = row
            for name, v in zip(names[3:], values, strict=True):
                if v is not None and changed in (None, name):
                    assert (changed is None) == time.startswith("1970-01-01"), (oid, name)
                    from_sqlite.setdefault(oid, []).append((name, v, time))

    def sql(time: str) -> str:  # the SQLite form's spelling of a time
        return time.replace("T", " ").removesuffix("Z")

    from_json = {
        o["id"]: [
            (a["name"], sql(a["value"]) if a["name"] == "due" else a["value"], sql(a["time"]))
            for a in o["attributes"]
        ]
        for o in doc["objects"]
        if o["attributes"]
    }
    assert set(from_sqlite) == set(from_json)
    for oid, attrs in from_json.items():
        got = sorted(from_sqlite[oid], key=lambda a: (a[2], a[0]))
        want = sorted(attrs, key=lambda a: (a[2], a[0]))
        assert [(n, t) for n, _, t in got] == [(n, t) for n, _, t in want], oid
        assert [str(v) if not isinstance(v, float) else repr(v) for _, v, _ in got] == [
            v for _, v, _ in want
        ], oid
    qual = con.execute(
        "SELECT DISTINCT ocel_qualifier FROM event_object eo JOIN event e ON e.ocel_id = "
        "eo.ocel_event_id WHERE e.ocel_type = 'lot_receipt'"
    ).fetchall()
    assert {q for (q,) in qual} == {"warehouse", "material", "lot"}
    con.close()


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", ["json", "sqlite"])
def test_a_plant_run_round_trips_exactly(osd, tmp_path, fmt):
    sc, table = osd
    out = tmp_path / ("osd.jsonocel" if fmt == "json" else "osd.sqlite")
    export_ocel(table, {"start": sc.start, "scenario": sc.name}, out, format=fmt)
    back, meta = import_ocel(out)
    assert_same_log(table, back)
    assert meta["start"] == sc.start and meta["pharmatwin"]["scenario"] == sc.name
    assert not meta["skipped"] and not meta["synthesized"] and not meta["batch_ids"]
    # every KPI of the imported log is the run's
    assert_close(compute_kpis(back), compute_kpis(table))


@pytest.mark.parametrize("fmt", ["json", "sqlite"])
def test_material_flow_round_trips(supply, tmp_path, fmt):
    sc, table = supply
    kinds = set(table["kind"].to_pylist())
    assert {"shipment", "stockout", "wh_full", "starve_start", "material_produce"} <= kinds
    out = tmp_path / f"supply.{'jsonocel' if fmt == 'json' else 'sqlite'}"
    export_ocel(table, {"start": sc.start}, out, format=fmt)
    back, _ = import_ocel(out)
    assert_same_log(table, back)


@pytest.mark.parametrize("fmt", ["json", "sqlite"])
def test_every_kind_and_column_round_trips(tmp_path, fmt):
    table = _all_kinds_table()
    out = tmp_path / f"all.{'json' if fmt == 'json' else 'sqlite3'}"
    export_ocel(table, {"start": "2026-03-01T06:00:00"}, out, format=fmt)
    back, meta = import_ocel(out)
    assert_same_log(table, back)
    assert meta["start"] == dt.datetime(2026, 3, 1, 6)


def test_export_refuses_bad_arguments(osd, tmp_path):
    sc, table = osd
    with pytest.raises(LogError, match="format: bad value 'xml'"):
        export_ocel(table, {"start": sc.start}, tmp_path / "x", format="xml")
    with pytest.raises(LogError, match=r"scenario_meta.start: bad value 'soon'"):
        export_ocel(table, {"start": "soon"}, tmp_path / "x.json")
    with pytest.raises(LogError, match="a folder is there"):
        export_ocel(table, {"start": sc.start}, tmp_path)
    with pytest.raises(LogError, match="no folder"):
        export_ocel(table, {"start": sc.start}, tmp_path / "missing" / "x.json")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_the_export_answers_duckdb_queries(osd, tmp_path):
    import duckdb

    sc, table = osd
    out = tmp_path / "osd.jsonocel"
    export_ocel(table, {"start": sc.start}, out)
    rows = duckdb.sql(
        f"""
        WITH ev AS (SELECT unnest(events) AS e
                    FROM read_json('{out}', maximum_object_size = 1000000000))
        SELECT r.objectId AS unit, count(*) AS steps
        FROM (SELECT e.type AS type, unnest(e.relationships) AS r FROM ev)
        WHERE type = 'step_start' AND r.qualifier = 'unit'
        GROUP BY ALL ORDER BY unit
        """
    ).fetchall()
    kinds = table["kind"].to_pylist()
    units = [u for u, k in zip(table["unit"].to_pylist(), kinds, strict=True) if k == "step_start"]
    assert rows == sorted((f"unit:{u}", n) for u, n in Counter(units).items())


# --------------------------------------------------------------------------- logs from elsewhere
def foreign_doc() -> dict:
    """An OCEL 2.0 JSON log as another MES might write it: its own names, native JSON values,
    offsets, an event type the twin has no kind for, machine states as object attributes."""
    ev = []

    def add(i, typ, time, rels, attrs=()):
        ev.append(
            {
                "id": f"x{i}",
                "type": typ,
                "time": time,
                "attributes": [{"name": n, "value": v} for n, v in attrs],
                "relationships": [{"objectId": o, "qualifier": q} for o, q in rels],
            }
        )

    add(1, "Create Invoice", "2026-03-02T05:00:00+01:00", [("PO-1", "order")])
    add(
        2,
        "Start Operation",
        "2026-03-02T06:30:00+01:00",
        [("M1", "machine"), ("B-77", "batch"), ("OP-9", "operator")],
        [("step", 0), ("shift", "A")],
    )
    add(
        3,
        "Complete Operation",
        "2026-03-02T08:00:00+01:00",
        [("M1", "machine"), ("B-77", "batch")],
        [("step", 0), ("processing_h", 1.5)],
    )
    add(
        4,
        "StartOperation",
        "2026-03-02T08:15:00+01:00",
        [("M2", "machine"), ("B-77", "batch")],
        [("step", "1")],
    )
    add(5, "Failure", "2026-03-02T09:00:00+01:00", [("M2", "resource")])
    add(6, "QC Released", "2026-03-03T10:00:00+01:00", [("B-77", "batch")], [("size", "200")])
    add(
        0,
        "Start Operation",
        "2026-03-02T06:00:00+01:00",
        [("M1", "machine"), ("B-12", "batch")],
        [("step", 0)],
    )
    return {
        "eventTypes": [{"name": n, "attributes": []} for n in sorted({e["type"] for e in ev})],
        "objectTypes": [
            {"name": n, "attributes": []}
            for n in ("Machine", "Batch", "ProductionOrder", "Product", "Operator", "MachineType")
        ],
        "events": ev,
        "objects": [
            {
                "id": "M1",
                "type": "Machine",
                "attributes": [
                    {"name": "status", "value": "idle", "time": "1970-01-01T00:00:00Z"},
                    {"name": "status", "value": "processing", "time": "2026-03-02T06:00:00+01:00"},
                    {"name": "room", "value": "R2", "time": "1970-01-01T00:00:00Z"},
                ],
                "relationships": [{"objectId": "granulator", "qualifier": "is a"}],
            },
            {"id": "M2", "type": "Machine"},
            {"id": "granulator", "type": "MachineType"},
            {
                "id": "B-77",
                "type": "Batch",
                "relationships": [
                    {"objectId": "PO-1", "qualifier": "for"},
                    {"objectId": "tab_a", "qualifier": "of"},
                ],
            },
            {"id": "B-12", "type": "Batch"},
            {"id": "PO-1", "type": "ProductionOrder"},
            {"id": "tab_a", "type": "Product"},
            {"id": "OP-9", "type": "Operator"},
        ],
    }


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def test_a_foreign_ocel_log_maps_by_the_convention(tmp_path):
    path = tmp_path / "mes.jsonocel"
    path.write_text(json.dumps(foreign_doc()))
    with pytest.raises(LogError, match=r"'Create Invoice' \(1\).*unmapped='skip'"):
        import_ocel(path)
    table, meta = import_ocel(path, unmapped="skip")
    assert meta["skipped"] == {"Create Invoice": 1}
    assert meta["start"] == dt.datetime(2026, 3, 2)  # midnight of the first event, wall clock
    assert meta["ignored_relations"] == {"Start Operation -> Operator": 1}
    assert meta["ignored_attributes"] == {"Start Operation.shift": 1}
    rows = _rows(table)
    kinds = [r["kind"] for r in rows]
    # units named as objects exist from the start; M1's status changes are its state events
    assert kinds[:2] == ["unit_added", "unit_added"]
    assert (
        rows[0]["unit"] == "M1" and rows[0]["detail"] == "granulator" and rows[0]["state"] == "R2"
    )
    assert meta["synthesized"] == {"unit_added": 2, "state": 2}
    by_kind = [
        (r["kind"], r["t"], r["unit"], r["batch"], r["order"], r["product"], r["step"])
        for r in rows[2:]
    ]
    assert by_kind == [
        ("state", 6.0, "M1", -1, None, None, -1),  # the 1970 initial value, at the first event
        ("step_start", 6.0, "M1", 0, None, None, 0),
        ("state", 6.0, "M1", -1, None, None, -1),
        ("step_start", 6.5, "M1", 1, "PO-1", "tab_a", 0),
        ("step_end", 8.0, "M1", 1, "PO-1", "tab_a", 0),
        ("step_start", 8.25, "M2", 1, "PO-1", "tab_a", 1),
        ("breakdown", 9.0, "M2", -1, None, None, -1),
        ("qc_release", 34.0, None, 1, "PO-1", "tab_a", -1),
    ]
    assert [r["state"] for r in rows if r["kind"] == "state"] == ["idle", "processing"]
    assert rows[-1]["value"] == 200.0 and rows[6]["value"] == 1.5
    # text batch ids numbered by first appearance in time, the text kept
    assert meta["batch_ids"] == {0: "B-12", 1: "B-77"} == batch_ids(table)


def test_a_foreign_sqlite_log_in_the_specs_layout_imports(tmp_path):
    """The SQLite layout of the specification's minimal example, written by hand."""
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE "event" ("ocel_id" TEXT, "ocel_type" TEXT);
        INSERT INTO event VALUES ('e1', 'Start Operation'), ('e2', 'state change');
        CREATE TABLE "event_object" ("ocel_event_id" TEXT, "ocel_object_id" TEXT,
                                     "ocel_qualifier" TEXT);
        INSERT INTO event_object VALUES ('e1', 'o1', 'order'), ('e1', 'm1', 'machine'),
                                        ('e1', 'b1', 'batch'), ('e2', 'm1', 'machine');
        CREATE TABLE "object" ("ocel_id" TEXT, "ocel_type" TEXT);
        INSERT INTO object VALUES ('o1', 'Order'), ('m1', 'Machine'), ('b1', 'Batch');
        CREATE TABLE "object_object" ("ocel_source_id" TEXT, "ocel_target_id" TEXT,
                                      "ocel_qualifier" TEXT);
        CREATE TABLE "event_StartOperation" ("ocel_id" TEXT, "ocel_time" TEXT, "step" INTEGER);
        INSERT INTO event_StartOperation VALUES ('e1', '2026-03-02 06:00:00', 2);
        CREATE TABLE "event_statechange" ("ocel_id" TEXT, "ocel_time" TEXT, "state" TEXT,
                                          "power_kw" REAL);
        INSERT INTO event_statechange VALUES ('e2', '2026-03-02 05:59:00', 'setup', 4.5);
        CREATE TABLE "event_map_type" ("ocel_type" TEXT, "ocel_type_map" TEXT);
        INSERT INTO event_map_type VALUES ('Start Operation', 'StartOperation'),
                                          ('state change', 'statechange');
        CREATE TABLE "object_map_type" ("ocel_type" TEXT, "ocel_type_map" TEXT);
        INSERT INTO object_map_type VALUES ('Order', 'Order'), ('Machine', 'Machine'),
                                           ('Batch', 'Batch');
        CREATE TABLE "object_Order" ("ocel_id" TEXT, "ocel_time" TEXT, "ocel_changed_field" TEXT);
        CREATE TABLE "object_Machine" ("ocel_id" TEXT, "ocel_time" TEXT,
                                       "ocel_changed_field" TEXT, "state" TEXT);
        INSERT INTO object_Machine VALUES ('m1', '1970-01-01 00:00:00', NULL, 'idle');
        CREATE TABLE "object_Batch" ("ocel_id" TEXT, "ocel_time" TEXT, "ocel_changed_field" TEXT);
        """
    )
    con.commit()
    con.close()
    table, meta = import_ocel(path, start=dt.datetime(2026, 3, 2, 5))
    rows = _rows(table)
    assert [(r["kind"], r["t"]) for r in rows] == [
        ("unit_added", pytest.approx(59 / 60)),
        ("state", pytest.approx(59 / 60)),
        ("step_start", 1.0),
    ]
    assert rows[1]["state"] == "setup" and rows[1]["value"] == 4.5  # its own state events win
    assert rows[2]["unit"] == "m1" and rows[2]["batch"] == 0 and rows[2]["order"] == "o1"
    assert (
        rows[2]["step"] == 2 and meta["batch_ids"] == {0: "b1"} and meta["format"] == "ocel-sqlite"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["events"][2]["relationships"].append(
                {"objectId": "M2", "qualifier": "machine"}
            ),
            r"\$\.events\[2\]: relates two objects of type 'Machine' \('M1' and 'M2'\); a step_end event has one unit",
        ),
        (
            lambda d: d["events"][5].update(relationships=[]),
            r"\$\.events\[5\]: a 'QC Released' event \(kind qc_release\) needs an object of type 'batch'",
        ),
        (
            lambda d: d["events"][4]["relationships"].append({"objectId": "M9", "qualifier": "x"}),
            r"\$\.events\[4\]: relationship to 'M9': no such object",
        ),
        (
            lambda d: d["events"][3].update(time="2026-03-02 8h15"),
            r"\$\.events\[3\]: time: bad value '2026-03-02 8h15'; expected an ISO 8601",
        ),
        (
            lambda d: d["events"][3].update(time="2026-03-02T08:15:00"),
            r"\$\.events\[3\]: time: bad value '2026-03-02T08:15:00': no UTC offset where the first",
        ),
        (
            lambda d: d["events"][3].update(attributes=[{"name": "step", "value": "two"}]),
            r"\$\.events\[3\]: attribute 'step': bad value 'two'; expected a whole number",
        ),
        (lambda d: d.pop("objects"), r"not an OCEL 2.0 JSON log: missing objects"),
        (
            lambda d: d["events"][1].update(id=7),
            r"\$\.events\[1\]\.id: bad value 7; expected text",
        ),
    ],
)
def test_what_cannot_be_mapped_is_a_clear_error(tmp_path, change, message):
    doc = foreign_doc()
    change(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LogError, match=message) as err:
        import_ocel(path, unmapped="skip")
    assert str(path) in str(err.value)


def test_batch_text_ids_survive_an_export(tmp_path):
    table = make_table(
        {
            "t": [0.0, 1.0],
            "kind": ["batch_release", "qc_release"],
            "unit": [None, None],
            "batch": [0, 0],
            "order": ["o1", "o1"],
            "product": ["p", "p"],
            "step": [-1, -1],
            "state": [None, None],
            "value": [100.0, 100.0],
            "detail": [None, None],
        },
        batch_text={0: "LOT-2026/001"},
    )
    out = tmp_path / "b.jsonocel"
    export_ocel(table, {"start": "2026-01-01"}, out)
    assert "batch:LOT-2026/001" in out.read_text()
    back, meta = import_ocel(out)
    assert meta["batch_ids"] == {0: "LOT-2026/001"} and back["batch"].to_pylist() == [0, 0]
