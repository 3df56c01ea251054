"""The run store: one folder per run, one sub-folder per replication, queried with DuckDB.

Layout (``runs/`` by default)::

    runs/
      20261125-183012-osd_plant-3f9a2c/      a run: one resolved scenario and one seed
        run.json                              id, fingerprint, scenario name, variant, base file,
                                              variant file, --set overrides, seed, replications
                                              asked for, model hash, package versions, host,
                                              python, created
        scenario.yaml                         the resolved scenario (load_dict accepts it)
        rep-0000/                             replication 0
          events.parquet                      the event log (twin.eventlog.write_parquet)
          kpis.json                           its KPIs
          meta.json                           seed, replication, wall time, events, worker
        rep-0001/ ...
      .tmp/                                   work area (never read by queries)

A run id is ``<local time>-<scenario name>-<first 6 hex of the fingerprint>``; the fingerprint
(SHA-256 of the resolved scenario, the seed and the model code) names what determines the
results, so asking again for the same thing finds the run and reuses or completes it.

Every entry appears whole or not at all: a run folder and each replication folder are written
in ``.tmp/`` and moved into place with one ``os.rename``; ``run.json`` is replaced with
``os.replace``; ``remove`` moves the run into ``.tmp/`` before deleting it. A process killed
at any moment (even by SIGKILL) leaves only leftovers in ``.tmp/``, which the next writer on the
same host clears. A run with fewer replication folders than it asked for is *partial* (it was
interrupted) and is completed by the next request.

:meth:`Store.query` runs SQL over the files with DuckDB, through the views ``runs``,
``replications``, ``kpis`` (long form: run_id, replication, kpi, value) and ``events``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import yaml

from twin.eventlog import read_parquet, write_parquet
from twin.scenario import Scenario, load

if TYPE_CHECKING:
    from twin.experiment import TaskResult
    from twin.simulate import Run
    from twin.variants import Variant

__all__ = ["Store", "StoreError", "RunInfo", "DEFAULT_ROOT", "write_text_atomic", "json_safe"]

DEFAULT_ROOT = "runs"
RUN_FILE = "run.json"
SCENARIO_FILE = "scenario.yaml"
_REP = re.compile(r"^rep-(\d+)$")
_VERSIONED = ("simpy", "numpy", "pydantic", "pyarrow", "PyYAML", "scipy")


class StoreError(ValueError):
    """A problem with a store request (unknown run id, ...), phrased for the user."""


@functools.cache
def _versions() -> dict[str, str]:
    from twin import __version__

    out = {"pharmatwin": __version__}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "run"


def _rep_dir(replication: int) -> str:
    return f"rep-{replication:04d}"


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when built


def to_yaml(data: dict[str, Any]) -> str:
    """Plain data (JSON types) as YAML that ``yaml.safe_load`` and the project's reader
    (``twin.scenario.load_yaml_text``) read back unchanged: ``yaml.safe_dump`` with the C
    emitter when PyYAML has it, keys in their order, scalar-only containers in flow style."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100,
    )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(_finite(data), indent=1, allow_nan=False), encoding="utf-8")


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and a
    rename: the file is either the old one or the complete new one, never half written, and a
    failed write leaves nothing behind. Refuses to replace a folder."""
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "a folder is there, not a file", str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def json_safe(obj: Any) -> Any:
    """Plain JSON data: numpy scalars as Python numbers, NaN and infinities as null."""
    return _finite(obj)


def _finite(obj: Any) -> Any:
    """Plain JSON data: numpy scalars as Python numbers, NaN and infinities as null (strict
    JSON, which DuckDB requires)."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass(frozen=True)
class RunInfo:
    """A stored run: its metadata (run.json) and the replications it holds."""

    id: str
    path: Path
    meta: dict[str, Any]
    replications: tuple[int, ...]

    @property
    def requested(self) -> int:
        return int(self.meta.get("replications", len(self.replications)))

    @property
    def complete(self) -> bool:
        return set(range(self.requested)) <= set(self.replications)

    @property
    def status(self) -> str:
        return "complete" if self.complete else "partial"


class Store:
    """A folder of runs (see the module docstring for the layout)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self._cleaned = False

    @classmethod
    def existing(cls, root: str | Path = DEFAULT_ROOT) -> Store:
        """The store at ``root`` for reading; StoreError when there is no folder there."""
        path = Path(root)
        if not path.exists():
            raise StoreError(
                f"{path}: no run store there (no such folder); `twin run SCENARIO -n N "
                f"--store {path}` creates one, `twin runs list --store DIR` reads another"
            )
        if not path.is_dir():
            raise StoreError(f"{path}: not a run store (a file, not a folder)")
        return cls(path)

    def check_writable(self) -> None:
        """StoreError when runs cannot be written at the root (a file is there)."""
        for p in (self.root, *self.root.parents):
            if p.exists():
                if not p.is_dir():
                    what = "" if p == self.root else f" ({p} is a file)"
                    raise StoreError(
                        f"{self.root}: cannot hold a run store{what}; expected a folder or a "
                        "new path"
                    )
                break

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ writing
    def _tmp(self, what: str) -> Path:
        work = self.root / ".tmp"
        work.mkdir(parents=True, exist_ok=True)
        if not self._cleaned:
            self._clean_stale(work)
            self._cleaned = True
        # names never match the query globs (*/run.json, */rep-*/...)
        path = work / f"{what}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    @staticmethod
    def _clean_stale(work: Path) -> None:
        """Remove leftovers of dead writers on this host."""
        host = socket.gethostname()
        for entry in work.iterdir():
            m = re.match(r"^[a-z]+-(.+)-(\d+)-[0-9a-f]+$", entry.name)
            if not m or m.group(1) != host:
                continue
            try:
                os.kill(int(m.group(2)), 0)
            except ProcessLookupError:
                shutil.rmtree(entry, ignore_errors=True)
            except PermissionError:
                pass

    def create_run(
        self, variant: Variant, data: dict[str, Any], seed: int, replications: int, fingerprint: str
    ) -> str:
        """A new, empty run folder for one resolved scenario and seed; returns its id."""
        from twin.experiment import model_hash

        created = _now()
        stem = f"{created:%Y%m%d-%H%M%S}-{_safe(variant.scenario.name)}-{fingerprint[:6]}"
        tmp = self._tmp("tmprun")
        try:
            meta = {
                "id": stem,
                "fingerprint": fingerprint,
                "scenario": variant.scenario.name,
                "variant": variant.name,
                "base": variant.base,
                "variant_file": variant.file,
                "overrides": list(variant.overrides),
                "seed": seed,
                "replications": replications,
                "model": model_hash(),
                "versions": _versions(),
                "host": socket.gethostname(),
                "python": platform.python_version(),
                "platform": platform.platform(terse=True),
                "created": created.isoformat(timespec="seconds"),
            }
            (tmp / SCENARIO_FILE).write_text(to_yaml(data), encoding="utf-8")
            for k in range(1000):
                run_id = stem if k == 0 else f"{stem}-{k + 1}"
                meta["id"] = run_id
                _write_json(tmp / RUN_FILE, meta)
                try:
                    os.rename(tmp, self.root / run_id)
                    return run_id
                except OSError:
                    if not (self.root / run_id).exists():
                        raise
            raise StoreError(f"{self.root}: too many runs named {stem}")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def require(self, run_id: str, replications: int) -> None:
        """Record that ``run_id`` is asked for at least ``replications`` replications."""
        path = self.root / run_id / RUN_FILE
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("replications", 0) >= replications:
            return
        meta["replications"] = replications
        tmp = self._tmp("tmpmeta")
        _write_json(tmp / RUN_FILE, meta)
        os.replace(tmp / RUN_FILE, path)
        tmp.rmdir()

    def save(self, run_id: str, result: TaskResult) -> bool:
        """Store one replication (a worker's result) atomically; False if the run had it."""
        return self._save(
            run_id,
            result.replication,
            result.seed,
            result.kpis,
            result.events,
            result.wall_seconds,
            result.host,
        )

    def save_run(self, run_id: str, run: Run) -> bool:
        """Store a replication simulated here with :func:`twin.simulate.simulate`."""
        return self._save(
            run_id,
            run.replication,
            run.seed,
            run.kpis,
            lambda: run.events,
            run.wall_seconds,
            f"{socket.gethostname()}:{os.getpid()}",
        )

    def _save(
        self,
        run_id: str,
        replication: int,
        seed: int,
        kpis: dict[str, Any],
        events: Callable[[], pa.Table],
        wall_seconds: float,
        worker: str,
    ) -> bool:
        target = self.root / run_id / _rep_dir(replication)
        if target.exists():
            return False
        if not (self.root / run_id / RUN_FILE).is_file():
            raise StoreError(f"{run_id!r}: no such run in {self.root}")
        tmp = self._tmp("tmprep")
        try:
            table = events()
            write_parquet(table, tmp / "events.parquet")
            _write_json(tmp / "kpis.json", kpis)
            meta = {
                "run_id": run_id,
                "replication": replication,
                "seed": seed,
                "wall_seconds": wall_seconds,
                "events": table.num_rows,
                "worker": worker,
                "saved": _now().isoformat(timespec="seconds"),
            }
            _write_json(tmp / "meta.json", meta)
            try:
                os.rename(tmp, target)
            except OSError:
                if target.exists():  # written meanwhile by another process: same content
                    shutil.rmtree(tmp, ignore_errors=True)
                    return False
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return True

    def remove(self, run_id: str) -> None:
        """Delete a run (moved out of sight first, so it never appears half-deleted)."""
        info = self.get(run_id)
        tmp = self._tmp("trash")
        os.rename(info.path, tmp / info.id)
        shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ reading
    def _run_dirs(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.iterdir()):
            if not entry.name.startswith(".") and (entry / RUN_FILE).is_file():
                yield entry

    def _info(self, path: Path) -> RunInfo:
        meta = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
        reps = sorted(int(m.group(1)) for e in path.iterdir() if (m := _REP.match(e.name)))
        return RunInfo(path.name, path, meta, tuple(reps))

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        return [self._info(p) for p in self._run_dirs()]

    def find(self, fingerprint: str) -> str | None:
        """The newest run with this fingerprint, if any."""
        hits = [p for p in self._run_dirs() if f"-{fingerprint[:6]}" in p.name]
        for p in reversed(hits):
            meta = json.loads((p / RUN_FILE).read_text(encoding="utf-8"))
            if meta.get("fingerprint") == fingerprint:
                return p.name
        return None

    def get(self, run_id: str) -> RunInfo:
        """A run by id or by a unique prefix of its id."""
        path = self.root / run_id
        if (
            run_id
            and "/" not in run_id
            and not run_id.startswith(".")
            and (path / RUN_FILE).is_file()
        ):
            return self._info(path)
        hits = [p for p in self._run_dirs() if p.name.startswith(run_id)] if run_id else []
        if len(hits) == 1:
            return self._info(hits[0])
        if not hits:
            raise StoreError(
                f"{run_id!r}: no such run in {self.root}; `twin runs list` shows the ids"
            )
        shown = ", ".join(p.name for p in hits[:5])
        raise StoreError(
            f"{run_id!r}: ambiguous run id in {self.root}; {len(hits)} ids start with it: {shown}"
        )

    def kpis(self, run_id: str) -> dict[int, dict[str, Any]]:
        """Replication -> KPIs of a run."""
        info = self.get(run_id)
        return {
            r: json.loads((info.path / _rep_dir(r) / "kpis.json").read_text(encoding="utf-8"))
            for r in info.replications
        }

    def meta(self, run_id: str, replication: int) -> dict[str, Any]:
        info = self.get(run_id)
        return json.loads(
            (info.path / _rep_dir(replication) / "meta.json").read_text(encoding="utf-8")
        )

    def events(self, run_id: str, replication: int = 0) -> pa.Table:
        """The event log of one replication."""
        info = self.get(run_id)
        path = info.path / _rep_dir(replication) / "events.parquet"
        if not path.is_file():
            raise StoreError(
                f"{info.id}: no replication {replication}; it has {list(info.replications)}"
            )
        return read_parquet(path)

    def scenario(self, run_id: str) -> Scenario:
        """The resolved scenario a run simulated."""
        info = self.get(run_id)
        return load(info.path / SCENARIO_FILE)

    # ------------------------------------------------------------------ queries
    def connect(self) -> Any:
        """A DuckDB connection with the views ``runs``, ``replications``, ``kpis``, ``events``."""
        import duckdb

        con = duckdb.connect()
        root = str(self.root.resolve()).replace("'", "''")
        has_runs = any(True for _ in self._run_dirs())
        has_reps = has_runs and any(True for _ in self.root.glob("[!.]*/rep-*/kpis.json"))
        if has_runs:
            con.execute(
                f"CREATE VIEW runs AS SELECT * FROM read_json_auto('{root}/*/{RUN_FILE}', "
                "union_by_name = true)"
            )
        else:
            con.execute(
                "CREATE VIEW runs AS SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS scenario, "
                "NULL::VARCHAR AS variant, NULL::BIGINT AS seed, NULL::BIGINT AS replications "
                "WHERE false"
            )
        if has_reps:
            con.execute(
                "CREATE VIEW replications AS SELECT * FROM "
                f"read_json_auto('{root}/*/rep-*/meta.json', union_by_name = true)"
            )
            con.execute(f"""
                CREATE VIEW kpis AS
                SELECT regexp_extract(o.filename, '([^/]+)/rep-[0-9]+/kpis.json$', 1) AS run_id,
                       CAST(regexp_extract(o.filename, 'rep-([0-9]+)/kpis.json$', 1) AS INTEGER)
                           AS replication,
                       regexp_replace(substr(t.fullkey, 3), '"', '', 'g') AS kpi,
                       CAST(t.value AS DOUBLE) AS value
                FROM read_json_objects('{root}/*/rep-*/kpis.json', filename = true) o,
                     json_tree(o.json) t
                WHERE t.type IN ('DOUBLE', 'UBIGINT', 'BIGINT', 'INTEGER')
                  AND t.fullkey NOT IN ('$.seed', '$.replication')
            """)
            con.execute(f"""
                CREATE VIEW events AS
                SELECT regexp_extract(filename, '([^/]+)/rep-[0-9]+/events.parquet$', 1) AS run_id,
                       CAST(regexp_extract(filename, 'rep-([0-9]+)/events.parquet$', 1) AS INTEGER)
                           AS replication,
                       * EXCLUDE (filename)
                FROM read_parquet('{root}/*/rep-*/events.parquet', filename = true,
                                  union_by_name = true)
            """)
        else:
            con.execute(
                "CREATE VIEW replications AS SELECT NULL::VARCHAR AS run_id, "
                "NULL::INTEGER AS replication WHERE false"
            )
            con.execute(
                "CREATE VIEW kpis AS SELECT NULL::VARCHAR AS run_id, NULL::INTEGER AS "
                "replication, NULL::VARCHAR AS kpi, NULL::DOUBLE AS value WHERE false"
            )
            con.execute(
                "CREATE VIEW events AS SELECT NULL::VARCHAR AS run_id, NULL::INTEGER AS "
                "replication, NULL::DOUBLE AS t, NULL::VARCHAR AS kind WHERE false"
            )
        return con

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run SQL over the store (views ``runs``, ``replications``, ``kpis``, ``events``)."""
        con = self.connect()
        try:
            rel = con.sql(sql, params=params or None)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        finally:
            con.close()

    def kpi_values(self, run_ids: Sequence[str]) -> dict[str, dict[int, dict[str, float]]]:
        """run id -> replication -> {kpi: value} (flat dotted names), read with DuckDB."""
        ids = [self.get(r).id for r in run_ids]
        table = self.query(
            "SELECT run_id, replication, kpi, value FROM kpis WHERE list_contains(?, run_id)",
            [ids],
        )
        out: dict[str, dict[int, dict[str, float]]] = {i: {} for i in ids}
        for row in table.to_pylist():
            out[row["run_id"]].setdefault(row["replication"], {})[row["kpi"]] = row["value"]
        return out
