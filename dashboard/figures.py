"""Pure functions from run data to plotly figures (tested without a browser).

The playback figures are built once per page and then updated in place in the browser:
``plant_update`` and ``cursor_date`` give the few values that change when the cursor moves, which
the page applies with ``Plotly.restyle``/``relayout`` (trace indices: the ``PLANT_*`` constants).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.data import Playback

__all__ = [
    "STATE_COLOURS",
    "AGV_COLOURS",
    "PLANT_UNITS",
    "PLANT_AGVS",
    "PLANT_BATCHES",
    "plant_figure",
    "plant_update",
    "gantt_figure",
    "series_figure",
    "cursor_date",
    "kpi_cards",
    "distribution_figure",
    "utilisation_figure",
    "product_colours",
]

STATE_COLOURS = {
    "idle": "#c7c7c7",
    "setup": "#f2c14e",
    "processing": "#2ca02c",
    "cleaning": "#1f77b4",
    "dirty_hold": "#b5895b",
    "blocked": "#ff7f0e",
    "starved": "#9467bd",
    "down": "#d62728",
    "maintenance": "#8c1c5a",
    "off_shift": "#7f7f7f",
}
AGV_COLOURS = {
    "idle": "#c7c7c7",
    "empty": "#17becf",
    "loaded": "#1f3fb4",
    "traffic": "#ff7f0e",
    "handling": "#bcbd22",
    "charging": "#d62728",
    "repositioning": "#9467bd",
}
_PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
    "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)  # fmt: skip
_SHADE = {"setup": "#f2c14e", "cleaning": "#9ecae9", "down": "#d62728",
          "maintenance": "#8c1c5a", "off_shift": "#d9d9d9"}  # fmt: skip

# above this many points in all, curves are drawn with WebGL
WEBGL_POINTS = 40_000
# trace order of plant_figure (the page patches these by index)
PLANT_UNITS = 2
PLANT_AGVS = 3
PLANT_BATCHES = 4


def product_colours(products: Sequence[str]) -> dict[str, str]:
    return {p: _PALETTE[i % len(_PALETTE)] for i, p in enumerate(sorted(products))}


def _colour(state: str, table: Mapping[str, str]) -> str:
    return table.get(state, "#444444")


# --------------------------------------------------------------------------- plant
# Playback figures are plain dicts (what plotly.js receives): building them skips plotly.py's
# validation, which costs more than the rest of a cursor move.
def _scatter(**kw: Any) -> dict[str, Any]:
    return {"type": "scatter", **kw}


def plant_figure(pb: Playback, t: float) -> dict[str, Any]:
    """The plant at time t: rooms, paths, nodes, units coloured by state, vehicles, batches."""
    ex: list[float | None] = []
    ey: list[float | None] = []
    for a, b in pb.edges:
        if a in pb.nodes and b in pb.nodes:
            ex += [pb.nodes[a][0], pb.nodes[b][0], None]
            ey += [pb.nodes[a][1], pb.nodes[b][1], None]
    special = {n: p for n, p in pb.nodes.items() if p[2] not in ("waypoint", "station")}
    wh_at = {xy: w for w, xy in pb.warehouses.items()}
    frame = plant_update(pb, t)
    data = [
        _scatter(
            x=ex,
            y=ey,
            mode="lines",
            line={"color": "#dddddd", "width": 4},
            hoverinfo="skip",
            name="paths",
            showlegend=False,
        ),
        _scatter(
            x=[p[0] for p in special.values()],
            y=[p[1] for p in special.values()],
            mode="markers+text",
            marker={"symbol": "square-open", "size": 10, "color": "#555555"},
            text=[wh_at.get(p[:2], n) for n, p in special.items()],
            textposition="bottom center",
            textfont={"size": 9},
            hovertext=[f"{n} ({p[2]})" for n, p in special.items()],
            hoverinfo="text",
            name="nodes",
            showlegend=False,
        ),
        _scatter(
            x=frame["x"][0],
            y=frame["y"][0],
            mode="markers+text",
            marker={
                "symbol": "square",
                "size": 20,
                "color": frame["marker.color"][0],
                "line": {"color": "#333333", "width": 1},
            },
            text=pb.units,
            textposition=_label_positions(pb),
            textfont={"size": 9},
            hovertext=frame["hovertext"][0],
            hoverinfo="text",
            name="units",
            showlegend=False,
        ),
        _scatter(
            x=frame["x"][1],
            y=frame["y"][1],
            mode="markers",
            marker={
                "symbol": "diamond",
                "size": 13,
                "color": frame["marker.color"][1],
                "line": {"color": "#000000", "width": 1},
            },
            hovertext=frame["hovertext"][1],
            hoverinfo="text",
            name="AGVs",
            showlegend=False,
        ),
        _scatter(
            x=frame["x"][2],
            y=frame["y"][2],
            mode="markers",
            marker={
                "size": 7,
                "color": frame["marker.color"][2],
                "line": {"color": "#ffffff", "width": 1},
            },
            hovertext=frame["hovertext"][2],
            hoverinfo="text",
            name="batches",
            showlegend=False,
        ),
    ]
    for s, c in STATE_COLOURS.items():  # legend entries only
        if s in pb.states:
            data.append(
                _scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=s,
                    marker={"symbol": "square", "size": 10, "color": c},
                )
            )
    for s, c in AGV_COLOURS.items():
        if s in pb.v_states:
            data.append(
                _scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=f"AGV {s}",
                    marker={"symbol": "diamond", "size": 10, "color": c},
                )
            )
    layout = {
        "template": "plotly_white",
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"visible": False},
        "yaxis": {"visible": False, "scaleanchor": "x", "scaleratio": 1},
        "legend": {"orientation": "h", "y": -0.02, "font": {"size": 10}},
        "height": 430,
        "shapes": _room_shapes(pb),
        "hovermode": "closest",
    }
    return {"data": data, "layout": layout}


def _unit_hover(pb: Playback, states: Sequence[str]) -> list[str]:
    return [
        f"{u} ({c}, {r}): {s}"
        for u, c, r, s in zip(pb.units, pb.unit_class, pb.unit_room, states, strict=True)
    ]


def _label_positions(pb: Playback) -> list[str]:
    """Unit labels below their square, alternating with above where a neighbour is close (so
    labels of units side by side do not overlap)."""
    out = []
    xy = pb.unit_xy
    for i in range(len(pb.units)):
        close = np.abs(xy[:i, 0] - xy[i, 0]) < 12
        close &= np.abs(xy[:i, 1] - xy[i, 1]) < 1
        below = not close.any() or out[int(np.flatnonzero(close)[-1])] == "top center"
        out.append("bottom center" if below else "top center")
    return out


def _room_shapes(pb: Playback) -> list[dict[str, Any]]:
    shapes = []
    rooms: dict[str, list[int]] = {}
    for i, r in enumerate(pb.unit_room):
        rooms.setdefault(r, []).append(i)
    top = [p == "top center" for p in _label_positions(pb)]
    for room, idx in rooms.items():
        xy = pb.unit_xy[idx]
        x0, y0 = xy.min(axis=0) - (3.5, 8.0)
        x1, y1 = xy.max(axis=0) + (3.5, 13.0 if any(top[i] for i in idx) else 8.0)
        shapes.append({
            "type": "rect", "x0": float(x0), "x1": float(x1), "y0": float(y0), "y1": float(y1),
            "line": {"color": "#9aa7b8", "width": 1}, "fillcolor": "rgba(154,167,184,0.08)",
            "layer": "below",
            "label": {"text": room, "textposition": "top left",
                      "font": {"size": 9, "color": "#66758a"}},
        })  # fmt: skip
    return shapes


def plant_update(pb: Playback, t: float) -> dict[str, list[Any]]:
    """What changes on the plant when the cursor moves, as arguments of ``Plotly.restyle`` for
    the traces ``PLANT_UNITS, PLANT_AGVS, PLANT_BATCHES`` (one list item per trace)."""
    states = pb.unit_states(t)
    vxy, vstates = pb.vehicle_positions(t)
    bxy, blabels = pb.batch_positions(t)
    return {
        "x": [pb.unit_xy[:, 0].tolist(), vxy[:, 0].tolist(), bxy[:, 0].tolist()],
        "y": [pb.unit_xy[:, 1].tolist(), vxy[:, 1].tolist(), bxy[:, 1].tolist()],
        "marker.color": [
            [_colour(s, STATE_COLOURS) for s in states],
            [_colour(s, AGV_COLOURS) for s in vstates],
            "#000000",
        ],
        "hovertext": [
            _unit_hover(pb, states),
            [f"{n}: {s}" for n, s in zip(pb.vehicles, vstates, strict=True)],
            [f"batch {b}" for b in blabels],
        ],
    }


# --------------------------------------------------------------------------- Gantt
def gantt_figure(
    pb: Playback, lo: float, hi: float, t: float | None = None, height: int | None = None
) -> dict[str, Any]:
    """Units over [lo, hi]: batches coloured by product; setup, cleaning, down, maintenance and
    off-shift shaded. Only the intervals in the window are sent."""
    idx = pb.bars_in(lo, hi)
    colours = product_colours({str(x) for x in pb.bar_label[pb.bar_batch >= 0]})
    data = []
    labels = pb.bar_label[idx]
    present = set(labels.tolist())
    for label in [*(s for s in _SHADE if s in present), *sorted(colours)]:
        sel = idx[labels == label]
        if not len(sel):
            continue
        s = np.clip(pb.bar_start[sel], lo, hi)
        e = np.clip(pb.bar_end[sel], lo, hi)
        batch = pb.bar_batch[sel]
        data.append({
            "type": "bar", "orientation": "h", "name": label,
            "base": _iso(pb, s), "x": ((e - s) * 3_600_000).round().tolist(),
            "y": [pb.units[u] for u in pb.bar_unit[sel]],
            "marker": {"color": _SHADE.get(label, colours.get(label))},
            "opacity": 0.55 if label in _SHADE else 0.95,
            "hovertext": [f"{label} batch {b}" if b >= 0 else label for b in batch],
            "hoverinfo": "text+y",
        })  # fmt: skip
    layout = {
        "barmode": "overlay",
        "template": "plotly_white",
        "bargap": 0.25,
        "margin": {"l": 12 + 7 * max((len(u) for u in pb.units), default=4), "r": 10, "t": 10,
                   "b": 30},
        "xaxis": {"type": "date", "range": _iso(pb, np.array([lo, hi]))},
        "yaxis": {"categoryorder": "array", "categoryarray": pb.units[::-1], "type": "category",
                  "range": [-0.5, len(pb.units) - 0.5]},
        "legend": {"orientation": "h", "y": -0.08, "font": {"size": 10}},
        "height": height or max(260, 22 * len(pb.units) + 80),
        "shapes": [_cursor_shape(pb, t)] if t is not None else [],
    }  # fmt: skip
    return {"data": data, "layout": layout}


def _iso(pb: Playback, hours: np.ndarray) -> list[str]:
    """Model hours as ISO datetimes (plotly reads them as dates in the scenario's calendar)."""
    return np.datetime_as_string(pb.to_date(hours), unit="ms").tolist()


def _cursor_shape(pb: Playback, t: float) -> dict[str, Any]:
    d = cursor_date(pb, t)
    return {"type": "line", "xref": "x", "yref": "paper", "x0": d, "x1": d, "y0": 0, "y1": 1,
            "line": {"color": "#d62728", "width": 2}}  # fmt: skip


def cursor_date(pb: Playback, t: float) -> str:
    """The cursor as the ISO datetime plotly uses on date axes."""
    return _iso(pb, np.array([t]))[0]


# --------------------------------------------------------------------------- curves
def series_figure(pb: Playback, t: float | None = None) -> dict[str, Any]:
    """WIP and warehouse stock over the whole run, with a cursor line at t. Curves with more
    than ``WEBGL_POINTS`` corners in all are drawn with WebGL (``scattergl``); below that one
    SVG path per curve draws faster than setting up a WebGL context."""
    two = bool(pb.levels)
    n = 2 * (len(pb.wip_t) + sum(len(lt) for lt, _ in pb.levels.values()))
    kind = "scattergl" if n > WEBGL_POINTS else "scatter"
    x, y = _steps(pb.wip_t, pb.wip_v, pb.t1)
    data = [
        {
            "type": kind,
            "x": _iso(pb, x),
            "y": y.tolist(),
            "mode": "lines",
            "name": "WIP",
            "line": {"color": "#4c78a8"},
            "xaxis": "x",
            "yaxis": "y",
        }
    ]
    for i, (name, (lt, lv)) in enumerate(pb.levels.items()):
        x, y = _steps(lt, lv, pb.t1)
        data.append(
            {
                "type": kind,
                "x": _iso(pb, x),
                "y": y.tolist(),
                "mode": "lines",
                "name": name,
                "line": {"color": _PALETTE[(i + 1) % len(_PALETTE)]},
                "xaxis": "x",
                "yaxis": "y2",
            }
        )
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "margin": {"l": 60, "r": 10, "t": 10, "b": 30},
        "height": 320 if two else 220,
        "shapes": [_cursor_shape(pb, t)] if t is not None else [],
        "legend": {"font": {"size": 10}},
        "xaxis": {"type": "date", "anchor": "y2" if two else "y"},
        "yaxis": {"domain": [0.55, 1.0] if two else [0, 1], "title": {"text": "WIP"}},
        "hovermode": "x",
    }  # fmt: skip
    if two:
        layout["yaxis2"] = {"domain": [0.0, 0.45], "title": {"text": "stock (positions)"}}
    return {"data": data, "layout": layout}


def _steps(times: np.ndarray, values: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """A step curve as explicit corner points (WebGL lines have no 'hv' shape)."""
    if not len(times):
        return np.array([0.0, end]), np.array([0.0, 0.0])
    x = np.repeat(np.append(times, end), 2)[1:-1]
    y = np.repeat(values, 2)
    return x, y


# --------------------------------------------------------------------------- KPI cards
def kpi_cards(pb: Playback, t: float) -> list[tuple[str, str]]:
    """(label, value) pairs: the run's KPIs from its start up to time t."""
    hours = pb.state_hours_until(t)
    total = sum(hours.values()) or 1.0
    elapsed = max(t - pb.t0, 0.0)
    released = pb.count_until("qc_release" if "qc_release" in pb.marks else "batch_release", t)
    return [
        ("time", f"{pb.to_date(t):%Y-%m-%d %H:%M} (day {t / 24:.1f})"),
        ("batches released", str(released)),
        ("WIP now", str(pb.wip_at(t))),
        ("utilisation", f"{100 * hours.get('processing', 0.0) / total:.1f}%"),
        ("down share", f"{100 * hours.get('down', 0.0) / total:.1f}%"),
        ("cleaning share", f"{100 * hours.get('cleaning', 0.0) / total:.1f}%"),
        ("breakdowns", str(pb.count_until("breakdown", t))),
        ("deviations", str(pb.count_until("deviation", t))),
        ("orders complete", str(pb.count_until("order_complete", t))),
        ("throughput / week", f"{released / elapsed * 168:.1f}" if elapsed > 0 else "-"),
    ]


# --------------------------------------------------------------------------- compare
def distribution_figure(
    flat: Mapping[str, Sequence[Mapping[str, float]]],
    names: Sequence[str],
    labels: Mapping[str, str],
) -> go.Figure:
    """Box plots with every replication shown: one panel per KPI, one box per run."""
    names = list(names)[:9] or ["otif_pct"]
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names)
    for j, rid in enumerate(flat):
        colour = _PALETTE[j % len(_PALETTE)]
        for i, name in enumerate(names):
            vals = [f.get(name) for f in flat[rid]]
            fig.add_trace(
                go.Box(
                    y=[v for v in vals if v is not None],
                    name=labels.get(rid, rid),
                    boxpoints="all",
                    jitter=0.4,
                    marker={"color": colour},
                    showlegend=i == 0,
                    legendgroup=rid,
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_layout(
        template="plotly_white", height=260 * rows, margin={"l": 10, "r": 10, "t": 30, "b": 10}
    )
    fig.update_xaxes(showticklabels=False)
    return fig


def utilisation_figure(
    flat: Mapping[str, Sequence[Mapping[str, float]]], labels: Mapping[str, str]
) -> go.Figure:
    """Mean time share per state per unit (``state_share.<unit>.<state>``), a panel per run."""
    ids = list(flat)
    fig = make_subplots(
        rows=1,
        cols=max(1, len(ids)),
        shared_yaxes=True,
        subplot_titles=[labels.get(r, r) for r in ids],
    )
    shown: set[str] = set()
    for j, rid in enumerate(ids):
        acc: dict[tuple[str, str], list[float]] = {}
        for f in flat[rid]:
            for k, v in f.items():
                if k.startswith("state_share."):
                    unit, _, state = k[len("state_share.") :].rpartition(".")
                    acc.setdefault((unit, state), []).append(v)
        units = sorted({u for u, _ in acc})
        for state, colour in STATE_COLOURS.items():
            xs = [
                float(np.mean(acc[(u, state)])) * 100 if (u, state) in acc else 0.0 for u in units
            ]
            if not any(xs):
                continue
            fig.add_trace(
                go.Bar(
                    x=xs,
                    y=units,
                    orientation="h",
                    name=state,
                    marker={"color": colour},
                    legendgroup=state,
                    showlegend=state not in shown,
                ),
                row=1,
                col=j + 1,
            )
            shown.add(state)
    fig.update_layout(
        barmode="stack",
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=max(300, 20 * _n_units(flat) + 100),
    )
    fig.update_xaxes(title_text="% of time", range=[0, 100])
    return fig


def _n_units(flat: Mapping[str, Sequence[Mapping[str, float]]]) -> int:
    units = {
        k.split(".")[1]
        for fs in flat.values()
        for f in fs[:1]
        for k in f
        if k.startswith("state_share.")
    }
    return len(units)
