"""Export: the twin's event-log table -> an OCEL 2.0 document -> a JSON or SQLite file
(the mapping is described in :mod:`twin.ocel`)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.log_schema import (
    O2O,
    OBJECT_COLUMNS,
    OBJECT_TYPES,
    SCHEMA,
    LogError,
    batch_ids,
    column_type,
    is_null,
    iso_times,
    parse_timestamp,
)
from twin.ocel.document import (
    EPOCH,
    FORMAT_VERSION,
    SQL_TYPES,
    OcelDoc,
    OcelEvent,
    OcelObject,
    OcelSummary,
    quote_name,
)


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


def _to_doc(table: pa.Table, start: dt.datetime, meta: dict[str, Any]) -> OcelDoc:
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
    objects: dict[str, OcelObject] = {}
    o2o_seen: set[tuple[str, str, str]] = set()
    # (object, attribute) -> [[value, time], ...]: a value when it differs from the one before
    history: dict[tuple[str, str], list[list[Any]]] = {}
    events: list[OcelEvent] = []
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
                objects[oid] = OcelObject(oid, otype)
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
        events.append(OcelEvent(f"e{i}", kind, times[i], attrs, rels))
    for (oid, attribute), hist in history.items():
        objects[oid].attributes.extend((attribute, v, t) for v, t in hist)
    for obj in objects.values():
        obj.attributes.sort(key=lambda a: a[2])  # by time (ISO texts of one format; stable)
    used = {o.type for o in objects.values()}
    object_types = {t: dict(OBJECT_TYPES[t].attributes) for t in OBJECT_TYPES if t in used}
    return OcelDoc(event_types, object_types, events, objects, meta)


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


def _write_json(doc: OcelDoc, fh: Any) -> None:
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


def _write_sqlite(doc: OcelDoc, path: Path) -> None:
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
        by_type: dict[str, list[OcelEvent]] = {t: [] for t in doc.event_types}
        for ev in doc.events:
            by_type[ev.type].append(ev)
        for etype, attrs in doc.event_types.items():
            suffix = _table_suffix(etype, taken)
            ex('INSERT INTO "event_map_type" VALUES (?, ?)', (etype, suffix))
            names = list(attrs)
            cols = "".join(f", {quote_name(a)} {SQL_TYPES[attrs[a]]}" for a in names)
            tname = quote_name("event_" + suffix)
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
            con.executemany(f"INSERT INTO {quote_name('event_' + suffix)} VALUES ({marks})", rows)
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
            cols = "".join(f", {quote_name(a)} {SQL_TYPES[attrs[a]]}" for a in names)
            tname = quote_name("object_" + suffix)
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
