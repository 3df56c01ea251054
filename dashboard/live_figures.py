"""Pure functions from a live session's status (``twin.live.shadow.ShadowTwin.status``, as
``runs/live/<session>/status.json`` holds it) to what the Live page shows: the plant with
units and AGVs in their current states, the latest forecast's orders at risk as prediction
bars, the divergences, and the event rate and lag. Figures are plain plotly dicts (tested
without a browser)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dashboard.figures import AGV_COLOURS, STATE_COLOURS
from dashboard.plant_layout import unit_positions
from twin.scenario import Scenario

__all__ = [
    "plant_figure",
    "forecast_figure",
    "prediction_bars",
    "risk_colour",
    "rate_figure",
    "divergence_rows",
    "headline",
    "sync_class",
    "AT_RISK",
    "LIVE_UNITS",
    "LIVE_AGVS",
]

AT_RISK = 0.8  # an order below this on-time probability is drawn red
WATCH = 0.95  # below this amber
LIVE_UNITS = 1  # trace index of the units in plant_figure
LIVE_AGVS = 2  # and of the AGVs
_RISK_COLOURS = {"risk": "#d62728", "watch": "#f2a900", "ok": "#2ca02c", "none": "#9aa3ad"}


def _title(text: str) -> dict[str, Any]:
    return {"text": text, "x": 0.01, "xanchor": "left", "font": {"size": 14}}


def _when(start: dt.datetime, hours: float | None) -> str | None:
    if hours is None:
        return None
    return (start + dt.timedelta(hours=hours)).isoformat(timespec="minutes")


def _start(status: Mapping[str, Any]) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(status["start"])
    except (KeyError, TypeError, ValueError):
        return dt.datetime(2000, 1, 1)


# --------------------------------------------------------------------------- the plant
def plant_figure(sc: Scenario, status: Mapping[str, Any]) -> dict[str, Any]:
    """Units (squares, coloured by state, with the batch they hold) and AGVs (diamonds at
    their last node) where they are on the plant, over the layout's paths."""
    pos, rooms = unit_positions(sc)
    units = status.get("units") or {}
    names = [n for n in pos if n in units] or list(pos)
    ux = [pos[n][0] for n in names]
    uy = [pos[n][1] for n in names]
    states = [(units.get(n) or {}).get("state", "idle") for n in names]
    hover = []
    for n, st in zip(names, states, strict=True):
        u = units.get(n) or {}
        held = (
            f"<br>batch {u['batch']} ({u.get('product')}, step {u.get('step')})"
            if u.get("batch")
            else ""
        )
        since = _when(_start(status), u.get("since_h"))
        hover.append(
            f"{n} ({rooms.get(n, '')}): {st}" + (f" since {since}" if since else "") + held
        )
    ex: list[float | None] = []
    ey: list[float | None] = []
    nodes = sc.layout.nodes if sc.layout is not None else {}
    if sc.layout is not None:
        for edge in sc.layout.edges:
            a, b = nodes.get(edge.from_), nodes.get(edge.to)
            if a is not None and b is not None:
                ex += [a.x, b.x, None]
                ey += [a.y, b.y, None]
    vehicles = status.get("vehicles") or {}
    vnames = [v for v, d in vehicles.items() if d.get("node") in nodes]
    seen: dict[str, int] = {}
    vx, vy = [], []
    for v in vnames:
        node = nodes[vehicles[v]["node"]]
        k = seen.get(vehicles[v]["node"], 0)  # vehicles on one node side by side
        seen[vehicles[v]["node"]] = k + 1
        vx.append(node.x + 6.0 * k)
        vy.append(node.y - 4.0)
    vstates = [vehicles[v].get("state", "idle") for v in vnames]
    data = [
        {"type": "scatter", "x": ex, "y": ey, "mode": "lines", "hoverinfo": "skip",
         "line": {"color": "#dddddd", "width": 4}, "name": "paths", "showlegend": False},
        {"type": "scatter", "x": ux, "y": uy, "mode": "markers+text", "text": names,
         "textposition": _label_sides(ux, uy), "textfont": {"size": 9},
         "marker": {"symbol": "square", "size": 18, "line": {"color": "#333333", "width": 1},
                    "color": [STATE_COLOURS.get(s, "#444444") for s in states]},
         "hovertext": hover, "hoverinfo": "text", "name": "units", "showlegend": False,
         "customdata": states},
        {"type": "scatter", "x": vx, "y": vy, "mode": "markers+text", "text": vnames,
         "textposition": "middle right", "textfont": {"size": 8, "color": "#1f3a5f"},
         "marker": {"symbol": "diamond", "size": 12, "line": {"color": "#000000", "width": 1},
                    "color": [AGV_COLOURS.get(s, "#444444") for s in vstates]},
         "hovertext": [f"{v}: {s} at {vehicles[v]['node']}" for v, s in zip(vnames, vstates,
                                                                              strict=True)],
         "hoverinfo": "text", "name": "AGVs", "showlegend": False, "customdata": vstates},
    ]  # fmt: skip
    legend = [s for s in STATE_COLOURS if s in states]
    axis = {"showgrid": False, "zeroline": False, "ticksuffix": " m", "tickfont": {"size": 9},
            "color": "#9aa3ad"}  # fmt: skip
    return {
        "data": data,
        "layout": {
            "template": "plotly_white",
            "title": _title(
                f"Plant at {status.get('plant_at', '-')}: units by state, AGVs by task (metres)"
            ),
            "margin": {"l": 44, "r": 10, "t": 40, "b": 24},
            "height": 470,
            "xaxis": axis,
            "yaxis": {**axis, "scaleanchor": "x", "scaleratio": 1},
            "hovermode": "closest",
            "uirevision": "plant",
            "annotations": [
                {
                    "text": " ".join(
                        f"<span style='color:{STATE_COLOURS[s]}'>■</span> {s}" for s in legend
                    ),
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0,
                    "y": -0.06,
                    "showarrow": False,
                    "xanchor": "left",
                    "font": {"size": 10},
                }
            ],  # fmt: skip
        },
    }


def _label_sides(xs: list[float], ys: list[float]) -> list[str]:
    """Unit names above their squares, or below when a neighbour on the row is close (names
    of units side by side alternate, so they never overlap)."""
    sides = []
    last: dict[float, tuple[float, str]] = {}
    for x, y in zip(xs, ys, strict=True):
        prev = last.get(round(y, 3))
        side = "top center"
        if prev is not None and abs(x - prev[0]) < 15 and prev[1] == "top center":
            side = "bottom center"
        last[round(y, 3)] = (x, side)
        sides.append(side)
    return sides


# --------------------------------------------------------------------------- the forecast
def _risk(p: float | None) -> str:
    if p is None:
        return "none"
    return "risk" if p < AT_RISK else "watch" if p < WATCH else "ok"


def risk_colour(p: float | None) -> str:
    """The colour of an on-time probability: red below 80%, amber below 95%, grey unknown."""
    return _RISK_COLOURS[_risk(p)]


def forecast_figure(status: Mapping[str, Any], top: int = 12) -> dict[str, Any]:
    """The latest forecast's orders most at risk: per order a bar from its p10 to its p90
    completion, a dot at the median, a tick at the due date; coloured by on-time probability
    (red below 80%, amber below 95%)."""
    fc = status.get("forecast") or {}
    end = (fc.get("at_h") or 0) + (fc.get("horizon_h") or 0)
    made = _when(_start(status), fc.get("at_h"))
    title = (
        f"Forecast from {made} ({fc.get('replications')} runs, {(fc.get('horizon_h') or 0) / 24:g}"
        " d): orders most at risk<br><sup>bar p10-p90 completion, dot median, tick due; "
        "(on-time probability)</sup>"
        if fc
        else "Forecast: none yet (the twin forecasts every --forecast-every of plant time)"
    )
    return prediction_bars(list(fc.get("orders") or [])[:top], _start(status), end, title)


def prediction_bars(
    orders: list[Mapping[str, Any]],
    start: dt.datetime,
    end: float,
    title: str,
    uirevision: str = "forecast",
) -> dict[str, Any]:
    """Prediction bars of orders given most at risk first (drawn on top): ``order``,
    ``p_on_time``, ``p10_h``, ``p50_h``, ``p90_h``, ``due_h`` in hours from ``start``; a
    percentile past the horizon (None) is drawn at its end ``end``."""
    orders = list(orders)
    orders.reverse()  # most at risk on top
    labels, bars, bases, colours, mids, dues, texts = [], [], [], [], [], [], []
    for o in orders:
        p = o.get("p_on_time")
        labels.append(f"{o['order']} ({'-' if p is None else f'{p:.0%}'})")
        lo = o.get("p10_h") if o.get("p10_h") is not None else end
        hi = o.get("p90_h") if o.get("p90_h") is not None else end
        bases.append(_when(start, lo))
        bars.append(max(hi - lo, 0.05) * 3_600_000)  # ms: a date axis measures in ms
        colours.append(_RISK_COLOURS[_risk(p)])
        mids.append(_when(start, o.get("p50_h")))
        dues.append(_when(start, o.get("due_h")))
        chance = "-" if p is None else f"{p:.0%}"
        texts.append(
            f"{o['order']}: on time {chance}, due {_when(start, o.get('due_h'))}, "
            f"p50 {_when(start, o.get('p50_h')) or 'after the horizon'}"
        )
    data = [
        {"type": "bar", "orientation": "h", "y": labels, "x": bars, "base": bases,
         "marker": {"color": colours, "opacity": 0.55}, "hovertext": texts,
         "hoverinfo": "text", "name": "p10-p90", "showlegend": False},
        {"type": "scatter", "mode": "markers", "y": labels, "x": mids, "name": "median",
         "marker": {"color": "#222222", "size": 8}, "hoverinfo": "skip", "showlegend": False},
        {"type": "scatter", "mode": "markers", "y": labels, "x": dues, "name": "due",
         "marker": {"symbol": "line-ns", "size": 18, "line": {"width": 3, "color": "#000000"}},
         "hoverinfo": "skip", "showlegend": False},
    ]  # fmt: skip
    return {
        "data": data,
        "layout": {
            "template": "plotly_white",
            "title": _title(title),
            "height": max(220, 70 + 26 * len(orders)),
            "margin": {"l": 150, "r": 10, "t": 40, "b": 30},
            "xaxis": {"type": "date", "title": {"text": "completion (plant time)"}},
            "yaxis": {"automargin": True},
            "barmode": "overlay",
            "uirevision": uirevision,
        },
    }


# --------------------------------------------------------------------------- rate and lag
def rate_figure(status: Mapping[str, Any]) -> dict[str, Any]:
    """Events applied per second and the event-to-state lag (p50, p95) over the last minutes
    (wall clock)."""
    hist = status.get("history") or []
    at = [dt.datetime.fromtimestamp(h[0]).isoformat(timespec="seconds") for h in hist]
    rate = [h[1] for h in hist]
    p50 = [None if h[2] is None else h[2] * 1000 for h in hist]
    p95 = [None if h[3] is None else h[3] * 1000 for h in hist]
    data = [
        {"type": "scatter", "mode": "lines", "x": at, "y": rate, "name": "events/s",
         "line": {"color": "#1f77b4"}},
        {"type": "scatter", "mode": "lines", "x": at, "y": p50, "name": "lag p50 (ms)",
         "yaxis": "y2", "line": {"color": "#ff7f0e", "dash": "dot"}},
        {"type": "scatter", "mode": "lines", "x": at, "y": p95, "name": "lag p95 (ms)",
         "yaxis": "y2", "line": {"color": "#d62728"}},
    ]  # fmt: skip
    return {
        "data": data,
        "layout": {
            "template": "plotly_white",
            "title": _title("Event rate (events/s) and event-to-state lag (ms)"),
            "height": 260,
            "margin": {"l": 50, "r": 50, "t": 40, "b": 30},
            "yaxis": {"title": {"text": "events/s"}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": "lag, ms"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
            },  # fmt: skip
            "legend": {"orientation": "h", "y": -0.25},
            "uirevision": "rate",
        },
    }


# --------------------------------------------------------------------------- words
def divergence_rows(status: Mapping[str, Any]) -> list[dict[str, str]]:
    """The latest divergences, newest first: plant time, rule, unit, what happened."""
    recent = (status.get("divergences") or {}).get("recent") or []
    return [
        {
            "at": d.get("at", ""),
            "reason": d.get("reason", ""),
            "unit": d.get("unit") or "",
            "message": d.get("message", ""),
        }  # fmt: skip
        for d in reversed(recent)
    ]


def sync_class(status: Mapping[str, Any]) -> str:
    """CSS class of the sync badge."""
    word = (status.get("sync") or {}).get("status", "waiting")
    return {"in sync": "sync-ok", "drifting": "sync-warn", "out of sync": "sync-bad"}.get(
        word, "sync-wait"
    )


def headline(status: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the page's header: sync, clock, counts, rate and lag."""
    sync = status.get("sync") or {}
    counts = status.get("counts") or {}
    lag = status.get("lag") or {}
    div = status.get("divergences") or {}
    fe = status.get("forecast_error") or {}
    explained = sync.get("explained")
    drift = sync.get("drift")

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x * 1000:,.0f} ms"

    out = [
        ("sync", sync.get("status", "waiting")),
        ("explained", "-" if explained is None else f"{explained:.1%}"),
        ("step drift", "-" if drift is None else f"{drift:.2f}x the model"),
        ("plant time", status.get("plant_at", "-")),
        ("behind", "-" if status.get("behind_h") is None else f"{status['behind_h']:.2f} h"),
        ("events", f"{counts.get('applied', 0):,}"),
        ("rate", f"{status.get('rate_per_s', 0):,.0f}/s"),
        ("lag p50 / p95", f"{ms(lag.get('p50_s'))} / {ms(lag.get('p95_s'))}"),
        ("divergences", f"{div.get('total', 0):,}"),
        (
            "bad / duplicate / lost",
            f"{counts.get('bad', 0):,} / {counts.get('duplicates', 0):,}"
            f" / {counts.get('lost', 0):,}",
        ),  # fmt: skip
        ("WIP / open orders", f"{status.get('wip', 0)} / {status.get('open_orders', 0)}"),
    ]
    if fe.get("n"):
        out.append(("forecast error", f"bias {fe['bias_h']:+.1f} h, MAE {fe['mae_h']:.1f} h "
                                      f"(n={fe['n']})"))  # fmt: skip
    return out
