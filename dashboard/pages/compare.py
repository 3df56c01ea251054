"""Compare two or more runs: KPI means with 95% intervals, differences to the first run (paired
by replication when the runs share a seed), distributions over replications, utilisation and
Gantt charts side by side."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dash_table, dcc, html

from dashboard import data, figures, ids
from dashboard.context import store_root
from twin.experiment import DEFAULT_KPIS
from twin.store import Store, StoreError

dash.register_page(__name__, path="/compare", name="Compare", title="PharmaTwin: compare")

GANTT_DAYS = 14
MAX_GANTTS = 3


def layout(runs: str | None = None, **_query: str) -> html.Div:
    rows = data.runs_rows(store_root())
    options = [
        {"label": f"{r['id']} ({r['variant']}, seed {r['seed']})", "value": r["id"]} for r in rows
    ]
    chosen = [r for r in (runs or "").split(",") if r]
    if not chosen:
        chosen = [r["id"] for r in rows[:2]]
    try:
        names = _kpi_names(data.flat_samples(data.kpi_samples(store_root(), chosen)))
    except StoreError:
        names = []
    return html.Div(
        [
            html.H2("Compare runs"),
            html.Div(
                [
                    html.Label("runs (the first is the reference)"),
                    dcc.Dropdown(
                        id=ids.CMP_RUNS,
                        options=options,
                        value=chosen,
                        multi=True,
                        style={"minWidth": "640px"},
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
                        value=list(DEFAULT_KPIS),
                        style={"minWidth": "640px"},
                    ),
                ],
                className="toolbar",
            ),
            html.P(id=ids.CMP_NOTE),
            dash_table.DataTable(
                id=ids.CMP_TABLE,
                sort_action="native",
                style_cell={
                    "fontFamily": "inherit",
                    "fontSize": 13,
                    "padding": "4px 8px",
                    "textAlign": "right",
                },
                style_header={"fontWeight": "bold", "whiteSpace": "normal"},
                style_table={"overflowX": "auto"},
            ),
            html.H3("Distributions over replications"),
            dcc.Graph(id=ids.CMP_DIST, config={"displaylogo": False}),
            html.H3("Utilisation (mean time share per state)"),
            dcc.Graph(id=ids.CMP_UTIL, config={"displaylogo": False}),
            html.H3(f"Gantt, replication 0, first {GANTT_DAYS} days after the warm-up"),
            html.Div(id=ids.CMP_GANTT, className="row"),
        ]
    )


def _kpi_names(flat: dict[str, list[dict[str, float]]]) -> list[str]:
    return sorted({k for fs in flat.values() for f in fs for k in f})


@callback(
    Output(ids.CMP_KPIS, "options"),
    Output(ids.CMP_TABLE, "columns"),
    Output(ids.CMP_TABLE, "data"),
    Output(ids.CMP_DIST, "figure"),
    Output(ids.CMP_UTIL, "figure"),
    Output(ids.CMP_GANTT, "children"),
    Output(ids.CMP_NOTE, "children"),
    Input(ids.CMP_RUNS, "value"),
    Input(ids.CMP_KPIS, "value"),
)
def compare(run_ids, kpis):
    root = store_root()
    store = Store(root)
    try:
        infos = [store.get(r) for r in run_ids or []]
    except StoreError as exc:
        return [], [], [], {}, {}, [], str(exc)
    ids_ = [i.id for i in infos]
    samples = data.kpi_samples(root, ids_)
    flat = data.flat_samples(samples)
    names_all = _kpi_names(flat)
    names = [k for k in (kpis or []) if k in names_all]
    labels = {i.id: f"{k + 1}: {i.meta.get('variant')}" for k, i in enumerate(infos)}
    seeds = {i.id: i.meta.get("seed") for i in infos}
    columns = [{"id": "kpi", "name": "KPI"}]
    columns += [{"id": f"run{k}", "name": f"{labels[r]} ({r})"} for k, r in enumerate(ids_)]
    columns += [{"id": f"diff{k}", "name": f"{k + 1} − 1 (95% CI)"} for k in range(1, len(ids_))]
    rows = data.compare_rows(samples, seeds, names) if ids_ else []
    gantts = []
    for info in infos[:MAX_GANTTS]:
        if not info.replications:
            continue
        pb = data.playback(root, info.id, info.replications[0])
        lo = pb.warmup
        fig = figures.gantt_figure(pb, lo, lo + 24 * GANTT_DAYS, height=None)
        fig["layout"].update(
            title={"text": labels[info.id], "font": {"size": 12}},
            margin={**fig["layout"]["margin"], "t": 30},
            showlegend=False,
        )
        gantts.append(
            html.Div(dcc.Graph(figure=fig, config={"displaylogo": False}), className="panel cmp")
        )
    note = (
        "Mean ± half-width of the 95% confidence interval over replications; differences "
        "are paired by replication (common random numbers) when two runs share the seed, "
        "else Welch intervals; * marks differences whose interval excludes zero."
    )
    if len(ids_) < 2:
        note = "Choose two or more runs. " + note
    return (
        [{"label": n, "value": n} for n in names_all],
        columns,
        rows,
        figures.distribution_figure(flat, names, labels),
        figures.utilisation_figure(flat, labels),
        gantts,
        note,
    )
