"""Tables a planner takes away: the runs table, a comparison (with n and intervals), the KPIs of
every replication, the events around a cursor and the Gantt as data; as CSV, Parquet or Excel.

Each ``*_table`` function returns plain rows (one dict per row, the same keys in every row);
:func:`encode` turns rows into the bytes of a file. Times are given twice: as the scenario's
calendar date (ISO text) and as model hours.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard import comparison
from dashboard.listing import labels_of, runs_rows
from dashboard.playback_data import Playback
from twin.store import Store

__all__ = [
    "FORMATS",
    "encode",
    "runs_table",
    "compare_table",
    "kpis_table",
    "events_table",
    "gantt_table",
]

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_EVENT_COLS = ("kind", "unit", "batch", "order", "product", "step", "state", "value", "detail")


def encode(rows: Sequence[dict[str, Any]], fmt: str, sheet: str = "data") -> bytes:
    """Rows as a CSV (UTF-8, header line), Parquet or Excel (.xlsx, one sheet) file."""
    if fmt not in FORMATS:
        raise ValueError(f"format: bad value {fmt!r}: expected one of {', '.join(FORMATS)}")
    columns = list(rows[0]) if rows else ["(no rows)"]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().encode("utf-8")
    if fmt == "parquet":
        table = pa.Table.from_pylist(list(rows)) if rows else pa.table({columns[0]: pa.array([])})
        out = io.BytesIO()
        pq.write_table(table, out, compression="zstd")
        return out.getvalue()
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.append(columns)
    for r in rows:
        ws.append([_cell(r.get(c)) for c in columns])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def runs_table(root: str) -> list[dict[str, Any]]:
    """The runs table as the Runs page shows it (newest first)."""
    return runs_rows(root)


def compare_table(root: str, run_ids: Sequence[str], names: Sequence[str]) -> list[dict[str, Any]]:
    """The comparison in long form: per KPI and run its mean, and per other run its difference
    to the first, with the 95% interval, n, the method and the replications used."""
    store = Store(root)
    infos = [store.get(r) for r in run_ids]
    ids = [i.id for i in infos]
    samples = comparison.kpi_samples(root, ids)
    seeds = {i.id: i.meta.get("seed") for i in infos}
    basis, cells = comparison.compare(samples, seeds, names)
    return comparison.export_rows(cells, basis, labels_of(infos))


def kpis_table(root: str, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every numeric KPI of every replication: one row per (run, replication)."""
    store = Store(root)
    infos = [store.get(r) for r in run_ids]
    labels = labels_of(infos)
    samples = comparison.kpi_samples(root, [i.id for i in infos])
    names = sorted({k for s in samples.values() for f in s.values() for k in f})
    rows = []
    for info in infos:
        for rep, flat in sorted(samples[info.id].items()):
            row: dict[str, Any] = {
                "run_id": info.id,
                "run": labels[info.id],
                "seed": info.meta.get("seed"),
                "replication": rep,
            }
            row.update({n: flat.get(n) for n in names})
            rows.append(row)
    return rows


def events_table(pb: Playback, t: float, before: int = 8, after: int = 8) -> list[dict[str, Any]]:
    """The events listed around time t (what the page's event list shows, with ``before`` and
    ``after`` as many rows)."""
    rows = []
    for r in pb.events_around(t, before, after):
        row: dict[str, Any] = {
            "time": _iso(pb, r["t"]),
            "t_h": r["t"],
            "after_cursor": not r["now"],
        }
        for c in _EVENT_COLS:
            v = r.get(c)
            row[c] = None if isinstance(v, float) and v != v else v
        rows.append(row)
    return rows


def gantt_table(pb: Playback, lo: float, hi: float) -> list[dict[str, Any]]:
    """The Gantt bars overlapping [lo, hi], whole (not clipped to the window), in start order."""
    idx = pb.bars_in(lo, hi)
    idx = idx[np.lexsort((pb.bar_unit[idx], pb.bar_start[idx]))]
    rows = []
    for i in idx:
        batch = int(pb.bar_batch[i])
        s, e = float(pb.bar_start[i]), float(pb.bar_end[i])
        rows.append(
            {
                "unit": pb.units[int(pb.bar_unit[i])],
                "what": "batch" if batch >= 0 else "state",
                "product_or_state": str(pb.bar_label[i]),
                "order": str(pb.bar_order[i]) or None,
                "batch": batch if batch >= 0 else None,
                "step": str(pb.bar_step[i]) or None,
                "start": _iso(pb, s),
                "end": _iso(pb, e),
                "start_h": s,
                "end_h": e,
                "duration_h": e - s,
            }
        )
    return rows


def _iso(pb: Playback, hours: float) -> str:
    return f"{pb.to_date(hours):%Y-%m-%dT%H:%M:%S}"
