"""Live: a running live twin (``twin live``), refreshed every two seconds from its session in
the run store (``runs/live/<session>/status.json``): the sync indicator and counts, the plant
with units and AGVs in their current states, the latest forecast's orders at risk, the
divergences, and the event rate and lag.

The page only reads files the live twin writes (atomically), so it works with ``twin dash``
over the same store as well as inside ``twin live --demo``.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import ids, live_figures
from dashboard.context import store_root
from dashboard.figures import GRAPH_CONFIG
from twin.live.session import LIVE_DIR, list_sessions

dash.register_page(__name__, path="/live", name="Live", title="PharmaTwin: live")

POLL_MS = 2000
STALE_S = 15.0


def _sessions() -> list[dict[str, str]]:
    return [
        {"label": f"{s['name']} ({s['scenario']})", "value": s["name"]}
        for s in list_sessions(store_root())
    ]


def layout(session: str | None = None, **_query: str) -> html.Div:
    options = _sessions()
    names = {o["value"] for o in options}
    value = session if session in names else (options[0]["value"] if options else None)
    empty = {"data": [], "layout": {"height": 60}}
    return html.Div(
        [
            html.H2("Live"),
            html.Div(
                [
                    html.Label("session"),
                    dcc.Dropdown(
                        id=ids.LIVE_SESSION,
                        options=options,
                        value=value,
                        clearable=False,
                        style={"width": "420px"},
                    ),  # fmt: skip
                    html.Span(id=ids.LIVE_SYNC, className="sync-badge sync-wait", children="-"),
                    html.Span(id=ids.LIVE_MESSAGE, className="message"),
                ],
                className="toolbar",
            ),
            html.Div(id=ids.LIVE_HEAD, className="live-head"),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(id=ids.LIVE_PLANT, figure=empty, config=GRAPH_CONFIG),
                        className="panel wide",
                    ),
                    html.Div(
                        dcc.Graph(id=ids.LIVE_FORECAST, figure=empty, config=GRAPH_CONFIG),
                        className="panel half",
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.H4("Divergences (newest first)"),
                            html.Div(id=ids.LIVE_DIVERGENCES),
                        ],  # fmt: skip
                        className="panel half",
                    ),
                    html.Div(
                        dcc.Graph(id=ids.LIVE_RATE, figure=empty, config=GRAPH_CONFIG),
                        className="panel half",
                    ),
                ],
                className="row",
            ),
            html.P(
                "Start a live twin with `twin live --demo`, or `twin live SCENARIO --mqtt URL "
                "--store STORE` against a plant; this page follows the sessions of this store.",
                className="live-note",
            ),
            dcc.Interval(id=ids.LIVE_POLL, interval=POLL_MS),
        ]
    )


@functools.lru_cache(maxsize=8)
def _scenario(path: str, stamp: float) -> Any:
    from twin.scenario import load

    return load(path)


def _read(session: str) -> tuple[dict[str, Any] | None, Any, str]:
    """(status, scenario, message) of a session; None and a message when it cannot be read."""
    folder = Path(store_root()) / LIVE_DIR / session
    status_file, scenario_file = folder / "status.json", folder / "scenario.yaml"
    if "/" in session or session.startswith(".") or not status_file.is_file():
        return None, None, f"session {session!r}: no status yet (is the live twin running?)"
    try:
        status = json.loads(status_file.read_text(encoding="utf-8"))
        sc = _scenario(str(scenario_file), scenario_file.stat().st_mtime)
    except (OSError, ValueError) as exc:
        return None, None, f"session {session!r}: cannot be read ({type(exc).__name__})"
    age = time.time() - float(status.get("updated") or 0)
    message = f"last update {age:.0f} s ago: the live twin has stopped" if age > STALE_S else ""
    return status, sc, message


def _cards(status: dict[str, Any]) -> list[html.Div]:
    return [
        html.Div(
            [html.Div(value, className="value"), html.Div(label, className="label")],
            className="card",
        )  # fmt: skip
        for label, value in live_figures.headline(status)
    ]


def _divergence_table(status: dict[str, Any]) -> html.Table | html.P:
    rows = live_figures.divergence_rows(status)
    counts = (status.get("divergences") or {}).get("by_reason") or {}
    summary = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    if not rows:
        return html.P("None: the model explains every event so far.", className="live-note")
    head = html.Tr([html.Th(h) for h in ("plant time", "rule", "unit", "what happened")])
    body = [
        html.Tr(
            [
                html.Td(r["at"]),
                html.Td(r["reason"]),
                html.Td(r["unit"]),
                html.Td(r["message"], className="msg"),
            ]
        )  # fmt: skip
        for r in rows
    ]
    return html.Div(
        [
            html.P(f"by rule: {summary}", className="live-note"),
            html.Table([head, *body], className="divergences"),
        ]  # fmt: skip
    )


@callback(
    Output(ids.LIVE_HEAD, "children"),
    Output(ids.LIVE_SYNC, "children"),
    Output(ids.LIVE_SYNC, "className"),
    Output(ids.LIVE_PLANT, "figure"),
    Output(ids.LIVE_FORECAST, "figure"),
    Output(ids.LIVE_RATE, "figure"),
    Output(ids.LIVE_DIVERGENCES, "children"),
    Output(ids.LIVE_MESSAGE, "children"),
    Input(ids.LIVE_POLL, "n_intervals"),
    Input(ids.LIVE_SESSION, "value"),
)
def _refresh(_n: int | None, session: str | None) -> tuple:
    if not session:
        msg = "No live session in this store yet: start one with `twin live --demo`."
        return (
            [],
            "-",
            "sync-badge sync-wait",
            dash.no_update,
            dash.no_update,
            dash.no_update,
            [],
            msg,
        )
    status, sc, message = _read(session)
    if status is None:
        return (
            [],
            "-",
            "sync-badge sync-wait",
            dash.no_update,
            dash.no_update,
            dash.no_update,
            [],
            message,
        )
    word = (status.get("sync") or {}).get("status", "waiting")
    return (
        _cards(status),
        word,
        f"sync-badge {live_figures.sync_class(status)}",
        live_figures.plant_figure(sc, status),
        live_figures.forecast_figure(status),
        live_figures.rate_figure(status),
        _divergence_table(status),
        message,
    )
