"""Reading an OCEL 2.0 file (JSON or SQLite) into the in-memory document, checking its
structure and naming the place of every problem."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from twin.log_schema import (
    MAX_EVENTS,
    TIME_EXPECTED,
    LogError,
    decode_utf8,
)
from twin.ocel.document import (
    EPOCH,
    SQL_BACK,
    SQLITE_TABLES,
    OcelDoc,
    OcelEvent,
    OcelObject,
    quote_name,
)


def _need(cond: bool, where: str, value: Any, expected: str) -> None:
    if not cond:
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        raise LogError(f"{where}: bad value {shown[:80]}; expected {expected}")


def _json_types(data: Any, key: str, src: str) -> dict[str, dict[str, str]]:
    items = data[key]
    _need(isinstance(items, list), f"{src}: $.{key}", items, "a list")
    out: dict[str, dict[str, str]] = {}
    for i, t in enumerate(items):
        where = f"{src}: $.{key}[{i}]"
        _need(isinstance(t, dict), where, t, "an object with name and attributes")
        name = t.get("name")
        _need(isinstance(name, str), where + ".name", name, "a type name (text)")
        attrs = t.get("attributes", [])
        _need(isinstance(attrs, list), where + ".attributes", attrs, "a list")
        out[name] = {}
        for j, a in enumerate(attrs):
            aw = f"{where}.attributes[{j}]"
            _need(
                isinstance(a, dict) and isinstance(a.get("name"), str),
                aw,
                a,
                "an object with a name and a type",
            )
            out[name][a["name"]] = str(a.get("type", "string"))
    return out


def _pairs(items: Any, where: str, key: str, second: str, need_time: bool = False) -> list:
    if items is None:
        return []
    _need(isinstance(items, list), where, items, "a list")
    out = []
    for j, a in enumerate(items):
        w = f"{where}[{j}]"
        _need(isinstance(a, dict), w, a, f"an object with {key} and {second}")
        k = a.get(key)
        _need(isinstance(k, str), f"{w}.{key}", k, "text")
        v = a.get(second, "" if second == "qualifier" else None)
        if second == "qualifier":
            _need(isinstance(v, str), f"{w}.qualifier", v, "text")
        if need_time:
            tm = a.get("time")
            _need(isinstance(tm, str), f"{w}.time", tm, TIME_EXPECTED)
            out.append((k, v, tm))
        else:
            out.append((k, v))
    return out


def _fast_event(e: dict) -> OcelEvent:
    """An event of a well-formed file (any deviation raises TypeError/KeyError)."""
    eid, etype, time = e["id"], e["type"], e["time"]
    attrs = [(a["name"], a.get("value")) for a in e.get("attributes") or ()]
    rels = [(r["objectId"], r.get("qualifier", "")) for r in e.get("relationships") or ()]
    if not (type(eid) is str and type(etype) is str and type(time) is str):
        raise TypeError
    if not all(type(n) is str for n, _ in attrs):
        raise TypeError
    if not all(type(o) is str and type(q) is str for o, q in rels):
        raise TypeError
    return OcelEvent(eid, etype, time, attrs, rels)


def _checked_event(e: Any, where: str) -> OcelEvent:
    _need(isinstance(e, dict), where, e, "an event object with id, type and time")
    for k in ("id", "type", "time"):
        _need(isinstance(e.get(k), str), f"{where}.{k}", e.get(k), "text")
    return OcelEvent(
        e["id"],
        e["type"],
        e["time"],
        _pairs(e.get("attributes"), where + ".attributes", "name", "value"),
        _pairs(e.get("relationships"), where + ".relationships", "objectId", "qualifier"),
    )


def _fast_object(o: dict) -> OcelObject:
    oid, otype = o["id"], o["type"]
    attrs = [(a["name"], a.get("value"), a["time"]) for a in o.get("attributes") or ()]
    rels = [(r["objectId"], r.get("qualifier", "")) for r in o.get("relationships") or ()]
    if not (type(oid) is str and type(otype) is str):
        raise TypeError
    if not all(type(n) is str and type(t) is str for n, _, t in attrs):
        raise TypeError
    if not all(type(x) is str and type(q) is str for x, q in rels):
        raise TypeError
    return OcelObject(oid, otype, attrs, rels)


def _checked_object(o: Any, where: str) -> OcelObject:
    _need(isinstance(o, dict), where, o, "an object with id and type")
    for k in ("id", "type"):
        _need(isinstance(o.get(k), str), f"{where}.{k}", o.get(k), "text")
    return OcelObject(
        o["id"],
        o["type"],
        _pairs(o.get("attributes"), where + ".attributes", "name", "value", need_time=True),
        _pairs(o.get("relationships"), where + ".relationships", "objectId", "qualifier"),
    )


def read_json(p: Path) -> OcelDoc:
    raw = p.read_bytes()
    text = decode_utf8(p, raw, "an OCEL 2.0 JSON file in UTF-8")
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise LogError(
            f"{p}: line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg}); "
            "expected an OCEL 2.0 JSON log"
        ) from None
    src = str(p)
    _need(isinstance(data, dict), f"{src}: $", data, "an OCEL 2.0 JSON object")
    missing = [k for k in ("eventTypes", "objectTypes", "events", "objects") if k not in data]
    if missing:
        raise LogError(
            f"{src}: not an OCEL 2.0 JSON log: missing {', '.join(missing)}; expected the "
            "top-level arrays eventTypes, objectTypes, events and objects"
        )
    event_types = _json_types(data, "eventTypes", src)
    object_types = _json_types(data, "objectTypes", src)
    items = data["events"]
    _need(isinstance(items, list), f"{src}: $.events", items, "a list")
    if len(items) > MAX_EVENTS:
        raise LogError(f"{src}: {len(items):,} events; a log may have at most {MAX_EVENTS:,}")
    events = []
    for i, e in enumerate(items):
        try:
            events.append(_fast_event(e))
        except (TypeError, KeyError, AttributeError):  # say exactly what is wrong
            events.append(_checked_event(e, f"{src}: $.events[{i}]"))
    objs = data["objects"]
    _need(isinstance(objs, list), f"{src}: $.objects", objs, "a list")
    objects: dict[str, OcelObject] = {}
    for i, o in enumerate(objs):
        try:
            obj = _fast_object(o)
        except (TypeError, KeyError, AttributeError):
            obj = _checked_object(o, f"{src}: $.objects[{i}]")
        objects[obj.id] = obj
    meta = data.get("pharmatwin")
    return OcelDoc(
        event_types,
        object_types,
        events,
        objects,
        meta if isinstance(meta, dict) else None,
        lambda i: f"{src}: $.events[{i}]",
    )


# --------------------------------------------------------------------------- reading SQLite
def read_sqlite(p: Path) -> OcelDoc:
    src = str(p)
    try:
        con = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LogError(f"{src}: cannot open as SQLite ({exc})") from None
    try:
        try:
            tables = {  # SQLite's names are case-insensitive
                r[0].lower()
                for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise LogError(
                f"{src}: not an SQLite database ({exc}); expected an OCEL 2.0 SQLite log"
            ) from None
        missing = [t for t in SQLITE_TABLES if t not in tables]
        if missing:
            raise LogError(
                f"{src}: not an OCEL 2.0 SQLite log: no table(s) {', '.join(missing)}; expected "
                f"the tables {', '.join(SQLITE_TABLES)}, object_object and one per type"
            )
        return _sqlite_doc(con, src, tables)
    except sqlite3.Error as exc:
        raise LogError(f"{src}: cannot read the OCEL 2.0 SQLite log ({exc})") from None
    finally:
        con.close()


def _columns(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [
        (r[1], (r[2] or "").upper()) for r in con.execute(f"PRAGMA table_info({quote_name(table)})")
    ]


def _sqlite_doc(con: sqlite3.Connection, src: str, tables: set[str]) -> OcelDoc:
    event_types: dict[str, dict[str, str]] = {}
    info: dict[str, tuple[str, list[tuple[str, Any]], str]] = {}  # id -> time, attrs, table
    for etype, suffix in con.execute('SELECT "ocel_type", "ocel_type_map" FROM "event_map_type"'):
        tname = f"event_{suffix}"
        if tname.lower() not in tables:
            raise LogError(
                f"{src}: table event_map_type maps event type {etype!r} to table {tname!r}, "
                "which is not there; expected one table per event type"
            )
        cols = _columns(con, tname)
        names = [c for c, _ in cols]
        if "ocel_id" not in names or "ocel_time" not in names:
            raise LogError(f"{src}: table {tname}: expected columns ocel_id and ocel_time")
        attrs = [(c, t) for c, t in cols if c not in ("ocel_id", "ocel_time")]
        event_types[etype] = {c: SQL_BACK.get(t, "string") for c, t in attrs}
        sel = ", ".join(quote_name(c) for c in ["ocel_id", "ocel_time", *(c for c, _ in attrs)])
        for row in con.execute(f"SELECT {sel} FROM {quote_name(tname)}"):
            values = [(c, v) for (c, _), v in zip(attrs, row[2:], strict=True) if v is not None]
            info[str(row[0])] = (row[1], values, tname)
    rels: dict[str, list[tuple[str, str]]] = {}
    for e, o, q in con.execute(
        'SELECT "ocel_event_id", "ocel_object_id", "ocel_qualifier" FROM "event_object" '
        "ORDER BY rowid"
    ):
        rels.setdefault(str(e), []).append((str(o), "" if q is None else str(q)))
    events = []
    where_of: list[str] = []
    n = con.execute('SELECT count(*) FROM "event"').fetchone()[0]
    if n > MAX_EVENTS:
        raise LogError(f"{src}: {n:,} events; a log may have at most {MAX_EVENTS:,}")
    for eid, etype in con.execute('SELECT "ocel_id", "ocel_type" FROM "event" ORDER BY rowid'):
        eid = str(eid)
        got = info.get(eid)
        if got is None:
            raise LogError(
                f"{src}: table event: event {eid!r} of type {etype!r} has no row in its type's "
                "table (so no time); expected one row per event"
            )
        time, attrs, tname = got
        if not isinstance(time, str):
            time = "" if time is None else str(time)
        events.append(OcelEvent(eid, str(etype), time, attrs, rels.get(eid, [])))
        where_of.append(f"{src}: table {tname}, event {eid!r}")
    object_types: dict[str, dict[str, str]] = {}
    objects: dict[str, OcelObject] = {}
    for oid, otype in con.execute('SELECT "ocel_id", "ocel_type" FROM "object" ORDER BY rowid'):
        objects[str(oid)] = OcelObject(str(oid), str(otype))
    for otype, suffix in con.execute('SELECT "ocel_type", "ocel_type_map" FROM "object_map_type"'):
        tname = f"object_{suffix}"
        if tname.lower() not in tables:
            raise LogError(
                f"{src}: table object_map_type maps object type {otype!r} to table {tname!r}, "
                "which is not there; expected one table per object type"
            )
        cols = _columns(con, tname)
        attrs = [(c, t) for c, t in cols if c not in ("ocel_id", "ocel_time", "ocel_changed_field")]
        object_types[otype] = {c: SQL_BACK.get(t, "string") for c, t in attrs}
        has_changed = any(c == "ocel_changed_field" for c, _ in cols)
        sel = ", ".join(
            quote_name(c)
            for c in [
                "ocel_id",
                "ocel_time",
                *(["ocel_changed_field"] if has_changed else []),
                *(c for c, _ in attrs),
            ]
        )
        k = 3 if has_changed else 2
        for row in con.execute(f"SELECT {sel} FROM {quote_name(tname)} ORDER BY rowid"):
            obj = objects.get(str(row[0]))
            if obj is None:
                continue
            time = str(row[1]) if row[1] is not None else EPOCH
            changed = row[2] if has_changed else None
            for (c, _), v in zip(attrs, row[k:], strict=True):
                if v is not None and (changed is None or changed == c):
                    obj.attributes.append((c, v, time))
    if "object_object" in tables:
        for s, t, q in con.execute(
            'SELECT "ocel_source_id", "ocel_target_id", "ocel_qualifier" FROM "object_object" '
            "ORDER BY rowid"
        ):
            if str(s) in objects:
                objects[str(s)].relationships.append((str(t), "" if q is None else str(q)))
    meta = None
    if "pharmatwin_meta" in tables:
        meta = {
            k: json.loads(v) for k, v in con.execute('SELECT "key", "value" FROM "pharmatwin_meta"')
        }
    return OcelDoc(event_types, object_types, events, objects, meta, where_of.__getitem__)
