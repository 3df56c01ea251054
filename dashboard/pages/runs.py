"""Runs: the stored runs in a sortable, filterable table; play back, compare or delete them."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html, no_update

from dashboard import data, ids
from dashboard.context import store_root
from twin.store import Store, StoreError

dash.register_page(__name__, path="/", name="Runs", title="PharmaTwin: runs")

_COLUMNS = [
    ("id", "run id"), ("scenario", "scenario"), ("variant", "variant"), ("seed", "seed"),
    ("replications", "reps"), ("created", "created"), ("status", "status"),
    *((k, k) for k in data.HEADLINE_KPIS),
]  # fmt: skip


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H2("Runs"),
            html.P(
                "Select runs (tick boxes) to play back or compare them. Sort by a column header; "
                "filter by typing in the row under the headers (e.g. osd or > 90)."
            ),
            html.Div(
                [
                    html.Button("Play back", id=ids.RUNS_PLAY, className="btn"),
                    html.Button("Compare", id=ids.RUNS_COMPARE, className="btn"),
                    html.Button("Delete", id=ids.RUNS_DELETE, className="btn danger"),
                    html.Button("Refresh", id=ids.RUNS_REFRESH, className="btn light"),
                    html.Span(id=ids.RUNS_MESSAGE, className="message"),
                ],
                className="toolbar",
            ),
            html.Div(
                [
                    html.Span("runs table:", className="dl-label"),
                    *(
                        html.A(label, href=f"/export/runs.{fmt}", className="dl")
                        for label, fmt in (
                            ("CSV", "csv"),
                            ("Parquet", "parquet"),
                            ("Excel", "xlsx"),
                        )
                    ),
                ],
                id=ids.RUNS_DOWNLOADS,
                className="toolbar",
            ),
            dcc.ConfirmDialog(id=ids.RUNS_CONFIRM),
            dcc.Location(id="runs-go", refresh=True),
            dcc.Interval(id=ids.RUNS_POLL, interval=5000),
            dash_table.DataTable(
                id=ids.RUNS_TABLE,
                columns=[{"id": c, "name": n} for c, n in _COLUMNS],
                data=data.runs_rows(store_root()),
                row_selectable="multi",
                selected_rows=[],
                sort_action="native",
                filter_action="native",
                page_size=25,
                style_table={"overflowX": "auto"},
                style_cell={
                    "fontFamily": "inherit",
                    "fontSize": 13,
                    "padding": "4px 8px",
                    "textAlign": "left",
                },
                style_header={"fontWeight": "bold"},
            ),
        ]
    )


def _selected(rows: list[dict], selected: list[int] | None) -> list[str]:
    return [rows[i]["id"] for i in (selected or []) if i < len(rows)]


@callback(
    Output(ids.RUNS_TABLE, "data"),
    Output(ids.RUNS_TABLE, "selected_rows"),
    Input(ids.RUNS_REFRESH, "n_clicks"),
    Input(ids.RUNS_POLL, "n_intervals"),
    State(ids.RUNS_TABLE, "data"),
    State(ids.RUNS_TABLE, "selected_rows"),
    prevent_initial_call=True,
)
def refresh(_clicks, _tick, rows, selected):
    new = data.runs_rows(store_root())
    if [r["id"] for r in new] == [r["id"] for r in rows or []] and new == rows:
        return no_update, no_update
    keep = set(_selected(rows or [], selected))
    return new, [i for i, r in enumerate(new) if r["id"] in keep]


@callback(
    Output("runs-go", "href"),
    Output(ids.RUNS_MESSAGE, "children", allow_duplicate=True),
    Input(ids.RUNS_PLAY, "n_clicks"),
    Input(ids.RUNS_COMPARE, "n_clicks"),
    State(ids.RUNS_TABLE, "data"),
    State(ids.RUNS_TABLE, "selected_rows"),
    prevent_initial_call=True,
)
def go(_play, _compare, rows, selected):
    chosen = _selected(rows, selected)
    if dash.ctx.triggered_id == ids.RUNS_PLAY:
        if not chosen:
            return no_update, "select a run to play back"
        return "/playback?" + urlencode({"run": chosen[0]}), ""
    if len(chosen) < 2:
        return no_update, "select two or more runs to compare"
    return "/compare?" + urlencode({"runs": ",".join(chosen)}), ""


@callback(
    Output(ids.RUNS_CONFIRM, "displayed"),
    Output(ids.RUNS_CONFIRM, "message"),
    Output(ids.RUNS_MESSAGE, "children", allow_duplicate=True),
    Input(ids.RUNS_DELETE, "n_clicks"),
    State(ids.RUNS_TABLE, "data"),
    State(ids.RUNS_TABLE, "selected_rows"),
    prevent_initial_call=True,
)
def ask_delete(_n, rows, selected):
    chosen = _selected(rows, selected)
    if not chosen:
        return False, no_update, "select the runs to delete"
    return True, f"Delete {len(chosen)} run(s) from the store for good?\n" + "\n".join(chosen), ""


@callback(
    Output(ids.RUNS_TABLE, "data", allow_duplicate=True),
    Output(ids.RUNS_TABLE, "selected_rows", allow_duplicate=True),
    Output(ids.RUNS_MESSAGE, "children", allow_duplicate=True),
    Input(ids.RUNS_CONFIRM, "submit_n_clicks"),
    State(ids.RUNS_TABLE, "data"),
    State(ids.RUNS_TABLE, "selected_rows"),
    prevent_initial_call=True,
)
def delete(_n, rows, selected):
    store = Store(store_root())
    gone = []
    for rid in _selected(rows, selected):
        try:
            store.remove(rid)
            gone.append(rid)
        except StoreError as exc:
            return no_update, no_update, str(exc)
    return data.runs_rows(store_root()), [], f"deleted {len(gone)} run(s)"
