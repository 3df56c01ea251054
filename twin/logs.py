"""``read_log(path) -> ObservedLog``: any event log a command takes as LOG, in the twin's schema.

A LOG is one of

- a run folder (``twin run --out DIR``; or a replication ``runs/<id>/rep-NNNN`` of the run
  store, or a store run ``runs/<id>`` holding exactly one replication),
- a twin ``events.parquet`` (its calendar start from the ``scenario.yaml`` beside it, or, in
  a replication ``rep-NNNN`` of the run store, the run folder above it; else ``start=``),
- an OCEL 2.0 file: JSON (``.jsonocel``, ``.json``) or SQLite (``.sqlite``, ``.sqlite3``,
  ``.db``), from PharmaTwin or, mapped by the convention of ``docs/event_logs.md``, from
  another system,
- a plain MES event file (``.csv``, or a ``.parquet`` with the MES columns), see ``twin.mes``.

Every problem is one :class:`LogError` naming the file, where in it, the bad value and what was
expected; sizes are bounded (the bound is in the message).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from twin import mes, ocel
from twin.log_schema import (
    MAX_EVENTS,
    TIME_EXPECTED,
    LogError,
    batch_ids,
    conform,
    hours_to_datetime,
    parse_timestamp,
)

__all__ = [
    "ObservedLog",
    "LogError",
    "read_log",
    "export_log",
    "MAX_EVENTS_PARQUET_BYTES",
    "LOG_SUFFIXES",
]

MAX_EVENTS_PARQUET_BYTES = 2 << 30
"""The largest twin ``events.parquet`` read (2 GiB; a plant-year is a few MB)."""
LOG_SUFFIXES = (".parquet", ".csv", ".jsonocel", ".json", ".sqlite", ".sqlite3", ".db")
"""The file extensions a LOG may have."""
_REP = re.compile(r"^rep-\d+$")
EXPORT_FORMATS = {
    "ocel2-json": "json",
    "ocel2-sqlite": "sqlite",
    "json": "json",
    "sqlite": "sqlite",
}


@dataclass(frozen=True)
class ObservedLog:
    """An event log read from a file, in the twin's schema.

    ``table`` has ``log_schema.EVENT_SCHEMA``; model time ``t`` is hours since ``start`` (the
    plant's wall clock, naive). ``source`` says what was read: ``run`` (a run folder),
    ``events`` (an events.parquet), ``ocel-json``, ``ocel-sqlite``, ``mes-csv`` or
    ``mes-parquet``. ``first`` and ``end`` are the hours of the first and last event (the
    span the log covers). ``batch_ids`` maps batch numbers to the log's text ids when those
    were not numbers. ``meta`` holds what else is known (scenario name, seed, replication,
    ``scenario_file``; for OCEL logs what was skipped, ignored or synthesized).
    """

    table: pa.Table
    start: dt.datetime
    source: str
    path: Path
    first: float
    end: float
    batch_ids: Mapping[int, str] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> float:
        """Hours from the start to the last event."""
        return self.end

    def hours(self, when: dt.datetime) -> float:
        """Model hours of a calendar time (the plant's wall clock; an offset is ignored)."""
        if when.tzinfo is not None:
            when = when.replace(tzinfo=None)
        return (when - self.start) / dt.timedelta(hours=1)

    def time(self, hours: float) -> dt.datetime:
        """The calendar time of model hours."""
        return hours_to_datetime(self.start, hours)


def read_log(
    path: str | Path, *, start: dt.datetime | None = None, unmapped: str = "error"
) -> ObservedLog:
    """Read any LOG (see the module docstring).

    ``start`` gives the calendar start where the log has none of its own (a bare
    events.parquet, a MES file with hours; for OCEL and MES files with dates it replaces the
    default, midnight of the first event's day). ``unmapped`` says what to do with event
    types (of an OCEL or MES log from another system) that map to no twin kind: ``"error"``
    or ``"skip"`` (left out, counted in ``meta["skipped"]``).
    """
    p = Path(path)
    if not p.exists():
        raise LogError(
            f"{p}: no such file or folder; expected a run folder, an events.parquet, an OCEL 2.0 "
            "file (.jsonocel/.json/.sqlite) or a MES file (.csv/.parquet)"
        )
    if p.is_dir():
        return _read_dir(p, start)
    suffix = p.suffix.lower()
    if suffix in (".xmlocel", ".xml"):
        raise LogError(
            f"{p}: OCEL XML is not read; expected OCEL 2.0 JSON (.jsonocel/.json) or SQLite "
            "(.sqlite) - ocel-standard.org's tools convert between the forms"
        )
    if suffix not in LOG_SUFFIXES:
        raise LogError(
            f"{p}: extension {p.suffix or '(none)'!r}; expected one of {', '.join(LOG_SUFFIXES)} "
            "or a run folder"
        )
    if suffix in (".jsonocel", ".json", ".sqlite", ".sqlite3", ".db"):
        table, meta = ocel.import_ocel(p, start=start, unmapped=unmapped)
        ours = meta.get("pharmatwin") or {}
        info = {k: v for k, v in ours.items() if k not in ("format", "start")}
        info.update({k: meta[k] for k in ("skipped", "ignored_relations", "ignored_attributes")})
        info["synthesized"] = meta["synthesized"]
        return _observed(table, meta["start"], meta["format"], p, info)
    if suffix == ".csv":
        table, used, skipped = mes.read_mes_log(p, start, unmapped=unmapped)
        return _observed(table, used, "mes-csv", p, {"skipped": skipped})
    return _read_parquet(p, start, unmapped)


def _observed(
    table: pa.Table, start: dt.datetime, source: str, path: Path, meta: dict[str, Any]
) -> ObservedLog:
    if table.num_rows == 0:
        raise LogError(f"{path}: holds no events; expected an event log")
    t = table.column("t")
    first = float(pc.min(t).as_py())
    end = float(pc.max(t).as_py())
    return ObservedLog(table, start, source, path, first, end, batch_ids(table), meta)


def _read_parquet(p: Path, start: dt.datetime | None, unmapped: str) -> ObservedLog:
    try:
        names = pq.read_schema(p).names
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"{p}: not a readable Parquet file ({exc})") from None
    lowered = {n.strip().lower() for n in names}
    if {"t", "kind"} <= lowered and "timestamp" not in lowered:
        return _read_events(p, start, "events", _run_meta(p.parent))
    table, used, skipped = mes.read_mes_log(p, start, unmapped=unmapped)
    return _observed(table, used, "mes-parquet", p, {"skipped": skipped})


def _read_events(p: Path, start: dt.datetime | None, source: str, meta: dict) -> ObservedLog:
    size = p.stat().st_size
    if size > MAX_EVENTS_PARQUET_BYTES:
        raise LogError(
            f"{p}: {size:,} bytes; an events.parquet may have at most "
            f"{MAX_EVENTS_PARQUET_BYTES:,} bytes"
        )
    try:
        n = pq.read_metadata(p).num_rows
        if n > MAX_EVENTS:
            raise LogError(f"{p}: {n:,} events; a log may have at most {MAX_EVENTS:,}")
        table = conform(pq.read_table(p), str(p))
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"{p}: not a readable Parquet file ({exc})") from None
    info = dict(meta)
    scenario = _scenario_beside(p)
    if scenario is not None:
        info["scenario_file"] = str(scenario)
        name, own = _scenario_start(scenario)
        if name:
            info.setdefault("scenario", name)
        start = own  # the run's own calendar start wins over a default from the caller
    if start is None:
        raise LogError(
            f"{p}: no scenario.yaml beside it (or in the run folder above) to give the calendar "
            "start of its model time; expected a run folder, or give the start (start=... / "
            "--start)"
        )
    return _observed(table, start, source, p, info)


def _folders(folder: Path) -> tuple[Path, ...]:
    """Where a run's files are: its folder, and the store's run folder above a replication."""
    return (folder, folder.parent) if _REP.match(folder.name) else (folder,)


def _scenario_beside(p: Path) -> Path | None:
    for d in _folders(p.parent):
        f = d / "scenario.yaml"
        if f.is_file():
            return f
    return None


def _scenario_start(f: Path) -> tuple[str | None, dt.datetime]:
    from twin.scenario import ScenarioError
    from twin.scenario.loading import read_yaml
    from twin.scenario.schema import Scenario

    try:
        data = read_yaml(f)
    except ScenarioError as exc:
        raise LogError(f"{f}: cannot read the run's scenario ({exc})") from None
    raw = data.get("start")
    default = Scenario.model_fields["start"].default
    if raw is None:
        return data.get("name"), default
    if isinstance(raw, dt.datetime):
        return data.get("name"), raw.replace(tzinfo=None)
    try:
        return data.get("name"), parse_timestamp(str(raw)).replace(tzinfo=None)
    except ValueError:
        raise LogError(f"{f}: start: bad value {raw!r}; expected {TIME_EXPECTED}") from None


def _run_meta(folder: Path) -> dict[str, Any]:
    """Scenario name, seed and replication from a run folder's meta.json (or the store's
    run.json one folder up)."""
    meta: dict[str, Any] = {}
    files = [folder / "meta.json"]
    if _REP.match(folder.name):
        files.append(folder.parent / "run.json")
    for f in files:
        if not f.is_file():
            continue
        try:
            got = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(got, dict):
            for k in ("scenario", "seed", "replication"):
                if k in got and k not in meta:
                    meta[k] = got[k]
    return meta


def _read_dir(p: Path, start: dt.datetime | None) -> ObservedLog:
    events = p / "events.parquet"
    if events.is_file():
        return _read_events(events, start, "run", _run_meta(p))
    reps = sorted(d for d in p.glob("rep-*") if (d / "events.parquet").is_file())
    if len(reps) == 1:
        return _read_dir(reps[0], start)
    if reps:
        shown = ", ".join(d.name for d in reps[:5]) + (" ..." if len(reps) > 5 else "")
        raise LogError(
            f"{p}: a stored run with {len(reps)} replications ({shown}); expected one: name "
            f"its folder, e.g. {reps[0]}"
        )
    raise LogError(
        f"{p}: a folder without a run (no events.parquet in it, nor a rep-NNNN folder with "
        "one); expected a run folder (twin run --out DIR) or a replication of the run store"
    )


def export_log(
    source: str | Path,
    out: str | Path,
    format: str = "ocel2-json",
    *,
    start: dt.datetime | None = None,
) -> ocel.OcelSummary:
    """Read any LOG and write it as OCEL 2.0 (``format`` ``ocel2-json`` or ``ocel2-sqlite``).
    What ``twin export`` does."""
    kind = EXPORT_FORMATS.get(format)
    if kind is None:
        raise LogError(f"--format: bad value {format!r}; expected ocel2-json or ocel2-sqlite")
    log = read_log(source, start=start)
    meta = {
        k: v
        for k, v in log.meta.items()
        if k in ("scenario", "seed", "replication") and v is not None
    }
    meta["source"] = str(log.path)
    meta["start"] = log.start
    return ocel.export_ocel(log.table, meta, out, format=kind)
