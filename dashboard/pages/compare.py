"""Compare two or more runs on one consistent basis (:mod:`dashboard.comparison`): means and
differences over the same replications, n beside every number, and a note saying what the
numbers rest on; distributions, utilisation and Gantt charts side by side (and, for process
plants, mean tank levels and utility use). Runs are named by scenario, variant and short id
everywhere. The URL carries the runs and KPIs."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import Input, Output, callback, clientside_callback, dash_table, dcc, html

from dashboard import compare_figures, comparison, data, figures, ids, process_figures
from dashboard.context import public, store_root
from dashboard.listing import labels_of
from dashboard.process_levels import level_samples
from twin.experiment import DEFAULT_KPIS, PROCESS_DEFAULT_KPIS
from twin.store import Store, StoreError

dash.register_page(__name__, path="/compare", name="Compare", title="PharmaTwin: compare")

GANTT_DAYS = 14
HIDDEN = {"display": "none"}
MAX_GANTTS = 3
FORMATS = (("CSV", "csv"), ("Parquet", "parquet"), ("Excel", "xlsx"))


def _known(chosen: list[str]) -> tuple[list[str], list[str]]:
    """(run ids found in the store, the ones that are not) of those in a link."""
    store = Store(store_root())
    found, missing = [], []
    for rid in chosen:
        try:
            found.append(store.get(rid).id)
        except StoreError:
            missing.append(rid)
    return found, missing


def layout(runs: str | None = None, kpis: str | None = None, **_query: str) -> html.Div:
    rows = data.runs_rows(store_root())
    options = [
        {"label": f"{r['label']} (seed {r['seed']}, {r['replications']} reps)", "value": r["id"]}
        for r in rows
    ]
    chosen = [r for r in (runs or "").split(",") if r]
    missing: list[str] = []
    if chosen:
        chosen, missing = _known(chosen)
    else:
        chosen = [r["id"] for r in rows[:2]]
    try:
        flat = comparison.kpi_samples(store_root(), chosen)
        names = sorted({k for s in flat.values() for f in s.values() for k in f})
    except StoreError:
        names = []
    # the discrete defaults, and a process plant's where its runs have them
    defaults = [*DEFAULT_KPIS, *(k for k in PROCESS_DEFAULT_KPIS if k in names)]
    wanted = [k for k in (kpis or "").split(",") if k] or defaults
    note = ""
    if missing:
        note = public(
            "Left out: "
            + ", ".join(repr(m) for m in missing)
            + (" is" if len(missing) == 1 else " are")
            + " not a run of this store (deleted, or a link from another store); "
            "choose runs below."
        )
    return html.Div(
        [
            html.H2("Compare runs"),
            html.P(note, id=ids.CMP_MISSING, className="error"),
            html.Span(id=ids.CMP_URL, style={"display": "none"}),
            html.Div(
                [
                    html.Label("runs (the first is the reference)"),
                    dcc.Dropdown(
                        id=ids.CMP_RUNS,
                        options=options,
                        value=chosen,
                        multi=True,
                        style={"minWidth": "760px"},
                    ),
                ],
                className="toolbar",
            ),
            html.Div(
                [
                    html.Label("KPIs"),
                    dcc.Dropdown(
                        id=ids.CMP_KPIS,
                        options=names,
                        multi=True,
                        value=wanted,
                        style={"minWidth": "760px"},
                    ),
                ],
                className="toolbar",
            ),
            html.Div(id=ids.CMP_DOWNLOADS, className="toolbar"),
            html.P(id=ids.CMP_NOTE, className="note"),
            dash_table.DataTable(
                id=ids.CMP_TABLE,
                sort_action="native",
                style_cell={
                    "fontFamily": "inherit",
                    "fontSize": 13,
                    "padding": "4px 8px",
                    "textAlign": "right",
                },
                style_cell_conditional=[{"if": {"column_id": "kpi"}, "textAlign": "left"}],
                style_header={"fontWeight": "bold", "whiteSpace": "normal"},
                style_table={"overflowX": "auto"},
            ),
            dcc.Graph(id=ids.CMP_DIST, config=figures.GRAPH_CONFIG),
            dcc.Graph(id=ids.CMP_UTIL, config=figures.GRAPH_CONFIG),
            dcc.Graph(id=ids.CMP_LEVELS, config=figures.GRAPH_CONFIG, style=HIDDEN),
            html.Div(id=ids.CMP_GANTT, className="row"),
        ]
    )


def _downloads(run_ids: list[str], names: list[str]) -> list:
    query = urlencode({"runs": ",".join(run_ids), "kpis": ",".join(names)})
    out: list = [html.Span("comparison table:", className="dl-label")]
    out += [
        html.A(lab, href=f"/export/compare.{fmt}?{query}", className="dl") for lab, fmt in FORMATS
    ]
    out.append(html.Span("KPIs per replication:", className="dl-label"))
    runs = urlencode({"runs": ",".join(run_ids)})
    out += [html.A(lab, href=f"/export/kpis.{fmt}?{runs}", className="dl") for lab, fmt in FORMATS]
    out.append(
        html.A(
            "Report (HTML)",
            id=ids.CMP_REPORT,
            href=f"/report/compare.html?{query}",
            className="btn light",
        )
    )
    return out


@callback(
    Output(ids.CMP_KPIS, "options"),
    Output(ids.CMP_TABLE, "columns"),
    Output(ids.CMP_TABLE, "data"),
    Output(ids.CMP_DIST, "figure"),
    Output(ids.CMP_UTIL, "figure"),
    Output(ids.CMP_GANTT, "children"),
    Output(ids.CMP_NOTE, "children"),
    Output(ids.CMP_DOWNLOADS, "children"),
    Output(ids.CMP_LEVELS, "figure"),
    Output(ids.CMP_LEVELS, "style"),
    Input(ids.CMP_RUNS, "value"),
    Input(ids.CMP_KPIS, "value"),
)
def compare(run_ids, kpis):
    root = store_root()
    store = Store(root)
    try:
        infos = [store.get(r) for r in run_ids or []]
    except StoreError as exc:
        return [], [], [], {}, {}, [], public(str(exc)), [], {}, HIDDEN
    if not infos:
        return [], [], [], {}, {}, [], "Choose two or more runs.", [], {}, HIDDEN
    ids_ = [i.id for i in infos]
    samples = comparison.kpi_samples(root, ids_)
    names_all = sorted({k for s in samples.values() for f in s.values() for k in f})
    names = [k for k in (kpis or []) if k in names_all]
    labels = labels_of(infos)
    seeds = {i.id: i.meta.get("seed") for i in infos}
    basis, cells = comparison.compare(samples, seeds, names)
    columns = [{"id": "kpi", "name": "KPI"}]
    columns += [
        {"id": f"run{k}", "name": f"{labels[r]}{' (reference)' if k == 0 else ''}: mean"}
        for k, r in enumerate(ids_)
    ]
    columns += [
        {"id": f"diff{k}", "name": f"{labels[r]} − reference ({basis.method(r)}, 95% CI)"}
        for k, r in enumerate(ids_[1:], start=1)
    ]
    flat = {rid: [samples[rid][r] for r in basis.used[rid]] for rid in ids_}
    gantts = []
    for info in infos[:MAX_GANTTS]:
        reps = basis.used.get(info.id) or info.replications
        if not reps:
            continue
        pb = data.playback(root, info.id, reps[0])
        lo = max(pb.warmup, pb.first_activity)
        title = f"{labels[info.id]}: replication {reps[0]}, {GANTT_DAYS} days"
        fig = figures.gantt_figure(pb, lo, lo + 24 * GANTT_DAYS, title=title)
        fig["layout"].update(showlegend=False)
        gantts.append(
            html.Div(dcc.Graph(figure=fig, config=figures.GRAPH_CONFIG), className="panel cmp")
        )
    note = comparison.basis_note(basis, labels)
    levels, capacities = level_samples(store, basis.used)
    levels_fig = process_figures.level_compare_figure(levels, labels, capacities)
    if len(ids_) < 2:
        note = "Choose two or more runs. " + note
    return (
        [{"label": n, "value": n} for n in names_all],
        columns,
        comparison.display_rows(cells, ids_),
        compare_figures.distribution_figure(flat, names, labels),
        compare_figures.utilisation_figure(flat, labels),
        gantts,
        note,
        _downloads(ids_, names),
        levels_fig,
        {} if levels else HIDDEN,
    )


# keep the URL in step with the chosen runs and KPIs (no reload), so a link restores the view
clientside_callback(
    """
    function (runs, kpis) {
        const q = new URLSearchParams({runs: (runs || []).join(","), kpis: (kpis || []).join(",")});
        const url = window.location.pathname + "?" + q.toString();
        if (url !== window.location.pathname + window.location.search) {
            window.history.replaceState(window.history.state, "", url);
        }
        return url;
    }
    """,
    Output(ids.CMP_URL, "children"),
    Input(ids.CMP_RUNS, "value"),
    Input(ids.CMP_KPIS, "value"),
)
