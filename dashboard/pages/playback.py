"""Playback of one run: the plant at the cursor time, a Gantt around it, WIP and stock curves,
KPIs up to the cursor and the events around it.

Moving the cursor asks the server for what changed only: unit colours, vehicle and batch
positions (drawn in place by a clientside callback with ``Plotly.animate``, no redraw of the
plant), the cursor position (a line laid over the Gantt and curve plots) and the Gantt window
when it changes; the run itself is read and pre-aggregated once (``data.playback``)."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard import data, figures, ids
from dashboard.context import store_root
from twin.store import Store, StoreError

dash.register_page(__name__, path="/playback", name="Playback", title="PharmaTwin: playback")

SPEEDS = (1, 10, 100, 1000, 10_000)
TICK_MS = 500
SPANS = {"1 day": 24.0, "3 days": 72.0, "1 week": 168.0, "4 weeks": 672.0}
_KEY = "pb-key"
_WINDOW = "pb-window"
_GO = "pb-go"


def _run_options() -> list[dict[str, str]]:
    return [
        {"label": f"{r['id']} ({r['variant']})", "value": r["id"]}
        for r in data.runs_rows(store_root())
    ]


def _picker(options: list[dict[str, str]], run: str, reps: list[int], rep: int | None) -> html.Div:
    return html.Div(
        [
            html.Label("run"),
            dcc.Dropdown(
                id=ids.PB_RUN, options=options, value=run, clearable=False, style={"width": "520px"}
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


def layout(run: str | None = None, rep: str | None = None, **_query: str) -> html.Div:
    options = _run_options()
    if run is None and options:
        run = options[0]["value"]
    head = [html.H2("Playback"), dcc.Location(id=_GO, refresh=True)]
    if run is None:
        return html.Div(
            [
                *head,
                html.P(
                    "The store holds no runs yet: launch one on the What-if "
                    "page or with `twin run ... -n 1`.",
                    id=ids.PB_ERROR,
                ),
            ]
        )
    reps: list[int] = []
    try:
        info = Store(store_root()).get(run)
        run, reps = info.id, list(info.replications)
        r = int(rep) if rep is not None else (reps[0] if reps else 0)
        pb = data.playback(store_root(), info.id, r)
    except (StoreError, ValueError) as exc:
        error = html.P(str(exc), id=ids.PB_ERROR, className="error")
        return html.Div([*head, _picker(options, run, reps, None), dcc.Store(id=_KEY), error])
    picker = _picker(options, run, reps, r)
    t = pb.t0
    span = SPANS["1 week"]
    ticks = [pb.t0 + k * (pb.t1 - pb.t0) / 8 for k in range(9)]
    marks = {float(h): f"{pb.to_date(h):%d %b}" for h in ticks}
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
            html.Label("hour"),
            dcc.Input(
                id=ids.PB_TIME,
                type="number",
                value=round(t, 3),
                debounce=True,
                min=pb.t0,
                max=pb.t1,
                style={"width": "140px"},
            ),
            html.Span(
                id=ids.PB_CLOCK, className="clock", children=f"{pb.to_date(t):%a %Y-%m-%d %H:%M}"
            ),
            html.Label("jump to"),
            dcc.Dropdown(
                id=ids.PB_KIND,
                options=[{"label": k, "value": k} for k in data.JUMP_KINDS],
                value="breakdown",
                clearable=False,
                style={"width": "170px"},
            ),
            html.Button("◀ prev", id=ids.PB_PREV, className="btn light"),
            html.Button("next ▶", id=ids.PB_NEXT, className="btn light"),
            html.Label("Gantt window"),
            dcc.Dropdown(
                id=ids.PB_SPAN,
                options=[{"label": k, "value": v} for k, v in SPANS.items()],
                value=span,
                clearable=False,
                style={"width": "110px"},
            ),
        ],
        className="toolbar",
    )
    slider = dcc.Slider(
        id=ids.PB_SLIDER,
        min=pb.t0,
        max=pb.t1,
        step=0.01,
        value=t,
        marks=marks,
        updatemode="mouseup",
        allow_direct_input=False,
        tooltip={"always_visible": False},
    )
    return html.Div(
        [
            *head,
            picker,
            dcc.Store(id=_KEY, data={"run": info.id, "rep": r}),
            dcc.Interval(id=ids.PB_TICK, interval=TICK_MS, disabled=True),
            dcc.Store(id=ids.PB_FRAME, data=_frame(pb, t, initial=True)),
            dcc.Store(id=_WINDOW, data=list(_window(pb, t, span))),
            html.Span(id=ids.PB_DRAWN, style={"display": "none"}),
            html.P(
                f"{pb.scenario.name}: {len(pb.units)} units, {len(pb.vehicles)} vehicles, "
                f"{pb.n_events:,} events, {pb.t1 / 24:.0f} days"
            ),
            controls,
            html.Div(slider, className="slider"),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(
                            id=ids.PB_LAYOUT,
                            figure=figures.plant_figure(pb, t),
                            config={"displaylogo": False},
                        ),
                        className="panel wide",
                    ),
                    html.Div(
                        _cards(figures.kpi_cards(pb, t)), id=ids.PB_KPIS, className="panel cards"
                    ),
                ],
                className="row",
            ),
            html.Div(
                dcc.Graph(
                    id=ids.PB_GANTT,
                    config={"displaylogo": False},
                    figure=figures.gantt_figure(pb, *_window(pb, t, span)),
                ),
                className="panel",
            ),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(
                            id=ids.PB_SERIES,
                            figure=figures.series_figure(pb),
                            config={"displaylogo": False},
                        ),
                        className="panel half",
                    ),
                    html.Div(
                        _events(pb.events_around(t), pb), id=ids.PB_EVENTS, className="panel half"
                    ),
                ],
                className="row",
            ),
        ]
    )


def _window(pb: data.Playback, t: float, span: float) -> tuple[float, float]:
    """The Gantt window: about a quarter of it before the cursor, never before the run's start,
    snapped to eighths of the span so that small cursor moves keep the same window."""
    step = span / 8
    lo = max(pb.t0, step * ((t - span / 4) // step))
    return lo, lo + span


def _frame(pb: data.Playback, t: float, initial: bool = False) -> dict:
    """What the browser redraws for time t (see the clientside callback)."""
    if initial:
        return {"cursor": figures.cursor_date(pb, t), "t": t, "initial": True}
    return {**figures.plant_update(pb, t), "cursor": figures.cursor_date(pb, t), "t": t}


def _cards(cards: list[tuple[str, str]]) -> list[html.Div]:
    return [
        html.Div([html.Div(v, className="value"), html.Div(k, className="label")], className="card")
        for k, v in cards
    ]


_EVENT_COLS = ("kind", "unit", "batch", "product", "state", "value", "detail")


def _events(rows: list[dict], pb: data.Playback) -> html.Table:
    head = html.Tr([html.Th("time"), *(html.Th(c) for c in _EVENT_COLS)])
    body = []
    for r in rows:
        cells = [html.Td(f"{pb.to_date(r['t']):%m-%d %H:%M:%S}")]
        for c in _EVENT_COLS:
            v = r.get(c)
            if isinstance(v, float):
                v = "" if v != v else f"{v:.3g}"
            elif c == "batch" and v == -1:
                v = ""
            cells.append(html.Td("" if v is None else str(v)))
        body.append(html.Tr(cells, className="past" if r["now"] else "future"))
    return html.Table([html.Thead(head), html.Tbody(body)], className="events")


@callback(
    Output(_GO, "href"),
    Input(ids.PB_RUN, "value"),
    Input(ids.PB_REP, "value"),
    State(_KEY, "data"),
    prevent_initial_call=True,
)
def choose(run, rep, key):
    if key and run == key["run"] and rep == key["rep"]:
        return no_update
    query = {"run": run} if run != (key or {}).get("run") else {"run": run, "rep": rep}
    return "/playback?" + urlencode(query)


@callback(
    Output(ids.PB_TICK, "disabled"),
    Output(ids.PB_PLAY, "children"),
    Input(ids.PB_PLAY, "n_clicks"),
    State(ids.PB_TICK, "disabled"),
    prevent_initial_call=True,
)
def play_pause(_n, disabled):
    return (False, "⏸ Pause") if disabled else (True, "▶ Play")


@callback(
    Output(ids.PB_SLIDER, "value"),
    Output(ids.PB_TIME, "value"),
    Output(ids.PB_FRAME, "data"),
    Output(ids.PB_GANTT, "figure"),
    Output(_WINDOW, "data"),
    Output(ids.PB_KPIS, "children"),
    Output(ids.PB_EVENTS, "children"),
    Output(ids.PB_CLOCK, "children"),
    Input(ids.PB_SLIDER, "value"),
    Input(ids.PB_TIME, "value"),
    Input(ids.PB_TICK, "n_intervals"),
    Input(ids.PB_PREV, "n_clicks"),
    Input(ids.PB_NEXT, "n_clicks"),
    Input(ids.PB_SPAN, "value"),
    State(ids.PB_SPEED, "value"),
    State(ids.PB_KIND, "value"),
    State(_WINDOW, "data"),
    State(_KEY, "data"),
    prevent_initial_call=True,
)
def move(slider, typed, _tick, _prev, _next, span, speed, kind, window, key):
    """Move the cursor (drag, typed hour, play tick, jump to an event) and show that time: the
    plant and cursor lines change in the browser (``PB_FRAME``, drawn by the clientside
    callback below), the Gantt is redrawn only when its window changes."""
    trigger = dash.ctx.triggered_id
    pb = data.playback(store_root(), key["run"], key["rep"])
    t = float(slider if slider is not None else pb.t0)
    if trigger == ids.PB_TIME:
        if typed is None:
            return (no_update,) * 8
        t = min(max(float(typed), pb.t0), pb.t1)
    elif trigger == ids.PB_TICK:
        t = min(t + float(speed) * TICK_MS / 1000 / 3600, pb.t1)
    elif trigger in (ids.PB_PREV, ids.PB_NEXT):
        hit = pb.next_time(kind, t, forward=trigger == ids.PB_NEXT)
        if hit is None:
            return (no_update,) * 8
        t = hit
    frame = _frame(pb, t)
    lo, hi = _window(pb, t, float(span))
    same = bool(window) and [lo, hi] == list(window)
    gantt = no_update if same else figures.gantt_figure(pb, lo, hi)
    return (
        no_update if trigger == ids.PB_SLIDER else t,
        round(t, 3),
        frame,
        gantt,
        [lo, hi],
        _cards(figures.kpi_cards(pb, t)),
        _events(pb.events_around(t), pb),
        f"{pb.to_date(t):%a %Y-%m-%d %H:%M}",
    )


# Draw a frame in place: restyle the plant's units, vehicles and batches, and move the cursor
# lines (absolutely placed divs over the Gantt and curve plots, re-placed after every redraw of
# those plots), without handing whole figures to React or plotly.
clientside_callback(
    """
    function (frame) {
        const nu = window.dash_clientside.no_update;
        if (!frame) { return nu; }
        window.__pbCursor = frame.cursor;
        const graph = (id) => {
            const el = document.getElementById(id);
            return el ? el.querySelector('.js-plotly-plot') : null;
        };
        const plant = graph('__PLANT__');
        if (plant && plant.data && window.Plotly && !frame.initial) {
            // animate without redraw: only these traces' points move (no full replot)
            const traces = [__TRACES__];
            Plotly.animate(plant, {
                data: traces.map((_, k) => ({
                    x: frame.x[k], y: frame.y[k],
                    marker: {color: frame['marker.color'][k]}, hovertext: frame.hovertext[k]
                })),
                traces: traces
            }, {transition: {duration: 0}, frame: {duration: 0, redraw: false}});
        }
        const place = (gd) => {
            const fl = gd._fullLayout;
            if (!fl || !fl.xaxis || !fl._size) { return false; }
            let line = gd.parentElement.querySelector(':scope > .pb-cursor');
            if (!line) {
                line = document.createElement('div');
                line.className = 'pb-cursor';
                gd.parentElement.style.position = 'relative';
                gd.parentElement.appendChild(line);
            }
            const ax = fl.xaxis, size = fl._size;
            const x = ax.l2p(ax.d2l(window.__pbCursor)) + size.l;
            line.style.left = x + 'px';
            line.style.top = size.t + 'px';
            line.style.height = size.h + 'px';
            line.style.display = (x < size.l || x > size.l + size.w) ? 'none' : 'block';
            return true;
        };
        const hook = (id, tries) => {
            const gd = graph(id);
            if (gd && gd.on && !gd.__pbHooked) {
                gd.on('plotly_afterplot', () => place(gd));
                gd.on('plotly_relayout', () => place(gd));
                gd.__pbHooked = true;
            }
            if ((!gd || !place(gd)) && tries > 0) {
                setTimeout(() => hook(id, tries - 1), 100);
            }
        };
        hook('__GANTT__', 100);
        hook('__SERIES__', 100);
        return String(frame.t);
    }
    """.replace("__PLANT__", ids.PB_LAYOUT)
    .replace("__GANTT__", ids.PB_GANTT)
    .replace("__SERIES__", ids.PB_SERIES)
    .replace("__TRACES__", f"{figures.PLANT_UNITS}, {figures.PLANT_AGVS}, {figures.PLANT_BATCHES}"),
    Output(ids.PB_DRAWN, "children"),
    Input(ids.PB_FRAME, "data"),
)
