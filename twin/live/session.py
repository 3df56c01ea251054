"""A live session's folder in the run store: what ``twin live`` keeps, for the dashboard, for a
restart, and for anyone comparing the twin's view with the plant.

Layout (beside the store's runs, which it never touches)::

    runs/live/<session>/
      session.json        scenario, sources (passwords never written), options, started
      scenario.yaml       the scenario the twin holds (so the live log reads as a run folder)
      status.json         the twin now: unit and AGV states, counts, sync, rate, lag (every ~1 s)
      state.json          the plant state (twin.state format), with
      checkpoint.json     where each source is and the divergence counters: restart from here
      divergences.jsonl   one JSON line per divergence
      forecasts/<id>.json each look-ahead forecast (Forecast.to_dict, plus its id and trigger)
      replans/<id>.json   each re-plan: why, and what the new plan changes
      events/part-*.parquet, events.parquet
                          the events the twin applied (the live log; parts are folded into
                          events.parquet from time to time and when the session stops)

Every file is replaced atomically (``twin.store.write_text_atomic``, a temporary file and a
rename), so a reader or a ``kill -9`` never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from twin.eventlog import write_parquet
from twin.log_schema import COLUMNS, EVENT_SCHEMA, make_table
from twin.scenario import Scenario
from twin.state import Event, PlantState, StateError, load_state
from twin.store import json_safe, write_text_atomic

__all__ = ["LiveSession", "list_sessions", "LIVE_DIR", "session_name", "events_table"]

LIVE_DIR = "live"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
COMPACT_PARTS = 64
MAX_DIVERGENCE_FILE = 50 << 20  # divergences.jsonl stops growing here (counts go on)


def session_name(text: str) -> str:
    """A session name from free text: letters, digits, ``_.-`` (at most 80)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "live"
    return name[:80]


def events_table(events: Sequence[Event]) -> pa.Table:
    """Events as a table in the event log's schema."""
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for e in events:
        cols["t"].append(e.t)
        cols["kind"].append(e.kind)
        cols["unit"].append(e.unit)
        cols["batch"].append(e.batch)
        cols["order"].append(e.order)
        cols["product"].append(e.product)
        cols["step"].append(e.step)
        cols["state"].append(e.state)
        cols["value"].append(e.value)
        cols["detail"].append(e.detail)
    return make_table(cols)


class LiveSession:
    """The folder of one live session (see the module docstring)."""

    def __init__(self, store: str | Path, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(
                f"session: bad value {name!r}: expected 1 to 80 letters, digits, '_', '.' or '-'"
            )
        self.store = Path(store)
        self.name = name
        self.path = self.store / LIVE_DIR / name
        self._last_part = 0  # number of the last part written (never reused)
        self._div_bytes = 0

    def create(self, scenario: Scenario, meta: dict[str, Any]) -> None:
        for sub in ("forecasts", "replans", "events"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        write_text_atomic(
            self.path / "scenario.yaml", yaml.safe_dump(scenario.to_dict(), sort_keys=False)
        )
        info = {
            "kind": "pharmatwin live session",
            "session": self.name,
            "scenario": scenario.name,
            "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            **meta,
        }
        write_text_atomic(self.path / "session.json", json.dumps(json_safe(info), indent=1))
        numbers = [_part_number(p) or 0 for p in (self.path / "events").glob("part-*.parquet")]
        self._last_part = max([_compacted(self.path / "events.parquet"), *numbers])
        f = self.path / "divergences.jsonl"
        self._div_bytes = f.stat().st_size if f.is_file() else 0

    # ------------------------------------------------------------------ writing
    def write_json(self, name: str, data: Any) -> None:
        write_text_atomic(self.path / name, json.dumps(json_safe(data), separators=(",", ":")))

    def write_status(self, status: dict[str, Any]) -> None:
        self.write_json("status.json", status)

    def save(self, state: PlantState, checkpoint: dict[str, Any], events: Sequence[Event]) -> None:
        """The state and where the twin is, with the events applied since the last save: the
        events first, then the state, then the checkpoint that says both are complete."""
        if events:
            self._last_part += 1
            part = self.path / "events" / f"part-{self._last_part:06d}.parquet"
            tmp = part.with_name(f".{part.name}.tmp")
            write_parquet(events_table(events), tmp)
            os.replace(tmp, part)
        state.save(self.path / "state.json")
        self.write_json("checkpoint.json", {**checkpoint, "parts": self._last_part})
        if len(self._part_files()) >= COMPACT_PARTS:
            self.compact()

    def _part_files(self) -> list[Path]:
        done = _compacted(self.path / "events.parquet")
        parts = [(_part_number(p), p) for p in (self.path / "events").glob("part-*.parquet")]
        return [p for n, p in sorted((n, p) for n, p in parts if n is not None and n > done)]

    def compact(self) -> None:
        """Fold the event parts into events.parquet (it records the last part it holds, so a
        stop between writing it and removing the parts loses and doubles nothing)."""
        parts = self._part_files()
        if not parts:
            return
        main = self.path / "events.parquet"
        tables = [_read(main)] if main.is_file() else []
        tables += [_read(p) for p in parts]
        last = _part_number(parts[-1]) or 0
        table = pa.concat_tables(tables).combine_chunks()
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _LAST_PART: str(last).encode()}
        )
        tmp = main.with_name(".events.parquet.tmp")
        write_parquet(table, tmp)
        os.replace(tmp, main)
        for p in (self.path / "events").glob("part-*.parquet"):
            n = _part_number(p)
            if n is not None and n <= last:
                p.unlink(missing_ok=True)

    def append_divergences(self, items: Sequence[dict[str, Any]]) -> None:
        if not items or self._div_bytes > MAX_DIVERGENCE_FILE:
            return
        text = "".join(json.dumps(json_safe(d), separators=(",", ":")) + "\n" for d in items)
        with open(self.path / "divergences.jsonl", "a", encoding="utf-8") as fh:
            fh.write(text)
        self._div_bytes += len(text)

    def _entry(self, folder: str, data: dict[str, Any]) -> str:
        """A new file in ``folder``: its id sorts in the order they were made."""
        base = self.path / folder
        n = sum(1 for f in base.glob("*.json")) + 1
        eid = f"{n:06d}-{dt.datetime.now():%Y%m%d-%H%M%S}"
        write_text_atomic(base / f"{eid}.json", json.dumps(json_safe({**data, "id": eid})))
        return eid

    def save_forecast(self, data: dict[str, Any]) -> str:
        return self._entry("forecasts", data)

    def save_replan(self, data: dict[str, Any]) -> str:
        return self._entry("replans", data)

    # ------------------------------------------------------------------ reading
    def resume(self) -> tuple[PlantState, dict[str, Any]] | None:
        """The last saved state and checkpoint, or None (a new session, or nothing saved)."""
        state_file, cp_file = self.path / "state.json", self.path / "checkpoint.json"
        if not (state_file.is_file() and cp_file.is_file()):
            return None
        try:
            checkpoint = json.loads(cp_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        try:
            state = load_state(state_file)
        except StateError:
            return None
        if not isinstance(checkpoint, dict) or checkpoint.get("time") != state.time:
            return None  # the state was written after the checkpoint of an older one
        # parts written after the checkpoint (the process died between the two): not applied
        for p in (self.path / "events").glob("part-*.parquet"):
            n = _part_number(p)
            if n is not None and n > int(checkpoint.get("parts", 0)):
                p.unlink(missing_ok=True)
        return state, checkpoint

    def events(self) -> pa.Table:
        """The live log so far (events.parquet and the parts after it)."""
        main = self.path / "events.parquet"
        tables = [_read(main)] if main.is_file() else []
        tables += [_read(p) for p in self._part_files()]
        if not tables:
            return EVENT_SCHEMA.empty_table()
        return pa.concat_tables(tables)

    def close(self) -> None:
        """Fold the parts into events.parquet: the session folder then reads as a run folder
        (``twin.logs.read_log``, ``twin fit SCENARIO runs/live/<session>``)."""
        self.compact()


def _read(path: Path) -> pa.Table:
    from twin.log_schema import conform

    return conform(pq.read_table(path), str(path))


_LAST_PART = b"pharmatwin.live.last_part"


def _compacted(main: Path) -> int:
    """The number of the last part events.parquet holds (0: none, or no file)."""
    if not main.is_file():
        return 0
    try:
        meta = pq.read_schema(main).metadata or {}
        return int(meta.get(_LAST_PART, b"0"))
    except (pa.ArrowException, OSError, ValueError):
        return 0


def _part_number(p: Path) -> int | None:
    m = re.match(r"^part-(\d+)\.parquet$", p.name)
    return int(m.group(1)) if m else None


def list_sessions(store: str | Path) -> list[dict[str, Any]]:
    """The live sessions of a store, most recently updated first: name, scenario, updated."""
    base = Path(store) / LIVE_DIR
    out = []
    if not base.is_dir():
        return out
    for d in base.iterdir():
        status = d / "status.json"
        if d.name.startswith(".") or not (d / "session.json").is_file():
            continue
        updated = (
            status.stat().st_mtime if status.is_file() else (d / "session.json").stat().st_mtime
        )
        try:
            info = json.loads((d / "session.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append({"name": d.name, "scenario": info.get("scenario"), "updated": updated})
    out.sort(key=lambda s: -s["updated"])
    return out
