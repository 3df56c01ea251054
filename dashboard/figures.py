"""Pure functions from run data to plotly figures (tested without a browser): the playback
page's plant, Gantt, curves and KPI cards (the Compare page's figures are in
``dashboard.compare_figures``).

The playback figures are built once per page and then updated in place in the browser: the
browser computes what changes when the cursor moves from the timeline (``dashboard.timeline``,
``assets/playback.js``) and applies it with ``Plotly.animate`` on the ``PLANT_*`` traces and
``Plotly.relayout`` of the cursor line (``shapes[0]``) of the Gantt and curve figures;
``plant_update`` is the same computation in Python (the first frame, and tests). Every figure
has a title and says its units. ``GRAPH_CONFIG`` is the plotly config of every graph: no
plotly logo and no "send to cloud" / "edit in Chart Studio" buttons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dashboard.plant_layout import SPREAD_PX, metres_per_px, place_labels, spread
from dashboard.playback_data import Playback

__all__ = [
    "STATE_COLOURS",
    "AGV_COLOURS",
    "PLANT_UNITS",
    "PLANT_AGVS",
    "PLANT_BATCHES",
    "PLANT_LABELS",
    "plant_figure",
    "plant_legend",
    "plant_ranges",
    "plant_update",
    "gantt_figure",
    "series_figure",
    "cursor_date",
    "kpi_cards",
    "product_colours",
    "GRAPH_CONFIG",
    "QUICK_TICKS",
    "PRODUCT_PALETTE",
    "kpi_unit",
    "kpi_release_kind",
]

# every dcc.Graph and every figure in a report: nothing that uploads a chart anywhere
GRAPH_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "showLink": False,
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}

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
PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
    "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)  # fmt: skip
# products in the Gantt: hues at least 27 CIELAB units from every state colour (no product can
# be read as "down" or "processing"), and state bars are hatched on top of that
PRODUCT_PALETTE = (
    "#000080", "#40e0d0", "#543005", "#ff9da6", "#808000",
    "#e7298a", "#01665e", "#4b3f72", "#800000", "#b07aa1",
)  # fmt: skip
_SHADE = {"setup": "#f2c14e", "cleaning": "#9ecae9", "down": "#d62728",
          "maintenance": "#8c1c5a", "off_shift": "#d9d9d9"}  # fmt: skip

# axes of the playback figures: tick labels are drawn without plotly checking, label by label,
# whether each overflows the figure (a text measurement and a page layout per label, for every
# label: a third of the time plotly takes to draw the page's figures)
QUICK_TICKS: dict[str, Any] = {"ticklabeloverflow": "allow"}

# trace order of plant_figure
PLANT_UNITS = 2
PLANT_AGVS = 3
PLANT_BATCHES = 4
PLANT_LABELS = 5
# an annotation's anchor as a text trace's textposition (the text on the other side of it)
_TEXT_V = {"bottom": "top", "top": "bottom", "middle": "middle"}
_TEXT_H = {"left": "right", "right": "left", "center": "center"}


def product_colours(products: Sequence[str] | set[str]) -> dict[str, str]:
    return {p: PRODUCT_PALETTE[i % len(PRODUCT_PALETTE)] for i, p in enumerate(sorted(products))}


_KPI_UNITS = (
    ("otif_pct", "%"), ("_pct", "%"), ("_h.", "h"), ("_h", "h"), ("energy_kwh", "kWh"),
    ("share", "share of time, 0-1"), ("wip.", "batches"), ("batches.", "batches"),
    ("quantity", "kg"), ("deviations.", "count"), ("scrapped.", "batches"),
    ("oee.", "ratio, 0-1"), ("transport.", ""),
)  # fmt: skip


def kpi_unit(name: str) -> str:
    """The unit a KPI is measured in, from its name (``lead_time_h.mean`` -> ``h``)."""
    for key, unit in _KPI_UNITS:
        if key in name:
            return unit
    return ""


def heading(text: str, size: int = 14) -> dict[str, Any]:
    """A figure's title, left-aligned at ``size`` points (the layout's ``title``)."""
    return {"text": text, "x": 0.01, "xanchor": "left", "font": {"size": size}}


def _colour(state: str, table: Mapping[str, str]) -> str:
    return table.get(state, "#444444")


# --------------------------------------------------------------------------- plant
# Playback figures are plain dicts (what plotly.js receives): building them skips plotly.py's
# validation, which costs more than the rest of a cursor move.
def _scatter(**kw: Any) -> dict[str, Any]:
    return {"type": "scatter", **kw}


PLANT_HEIGHT = 470
PLANT_MARGIN = {"l": 44, "r": 10, "t": 34, "b": 24}


def plant_ranges(pb: Playback) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) in metres: everything drawn, with room for labels."""
    pts = [pb.unit_xy] + [np.array([p[:2] for p in pb.nodes.values()]).reshape(-1, 2)]
    xy = np.concatenate(pts)
    if not len(xy):
        return -10.0, 10.0, -10.0, 10.0
    pad = 12.0 * metres_per_px(xy, height_px=PLANT_HEIGHT - 60) + 6.0
    (x0, y0), (x1, y1) = xy.min(axis=0) - pad, xy.max(axis=0) + pad
    return float(x0), float(x1), float(y0 - pad), float(y1 + pad)


def plant_legend(pb: Playback) -> list[tuple[str, str, str]]:
    """(name, symbol, colour) of the states and AGV tasks this run shows (the page draws the
    legend in HTML, outside the figure, so the figure's plot area stays fixed)."""
    out = [(s, "square", c) for s, c in STATE_COLOURS.items() if s in pb.states]
    out += [(f"AGV {s}", "diamond", c) for s, c in AGV_COLOURS.items() if s in pb.v_states]
    return out


def plant_figure(pb: Playback, t: float, moving: bool = True) -> dict[str, Any]:
    """The plant at time t: rooms, paths, nodes, units coloured by state, AGVs (labelled with
    their ids) and batches. Names of units, rooms and special nodes are placed so that none
    overlaps another (``plant_layout.place_labels``), all in one text trace (``PLANT_LABELS``:
    plotly lays out a text trace several times faster than as many annotations).

    ``moving=False``: the units, AGVs and batches are sent but hidden, for a page whose browser
    draws them in its own layer over the figure (``assets/playback.js``) from the first frame,
    so the figure is never re-plotted to hide them. What does not move (floor, labels, layout)
    is computed once per replication (``Playback.memo``) and shared: do not modify it."""
    paths, nodes, labels, layout = pb.memo("plant_floor", lambda: _plant_floor(pb))
    frame = plant_update(pb, t)
    hidden = {} if moving else {"visible": False}
    data = [
        paths,
        nodes,
        _scatter(
            x=frame["x"][0], y=frame["y"][0], mode="markers",
            marker={"symbol": "square", "size": 18, "color": frame["marker.color"][0],
                    "line": {"color": "#333333", "width": 1}},
            hovertext=frame["hovertext"][0], hoverinfo="text", name="units", showlegend=False,
            **hidden,
        ),
        _scatter(
            x=frame["x"][1], y=frame["y"][1], mode="markers+text", text=frame["text"][1],
            textposition="middle right", textfont={"size": 8, "color": "#1f3a5f"},
            marker={"symbol": "diamond", "size": 13, "color": frame["marker.color"][1],
                    "line": {"color": "#000000", "width": 1}},
            hovertext=frame["hovertext"][1], hoverinfo="text", name="AGVs", showlegend=False,
            **hidden,
        ),
        _scatter(
            x=frame["x"][2], y=frame["y"][2], mode="markers",
            marker={"size": 7, "color": frame["marker.color"][2],
                    "line": {"color": "#ffffff", "width": 1}},
            hovertext=frame["hovertext"][2], hoverinfo="text", name="batches", showlegend=False,
            **hidden,
        ),
        labels,
    ]  # fmt: skip
    return {"data": data, "layout": layout}


def _plant_floor(pb: Playback) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict]:
    """What does not move on the plant figure: the paths and nodes traces, the labels trace
    and the layout (room frames, fixed ranges and margins)."""
    ex: list[float | None] = []
    ey: list[float | None] = []
    for a, b in pb.edges:
        if a in pb.nodes and b in pb.nodes:
            ex += [pb.nodes[a][0], pb.nodes[b][0], None]
            ey += [pb.nodes[a][1], pb.nodes[b][1], None]
    special = {n: p for n, p in pb.nodes.items() if p[2] not in ("waypoint", "station")}
    wh_at = {xy: w for w, xy in pb.warehouses.items()}
    shapes, notes = _plant_labels(pb, special, wh_at)
    paths = _scatter(x=ex, y=ey, mode="lines", line={"color": "#dddddd", "width": 4},
                     hoverinfo="skip", name="paths", showlegend=False)  # fmt: skip
    nodes = _scatter(
        x=[p[0] for p in special.values()], y=[p[1] for p in special.values()],
        mode="markers", marker={"symbol": "square-open", "size": 10, "color": "#555555"},
        hovertext=[f"{wh_at.get(p[:2], n)} ({p[2]}, node {n})" for n, p in special.items()],
        hoverinfo="text", name="nodes", showlegend=False,
    )  # fmt: skip
    labels = _scatter(
        x=[a["x"] for a in notes], y=[a["y"] for a in notes], mode="text",
        text=[a["text"] for a in notes],
        textposition=[f"{_TEXT_V[a['yanchor']]} {_TEXT_H[a['xanchor']]}" for a in notes],
        textfont={"size": 9, "color": [a["font"]["color"] for a in notes]},
        hoverinfo="skip", name="labels", showlegend=False,
    )  # fmt: skip
    x0, x1, y0, y1 = plant_ranges(pb)
    axis = {"showgrid": False, "zeroline": False, "ticksuffix": " m", "tickfont": {"size": 9},
            "color": "#9aa3ad", "automargin": False, "constrain": "domain",
            **QUICK_TICKS}  # fmt: skip
    layout = {
        "template": "plotly_white",
        "title": heading("Plant floor: units by state, AGVs by task, batches (black); metres"),
        # fixed margins and ranges, no plotly legend: the browser's drawing layer
        # (assets/playback.js) maps metres to pixels from these alone
        "margin": PLANT_MARGIN,
        "xaxis": {**axis, "range": [x0, x1]},
        "yaxis": {**axis, "range": [y0, y1], "scaleanchor": "x", "scaleratio": 1},
        "showlegend": False,
        "height": PLANT_HEIGHT,
        "shapes": shapes,
        "hovermode": "closest",
    }
    return paths, nodes, labels, layout


def plant_scale(pb: Playback) -> float:
    """Metres per pixel of the plant drawing (as laid out at the dashboard's usual width)."""
    pts = [pb.unit_xy] + [np.array([p[:2] for p in pb.nodes.values()]).reshape(-1, 2)]
    return metres_per_px(np.concatenate(pts), height_px=PLANT_HEIGHT - 60)


def spread_radius(pb: Playback) -> float:
    """Metres between vehicles parked on one spot (``SPREAD_PX`` on screen)."""
    return SPREAD_PX * plant_scale(pb)


def _unit_hover(pb: Playback, states: Sequence[str]) -> list[str]:
    return [
        f"{u} ({c}, room {r}): {s}"
        for u, c, r, s in zip(pb.units, pb.unit_class, pb.unit_room, states, strict=True)
    ]


def _plant_labels(
    pb: Playback, special: Mapping[str, tuple[float, float, str]], wh_at: Mapping[Any, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Room frames (shapes) and every text label (as annotation dicts: text, anchor point and
    sides, font), placed without overlaps: unit names first (next to their squares), then room
    names (outside their frames), then the docks, gates and chargers."""
    scale = plant_scale(pb)
    half = 10 * scale  # half a unit square (18 px) plus a margin
    squares = [(x - half, y - half, x + half, y + half) for x, y in pb.unit_xy]
    placed: list[tuple[float, float, float, float]] = []
    labels = place_labels(pb.units, pb.unit_xy, scale, squares, placed)
    rooms: dict[str, list[int]] = {}
    for i, r in enumerate(pb.unit_room):
        rooms.setdefault(r, []).append(i)
    shapes = []
    frames = []
    for room, idx in rooms.items():
        xy = pb.unit_xy[idx]
        x0, y0 = xy.min(axis=0) - 3 * half / 2
        x1, y1 = xy.max(axis=0) + 3 * half / 2
        frames.append((room, float(x0), float(y0), float(x1), float(y1)))
        shapes.append({
            "type": "rect", "x0": float(x0), "x1": float(x1), "y0": float(y0), "y1": float(y1),
            "line": {"color": "#9aa7b8", "width": 1}, "fillcolor": "rgba(154,167,184,0.08)",
            "layer": "below",
        })  # fmt: skip
    # a room's name at one of its frame's corners (as anchors for the same placer)
    corners = np.array([(f[1], f[4]) for f in frames]).reshape(-1, 2)
    room_labels = place_labels([f[0] for f in frames], corners, scale, squares, placed)
    node_names = [wh_at.get(p[:2], n) for n, p in special.items()]
    node_xy = np.array([p[:2] for p in special.values()]).reshape(-1, 2)
    node_labels = place_labels(node_names, node_xy, scale, squares, placed)
    annotations = []
    for lab, colour in (
        *((lab, "#222222") for lab in labels),
        *((lab, "#66758a") for lab in room_labels),
        *((lab, "#555555") for lab in node_labels),
    ):
        annotations.append({
            "x": lab.x, "y": lab.y, "xref": "x", "yref": "y", "text": lab.text,
            "showarrow": False, "xanchor": lab.xanchor, "yanchor": lab.yanchor,
            "font": {"size": 9, "color": colour},
        })  # fmt: skip
    return shapes, annotations


def plant_update(pb: Playback, t: float) -> dict[str, list[Any]]:
    """What changes on the plant when the cursor moves, as arguments of ``Plotly.restyle`` for
    the traces ``PLANT_UNITS, PLANT_AGVS, PLANT_BATCHES`` (one list item per trace). AGVs on
    one spot are spread apart (``plant_layout.spread``)."""
    states = pb.unit_states(t)
    vxy, vstates = pb.vehicle_positions(t)
    vxy = spread(vxy, spread_radius(pb))
    bxy, blabels = pb.batch_positions(t, vxy)
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
        "text": [[], list(pb.vehicles), []],
    }


# --------------------------------------------------------------------------- Gantt
def gantt_figure(
    pb: Playback,
    lo: float,
    hi: float,
    t: float | None = None,
    height: int | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Units over [lo, hi]: batches coloured by product (hover: order, batch, step, start, end,
    duration); setup, cleaning, down, maintenance and off-shift hatched in their state colours.
    Only the intervals in the window are sent. Drag to zoom in time (the unit axis is fixed)."""
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
        state = label in _SHADE
        data.append({
            "type": "bar", "orientation": "h", "name": label,
            "base": _iso(pb, s), "x": ((e - s) * 3_600_000).round().tolist(),
            "y": [pb.units[u] for u in pb.bar_unit[sel]],
            "marker": {"color": _SHADE.get(label, colours.get(label)),
                       **({"pattern": {"shape": "/", "fgcolor": "#ffffff", "size": 5,
                                        "solidity": 0.3, "fillmode": "overlay"}}
                          if state else {})},
            "opacity": 0.8 if state else 0.95,
            "customdata": _bar_hover(pb, sel),
            "hovertemplate": "%{customdata}<extra></extra>",
        })  # fmt: skip
    layout = {
        "barmode": "overlay",
        "template": "plotly_white",
        "title": heading(title or "Gantt: units over time (drag to zoom; double-click to reset)"),
        "bargap": 0.25,
        "margin": {"l": 12 + 7 * max((len(u) for u in pb.units), default=4), "r": 10, "t": 34,
                   "b": 84},
        "xaxis": {"type": "date", "range": _iso(pb, np.array([lo, hi])), "automargin": False,
                  **QUICK_TICKS,
                  "title": {"text": "date (scenario calendar)", "font": {"size": 11}}},
        "yaxis": {"categoryorder": "array", "categoryarray": pb.units[::-1], "type": "category",
                  "range": [-0.5, len(pb.units) - 0.5], "fixedrange": True,
                  "automargin": False, **QUICK_TICKS},
        "dragmode": "zoom",
        # in the bottom margin (container coordinates): margins stay as set, so the browser can
        # place the cursor line from the layout alone
        "legend": {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom",
                   "font": {"size": 10}},
        "height": height or max(300, 22 * len(pb.units) + 150),
        "shapes": [_cursor_shape(pb, t if t is not None else lo, t is not None)],
        "hoverlabel": {"align": "left"},
    }  # fmt: skip
    return {"data": data, "layout": layout}


def _hours(h: float) -> str:
    return f"{h:.2f} h" if h < 48 else f"{h / 24:.1f} d ({h:.0f} h)"


def _bar_hover(pb: Playback, sel: np.ndarray) -> list[str]:
    out = []
    what = "task" if pb.is_process else "step"
    starts = pb.to_date(pb.bar_start[sel])
    ends = pb.to_date(pb.bar_end[sel])
    for k, i in enumerate(sel):
        span = (
            f"start {str(starts[k])[:16].replace('T', ' ')}<br>"
            f"end {str(ends[k])[:16].replace('T', ' ')}<br>"
            f"duration {_hours(float(pb.bar_end[i] - pb.bar_start[i]))}"
        )
        unit = pb.units[pb.bar_unit[i]]
        if pb.bar_batch[i] >= 0:
            out.append(
                f"<b>{unit}</b>: {pb.bar_label[i]}<br>order {pb.bar_order[i] or '-'}, batch "
                f"{pb.bar_batch[i]}<br>{what} {pb.bar_step[i]}<br>{span}"
            )
        else:
            out.append(f"<b>{unit}</b>: {pb.bar_label[i]}<br>{span}")
    return out


def _iso(pb: Playback, hours: np.ndarray) -> list[str]:
    """Model hours as ISO datetimes (plotly reads them as dates in the scenario's calendar)."""
    return np.datetime_as_string(pb.to_date(hours), unit="ms").tolist()


def _cursor_shape(pb: Playback, t: float, visible: bool = True) -> dict[str, Any]:
    """The cursor line: always ``shapes[0]`` of the Gantt and curve figures, so the browser
    moves it with ``Plotly.relayout({'shapes[0].x0': ..., 'shapes[0].x1': ...})``."""
    d = cursor_date(pb, t)
    return {"type": "line", "xref": "x", "yref": "paper", "x0": d, "x1": d, "y0": 0, "y1": 1,
            "line": {"color": "#d62728", "width": 2}, "visible": visible}  # fmt: skip


def cursor_date(pb: Playback, t: float) -> str:
    """The cursor as the ISO datetime plotly uses on date axes."""
    return _iso(pb, np.array([t]))[0]


# --------------------------------------------------------------------------- curves
def series_figure(pb: Playback, t: float | None = None) -> dict[str, Any]:
    """WIP and warehouse stock over the whole run, with a cursor line at t: one SVG path per
    curve (``hv`` steps: half the points). Never WebGL (``scattergl``): the dashboard serves
    plotly.js's cartesian bundle, which has none (``assets/vendor/README.md``); an SVG path
    keeps every point for hover and zoom and is simplified to the screen's pixels when drawn
    (about half a second for 50,000 corners, five times a plant-year's). Times are sent as
    milliseconds of the scenario's calendar (numbers on a date axis: plotly parses no date
    strings). Without a cursor (the playback page draws its own) the figure is computed once per
    replication and shared (do not modify it)."""
    if t is None:
        return pb.memo("series", lambda: _series_figure(pb, None))
    return _series_figure(pb, t)


def _series_figure(pb: Playback, t: float | None) -> dict[str, Any]:
    two = bool(pb.levels)
    curves = [("WIP", pb.wip_t, pb.wip_v, "y", "#4c78a8")]
    curves += [
        (name, lt, lv, "y2", PALETTE[(i + 1) % len(PALETTE)])
        for i, (name, (lt, lv)) in enumerate(pb.levels.items())
    ]
    data = []
    for name, times, values, yaxis, colour in curves:
        x, y = _hv(times, values, pb.t1)
        data.append({
            "type": "scatter", "x": _ms(pb, x), "y": y.tolist(), "mode": "lines", "name": name,
            "line": {"color": colour, "shape": "hv"},
            "xaxis": "x", "yaxis": yaxis,
        })  # fmt: skip
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "title": heading("Work in progress and warehouse stock over the run"),
        "margin": {"l": 60, "r": 10, "t": 34, "b": 60},
        "height": 380 if two else 280,
        "shapes": [_cursor_shape(pb, t if t is not None else pb.t0, t is not None)],
        "legend": {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom",
                   "font": {"size": 10}},
        "xaxis": {"type": "date", "anchor": "y2" if two else "y", "automargin": False,
                  "range": _iso(pb, np.array([pb.t0, pb.t1])), **QUICK_TICKS},
        "yaxis": {"domain": [0.55, 1.0] if two else [0, 1], "title": {"text": "WIP (batches)"},
                  "automargin": False, **QUICK_TICKS},
        "hovermode": "x",
    }  # fmt: skip
    if two:
        layout["yaxis2"] = {"domain": [0.0, 0.45], "title": {"text": "stock (pallet positions)"},
                            "automargin": False, **QUICK_TICKS}  # fmt: skip
    return {"data": data, "layout": layout}


def _ms(pb: Playback, hours: np.ndarray) -> list[float]:
    """Model hours as milliseconds of the scenario's calendar (what plotly's date axes count:
    the same instants as ``_iso``'s dates)."""
    base = float(np.datetime64(pb.start, "ms").astype(np.int64))
    return (base + np.round(np.asarray(hours, dtype=float) * 3_600_000)).tolist()


def _hv(times: np.ndarray, values: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """A step curve as its steps (drawn with line shape ``hv``), held until ``end``."""
    if not len(times):
        return np.array([0.0, end]), np.array([0.0, 0.0])
    return np.append(times, end), np.append(values, values[-1])


# --------------------------------------------------------------------------- KPI cards
def kpi_release_kind(pb: Playback) -> str:
    """The event that counts a batch as released: QC release when the plant has QC; a process
    plant's batches count when their task ends."""
    if pb.is_process:
        return "task_end"
    return "qc_release" if len(pb.marks.get("qc_release", ())) else "batch_release"


def kpi_cards(pb: Playback, t: float) -> list[tuple[str, str]]:
    """(label, value) pairs: the run's KPIs from its start up to time t. The browser computes
    the same cards from the timeline while the slider moves (``assets/playback.js``)."""
    hours = pb.state_hours_until(t)
    total = hours["all"] or 1.0
    elapsed = max(t - pb.t0, 0.0)
    released = pb.count_until(kpi_release_kind(pb), t)
    done, wip = ("batches done", "batches under way") if pb.is_process else (
        "batches released", "WIP now (batches)")  # fmt: skip
    return [
        ("time", f"{pb.to_date(t):%Y-%m-%d %H:%M} (day {t / 24:.1f})"),
        (done, str(released)),
        (wip, str(pb.wip_at(t))),
        ("utilisation", f"{100 * hours['processing'] / total:.1f}%"),
        ("down share", f"{100 * hours['down'] / total:.1f}%"),
        ("cleaning share", f"{100 * hours['cleaning'] / total:.1f}%"),
        ("breakdowns", str(pb.count_until("breakdown", t))),
        ("deviations", str(pb.count_until("deviation", t))),
        ("orders complete", str(pb.count_until("order_complete", t))),
        ("throughput (batches / week)", f"{released / elapsed * 168:.1f}" if elapsed > 0 else "-"),
    ]
