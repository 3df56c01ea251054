"""Playback of one run: the plant at the cursor time, a Gantt around it, WIP and stock curves
(a process plant: tank levels and utility use, and the levels at the cursor), KPIs up to the
cursor and the events around it.

The server sends the figures without what moves (units, AGVs and batches hidden, no plotly
cursor line) and the plant at the first time (``key.frame``), which the browser draws in its own
layer as soon as plotly has drawn the figures; it fetches the run's timeline once
(``/timeline/...``, :mod:`dashboard.timeline`) and draws every cursor time itself
(``assets/playback.js``): while the slider is dragged, while playing, after a jump. What does
not depend on the cursor (the plant's floor and labels, the WIP and stock curves) is computed
once per replication (``Playback.memo``). The server is
asked only for what depends on a settled cursor: the Gantt window, the event list, the download
links. The URL carries run, replication, cursor time, Gantt window and jump kind, so a link
reproduces the view.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard import data, figures, ids, process_figures
from dashboard.context import public, store_root
from dashboard.listing import run_label
from dashboard.playback_data import parse_when
from twin.store import RunInfo, Store, StoreError

dash.register_page(__name__, path="/playback", name="Playback", title="PharmaTwin: playback")

SPEEDS = (1, 10, 100, 1000, 10_000)
SPANS = {"1 day": 24.0, "3 days": 72.0, "1 week": 168.0, "4 weeks": 672.0}
MAX_ZOOM_H = 24 * 7 * 12  # the Gantt sends at most twelve weeks of bars
FORMATS = (("CSV", "csv"), ("Parquet", "parquet"), ("Excel", "xlsx"))
PAGES_KEPT = 8  # pages (run, replication, cursor, window, ...) kept per replication


def _run_options() -> list[dict[str, str]]:
    return [
        {"label": f"{r['label']}: {r['created']}", "value": r["id"]}
        for r in data.runs_rows(store_root())
    ]


def _picker(
    options: list[dict[str, str]], run: str | None, reps: list[int], rep: int | None
) -> html.Div:
    return html.Div(
        [
            html.Label("run"),
            dcc.Dropdown(
                id=ids.PB_RUN, options=options, value=run, clearable=False, style={"width": "600px"}
            ),
            html.Label("replication"),
            dcc.Dropdown(
                id=ids.PB_REP,
                options=[{"label": str(k), "value": k} for k in reps],
                value=rep,
                clearable=False,
                style={"width": "90px"},
            ),
        ],
        className="toolbar",
    )


def _fail(head: list, options: list, message: str, reps: list[int] | None = None) -> html.Div:
    """The page with only the picker and a message (no run to show)."""
    return html.Div(
        [
            *head,
            _picker(options, None, reps or [], None),
            dcc.Store(id=ids.PB_KEY),
            html.P(message, id=ids.PB_ERROR, className="error"),
        ]
    )


def _downloads(kind: str, query: dict) -> list:
    out: list = [html.Span(f"{kind}:", className="dl-label")]
    for label, fmt in FORMATS:
        out.append(html.A(label, href=f"/export/{kind}.{fmt}?{urlencode(query)}", className="dl"))
    return out


def layout(
    run: str | None = None,
    rep: str | None = None,
    t: str | None = None,
    span: str | None = None,
    kind: str | None = None,
    **_query: str,
) -> html.Div:
    options = _run_options()
    head = [html.H2("Playback"), dcc.Location(id=ids.PB_GO, refresh=True)]
    if run is None and options:
        run = options[0]["value"]
    if run is None:
        return _fail(
            head,
            options,
            "The store holds no runs yet: launch one on the What-if page or with "
            "`twin run ... -n 1`.",
        )
    try:
        info = Store(store_root()).get(run)
    except StoreError as exc:
        return _fail(head, options, public(f"run: {exc}; choose one of the stored runs above"))
    reps = list(info.replications)
    try:
        r = int(rep) if rep is not None else (reps[0] if reps else 0)
        pb = data.playback(store_root(), info.id, r)
    except (StoreError, ValueError) as exc:
        return _fail(head, options, public(f"replication: {exc}"), reps)
    message = ""
    try:
        t0 = parse_when(t, pb) if t else pb.first_activity
    except ValueError as exc:
        t0, message = pb.first_activity, f"URL {exc}"
    span_h = float(span) if span and span.replace(".", "", 1).isdigit() else SPANS["1 week"]
    if span_h not in SPANS.values():
        span_h = SPANS["1 week"]
    jump = kind if kind in data.JUMP_KINDS else "breakdown"
    # the page is a function of these alone: built once, sent again on the next visit
    page_key = (
        tuple((o["label"], o["value"]) for o in options),
        tuple(reps),
        run_label(info),
        info.meta.get("seed"),
        t0,
        message,
        span_h,
        jump,
    )
    pages = pb.memo("pages", dict)
    page = pages.get(page_key)
    if page is None:
        page = _page(head, options, info, reps, pb, t0, message, span_h, jump)
        while len(pages) >= PAGES_KEPT:
            pages.pop(next(iter(pages)), None)
        pages[page_key] = page
    return page


def _page(
    head: list,
    options: list[dict[str, str]],
    info: RunInfo,
    reps: list[int],
    pb: data.Playback,
    t0: float,
    message: str,
    span_h: float,
    jump: str,
) -> html.Div:
    """The playback page of a replication at cursor time ``t0`` (``layout`` keeps the last
    ``PAGES_KEPT`` per replication: never modify one)."""
    r = pb.replication
    lo, hi = _window(pb, t0, span_h)
    ticks = [pb.t0 + k * (pb.t1 - pb.t0) / 8 for k in range(9)]
    marks = {float(h): f"{pb.to_date(h):%d %b %Y}" for h in ticks}
    key = {
        "run": info.id,
        "rep": r,
        "t": t0,
        "start_ms": _start_ms(pb),
        "timeline": "/timeline?" + urlencode({"run": info.id, "rep": r}),
        "frame": _first_frame(pb, t0),
        "ids": {
            "plant": ids.PB_LAYOUT,
            "gantt": ids.PB_GANTT,
            "series": ids.PB_SERIES,
            "kpis": ids.PB_KPIS,
            "clock": ids.PB_CLOCK,
            "drawn": ids.PB_DRAWN,
            "slider": ids.PB_SLIDER,
            "play": ids.PB_PLAY,
            **({"curves": [ids.PB_TANKS, ids.PB_UTILITIES]} if pb.is_process else {}),
        },
    }
    controls = html.Div(
        [
            html.Button("▶ Play", id=ids.PB_PLAY, className="btn"),
            html.Label("speed"),
            dcc.Dropdown(
                id=ids.PB_SPEED,
                options=[{"label": f"x{s:,}", "value": s} for s in SPEEDS],
                value=1000,
                clearable=False,
                style={"width": "110px"},
            ),
            html.Label("go to", htmlFor=ids.PB_TIME),
            dcc.Input(
                id=ids.PB_TIME,
                type="text",
                value=f"{pb.to_date(t0):%Y-%m-%d %H:%M}",
                debounce=True,
                placeholder="2026-03-02 14:00",
                style={"width": "150px"},
            ),
            html.Span(
                id=ids.PB_CLOCK, className="clock", children=f"{pb.to_date(t0):%a %Y-%m-%d %H:%M}"
            ),
            html.Label("jump to"),
            dcc.Dropdown(
                id=ids.PB_KIND,
                options=[{"label": k, "value": k} for k in data.JUMP_KINDS],
                value=jump,
                clearable=False,
                style={"width": "170px"},
            ),
            html.Button("◀ prev", id=ids.PB_PREV, className="btn light"),
            html.Button("next ▶", id=ids.PB_NEXT, className="btn light"),
            html.Label("Gantt window"),
            dcc.Dropdown(
                id=ids.PB_SPAN,
                options=[{"label": k, "value": v} for k, v in SPANS.items()],
                value=span_h,
                clearable=False,
                style={"width": "110px"},
            ),
            html.Span(message, id=ids.PB_TIME_MSG, className="error"),
        ],
        className="toolbar",
    )
    slider = dcc.Slider(
        id=ids.PB_SLIDER,
        min=pb.t0,
        max=pb.t1,
        step=1 / 60,
        value=t0,
        marks=marks,
        updatemode="mouseup",
        allow_direct_input=False,
        tooltip={"always_visible": False, "placement": "top", "transform": "pharmatwinDate"},
    )
    reps_note = f"replication {r} of {len(reps)}" if len(reps) > 1 else "1 replication"
    return html.Div(
        [
            *head,
            _picker(options, info.id, reps, r),
            dcc.Store(id=ids.PB_KEY, data=key),
            dcc.Store(id=ids.PB_CURSOR, data={"t": t0}),
            dcc.Store(id=ids.PB_WINDOW, data=[lo, hi]),
            dcc.Store(id=ids.PB_ZOOM),
            html.Span(id=ids.PB_DRAWN, style={"display": "none"}),
            html.Span(id=ids.PB_INIT, style={"display": "none"}),
            html.Span(id=ids.PB_URL, style={"display": "none"}),
            html.P(
                f"{run_label(info)}, {reps_note}, seed {info.meta.get('seed')}: "
                f"{len(pb.units)} units, {len(pb.vehicles)} vehicles, {pb.n_events:,} events, "
                f"{(pb.t1 - pb.t0) / 24:.0f} days from {pb.to_date(pb.t0):%Y-%m-%d}"
            ),
            controls,
            html.Div(slider, className="slider"),
            html.Div(
                _download_bar(info.id, r, t0, lo, hi), id=ids.PB_DOWNLOADS, className="toolbar"
            ),
            html.Div(
                [
                    html.Div(
                        [
                            dcc.Graph(
                                id=ids.PB_LAYOUT,
                                figure=figures.plant_figure(pb, t0, moving=False),
                                config=figures.GRAPH_CONFIG,
                            ),
                            _legend(figures.plant_legend(pb)),
                        ],
                        className="panel wide",
                    ),
                    html.Div(
                        _cards(figures.kpi_cards(pb, t0)), id=ids.PB_KPIS, className="panel cards"
                    ),
                ],
                className="row",
            ),
            html.Div(
                dcc.Graph(
                    id=ids.PB_GANTT,
                    config=figures.GRAPH_CONFIG,
                    figure=figures.gantt_figure(pb, lo, hi),  # the browser draws the cursor
                ),
                className="panel",
            ),
            *(_process_rows(pb, t0) if pb.is_process else _discrete_rows(pb, t0)),
        ]
    )


def _discrete_rows(pb: data.Playback, t: float) -> list:
    """WIP and stock beside the event list (the levels panel stays empty and hidden)."""
    return [
        html.Div(
            [
                html.Div(
                    dcc.Graph(
                        id=ids.PB_SERIES,
                        figure=figures.series_figure(pb),
                        config=figures.GRAPH_CONFIG,
                    ),
                    className="panel half",
                ),
                _events_panel(pb, t),
            ],
            className="row",
        ),
        html.Div(id=ids.PB_LEVELS, style={"display": "none"}),
    ]


def _process_rows(pb: data.Playback, t: float) -> list:
    """A process plant: tank levels beside the levels at the cursor; utility use beside the
    event list."""
    return [
        html.Div(
            [
                html.Div(
                    dcc.Graph(
                        id=ids.PB_TANKS,
                        figure=process_figures.tank_figure(pb),
                        config=figures.GRAPH_CONFIG,
                    ),
                    className="panel wide",
                ),
                html.Div(_levels(pb, t), id=ids.PB_LEVELS, className="panel levels"),
            ],
            className="row",
        ),
        html.Div(
            [
                html.Div(
                    dcc.Graph(
                        id=ids.PB_UTILITIES,
                        figure=process_figures.utility_figure(pb),
                        config=figures.GRAPH_CONFIG,
                    ),
                    className="panel half",
                ),
                _events_panel(pb, t),
            ],
            className="row",
        ),
    ]


def _levels(pb: data.Playback, t: float) -> html.Div:
    """The tanks and utilities at the cursor: level, capacity, share of capacity."""

    def num(x: float | None) -> str:
        return "" if x is None else f"{x:,.1f}"

    head = html.Tr([html.Th(c) for c in ("", "level", "capacity", "full")])
    body = [
        html.Tr(
            [
                html.Td(f"{r['id']}" + (" (utility)" if r["kind"] == "utility" else "")),
                html.Td(num(r["level"])),
                html.Td(num(r["capacity"])),
                html.Td("" if r["pct"] is None else f"{r['pct']:.0f}%"),
            ]
        )
        for r in process_figures.levels_at(pb, t)
    ]
    return html.Div(
        [
            html.H4(f"Levels at {pb.to_date(t):%Y-%m-%d %H:%M}"),
            html.Table([html.Thead(head), html.Tbody(body)], className="events"),
        ]
    )


def _first_frame(pb: data.Playback, t: float) -> dict[str, list]:
    """The plant at t as the browser's drawing layer takes it (``assets/playback.js``,
    ``frameAt``): drawn as soon as the figures are, before the timeline has arrived."""
    f = figures.plant_update(pb, t)
    return {
        "units": pb.units,
        "vehicles": pb.vehicles,
        **{f"{k}x": f["x"][i] for i, k in enumerate("uvb")},
        **{f"{k}y": f["y"][i] for i, k in enumerate("uvb")},
        "ucol": f["marker.color"][0],
        "vcol": f["marker.color"][1],
        **{f"{k}hov": f["hovertext"][i] for i, k in enumerate("uvb")},
    }


def _start_ms(pb: data.Playback) -> int:
    """The scenario's calendar start as milliseconds of the browser's UTC clock (the dates
    plotly draws are the scenario's wall-clock dates, without time zone)."""
    import numpy as np

    return int(np.datetime64(pb.start, "ms").astype(np.int64))


def _download_bar(run: str, rep: int, t: float, lo: float, hi: float) -> list:
    base = {"run": run, "rep": rep}
    return [
        *_downloads("events", {**base, "t": round(t, 4)}),
        *_downloads("gantt", {**base, "lo": round(lo, 4), "hi": round(hi, 4)}),
        *_downloads("kpis", {"runs": run}),
        html.A(
            "Report (HTML)",
            id=ids.PB_REPORT,
            href="/report/run.html?" + urlencode(base),
            className="btn light",
        ),
    ]


def _window(pb: data.Playback, t: float, span: float) -> tuple[float, float]:
    """The Gantt window: about a quarter of it before the cursor, never before the run's start,
    snapped to eighths of the span so that small cursor moves keep the same window."""
    step = span / 8
    lo = max(pb.t0, step * ((t - span / 4) // step))
    return lo, lo + span


def _legend(entries: list[tuple[str, str, str]]) -> html.Div:
    return html.Div(
        [
            html.Span([html.Span(className=f"sw {symbol}", style={"background": colour}), name])
            for name, symbol, colour in entries
        ],
        className="legend",
    )


def _cards(cards: list[tuple[str, str]]) -> list[html.Div]:
    return [
        html.Div([html.Div(v, className="value"), html.Div(k, className="label")], className="card")
        for k, v in cards
    ]


_EVENT_COLS = ("kind", "unit", "batch", "product", "state", "value", "detail")


def _events(rows: list[dict], pb: data.Playback) -> dict[str, Any]:
    """The event list as the browser draws it (``assets/playback.js``, ``events``): title,
    column heads, every cell as text, and which rows are at or before the cursor (the others
    are grey). One table of text drawn by the browser, not some 160 Dash components: those cost
    the page a tenth of a second to set up on every visit."""
    body, past = [], []
    for r in rows:
        cells = [f"{pb.to_date(r['t']):%m-%d %H:%M:%S}"]
        for c in _EVENT_COLS:
            v = r.get(c)
            if isinstance(v, float):
                v = "" if v != v else f"{v:.3g}"
            elif c == "batch" and v == -1:
                v = ""
            cells.append("" if v is None else str(v))
        body.append(cells)
        past.append(bool(r["now"]))
    return {
        "title": "Events around the cursor (grey: after it)",
        "head": ["time", *_EVENT_COLS],
        "rows": body,
        "past": past,
    }


def _events_panel(pb: data.Playback, t: float) -> html.Div:
    """The panel the browser draws the event list in, and the list (a store: see ``_events``)."""
    return html.Div(
        [
            html.Div(id=ids.PB_EVENTS),
            dcc.Store(id=ids.PB_EVENT_ROWS, data=_events(pb.events_around(t), pb)),
        ],
        className="panel half",
    )


@callback(
    Output(ids.PB_GO, "href"),
    Input(ids.PB_RUN, "value"),
    Input(ids.PB_REP, "value"),
    State(ids.PB_KEY, "data"),
    prevent_initial_call=True,
)
def choose(run, rep, key):
    """Open another run or replication (never navigates for an empty choice, so a page that
    shows an error stays put)."""
    if not run:
        return no_update
    if key and run == key["run"] and rep == key["rep"]:
        return no_update
    same_run = bool(key) and run == key["run"]
    query = {"run": run, "rep": rep} if same_run and rep is not None else {"run": run}
    return "/playback?" + urlencode(query)


@callback(
    Output(ids.PB_SLIDER, "value"),
    Output(ids.PB_TIME_MSG, "children"),
    Input(ids.PB_TIME, "n_submit"),
    Input(ids.PB_PREV, "n_clicks"),
    Input(ids.PB_NEXT, "n_clicks"),
    State(ids.PB_TIME, "value"),
    State(ids.PB_CURSOR, "data"),
    State(ids.PB_KIND, "value"),
    State(ids.PB_KEY, "data"),
    prevent_initial_call=True,
)
def jump(_submit, _prev, _next, typed, cursor, kind, key):
    """A typed date or "prev/next event": the new cursor time (the slider moves, the browser
    draws it)."""
    pb = data.playback(store_root(), key["run"], key["rep"])
    t = float((cursor or {}).get("t", pb.t0))
    if dash.ctx.triggered_id == ids.PB_TIME:
        try:
            return parse_when(typed, pb), ""
        except ValueError as exc:
            return no_update, str(exc)
    hit = pb.next_time(kind, t, forward=dash.ctx.triggered_id == ids.PB_NEXT)
    if hit is None:
        where = "after" if dash.ctx.triggered_id == ids.PB_NEXT else "before"
        return no_update, f"no {kind} {where} {pb.to_date(t):%Y-%m-%d %H:%M}"
    return hit, ""


@callback(
    Output(ids.PB_GANTT, "figure"),
    Output(ids.PB_WINDOW, "data"),
    Output(ids.PB_EVENT_ROWS, "data"),
    Output(ids.PB_TIME, "value"),
    Output(ids.PB_DOWNLOADS, "children"),
    Input(ids.PB_CURSOR, "data"),
    Input(ids.PB_SPAN, "value"),
    Input(ids.PB_ZOOM, "data"),
    State(ids.PB_WINDOW, "data"),
    State(ids.PB_KEY, "data"),
    prevent_initial_call=True,
)
def settle(cursor, span, zoom, window, key):
    """What depends on a settled cursor: the Gantt window (redrawn only when it changes, or to
    the range dragged on the Gantt), the event list, the time box and the download links."""
    pb = data.playback(store_root(), key["run"], key["rep"])
    t = pb.clamp((cursor or {}).get("t", pb.t0))
    if dash.ctx.triggered_id == ids.PB_ZOOM and zoom:
        lo, hi = _zoomed(pb, zoom, float(span))
    else:
        lo, hi = _window(pb, t, float(span))
    same = bool(window) and [lo, hi] == list(window) and dash.ctx.triggered_id != ids.PB_ZOOM
    gantt = no_update if same else figures.gantt_figure(pb, lo, hi)
    return (
        gantt,
        [lo, hi],
        _events(pb.events_around(t), pb),
        f"{pb.to_date(t):%Y-%m-%d %H:%M}",
        _download_bar(key["run"], key["rep"], t, lo, hi),
    )


@callback(
    Output(ids.PB_LEVELS, "children"),
    Input(ids.PB_CURSOR, "data"),
    State(ids.PB_KEY, "data"),
    prevent_initial_call=True,
)
def levels(cursor, key):
    """A process plant's tanks and utilities at the settled cursor."""
    pb = data.playback(store_root(), key["run"], key["rep"])
    if not pb.is_process:
        return no_update
    return _levels(pb, pb.clamp((cursor or {}).get("t", pb.t0)))


def _zoomed(pb: data.Playback, zoom: dict, span: float) -> tuple[float, float]:
    """The Gantt range a drag selected (dates from plotly), at most ``MAX_ZOOM_H`` long."""
    import datetime as dt

    try:
        lo = pb.to_hours(dt.datetime.fromisoformat(str(zoom["lo"]).replace(" ", "T")))
        hi = pb.to_hours(dt.datetime.fromisoformat(str(zoom["hi"]).replace(" ", "T")))
    except (KeyError, ValueError):
        return _window(pb, pb.t0, span)
    lo, hi = max(lo, pb.t0 - span), min(hi, lo + MAX_ZOOM_H)
    return lo, max(hi, lo + 0.25)


# The browser's side: fetch the timeline, draw while dragging, settle on release, play, keep
# the URL in step with the view (history.replaceState: no reload).
clientside_callback(
    """
    function (key) {
        if (!key || !window.pharmatwin) { return window.dash_clientside.no_update; }
        window.pharmatwin.playback.init(key);
        window.pharmatwin.playback.seek(key.t);
        // nothing to store: an answer would re-render the page's components once more
        return window.dash_clientside.no_update;
    }
    """,
    Output(ids.PB_INIT, "children"),
    Input(ids.PB_KEY, "data"),
)

clientside_callback(
    """
    function (t) {
        if (t === undefined || t === null) { return window.dash_clientside.no_update; }
        window.pharmatwin.playback.seek(t);
        return window.dash_clientside.no_update;
    }
    """,
    Output(ids.PB_DRAWN, "title"),
    Input(ids.PB_SLIDER, "drag_value"),
    prevent_initial_call=True,
)

clientside_callback(
    """
    function (t, cursor) {
        const nu = window.dash_clientside.no_update;
        if (t === undefined || t === null) { return nu; }
        window.pharmatwin.playback.seek(t);
        if (cursor && Math.abs(cursor.t - t) < 1e-9) { return nu; }
        return {t: t};
    }
    """,
    Output(ids.PB_CURSOR, "data"),
    Input(ids.PB_SLIDER, "value"),
    State(ids.PB_CURSOR, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    """
    function (n, speed, label) {
        const pb = window.pharmatwin.playback;
        const start = !pb.playing;
        pb.play(start, speed);
        return start ? "⏸ Pause" : "▶ Play";
    }
    """,
    Output(ids.PB_PLAY, "children"),
    Input(ids.PB_PLAY, "n_clicks"),
    State(ids.PB_SPEED, "value"),
    State(ids.PB_PLAY, "children"),
    prevent_initial_call=True,
)

clientside_callback(
    """
    function (speed) {
        window.pharmatwin.playback.speed = Number(speed) || 1000;
        return window.dash_clientside.no_update;
    }
    """,
    Output(ids.PB_SPEED, "title"),
    Input(ids.PB_SPEED, "value"),
    prevent_initial_call=True,
)

# the event list, drawn by the browser from the rows the server sends
clientside_callback(
    f"""
    function (rows) {{
        if (window.pharmatwin) {{ window.pharmatwin.playback.events(rows, "{ids.PB_EVENTS}"); }}
        return window.dash_clientside.no_update;
    }}
    """,
    Output(ids.PB_EVENTS, "title"),
    Input(ids.PB_EVENT_ROWS, "data"),
)

# the Gantt's own drag-zoom (not the cursor line the browser moves on it)
clientside_callback(
    """
    function (rd) {
        const nu = window.dash_clientside.no_update;
        if (!rd) { return nu; }
        if (rd['xaxis.range[0]'] !== undefined) {
            return {lo: rd['xaxis.range[0]'], hi: rd['xaxis.range[1]']};
        }
        if (Array.isArray(rd['xaxis.range'])) {
            return {lo: rd['xaxis.range'][0], hi: rd['xaxis.range'][1]};
        }
        return nu;
    }
    """,
    Output(ids.PB_ZOOM, "data"),
    Input(ids.PB_GANTT, "relayoutData"),
    prevent_initial_call=True,
)

clientside_callback(
    """
    function (cursor, span, kind, key) {
        if (!key || !cursor || !window.pharmatwin) { return window.dash_clientside.no_update; }
        const start = key.start_ms;
        const q = new URLSearchParams({run: key.run, rep: String(key.rep),
            t: window.pharmatwin.iso(start, cursor.t).slice(0, 16), span: String(span),
            kind: kind});
        const url = window.location.pathname + "?" + q.toString();
        if (url !== window.location.pathname + window.location.search) {
            window.history.replaceState(window.history.state, "", url);
        }
        return window.dash_clientside.no_update;
    }
    """,
    Output(ids.PB_URL, "children"),
    Input(ids.PB_CURSOR, "data"),
    Input(ids.PB_SPAN, "value"),
    Input(ids.PB_KIND, "value"),
    State(ids.PB_KEY, "data"),
)
