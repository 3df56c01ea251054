"""OCEL 2.0 export and import of the event log, JSON and SQLite, on ``json`` and ``sqlite3``.

Export (:func:`export_ocel`): every row of the log is one event whose type is its kind. The
columns that name objects (``twin.log_schema.SCHEMA``) become event-to-object relationships
with a qualifier, the others event attributes; the object changes the table declares become
time-stamped object attributes (a unit's ``state``, a batch's ``status`` and ``step``, a lot's
``status`` and remaining ``quantity``, a vehicle's ``battery_kwh``), and objects that events
relate together get object-to-object relations (batch -> order, batch -> product, lot ->
material, unit -> equipment class, ...). Object ids are ``<type>:<name>`` (``unit:press_1``,
``batch:12``), unique across types as OCEL requires. Times are ISO 8601 to the microsecond
from the scenario's calendar start; the twin has no time zone, so its wall clock is written
as UTC (``Z``). Attribute values are written as JSON strings, as the official OCEL 2.0 JSON
schema requires, with each attribute's type declared in ``eventTypes`` / ``objectTypes``. A
``pharmatwin`` block (JSON) or ``pharmatwin_meta`` table (SQLite) keeps the start and the run's
metadata; OCEL readers ignore it.

Import (:func:`import_ocel`) reads both forms back into the twin's table: export then import
gives the same rows and values, times within a microsecond. Logs from other systems are mapped
by the convention in ``docs/event_logs.md``: event types are twin kinds or their aliases
(``log_schema.EVENT_ALIASES``), object types fill the columns the kind's row gives that type
(aliases in ``log_schema.OBJECT_TYPE_ALIASES``), attributes fill columns by name. There, units
named as objects get a ``unit_added`` event at the start, a unit's ``state`` (or ``status``)
object attribute changes become ``state`` events, and a batch event without its order or
product takes them from the batch's object-to-object relations. Event types that map to no
kind are an error naming them (or are left out with ``unmapped="skip"``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.log_schema import (
    MAX_EVENTS,
    O2O,
    OBJECT_COLUMNS,
    OBJECT_TYPES,
    SCHEMA,
    TIME_EXPECTED,
    Attr,
    LogError,
    Obj,
    batch_ids,
    check_zones,
    column_type,
    hours_since,
    is_null,
    iso_times,
    kind_of,
    make_table,
    midnight,
    null_of,
    object_type_of,
    parse_timestamp,
)

__all__ = [
    "export_ocel",
    "import_ocel",
    "OcelSummary",
    "MAX_JSON_BYTES",
    "MAX_SQLITE_BYTES",
    "FORMAT_VERSION",
]

MAX_JSON_BYTES = 1 << 30
"""The largest OCEL JSON file read (1 GiB; parsing needs several times that in memory)."""
MAX_SQLITE_BYTES = 4 << 30
"""The largest OCEL SQLite file read (4 GiB)."""
FORMAT_VERSION = 1
"""Version of the ``pharmatwin`` metadata block."""
EPOCH = "1970-01-01T00:00:00Z"
"""OCEL's time of static (initial) object attribute values."""
_SQL_TYPES = {
    "string": "TEXT",
    "integer": "INTEGER",
    "float": "REAL",
    "time": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
_SQL_BACK = {"TEXT": "string", "INTEGER": "integer", "REAL": "float", "TIMESTAMP": "time"}
_SQLITE_TABLES = ("event", "event_object", "object", "event_map_type", "object_map_type")


@dataclass(frozen=True)
class OcelSummary:
    """What an export wrote."""

    path: Path
    format: str
    events: int
    objects: int
    event_types: int
    object_types: int


# --------------------------------------------------------------------------- the OCEL document
@dataclass(slots=True)
class _Event:
    id: str
    type: str
    time: str
    attributes: list[tuple[str, Any]]
    relationships: list[tuple[str, str]]


@dataclass(slots=True)
class _Object:
    id: str
    type: str
    attributes: list[tuple[str, Any, str]] = field(default_factory=list)  # name, value, time
    relationships: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Doc:
    """An OCEL 2.0 log in memory, between the twin's table and a file of either form."""

    event_types: dict[str, dict[str, str]]
    object_types: dict[str, dict[str, str]]
    events: list[_Event]
    objects: dict[str, _Object]
    meta: dict[str, Any] | None = None
    where: Callable[[int], str] = str  # locates event i in its file, for messages


# --------------------------------------------------------------------------- export
def export_ocel(
    table: pa.Table,
    scenario_meta: Mapping[str, Any],
    path: str | Path,
    format: str = "json",
) -> OcelSummary:
    """Write an event log as OCEL 2.0, ``format`` ``"json"`` or ``"sqlite"``.

    ``scenario_meta`` needs ``start`` (the scenario's calendar start: a datetime or ISO text);
    its other entries (scenario name, seed, replication, source...) are kept in the file's
    ``pharmatwin`` metadata. The file is written beside ``path`` and renamed into place, so
    it is whole or absent. LogError for a bad format, start or destination.
    """
    if format not in ("json", "sqlite"):
        raise LogError(f"format: bad value {format!r}; expected 'json' or 'sqlite'")
    start = _start_of(scenario_meta)
    path = Path(path)
    if path.is_dir():
        raise LogError(f"{path}: a folder is there; expected a file name for the OCEL log")
    if not path.parent.is_dir():
        raise LogError(f"{path}: no folder {path.parent}; expected a path in an existing folder")
    meta = {
        "format": FORMAT_VERSION,
        **{k: _plain(v) for k, v in scenario_meta.items()},
        "start": start.isoformat(),
    }
    doc = _to_doc(table, start, meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if format == "json":
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                _write_json(doc, fh)
        else:
            os.close(fd)
            _write_sqlite(doc, Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return OcelSummary(
        path, format, len(doc.events), len(doc.objects), len(doc.event_types), len(doc.object_types)
    )


@functools.cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _start_of(meta: Mapping[str, Any]) -> dt.datetime:
    start = meta.get("start")
    if isinstance(start, dt.datetime):
        return start
    if isinstance(start, dt.date):
        return dt.datetime(start.year, start.month, start.day)
    if isinstance(start, str):
        try:
            return parse_timestamp(start)
        except ValueError:
            pass
    raise LogError(
        f"scenario_meta.start: bad value {start!r}; expected the scenario's calendar start, "
        "a datetime or ISO 8601 text such as 2026-01-05T06:00:00"
    )


def _plain(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, Path):
        return str(v)
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        return v.item()
    return v


def _oid(otype: str, name: str | int) -> str:
    return f"{otype}:{name}"


def _convert(value: Any, otype: str, start: dt.datetime) -> Any:
    """A column value as an attribute of OCEL type ``otype`` (None if it is not one)."""
    try:
        if otype == "time":
            return iso_times(start, np.array([float(value)]))[0]
        if otype == "float":
            return float(value)
        if otype == "integer":
            return int(value)
        if otype == "boolean":
            return bool(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        return None


_STR, _INT, _FLOAT = 0, 1, 2  # how a column marks "none": None, -1, NaN


def _null_kind(column: str) -> int:
    return _INT if column in ("batch", "step") else _FLOAT if column == "value" else _STR


@dataclass(frozen=True)
class _ExportPlan:
    """How the rows of one kind become an event (built once per kind from the table)."""

    objects: tuple[tuple[str, str, str], ...]  # column, object type, qualifier
    attributes: tuple[tuple[str, str, int], ...]  # column, attribute name, null kind
    generic: tuple[str, ...]  # columns the kind does not describe
    o2o: tuple[tuple[str, str, str], ...]  # object-to-object relations its objects make
    changes: tuple[tuple[Any, ...], ...]  # column, attribute, op, source, when, type, static


@functools.cache
def _export_plan(kind: str) -> _ExportPlan:
    spec = SCHEMA[kind]
    objs = spec.objects()
    types = {o.type for o in objs.values()}
    changes = []
    for ch in spec.changes:
        otype = objs[ch.column].type
        atype = OBJECT_TYPES[otype].attributes[ch.attribute]
        if ch.source.startswith("="):
            op, src = "=", ch.source[1:]
        elif ch.source.startswith("-"):
            op, src = "-", ch.source[1:]
        else:
            op, src = "<-", ch.source
        static = ch.attribute in OBJECT_TYPES[otype].static
        changes.append((ch.column, ch.attribute, op, src, ch.when, atype, static))
    return _ExportPlan(
        tuple((c, o.type, o.qualifier) for c, o in objs.items()),
        tuple((c, a.name, _null_kind(c)) for c, a in spec.attributes().items()),
        tuple(c for c in OBJECT_COLUMNS if c not in spec.columns),
        tuple((a, b, q) for a, b, q in O2O if a in types and b in types),
        tuple(changes),
    )


def _has_generic(table: pa.Table, kinds: np.ndarray, names: list[str]) -> np.ndarray:
    """Rows with a value in a column their kind does not describe."""
    nonnull: dict[str, np.ndarray] = {}
    for c in OBJECT_COLUMNS:
        col = table.column(c)
        if c in ("batch", "step"):
            nonnull[c] = col.to_numpy() != -1
        elif c == "value":
            nonnull[c] = ~np.isnan(col.to_numpy())
        else:
            nonnull[c] = col.is_valid().to_numpy(zero_copy_only=False)
    out = np.zeros(table.num_rows, dtype=bool)
    for code, kind in enumerate(names):
        rows = kinds == code
        if rows.any():
            for c in _export_plan(kind).generic:
                out |= rows & nonnull[c]
    return out


def _pylist(col: pa.ChunkedArray) -> list[Any]:
    """A column as Python values (dictionary columns decoded through their dictionary, which
    is many times faster than ``to_pylist``)."""
    arr = col.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        return arr.to_pylist()
    words = [*arr.dictionary.to_pylist(), None]
    idx = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return [words[k] for k in idx.tolist()]


def _to_doc(table: pa.Table, start: dt.datetime, meta: dict[str, Any]) -> _Doc:
    n = table.num_rows
    times = iso_times(start, table.column("t").to_numpy())
    kind_col = table.column("kind").combine_chunks()
    if not pa.types.is_dictionary(kind_col.type):
        kind_col = kind_col.dictionary_encode()
    names = kind_col.dictionary.to_pylist()
    codes = kind_col.indices.to_numpy(zero_copy_only=False)
    generic_rows = _has_generic(table, codes, names)
    kinds = [names[k] for k in codes.tolist()]
    cols = {c: _pylist(table.column(c)) for c in OBJECT_COLUMNS}
    text_of = batch_ids(table)  # batches with text ids (a MES log) keep them
    event_types: dict[str, dict[str, str]] = {}
    objects: dict[str, _Object] = {}
    o2o_seen: set[tuple[str, str, str]] = set()
    # (object, attribute) -> [[value, time], ...]: a value when it differs from the one before
    history: dict[tuple[str, str], list[list[Any]]] = {}
    events: list[_Event] = []
    state_col = cols["state"]
    for i in range(n):
        kind = kinds[i]
        plan = _export_plan(kind)
        if kind not in event_types:
            event_types[kind] = {a.name: a.type for a in SCHEMA[kind].attributes().values()}
        attrs: list[tuple[str, Any]] = []
        rels: list[tuple[str, str]] = []
        ids: dict[str, str] = {}  # column -> object id
        for c, otype, qual in plan.objects:
            v = cols[c][i]
            if v is None or v == -1:  # (a text never equals -1)
                continue
            oid = f"{otype}:{text_of.get(v, v) if text_of and c == 'batch' else v}"
            if oid not in objects:
                objects[oid] = _Object(oid, otype)
            rels.append((oid, qual))
            ids[c] = oid
        for c, name, nk in plan.attributes:
            v = cols[c][i]
            if v is None or (nk == _INT and v == -1) or (nk == _FLOAT and v != v):
                continue
            attrs.append((name, v))
        if generic_rows[i]:  # a column the kind does not describe: kept under its name
            for c in plan.generic:
                v = cols[c][i]
                if not is_null(c, v):
                    event_types[kind].setdefault(c, column_type(c))
                    attrs.append((c, v))
        if plan.o2o:
            by_type = {oid.split(":", 1)[0]: oid for oid in ids.values()}
            for src, dst, q in plan.o2o:
                if src in by_type and dst in by_type:
                    key = (by_type[src], by_type[dst], q)
                    if key not in o2o_seen:
                        o2o_seen.add(key)
                        objects[by_type[src]].relationships.append((by_type[dst], q))
        for c, attribute, op, src, when, atype, static in plan.changes:
            oid = ids.get(c)
            if oid is None or (when and state_col[i] not in when):
                continue
            key = (oid, attribute)
            hist = history.get(key)
            if op == "=":
                value = _convert(src, atype, start)
            elif op == "-":
                taken = cols[src][i]
                if not hist or is_null(src, taken):
                    continue
                value = hist[-1][0] - taken
            else:
                raw = cols[src][i]
                value = None if is_null(src, raw) else _convert(raw, atype, start)
            if value is None:
                continue
            if hist is None:
                history[key] = [[value, EPOCH if static else times[i]]]
            elif hist[-1][1] == times[i]:  # one value per instant: the last
                hist[-1][0] = value
                if len(hist) > 1 and hist[-2][0] == value:  # back to what it was: no change
                    hist.pop()
            elif hist[-1][0] != value:
                hist.append([value, times[i]])
        events.append(_Event(f"e{i}", kind, times[i], attrs, rels))
    for (oid, attribute), hist in history.items():
        objects[oid].attributes.extend((attribute, v, t) for v, t in hist)
    for obj in objects.values():
        obj.attributes.sort(key=lambda a: a[2])  # by time (ISO texts of one format; stable)
    used = {o.type for o in objects.values()}
    object_types = {t: dict(OBJECT_TYPES[t].attributes) for t in OBJECT_TYPES if t in used}
    return _Doc(event_types, object_types, events, objects, meta)


def _text(v: Any) -> str:
    """An attribute value as the JSON string the OCEL 2.0 schema asks for."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _types_json(types: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {"name": n, "attributes": [{"name": a, "type": t} for a, t in attrs.items()]}
        for n, attrs in types.items()
    ]


def _write_json(doc: _Doc, fh: Any) -> None:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    fh.write('{"pharmatwin":' + dumps(doc.meta) + ",\n")
    fh.write('"eventTypes":' + dumps(_types_json(doc.event_types)) + ",\n")
    fh.write('"objectTypes":' + dumps(_types_json(doc.object_types)) + ",\n")
    fh.write('"events":[')
    for k, ev in enumerate(doc.events):
        item = {
            "id": ev.id,
            "type": ev.type,
            "time": ev.time,
            "attributes": [{"name": a, "value": _text(v)} for a, v in ev.attributes],
            "relationships": [{"objectId": o, "qualifier": q} for o, q in ev.relationships],
        }
        fh.write(("\n" if k == 0 else ",\n") + dumps(item))
    fh.write('\n],\n"objects":[')
    for k, obj in enumerate(doc.objects.values()):
        item = {
            "id": obj.id,
            "type": obj.type,
            "attributes": [{"name": a, "value": _text(v), "time": t} for a, v, t in obj.attributes],
            "relationships": [{"objectId": o, "qualifier": q} for o, q in obj.relationships],
        }
        fh.write(("\n" if k == 0 else ",\n") + dumps(item))
    fh.write("\n]}\n")


def _sql_time(text: str) -> str:
    """``2026-01-05T06:00:00.000000Z`` as the SQLite form's ``2026-01-05 06:00:00.000000``."""
    return text.replace("T", " ", 1).removesuffix("Z")


def _table_suffix(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "", name.replace(" ", "_")) or "type"
    out, k = base, 1
    while out.lower() in taken:
        k += 1
        out = f"{base}_{k}"
    taken.add(out.lower())
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write_sqlite(doc: _Doc, path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        ex = con.execute
        ex('CREATE TABLE "event" ("ocel_id" TEXT PRIMARY KEY, "ocel_type" TEXT)')
        ex('CREATE TABLE "object" ("ocel_id" TEXT PRIMARY KEY, "ocel_type" TEXT)')
        ex(
            'CREATE TABLE "event_object" ("ocel_event_id" TEXT, "ocel_object_id" TEXT, '
            '"ocel_qualifier" TEXT)'
        )
        ex(
            'CREATE TABLE "object_object" ("ocel_source_id" TEXT, "ocel_target_id" TEXT, '
            '"ocel_qualifier" TEXT)'
        )
        ex('CREATE TABLE "event_map_type" ("ocel_type" TEXT, "ocel_type_map" TEXT)')
        ex('CREATE TABLE "object_map_type" ("ocel_type" TEXT, "ocel_type_map" TEXT)')
        ex('CREATE TABLE "pharmatwin_meta" ("key" TEXT PRIMARY KEY, "value" TEXT)')
        con.executemany(
            'INSERT INTO "pharmatwin_meta" VALUES (?, ?)',
            [(k, json.dumps(v, ensure_ascii=False)) for k, v in (doc.meta or {}).items()],
        )
        taken: set[str] = set()
        by_type: dict[str, list[_Event]] = {t: [] for t in doc.event_types}
        for ev in doc.events:
            by_type[ev.type].append(ev)
        for etype, attrs in doc.event_types.items():
            suffix = _table_suffix(etype, taken)
            ex('INSERT INTO "event_map_type" VALUES (?, ?)', (etype, suffix))
            names = list(attrs)
            cols = "".join(f", {_q(a)} {_SQL_TYPES[attrs[a]]}" for a in names)
            tname = _q("event_" + suffix)
            ex(f'CREATE TABLE {tname} ("ocel_id" TEXT, "ocel_time" TIMESTAMP{cols})')
            marks = ", ".join("?" * (2 + len(names)))
            rows = []
            for ev in by_type[etype]:
                values = dict(ev.attributes)
                rows.append(
                    (
                        ev.id,
                        _sql_time(ev.time),
                        *(_sql_value(values.get(a), attrs[a]) for a in names),
                    )
                )
            con.executemany(f"INSERT INTO {_q('event_' + suffix)} VALUES ({marks})", rows)
        con.executemany(
            'INSERT INTO "event" VALUES (?, ?)', ((ev.id, ev.type) for ev in doc.events)
        )
        con.executemany(
            'INSERT INTO "event_object" VALUES (?, ?, ?)',
            ((ev.id, o, q) for ev in doc.events for o, q in ev.relationships),
        )
        con.executemany(
            'INSERT INTO "object" VALUES (?, ?)', ((o.id, o.type) for o in doc.objects.values())
        )
        con.executemany(
            'INSERT INTO "object_object" VALUES (?, ?, ?)',
            ((o.id, t, q) for o in doc.objects.values() for t, q in o.relationships),
        )
        taken = set()
        for otype, attrs in doc.object_types.items():
            suffix = _table_suffix(otype, taken)
            ex('INSERT INTO "object_map_type" VALUES (?, ?)', (otype, suffix))
            names = list(attrs)
            cols = "".join(f", {_q(a)} {_SQL_TYPES[attrs[a]]}" for a in names)
            tname = _q("object_" + suffix)
            ex(
                f'CREATE TABLE {tname} ("ocel_id" TEXT, "ocel_time" TIMESTAMP, '
                f'"ocel_changed_field" TEXT{cols})'
            )
            marks = ", ".join("?" * (3 + len(names)))
            rows = []
            for obj in doc.objects.values():
                if obj.type != otype:
                    continue
                initial = {a: v for a, v, t in obj.attributes if t == EPOCH}
                rows.append(
                    (
                        obj.id,
                        _sql_time(EPOCH),
                        None,
                        *(_sql_value(initial.get(a), attrs[a]) for a in names),
                    )
                )
                for a, v, t in obj.attributes:
                    if t != EPOCH:
                        rows.append(
                            (
                                obj.id,
                                _sql_time(t),
                                a,
                                *(_sql_value(v, attrs[a]) if b == a else None for b in names),
                            )
                        )
            con.executemany(f"INSERT INTO {tname} VALUES ({marks})", rows)
        con.commit()
    finally:
        con.close()


def _sql_value(v: Any, atype: str) -> Any:
    """A value for its SQLite column (times in the SQLite form's spelling)."""
    return _sql_time(v) if atype == "time" and isinstance(v, str) else v


# --------------------------------------------------------------------------- import
def import_ocel(
    path: str | Path, *, start: dt.datetime | None = None, unmapped: str = "error"
) -> tuple[pa.Table, dict[str, Any]]:
    """Read an OCEL 2.0 log (JSON, or SQLite by its extension ``.sqlite``/``.sqlite3``/
    ``.db``) into the twin's event-log table.

    Returns the table and its metadata: ``start`` (the calendar start of model time: the
    PharmaTwin export's, else ``start`` if given, else midnight of the first event's day),
    ``format``, ``pharmatwin`` (the export's metadata block, or None), ``batch_ids`` (int ->
    text id, when batch ids were not numbers), and what was left out or added (``skipped``
    event types, ``ignored_relations``, ``ignored_attributes``, ``synthesized`` events).
    ``unmapped`` is ``"error"`` (event types that map to no kind are a LogError naming them)
    or ``"skip"`` (they are left out and counted). LogError for every bad input.
    """
    if unmapped not in ("error", "skip"):
        raise LogError(f"unmapped: bad value {unmapped!r}; expected 'error' or 'skip'")
    p = Path(path)
    if not p.is_file():
        raise LogError(f"{p}: no such file; expected an OCEL 2.0 log (JSON or SQLite)")
    sqlite = p.suffix.lower() in (".sqlite", ".sqlite3", ".db")
    size = p.stat().st_size
    bound = MAX_SQLITE_BYTES if sqlite else MAX_JSON_BYTES
    if size > bound:
        raise LogError(
            f"{p}: {size:,} bytes; an OCEL {'SQLite' if sqlite else 'JSON'} log may have at "
            f"most {bound:,} bytes"
        )
    doc = _read_sqlite(p) if sqlite else _read_json(p)
    table, meta = _from_doc(doc, str(p), start, unmapped)
    meta["format"] = "ocel-sqlite" if sqlite else "ocel-json"
    return table, meta


# --------------------------------------------------------------------------- reading JSON
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


def _fast_event(e: dict) -> _Event:
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
    return _Event(eid, etype, time, attrs, rels)


def _checked_event(e: Any, where: str) -> _Event:
    _need(isinstance(e, dict), where, e, "an event object with id, type and time")
    for k in ("id", "type", "time"):
        _need(isinstance(e.get(k), str), f"{where}.{k}", e.get(k), "text")
    return _Event(
        e["id"],
        e["type"],
        e["time"],
        _pairs(e.get("attributes"), where + ".attributes", "name", "value"),
        _pairs(e.get("relationships"), where + ".relationships", "objectId", "qualifier"),
    )


def _fast_object(o: dict) -> _Object:
    oid, otype = o["id"], o["type"]
    attrs = [(a["name"], a.get("value"), a["time"]) for a in o.get("attributes") or ()]
    rels = [(r["objectId"], r.get("qualifier", "")) for r in o.get("relationships") or ()]
    if not (type(oid) is str and type(otype) is str):
        raise TypeError
    if not all(type(n) is str and type(t) is str for n, _, t in attrs):
        raise TypeError
    if not all(type(x) is str and type(q) is str for x, q in rels):
        raise TypeError
    return _Object(oid, otype, attrs, rels)


def _checked_object(o: Any, where: str) -> _Object:
    _need(isinstance(o, dict), where, o, "an object with id and type")
    for k in ("id", "type"):
        _need(isinstance(o.get(k), str), f"{where}.{k}", o.get(k), "text")
    return _Object(
        o["id"],
        o["type"],
        _pairs(o.get("attributes"), where + ".attributes", "name", "value", need_time=True),
        _pairs(o.get("relationships"), where + ".relationships", "objectId", "qualifier"),
    )


def _read_json(p: Path) -> _Doc:
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LogError(
            f"{p}: line {line}: not UTF-8 text (byte {exc.start}: "
            f"{raw[exc.start : exc.start + 1]!r}); expected an OCEL 2.0 JSON file in UTF-8"
        ) from None
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
    objects: dict[str, _Object] = {}
    for i, o in enumerate(objs):
        try:
            obj = _fast_object(o)
        except (TypeError, KeyError, AttributeError):
            obj = _checked_object(o, f"{src}: $.objects[{i}]")
        objects[obj.id] = obj
    meta = data.get("pharmatwin")
    return _Doc(
        event_types,
        object_types,
        events,
        objects,
        meta if isinstance(meta, dict) else None,
        lambda i: f"{src}: $.events[{i}]",
    )


# --------------------------------------------------------------------------- reading SQLite
def _read_sqlite(p: Path) -> _Doc:
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
        missing = [t for t in _SQLITE_TABLES if t not in tables]
        if missing:
            raise LogError(
                f"{src}: not an OCEL 2.0 SQLite log: no table(s) {', '.join(missing)}; expected "
                f"the tables {', '.join(_SQLITE_TABLES)}, object_object and one per type"
            )
        return _sqlite_doc(con, src, tables)
    except sqlite3.Error as exc:
        raise LogError(f"{src}: cannot read the OCEL 2.0 SQLite log ({exc})") from None
    finally:
        con.close()


def _columns(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(r[1], (r[2] or "").upper()) for r in con.execute(f"PRAGMA table_info({_q(table)})")]


def _sqlite_doc(con: sqlite3.Connection, src: str, tables: set[str]) -> _Doc:
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
        event_types[etype] = {c: _SQL_BACK.get(t, "string") for c, t in attrs}
        sel = ", ".join(_q(c) for c in ["ocel_id", "ocel_time", *(c for c, _ in attrs)])
        for row in con.execute(f"SELECT {sel} FROM {_q(tname)}"):
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
        events.append(_Event(eid, str(etype), time, attrs, rels.get(eid, [])))
        where_of.append(f"{src}: table {tname}, event {eid!r}")
    object_types: dict[str, dict[str, str]] = {}
    objects: dict[str, _Object] = {}
    for oid, otype in con.execute('SELECT "ocel_id", "ocel_type" FROM "object" ORDER BY rowid'):
        objects[str(oid)] = _Object(str(oid), str(otype))
    for otype, suffix in con.execute('SELECT "ocel_type", "ocel_type_map" FROM "object_map_type"'):
        tname = f"object_{suffix}"
        if tname.lower() not in tables:
            raise LogError(
                f"{src}: table object_map_type maps object type {otype!r} to table {tname!r}, "
                "which is not there; expected one table per object type"
            )
        cols = _columns(con, tname)
        attrs = [(c, t) for c, t in cols if c not in ("ocel_id", "ocel_time", "ocel_changed_field")]
        object_types[otype] = {c: _SQL_BACK.get(t, "string") for c, t in attrs}
        has_changed = any(c == "ocel_changed_field" for c, _ in cols)
        sel = ", ".join(
            _q(c)
            for c in [
                "ocel_id",
                "ocel_time",
                *(["ocel_changed_field"] if has_changed else []),
                *(c for c, _ in attrs),
            ]
        )
        k = 3 if has_changed else 2
        for row in con.execute(f"SELECT {sel} FROM {_q(tname)} ORDER BY rowid"):
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
    return _Doc(event_types, object_types, events, objects, meta, where_of.__getitem__)


# --------------------------------------------------------------------------- document -> table
def _names(objects: dict[str, _Object]) -> dict[str, str]:
    """Object id -> the name the twin's column holds: ``<type>:`` stripped when every object of
    that type has it (PharmaTwin's own ids), else the id itself."""
    by_type: dict[str, list[str]] = {}
    for oid, o in objects.items():
        by_type.setdefault(o.type, []).append(oid)
    out = {}
    for otype, ids in by_type.items():
        prefix = otype + ":"
        strip = all(i.startswith(prefix) for i in ids)
        for i in ids:
            out[i] = i[len(prefix) :] if strip else i
    return out


def _as_column(column: str, value: Any) -> Any:
    """A value for a column (ValueError if it cannot be one)."""
    if column in ("batch", "step"):
        if isinstance(value, bool):
            raise ValueError("a boolean")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("not a whole number")
            return int(value)
        return int(str(value).strip())
    if column == "value":
        if isinstance(value, bool):
            raise ValueError("a boolean")
        return float(value) if not isinstance(value, str) else float(value.strip())
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return value if isinstance(value, str) else str(value)


_EXPECT = {
    "batch": "a whole number",
    "step": "a whole number (recipe step index)",
    "value": "a number",
}


@dataclass
class _Row:
    time: dt.datetime
    order: tuple[int, int]
    kind: str
    cols: dict[str, Any]
    batch_obj: str | None = None  # the batch's object id, when an object gave it


def _from_doc(
    doc: _Doc, source: str, start: dt.datetime | None, unmapped: str
) -> tuple[pa.Table, dict[str, Any]]:
    events = doc.events
    if not events:
        raise LogError(f"{source}: holds no events; expected an event log")
    times: list[dt.datetime] = []
    for i, ev in enumerate(events):
        try:
            times.append(parse_timestamp(ev.time))
        except ValueError:
            raise LogError(
                f"{doc.where(i)}: time: bad value {ev.time!r}; expected {TIME_EXPECTED}"
            ) from None
    check_zones(times, lambda i: f"{doc.where(i)}: time")
    otype = {oid: object_type_of(o.type) for oid, o in doc.objects.items()}
    names = _names(doc.objects)
    ours = doc.meta is not None
    skipped: Counter[str] = Counter()
    ignored_rel: Counter[str] = Counter()
    ignored_attr: Counter[str] = Counter()
    rows: list[_Row] = []
    for i in sorted(range(len(events)), key=times.__getitem__):
        ev = events[i]
        kind = kind_of(ev.type)
        if kind is None:
            skipped[ev.type] += 1
            continue
        rows.append(_map_event(doc, i, ev, kind, times[i], otype, names, ignored_rel, ignored_attr))
    if skipped and unmapped == "error":
        shown = ", ".join(f"{t!r} ({n})" for t, n in skipped.most_common(10))
        more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        raise LogError(
            f"{source}: event type(s) that map to no twin kind: {shown}{more}; expected the "
            "kinds of twin.eventlog.KINDS or their aliases (docs/event_logs.md), or import with "
            "unmapped='skip' to leave them out"
        )
    if not rows:
        raise LogError(f"{source}: no event maps to a twin kind; see docs/event_logs.md")
    synthesized: dict[str, int] = {}
    if not ours:
        _fill_from_o2o(rows, doc, otype, names)
        rows = _synthesize(rows, doc, source, otype, names, times, synthesized)
    if ours and doc.meta.get("start"):  # type: ignore[union-attr]
        try:
            start = parse_timestamp(str(doc.meta["start"])).replace(tzinfo=None)  # type: ignore[index]
        except ValueError:
            raise LogError(
                f"{source}: pharmatwin.start: bad value {doc.meta['start']!r}; "  # type: ignore[index]
                f"expected {TIME_EXPECTED}"
            ) from None
    elif start is None:
        start = midnight(min(r.time for r in rows))
    t = hours_since([r.time for r in rows], start)
    if len(t) and t.min() < 0:
        k = int(np.argmin(t))
        raise LogError(
            f"{source}: an event of kind {rows[k].kind} at {rows[k].time.isoformat()} is before "
            f"the log's start {start.isoformat()}; expected a start at or before the first event"
        )
    batch_text = _batch_numbers(rows)
    cols: dict[str, list[Any]] = {c: [r.cols[c] for r in rows] for c in OBJECT_COLUMNS}
    table = make_table(
        {"t": t, "kind": [r.kind for r in rows], **cols}, batch_text=batch_text or None
    )
    meta = {
        "start": start.replace(tzinfo=None),
        "pharmatwin": doc.meta,
        "batch_ids": batch_text,
        "skipped": dict(skipped),
        "ignored_relations": dict(ignored_rel),
        "ignored_attributes": dict(ignored_attr),
        "synthesized": synthesized,
    }
    return table, meta


@dataclass(frozen=True)
class _KindPlan:
    """How an event of one kind fills the columns (built once per kind)."""

    objs: dict[str, Obj]
    column_of_type: dict[str, str]  # object type -> column
    by_name: dict[str, str]  # attribute name -> column (also lower-cased)
    required: tuple[tuple[str, Obj | Attr], ...]


@functools.cache
def _plan(kind: str) -> _KindPlan:
    spec = SCHEMA[kind]
    objs = spec.objects()
    column_of_type = {o.type: c for c, o in objs.items()}
    if "product" in objs:  # the product column holds products or materials
        column_of_type.setdefault("product", "product")
        column_of_type.setdefault("material", "product")
    by_name: dict[str, str] = {c: c for c in OBJECT_COLUMNS}
    for c, o in objs.items():
        by_name.setdefault(o.type, c)
    for c, a in spec.attributes().items():
        by_name[a.name] = c
    by_name.update({k.lower(): v for k, v in by_name.items() if k.lower() not in by_name})
    required = tuple((c, s) for c, s in spec.columns.items() if s.required)
    return _KindPlan(objs, column_of_type, by_name, required)


def _map_event(
    doc: _Doc,
    i: int,
    ev: _Event,
    kind: str,
    time: dt.datetime,
    otype: dict[str, str],
    names: dict[str, str],
    ignored_rel: Counter[str],
    ignored_attr: Counter[str],
) -> _Row:
    plan = _plan(kind)
    cols = dict(_NULLS)
    exact: dict[str, bool] = {}
    row = _Row(time, (i, 0), kind, cols)
    objs = plan.objs
    for oid, qual in ev.relationships:
        t = otype.get(oid)
        if t is None:
            raise LogError(
                f"{doc.where(i)}: relationship to {oid!r}: no such object; expected the id of "
                "an object of the log"
            )
        c = plan.column_of_type.get(t)
        if c is None:
            ignored_rel[f"{ev.type} -> {doc.objects[oid].type}"] += 1
            continue
        match = qual == objs[c].qualifier
        if c in exact:
            if exact[c] and not match:
                continue  # the one with the column's qualifier is already there
            if exact[c] == match:
                raise LogError(
                    f"{doc.where(i)}: relates two objects of type {doc.objects[oid].type!r} "
                    f"({cols[c]!r} and {names[oid]!r}); a {kind} event has one "
                    f"{objs[c].type} (the qualifier {objs[c].qualifier!r} picks it)"
                )
        cols[c] = names[oid]
        exact[c] = match
        if c == "batch":
            row.batch_obj = oid
    for name, value in ev.attributes:
        c = plan.by_name.get(name) or plan.by_name.get(name.lower())
        if c is None:
            ignored_attr[f"{ev.type}.{name}"] += 1
            continue
        if value is None or c in exact or not is_null(c, cols[c]):
            continue
        if c == "batch" and c in objs:
            cols[c] = str(value)
            continue
        try:
            cols[c] = _as_column(c, value)
        except (TypeError, ValueError, OverflowError):
            raise LogError(
                f"{doc.where(i)}: attribute {name!r}: bad value {value!r}; expected "
                f"{_EXPECT.get(c, 'text')}"
            ) from None
    for c, s in plan.required:
        if is_null(c, cols[c]):
            what = (
                f"an object of type {s.type!r}" if isinstance(s, Obj) else f"attribute {s.name!r}"
            )
            raise LogError(
                f"{doc.where(i)}: a {ev.type!r} event (kind {kind}) needs {what}; it has none"
            )
    return row


_NULLS = {c: null_of(c) for c in OBJECT_COLUMNS}


def _fill_from_o2o(
    rows: list[_Row], doc: _Doc, otype: dict[str, str], names: dict[str, str]
) -> None:
    """A batch event without its order or product takes them from the batch's relations."""
    linked: dict[str, dict[str, str]] = {}
    for oid, o in doc.objects.items():
        for target, _ in o.relationships:
            t = otype.get(target)
            if t is None:
                continue
            linked.setdefault(oid, {}).setdefault(t, names[target])
            linked.setdefault(target, {}).setdefault(otype[oid], names[oid])
    for r in rows:
        if r.batch_obj is None or r.batch_obj not in linked:
            continue
        objs = SCHEMA[r.kind].objects()
        for c in ("order", "product"):
            if c in objs and r.cols[c] is None:
                r.cols[c] = linked[r.batch_obj].get(objs[c].type)


def _synthesize(
    rows: list[_Row],
    doc: _Doc,
    source: str,
    otype: dict[str, str],
    names: dict[str, str],
    times: list[dt.datetime],
    counts: dict[str, int],
) -> list[_Row]:
    """Units named as objects get a ``unit_added`` (when the log has none), and a unit's state
    object attribute changes become ``state`` events (for units without state events)."""
    first = min(r.time for r in rows)
    units = [oid for oid, t in otype.items() if t == "unit"]
    extra: list[_Row] = []
    if units and not any(r.kind == "unit_added" for r in rows):
        for k, oid in enumerate(units):
            cls = room = None
            for target, _ in doc.objects[oid].relationships:
                if otype.get(target) == "equipment_class":
                    cls = names[target]
            for a, v, _ in doc.objects[oid].attributes:
                if a.lower() == "class" and cls is None:
                    cls = str(v)
                if a.lower() == "room" and room is None:
                    room = str(v)
            cols = {c: null_of(c) for c in OBJECT_COLUMNS}
            cols.update(unit=names[oid], detail=cls, state=room)
            extra.append(_Row(first, (-1, k), "unit_added", cols))
        counts["unit_added"] = len(units)
    with_state = {r.cols["unit"] for r in rows if r.kind == "state"}
    n = 0
    zone = times[0].tzinfo
    for oid in units:
        if names[oid] in with_state:
            continue
        for a, v, tm in doc.objects[oid].attributes:
            if a.lower() not in ("state", "status") or v is None:
                continue
            try:
                when = parse_timestamp(str(tm))
            except ValueError:
                raise LogError(
                    f"{source}: object {oid!r}, attribute {a!r}: time: bad "
                    f"value {tm!r}; expected {TIME_EXPECTED}"
                ) from None
            if (when.tzinfo is None) != (zone is None):
                when = when.replace(tzinfo=zone)
            cols = {c: null_of(c) for c in OBJECT_COLUMNS}
            cols.update(unit=names[oid], state=str(v))
            if when < first:  # an initial value (OCEL's 1970): the state at the first event
                extra.append(_Row(first, (-1, len(units) + n), "state", cols))
            else:  # a change: after the events of its instant
                extra.append(_Row(when, (len(times) + n, 1), "state", cols))
            n += 1
    if n:
        counts["state"] = n
    if not extra:
        return rows
    return sorted(rows + extra, key=lambda r: (r.time, r.order))


def _batch_numbers(rows: list[_Row]) -> dict[int, str]:
    """Batch names from objects as the integer column: the numbers themselves when every name
    is a whole number, else 0, 1, 2... in order of first appearance (returned: number -> text)."""
    named = [r for r in rows if r.batch_obj is not None or isinstance(r.cols["batch"], str)]
    texts = [str(r.cols["batch"]) for r in named]
    if all(re.fullmatch(r"\d{1,9}", x) for x in texts):
        for r, x in zip(named, texts, strict=True):
            r.cols["batch"] = int(x)
        return {}
    number: dict[str, int] = {}
    for r, x in zip(named, texts, strict=True):
        r.cols["batch"] = number.setdefault(x, len(number))
    return {v: k for k, v in number.items()}
