"""Import: an OCEL 2.0 file -> the twin's event-log table, by the convention of
``docs/event_logs.md`` (kinds and their aliases, object types filling columns, synthesised
``unit_added`` and ``state`` events)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.log_schema import (
    OBJECT_COLUMNS,
    SCHEMA,
    TIME_EXPECTED,
    Attr,
    LogError,
    Obj,
    check_zones,
    hours_since,
    is_null,
    kind_of,
    make_table,
    midnight,
    null_of,
    object_type_of,
    parse_timestamp,
)
from twin.ocel.document import MAX_JSON_BYTES, MAX_SQLITE_BYTES, OcelDoc, OcelEvent, OcelObject
from twin.ocel.readers import read_json, read_sqlite


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
    doc = read_sqlite(p) if sqlite else read_json(p)
    table, meta = _from_doc(doc, str(p), start, unmapped)
    meta["format"] = "ocel-sqlite" if sqlite else "ocel-json"
    return table, meta


def _names(objects: dict[str, OcelObject]) -> dict[str, str]:
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
    doc: OcelDoc, source: str, start: dt.datetime | None, unmapped: str
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
    doc: OcelDoc,
    i: int,
    ev: OcelEvent,
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
    rows: list[_Row], doc: OcelDoc, otype: dict[str, str], names: dict[str, str]
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
    doc: OcelDoc,
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
