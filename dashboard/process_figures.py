"""Pure functions from a process plant's run data to plotly figures (tested without a
browser): tank levels and utility use over a run with the playback cursor, the levels at the
cursor, and on the Compare page the mean levels of every replication side by side.

The over-time figures keep the playback's conventions (``dashboard.figures``): one date x axis
shared by every panel, fixed margins and the cursor line as ``shapes[0]``, so the browser moves
its own cursor over them (``assets/playback.js``) without re-plotting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import PALETTE, QUICK_TICKS, cursor_date, heading
from dashboard.playback_data import Playback
from dashboard.process_levels import Level

__all__ = [
    "tank_figure",
    "utility_figure",
    "levels_at",
    "level_compare_figure",
    "PANEL_PX",
]

PANEL_PX = 78  # height of one tank's or utility's panel
_MARGIN = {"l": 60, "r": 10, "t": 34, "b": 40}
_CAPACITY = {"color": "#b00020", "width": 1, "dash": "dash"}


def _amount(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


def _name(key: str, level: Level) -> str:
    """A panel's title: the id, its storage and capacity."""
    cap = "" if math.isnan(level.capacity) else f"capacity {_amount(level.capacity)}"
    return f"{key} ({', '.join(x for x in (level.storage, cap) if x)})"


def _panels(
    pb: Playback, curves: Mapping[str, Level], t: float | None, title: str, what: str
) -> dict[str, Any]:
    """One panel per curve, stacked on one shared date axis: the level as a step line and the
    capacity (where known) as a dashed red line."""
    n = max(1, len(curves))
    gap = 0.35 / n if n > 1 else 0.0
    height = PANEL_PX * n + _MARGIN["t"] + _MARGIN["b"]
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "title": heading(title),
        "margin": _MARGIN,
        "height": max(height, 220),
        "showlegend": False,
        "hovermode": "x unified" if n == 1 else "closest",
        "shapes": [_cursor(pb, t)],
        "annotations": [],
    }
    span = np.array([pb.t0, pb.t1])
    dates = _iso(pb, span)
    for k, (key, level) in enumerate(curves.items()):
        axis = "" if k == 0 else str(k + 1)
        top = 1.0 - k / n
        bottom = top - 1.0 / n + gap
        x = np.append(level.times, pb.t1)
        y = np.append(level.values, level.values[-1] if len(level.values) else 0.0)
        if not len(level.times) or level.times[0] > pb.t0:  # 0 before the first change
            x, y = np.append(pb.t0, x), np.append(0.0, y)
        colour = PALETTE[k % len(PALETTE)]
        data.append({
            "type": "scatter", "x": _iso(pb, x), "y": y.tolist(), "mode": "lines",
            "line": {"shape": "hv", "color": colour, "width": 1.5}, "name": key,
            "xaxis": "x", "yaxis": f"y{axis}",
            "hovertemplate": f"{key}: %{{y:,.4g}} {what}<extra></extra>",
        })  # fmt: skip
        top_y = level.peak
        if not math.isnan(level.capacity):
            data.append({
                "type": "scatter", "x": dates, "y": [level.capacity] * 2, "mode": "lines",
                "line": _CAPACITY, "name": f"{key} capacity", "xaxis": "x", "yaxis": f"y{axis}",
                "hovertemplate": f"{key} capacity: %{{y:,.4g}}<extra></extra>",
            })  # fmt: skip
            top_y = max(top_y, level.capacity)
        layout[f"yaxis{axis}"] = {
            "domain": [max(bottom, 0.0), top], "range": [0, 1.12 * top_y or 1.0],
            "automargin": False, "tickfont": {"size": 9}, "nticks": 3, "fixedrange": True,
            **QUICK_TICKS,
        }  # fmt: skip
        layout["annotations"].append({
            "text": _name(key, level), "xref": "paper", "yref": "paper", "x": 0.005, "y": top,
            "xanchor": "left", "yanchor": "top", "showarrow": False,
            "font": {"size": 10, "color": "#333333"}, "bgcolor": "rgba(255,255,255,0.7)",
        })  # fmt: skip
    layout["xaxis"] = {
        "type": "date", "range": dates, "automargin": False, **QUICK_TICKS,
        "anchor": f"y{len(curves)}" if len(curves) > 1 else "y",
        "title": {"text": "date (scenario calendar)", "font": {"size": 11}},
    }  # fmt: skip
    if not curves:
        layout["annotations"].append({
            "text": "no tanks or utilities in this run", "xref": "paper", "yref": "paper",
            "x": 0.5, "y": 0.5, "showarrow": False,
        })  # fmt: skip
    return {"data": data, "layout": layout}


def tank_figure(pb: Playback, t: float | None = None) -> dict[str, Any]:
    """Tank levels over the run (one panel per tank that holds material: storage
    ``unlimited`` or ``finite``), the capacity of finite tanks dashed, a cursor at t."""
    return _panels(
        pb,
        pb.tanks,
        t,
        "Tank levels over the run (amount held, the scenario's unit; dashed: capacity)",
        "held",
    )


def utility_figure(pb: Playback, t: float | None = None) -> dict[str, Any]:
    """Utility use over the run (one panel per utility: amount in use, capacity dashed)."""
    return _panels(
        pb, pb.utilities, t, "Utilities in use over the run (dashed: capacity)", "in use"
    )


def levels_at(pb: Playback, t: float) -> list[dict[str, Any]]:
    """Every tank and utility at time t: kind, id, storage, level, capacity (None: none) and
    share of capacity in % (None without one), tanks first, in the log's order."""
    out = []
    for kind, curves in (("tank", pb.tanks), ("utility", pb.utilities)):
        for key, level in curves.items():
            now = level.at(t)
            cap = None if math.isnan(level.capacity) else level.capacity
            out.append({
                "kind": kind, "id": key, "storage": level.storage, "level": now,
                "capacity": cap, "pct": 100.0 * now / cap if cap else None,
            })  # fmt: skip
    return out


def _iso(pb: Playback, hours: np.ndarray) -> list[str]:
    return np.datetime_as_string(pb.to_date(hours), unit="ms").tolist()


def _cursor(pb: Playback, t: float | None) -> dict[str, Any]:
    """As ``figures`` draws it: shapes[0], hidden without a cursor time."""
    d = cursor_date(pb, t if t is not None else pb.t0)
    return {"type": "line", "xref": "x", "yref": "paper", "x0": d, "x1": d, "y0": 0, "y1": 1,
            "line": {"color": "#d62728", "width": 2}, "visible": t is not None}  # fmt: skip


# --------------------------------------------------------------------------- compare
def level_compare_figure(
    samples: Mapping[str, Sequence[Mapping[str, float]]],
    labels: Mapping[str, str],
    capacities: Mapping[str, float] | None = None,
) -> go.Figure:
    """Mean tank levels and mean utility use of every replication, one panel per tank or
    utility (``tank.<id>``, ``utility.<id>`` as :func:`dashboard.process_levels.mean_levels`
    names them), one box per run with every replication shown; capacities in the titles."""
    capacities = capacities or {}
    keys = list(dict.fromkeys(k for fs in samples.values() for f in fs for k in f))
    keys = sorted(keys, key=lambda k: not k.startswith("tank."))  # tanks first, in log order
    if not keys:
        fig = go.Figure()
        fig.update_layout(
            template="plotly_white",
            title=heading("Tank levels and utility use: no process plant among these runs"),
            height=160,
        )
        return fig
    cols = min(4, len(keys))
    rows = (len(keys) + cols - 1) // cols
    titles = []
    for k in keys:
        kind, _, name = k.partition(".")
        cap = capacities.get(k, math.nan)
        tail = "" if cap is None or math.isnan(cap) else f" (cap. {_amount(cap)})"
        titles.append(f"{name}{tail}" if kind == "tank" else f"{name}: in use{tail}")
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=0.5 / rows)
    for j, rid in enumerate(samples):
        colour = PALETTE[j % len(PALETTE)]
        for i, key in enumerate(keys):
            vals = [f[key] for f in samples[rid] if key in f]
            fig.add_trace(
                go.Box(
                    y=vals,
                    name=labels.get(rid, rid),
                    boxpoints="all",
                    jitter=0.4,
                    marker={"color": colour},
                    showlegend=i == 0,
                    legendgroup=rid,
                    hovertemplate=f"{key}: %{{y:,.4g}}<extra>{labels.get(rid, rid)}</extra>",
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_layout(
        template="plotly_white",
        title=heading(
            "Process plant: time-mean tank level and utility use of every replication "
            "(one box per run)"
        ),
        height=210 * rows + 90,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "y": -0.05},
    )
    fig.update_xaxes(showticklabels=False)
    return fig
