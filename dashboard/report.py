"""Self-contained HTML reports of a run or a comparison: one file with the KPI tables, the key
figures, the scenario and variant, seeds and versions, that can be mailed and opened offline
(plotly's JavaScript is embedded once; nothing is loaded from the network).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from dashboard import compare_figures, comparison, figures, process_figures
from dashboard.listing import labels_of, run_label
from dashboard.playback_data import Playback
from dashboard.process_levels import level_samples
from twin.experiment import DEFAULT_KPIS, PROCESS_DEFAULT_KPIS, mean_ci
from twin.store import RunInfo, Store

__all__ = ["run_report", "compare_report"]

GANTT_DAYS = 14
_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1300px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
td, th { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.meta td { text-align: left; } .note { color: #555; font-size: 13px; max-width: 1000px; }
pre { background: #f6f7f9; padding: 8px; font-size: 11px; overflow-x: auto; }
"""


def _page(title: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(body)
        + f"<p class='note'>Made by PharmaTwin on {dt.datetime.now():%Y-%m-%d %H:%M}; "
        "works offline (plotly.js is inside this file).</p></body></html>"
    )


# the dashboard's graph config, less the keys plotly.py's HTML writer does not know (they
# only matter to dcc.Graph)
_CONFIG = {
    k: v for k, v in figures.GRAPH_CONFIG.items() if k not in ("showEditInChartStudio", "showLink")
}


def _figure(fig: go.Figure | dict[str, Any]) -> str:
    return pio.to_html(go.Figure(fig), full_html=False, include_plotlyjs=False, config=_CONFIG)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    out = [f"<table class='{cls}'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>")
    return "\n".join(out) + "</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _meta(info: RunInfo) -> str:
    m = info.meta
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
    rows = [
        ("run", f"{run_label(info)} ({info.id})"),
        ("scenario", m.get("scenario")),
        ("variant", m.get("variant")),
        ("base file", Path(str(m.get("base") or "-")).name),
        ("variant file", Path(str(m.get("variant_file"))).name if m.get("variant_file") else "-"),
        ("overrides (--set)", "; ".join(m.get("overrides") or []) or "-"),
        ("seed", m.get("seed")),
        ("replications", f"{len(info.replications)} stored of {info.requested} asked for"),
        ("created", m.get("created")),
        ("model hash", m.get("model")),
        ("versions", versions or "-"),
        ("python", m.get("python")),
    ]
    return _table(("", ""), rows, "meta")


def _scenario_yaml(info: RunInfo) -> str:
    text = (info.path / "scenario.yaml").read_text(encoding="utf-8")
    return (
        "<details><summary>Resolved scenario (scenario.yaml of the run)</summary>"
        f"<pre>{html.escape(text)}</pre></details>"
    )


def run_report(root: str, run_id: str, pb: Playback) -> str:
    """One run: metadata, KPI means over its replications and per replication, the Gantt of the
    first two weeks after the warm-up, WIP and stock (a process plant: tank levels and utility
    use), utilisation (``pb``: the replication the figures show)."""
    store = Store(root)
    info = store.get(run_id)
    samples = comparison.kpi_samples(root, [info.id])[info.id]
    defaults = (*DEFAULT_KPIS, *PROCESS_DEFAULT_KPIS)
    names = [n for n in defaults if any(n in f for f in samples.values())]
    means = []
    for n in names:
        iv = mean_ci([f.get(n) for f in samples.values()])
        means.append((n, figures.kpi_unit(n), iv.mean, iv.half_width, iv.n))
    per_rep = [(r, *(samples[r].get(n) for n in names)) for r in sorted(samples)]
    lo = max(pb.warmup, pb.first_activity)
    label = run_label(info)
    body = [
        f"<h1>PharmaTwin run report: {html.escape(label)}</h1>",
        _meta(info),
        "<h2>KPIs: mean over replications with the 95% confidence interval</h2>",
        _table(("KPI", "unit", "mean", "± half-width", "n"), means),
        "<h2>KPIs per replication</h2>",
        _table(("replication", *names), per_rep),
        f"<h2>Gantt of replication {pb.replication}, {GANTT_DAYS} days from "
        f"{pb.to_date(lo):%Y-%m-%d %H:%M}</h2>",
        _figure(figures.gantt_figure(pb, lo, lo + 24 * GANTT_DAYS)),
        *(
            (_figure(process_figures.tank_figure(pb)), _figure(process_figures.utility_figure(pb)))
            if pb.is_process
            else (_figure(figures.series_figure(pb)),)
        ),
        _figure(
            compare_figures.utilisation_figure({info.id: list(samples.values())}, {info.id: label})
        ),
        _scenario_yaml(info),
    ]
    return _page(f"PharmaTwin: {label}", body)


def compare_report(
    root: str, run_ids: Sequence[str], names: Sequence[str], playbacks: Mapping[str, Playback]
) -> str:
    """A comparison: the basis, the table (means, differences, n, intervals), distributions,
    utilisation, mean tank levels and utility use (process plants), and the Gantt of each run
    (``playbacks``: run id -> the replication shown)."""
    store = Store(root)
    infos = [store.get(r) for r in run_ids]
    ids = [i.id for i in infos]
    labels = labels_of(infos)
    samples = comparison.kpi_samples(root, ids)
    seeds = {i.id: i.meta.get("seed") for i in infos}
    basis, cells = comparison.compare(samples, seeds, names)
    rows = comparison.display_rows(cells, ids)
    head = ["KPI", *(labels[r] for r in ids), *(f"{labels[r]} − reference" for r in ids[1:])]
    keys = ["kpi", *(f"run{k}" for k in range(len(ids))), *(f"diff{k}" for k in range(1, len(ids)))]
    flat = {rid: [samples[rid][r] for r in basis.used[rid]] for rid in ids}
    body = [
        "<h1>PharmaTwin comparison</h1>",
        f"<p class='note'>{html.escape(comparison.basis_note(basis, labels))}</p>",
        _table(head, [[r.get(k, "") for k in keys] for r in rows]),
        _figure(compare_figures.distribution_figure(flat, names, labels)),
        _figure(compare_figures.utilisation_figure(flat, labels)),
    ]
    levels, capacities = level_samples(store, basis.used)
    if levels:  # process plants: mean tank levels and utility use
        body.append(_figure(process_figures.level_compare_figure(levels, labels, capacities)))
    for rid in ids:
        pb = playbacks.get(rid)
        if pb is not None:
            lo = max(pb.warmup, pb.first_activity)
            title = f"{labels[rid]}: replication {pb.replication}"
            body.append(_figure(figures.gantt_figure(pb, lo, lo + 24 * GANTT_DAYS, title=title)))
    for info in infos:
        body += [f"<h2>{html.escape(labels[info.id])}</h2>", _meta(info), _scenario_yaml(info)]
    body.append(
        "<script type='application/json' id='pharmatwin-data'>"
        + json.dumps(comparison.export_rows(cells, basis, labels), default=str).replace(
            "</", "<\\/"
        )
        + "</script>"
    )
    return _page("PharmaTwin: comparison", body)
