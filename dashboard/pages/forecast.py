"""Forecast: a look-ahead forecast filed in the run store (``twin forecast ... --store STORE``,
in ``runs/forecasts/``): its orders as p10-p90 prediction bars against their due dates,
coloured by on-time probability with the most at risk on top, and the plant KPIs with their
confidence intervals. ``/forecast?forecast=<id>`` opens one; the newest is shown otherwise.
The live twin keeps its forecasts in its session and shows them on the Live page."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import forecast_figures, ids
from dashboard.context import store_root
from dashboard.figures import GRAPH_CONFIG
from twin.forecast import ForecastError, list_forecasts, load_forecast

dash.register_page(__name__, path="/forecast", name="Forecast", title="PharmaTwin: forecast")


def layout(forecast: str | None = None, **_query: str) -> html.Div:
    options = forecast_figures.forecast_options(list_forecasts(store_root()))
    known = {o["value"] for o in options}
    value = forecast if forecast in known else (options[0]["value"] if options else None)
    return html.Div(
        [
            html.H2("Forecast"),
            html.Div(
                [
                    html.Label("forecast"),
                    dcc.Dropdown(
                        id=ids.FC_PICK,
                        options=options,
                        value=value,
                        clearable=False,
                        style={"width": "640px"},
                    ),
                    html.Span(id=ids.FC_MESSAGE, className="message"),
                ],
                className="toolbar",
            ),
            html.Div(id=ids.FC_HEAD, className="live-head"),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(
                            id=ids.FC_ORDERS,
                            figure=forecast_figures.orders_figure(None),
                            config=GRAPH_CONFIG,
                        ),
                        className="panel wide",
                    ),
                    html.Div(
                        [html.H4("Plant KPIs over the horizon"), html.Div(id=ids.FC_KPIS)],
                        className="panel half",
                    ),
                ],
                className="row",
            ),
            html.P(
                "Make one with `twin forecast SCENARIO --state state.json --horizon 7d -n 100 "
                "--store STORE`; see docs/forecast.md.",
                className="live-note",
            ),
        ]
    )


def _kpi_table(rows: list[dict[str, str]]) -> html.Table | html.P:
    if not rows:
        return html.P("No KPIs in this forecast.", className="live-note")
    head = html.Tr([html.Th(h) for h in ("KPI", "mean", "confidence interval", "level", "n")])
    body = [html.Tr([html.Td(r[k]) for k in ("kpi", "mean", "ci", "level", "n")]) for r in rows]
    return html.Table([head, *body], className="divergences")


@callback(
    Output(ids.FC_HEAD, "children"),
    Output(ids.FC_ORDERS, "figure"),
    Output(ids.FC_KPIS, "children"),
    Output(ids.FC_MESSAGE, "children"),
    Input(ids.FC_PICK, "value"),
)
def _show(fid: str | None) -> tuple:
    if not fid:
        msg = "No forecast in this store yet: make one with `twin forecast ... --store`."
        return [], forecast_figures.orders_figure(None), [], msg
    try:
        fc = load_forecast(store_root(), fid)
    except (ForecastError, OSError, ValueError) as exc:
        return [], forecast_figures.orders_figure(None), [], str(exc)
    cards = [
        html.Div(
            [html.Div(value, className="value"), html.Div(label, className="label")],
            className="card",
        )
        for label, value in forecast_figures.headline(fc)
    ]
    return (
        cards,
        forecast_figures.orders_figure(fc),
        _kpi_table(forecast_figures.kpi_rows(fc)),
        "",
    )
