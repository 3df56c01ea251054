"""The plain MES event convention: one row per event, in CSV or Parquet.

Columns (names in any case; the first two are required, the others may be left out):

==========  =============================================================================
timestamp   ISO 8601 date-time (``2026-03-02T06:15:00``, optional fraction and offset) or
            a number of hours since the scenario start; one or the other in a whole file
event       the event type: a twin kind (``step_start``, ``state``...) or an alias
            (``log_schema.EVENT_ALIASES``: ``start``, ``end``, ``failure``, ``cip_start``...)
unit        the unit (for warehouse kinds the warehouse, for vehicle kinds the vehicle)
batch       the batch id: text or a number
order       the order id
product     the product (for material kinds the material)
step        recipe step index, from 0 (``order_release``: the order's priority)
state       the unit state (``state``), cleaning kind, deviation type, lot status...
value       a number whose meaning depends on the event (``log_schema.SCHEMA``)
detail      text: scrap reason, lot id, equipment class of ``unit_added``...
==========  =============================================================================

An empty cell is no value. Rows may come in any order (they are sorted by time, stably).
Batch ids are text in a MES: when every one is a whole number the numbers are the twin's
batch numbers, else batches are numbered 0, 1, 2... in order of first appearance (by time),
and the text ids are kept in the table's schema metadata (``log_schema.batch_ids(table)``,
and ``ObservedLog.batch_ids``), from where :func:`write_mes` writes them back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from twin.log_schema import (
    MAX_EVENTS,
    OBJECT_COLUMNS,
    SCHEMA,
    TIME_EXPECTED,
    LogError,
    Obj,
    batch_ids,
    check_zones,
    decode_utf8,
    hours_since,
    iso_times,
    kind_of,
    make_table,
    midnight,
    parse_timestamp,
)

__all__ = ["read_mes", "write_mes", "MES_COLUMNS", "MAX_CSV_BYTES", "MAX_PARQUET_BYTES"]

MES_COLUMNS = ("timestamp", "event", "unit", "batch", "order", "product", "step", "state", "value")
"""The columns of the convention, in order (``detail`` may follow)."""
OPTIONAL_COLUMNS = ("unit", "batch", "order", "product", "step", "state", "value", "detail")
HEADER_ALIASES = {
    "time": "timestamp",
    "ts": "timestamp",
    "datetime": "timestamp",
    "date_time": "timestamp",
    "t": "timestamp",
    "event_type": "event",
    "activity": "event",
    "kind": "event",
    "batch_id": "batch",
    "order_id": "order",
    "unit_id": "unit",
    "equipment": "unit",
}
"""Other header names accepted for the convention's columns."""
MAX_CSV_BYTES = 512 << 20
"""The largest MES CSV file read (512 MiB)."""
MAX_PARQUET_BYTES = 2 << 30
"""The largest MES Parquet file read (2 GiB)."""

MAX_HOURS = 1_000_000.0
"""The largest timestamp read as hours (a compact date such as 20260105 is not hours)."""
_EVENT_EXPECTED = "a twin kind (step_start, state, ...) or an alias listed in docs/event_logs.md"


def read_mes(
    path: str | Path, scenario_start: dt.datetime | None = None, *, unmapped: str = "error"
) -> pa.Table:
    """Read a MES event file (``.csv`` or ``.parquet``) into the twin's event-log table.

    ``scenario_start`` is the calendar start of model time: required when the timestamps
    are hours, optional with ISO timestamps (then midnight of the first event's day). The
    table's schema metadata holds text batch ids (``log_schema.batch_ids``). An event type
    that is no kind or alias is an error (``unmapped="error"``) or its rows are left out
    (``"skip"``). LogError naming the file, the line or row, the bad value and what was
    expected for every bad input.
    """
    return read_mes_log(path, scenario_start, unmapped=unmapped)[0]


def read_mes_log(
    path: str | Path, scenario_start: dt.datetime | None = None, *, unmapped: str = "error"
) -> tuple[pa.Table, dt.datetime, dict[str, int]]:
    """:func:`read_mes`, also giving the start it used and the rows it skipped per event."""
    if unmapped not in ("error", "skip"):
        raise LogError(f"unmapped: bad value {unmapped!r}; expected 'error' or 'skip'")
    p = Path(path)
    if not p.is_file():
        raise LogError(f"{p}: no such file; expected a MES event file (.csv or .parquet)")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        header, rows, where = _csv_rows(p)
    elif suffix == ".parquet":
        header, rows, where = _parquet_rows(p)
    else:
        raise LogError(f"{p}: extension {p.suffix or '(none)'!r}; expected .csv or .parquet")
    return _to_table(str(p), header, rows, where, scenario_start, unmapped)


# --------------------------------------------------------------------------- reading
def _header(names: Sequence[str], source: str) -> dict[str, int]:
    """Convention column -> position; LogError for duplicates or missing required columns."""
    out: dict[str, int] = {}
    for i, raw in enumerate(names):
        n = re.sub(r"[\s\-]+", "_", str(raw).strip().lower())
        n = HEADER_ALIASES.get(n, n)
        if n in MES_COLUMNS or n == "detail":
            if n in out:
                raise LogError(
                    f"{source}: header: column {n!r} given twice (as {names[out[n]]!r} and "
                    f"{raw!r}); expected each column once"
                )
            out[n] = i
    missing = [c for c in ("timestamp", "event") if c not in out]
    if missing:
        raise LogError(
            f"{source}: header: no column {' or '.join(missing)} (found: "
            f"{', '.join(map(str, names)) or 'none'}); expected the columns "
            f"{', '.join(MES_COLUMNS)} (detail optional; see docs/event_logs.md)"
        )
    return out


def _check_size(p: Path, bound: int, what: str) -> None:
    size = p.stat().st_size
    if size > bound:
        raise LogError(f"{p}: {size:,} bytes; a {what} may have at most {bound:,} bytes")


def _csv_rows(p: Path) -> tuple[dict[str, int], list[list[Any]], Callable[[int], str]]:
    _check_size(p, MAX_CSV_BYTES, "MES CSV file")
    raw = p.read_bytes()
    text = decode_utf8(p, raw, "a CSV file in UTF-8")
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delim = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    rows: list[list[Any]] = []
    lines: list[int] = []
    try:
        names = next(reader, None)
        if names is None:
            raise LogError(f"{p}: empty file; expected a header and one row per event")
        header = _header(names, f"{p}: line 1")
        for rec in reader:
            if not any(x.strip() for x in rec):
                continue
            if len(rec) != len(names):
                raise LogError(
                    f"{p}: line {reader.line_num}: {len(rec)} fields; expected {len(names)}, as "
                    "in the header"
                )
            rows.append([x.strip() or None for x in rec])
            lines.append(reader.line_num)
            if len(rows) > MAX_EVENTS:
                raise LogError(f"{p}: more than {MAX_EVENTS:,} events; a log may have at most that")
    except csv.Error as exc:
        raise LogError(
            f"{p}: line {reader.line_num}: malformed CSV ({exc}); expected comma-separated "
            'fields, quoted with " where they hold the separator'
        ) from None
    return header, rows, lambda i: f"{p}: line {lines[i]}"


def _parquet_rows(p: Path) -> tuple[dict[str, int], list[list[Any]], Callable[[int], str]]:
    _check_size(p, MAX_PARQUET_BYTES, "MES Parquet file")
    try:
        table = pq.read_table(p)
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"{p}: not a readable Parquet file ({exc})") from None
    if table.num_rows > MAX_EVENTS:
        raise LogError(f"{p}: {table.num_rows:,} events; a log may have at most {MAX_EVENTS:,}")
    header = _header(table.column_names, str(p))
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
    return header, rows, lambda i: f"{p}: row {i + 1}"


def _number(text: Any) -> float | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _to_table(
    source: str,
    header: dict[str, int],
    rows: list[list[Any]],
    where: Callable[[int], str],
    start: dt.datetime | None,
    unmapped: str,
) -> tuple[pa.Table, dt.datetime, dict[str, int]]:
    if not rows:
        raise LogError(f"{source}: holds no events; expected one row per event")

    def cell(r: list[Any], name: str) -> Any:
        k = header.get(name)
        v = None if k is None else r[k]
        return None if isinstance(v, float) and math.isnan(v) and name != "value" else v

    # event types first: rows of unmapped types are left out before anything else is read
    kinds: list[str] = []
    kept: list[int] = []
    skipped: Counter[str] = Counter()
    for i, r in enumerate(rows):
        ev = cell(r, "event")
        kind = kind_of(str(ev)) if ev is not None else None
        if kind is None:
            if unmapped == "skip" and ev is not None:
                skipped[str(ev)] += 1
                continue
            raise LogError(
                f"{where(i)}: event: bad value {ev!r}; expected {_EVENT_EXPECTED} (or read "
                "with unmapped='skip' to leave such rows out)"
            )
        kinds.append(kind)
        kept.append(i)
    if not kept:
        raise LogError(f"{source}: no row has an event type of the twin; see docs/event_logs.md")
    if skipped:
        rows = [rows[i] for i in kept]

    def at(j: int) -> str:  # where row j (of the rows kept) is in the file
        return where(kept[j])

    # times: all hours or all date-times
    first = cell(rows[0], "timestamp")
    hours_mode = _number(first) is not None and not isinstance(first, dt.datetime)
    hours = np.empty(len(rows))
    stamps: list[dt.datetime] = []
    for i, r in enumerate(rows):
        v = cell(r, "timestamp")
        if v is None:
            raise LogError(f"{at(i)}: timestamp: empty; expected {TIME_EXPECTED} or hours")
        if hours_mode:
            h = _number(v)
            if h is None or isinstance(v, dt.datetime) or not abs(h) <= MAX_HOURS:
                raise LogError(
                    f"{at(i)}: timestamp: bad value {v!r}; expected a number of hours "
                    f"(at most {MAX_HOURS:,.0f}), as in the first row, or ISO 8601 date-times "
                    "throughout"
                )
            hours[i] = h
        else:
            if isinstance(v, dt.datetime):
                stamps.append(v)
                continue
            if isinstance(v, dt.date):
                stamps.append(dt.datetime(v.year, v.month, v.day))
                continue
            try:
                stamps.append(parse_timestamp(str(v)))
            except ValueError:
                hint = " (hours, where the first row has a date-time)" if _number(v) else ""
                raise LogError(
                    f"{at(i)}: timestamp: bad value {v!r}{hint}; expected {TIME_EXPECTED}"
                ) from None
    if hours_mode:
        if start is None:
            raise LogError(
                f"{source}: timestamps are hours, so the calendar start of hour 0 is needed; "
                "expected a scenario start (read_mes(path, scenario_start) / read_log(path, "
                "start=...)) or ISO 8601 timestamps"
            )
    else:
        check_zones(stamps, lambda i: f"{at(i)}: timestamp")
        if start is None:
            start = midnight(min(stamps))
        hours = hours_since(stamps, start)
    if hours.min() < 0:
        k = int(np.argmin(hours))
        raise LogError(
            f"{at(k)}: timestamp: {cell(rows[k], 'timestamp')!r} is before the start "
            f"{start.isoformat()}; expected events at or after the start"
        )

    cols: dict[str, list[Any]] = {c: [] for c in OBJECT_COLUMNS}
    texts: list[str | None] = []
    for i, r in enumerate(rows):
        ev = cell(r, "event")
        kind = kinds[i]
        for c in ("unit", "order", "product", "state", "detail"):
            v = cell(r, c)
            cols[c].append(None if v is None else str(v))
        b = cell(r, "batch")
        if isinstance(b, float) and b.is_integer():
            b = int(b)
        texts.append(None if b is None else str(b))
        s = cell(r, "step")
        if s is None:
            cols["step"].append(-1)
        else:
            n = _number(s)
            if n is None or not n.is_integer() or not 0 <= n < 32767:
                raise LogError(
                    f"{at(i)}: step: bad value {s!r}; expected a whole number from 0 "
                    "(the recipe step index)"
                )
            cols["step"].append(int(n))
        v = cell(r, "value")
        if v is None:
            cols["value"].append(math.nan)
        else:
            n = _number(v)
            if n is None:
                raise LogError(f"{at(i)}: value: bad value {v!r}; expected a number")
            cols["value"].append(n)
        for c, spec in SCHEMA[kind].columns.items():
            empty = texts[-1] is None if c == "batch" else cols[c][-1] in (None, -1)
            if c == "value":
                empty = math.isnan(cols["value"][-1])
            if spec.required and empty:
                what = f"the {spec.type}" if isinstance(spec, Obj) else spec.name
                raise LogError(
                    f"{at(i)}: {c}: empty; a {ev!r} event (kind {kind}) needs {what} in column {c}"
                )
    order = np.argsort(hours, kind="stable")
    numbers, text_of = _batch_numbers([texts[k] for k in order])
    sorted_cols = {c: [v[k] for k in order] for c, v in cols.items() if c != "batch"}
    table = make_table(
        {"t": hours[order], "kind": [kinds[k] for k in order], "batch": numbers, **sorted_cols},
        batch_text=text_of or None,
    )
    return table, start, dict(skipped)


def _batch_numbers(texts: list[str | None]) -> tuple[list[int], dict[int, str]]:
    """Text batch ids as numbers: themselves when all are whole numbers, else 0, 1, 2... in
    order of first appearance; returns the numbers and number -> text (empty if identity)."""
    given = [x for x in texts if x is not None]
    if all(re.fullmatch(r"\d{1,9}", x) for x in given):
        return [-1 if x is None else int(x) for x in texts], {}
    number: dict[str, int] = {}
    out = [-1 if x is None else number.setdefault(x, len(number)) for x in texts]
    return out, {v: k for k, v in number.items()}


# --------------------------------------------------------------------------- writing
def write_mes(table: pa.Table, path: str | Path, start: dt.datetime | None = None) -> Path:
    """Write an event-log table in the MES convention, ``.csv`` or ``.parquet`` by the
    extension: timestamps as ISO 8601 from ``start`` (the plant's wall clock, no offset), or
    as hours when ``start`` is None; batch ids as their original text when the table keeps
    them. Written beside ``path`` and renamed into place."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise LogError(f"{p}: extension {p.suffix or '(none)'!r}; expected .csv or .parquet")
    t = table.column("t").to_numpy()
    stamps: list[Any] = (
        iso_times(start, t, zone="") if start is not None else [float(x) for x in t.tolist()]
    )
    text_of = batch_ids(table)
    batch = [None if b == -1 else text_of.get(b, str(b)) for b in table.column("batch").to_pylist()]
    step = [None if s == -1 else s for s in table.column("step").to_pylist()]
    value = [None if v != v else v for v in table.column("value").to_pylist()]
    columns: dict[str, list[Any]] = {
        "timestamp": stamps,
        "event": table.column("kind").to_pylist(),
        "unit": table.column("unit").to_pylist(),
        "batch": batch,
        "order": table.column("order").to_pylist(),
        "product": table.column("product").to_pylist(),
        "step": step,
        "state": table.column("state").to_pylist(),
        "value": value,
        "detail": table.column("detail").to_pylist(),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        if suffix == ".csv":
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(columns)
                for row in zip(*columns.values(), strict=True):
                    w.writerow(
                        ["" if v is None else repr(v) if isinstance(v, float) else v for v in row]
                    )
        else:
            os.close(fd)
            types = {
                "timestamp": pa.string() if start is not None else pa.float64(),
                "step": pa.int16(),
                "value": pa.float64(),
            }
            out = pa.table(
                {c: pa.array(v, type=types.get(c, pa.string())) for c, v in columns.items()}
            )
            pq.write_table(out, tmp, compression="zstd")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
