"""The runs listing: one row per stored run, and the label a run carries on every page.

A run is labelled by what a planner recognises, never by its position on a page: scenario,
variant and a short id (``tiny / units.press_1.count=3 [b02eea]``), so two runs of one scenario
with the same variant name stay apart in tables, legends and figure titles.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from twin.experiment import summarize
from twin.store import RunInfo, Store

__all__ = ["HEADLINE_KPIS", "runs_rows", "short_id", "run_label", "labels_of"]

HEADLINE_KPIS = ("otif_pct", "lead_time_h.mean", "batches.qc_released", "makespan_h", "wip.mean")
_STAMP = re.compile(r"^\d{8}-\d{6}-")
LABEL_CHARS = 70  # longer variant names are shortened in labels (the runs table has them whole)


@functools.lru_cache(maxsize=512)
def _headline(path: str, replications: tuple[int, ...]) -> dict[str, float | None]:
    """Mean of the headline KPIs over a run's replications (stored runs never change)."""
    store = Store(Path(path).parent)
    kpis = list(store.kpis(Path(path).name).values())
    means = summarize(kpis, HEADLINE_KPIS) if kpis else {}
    return {k: (means[k].mean if k in means else None) for k in HEADLINE_KPIS}


def short_id(run_id: str, scenario: str | None = None) -> str:
    """The part of a run id that tells runs of one scenario apart (fingerprint and suffix):
    ``20261125-191819-osd_plant-0675e3`` -> ``0675e3``."""
    rest = _STAMP.sub("", run_id)
    if scenario:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", scenario).strip("._")
        if rest.startswith(safe + "-"):
            return rest[len(safe) + 1 :]
    return rest.rsplit("-", 1)[-1] if "-" in rest else rest


def run_label(info: RunInfo, limit: int = LABEL_CHARS) -> str:
    """``scenario / variant [short id]``: the run's name on every page and figure."""
    scenario = str(info.meta.get("scenario") or "?")
    variant = str(info.meta.get("variant") or "base")
    if len(variant) > limit:
        variant = variant[: limit - 1] + "…"
    return f"{scenario} / {variant} [{short_id(info.id, scenario)}]"


def labels_of(infos: list[RunInfo]) -> dict[str, str]:
    """run id -> label; made unique with the full id should two labels coincide."""
    labels = {i.id: run_label(i) for i in infos}
    seen: dict[str, int] = {}
    for lab in labels.values():
        seen[lab] = seen.get(lab, 0) + 1
    return {rid: (f"{lab} {rid}" if seen[lab] > 1 else lab) for rid, lab in labels.items()}


def runs_rows(root: str | Path) -> list[dict[str, Any]]:
    """One row per stored run for the runs table: metadata and headline KPI means, newest first."""
    rows = []
    for info in Store(root).runs():
        meta = info.meta
        row: dict[str, Any] = {
            "id": info.id,
            "label": run_label(info),
            "scenario": meta.get("scenario"),
            "variant": meta.get("variant"),
            "seed": meta.get("seed"),
            "replications": f"{len(info.replications)}/{info.requested}",
            "created": str(meta.get("created", ""))[:19].replace("T", " "),
            "status": info.status,
        }
        for k, v in _headline(str(info.path), info.replications).items():
            row[k] = None if v is None else round(v, 2)
        rows.append(row)
    rows.reverse()
    return rows
