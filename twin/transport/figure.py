"""A drawing of a layout (Plotly), moved here unchanged from ``twin/transport.py``; it belongs
in the dashboard (``dashboard/figures.py``) and is to move there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twin.flow_spec import LayoutSpec

__all__ = ["layout_figure", "write_layout_html"]

# --------------------------------------------------------------------------- drawing
_KIND_STYLE = {
    "dock": ("square", "#8c564b"),
    "station": ("circle", "#1f77b4"),
    "warehouse_gate": ("diamond", "#2ca02c"),
    "charger": ("star", "#d62728"),
    "waypoint": ("circle-open", "#7f7f7f"),
}


def layout_figure(
    spec: LayoutSpec, stations: Mapping[str, Sequence[str]] | None = None, title: str = "layout"
) -> Any:
    """A plotly figure of the layout: segments, one-way arrows, nodes by kind, unit stations
    labelled with their units (``stations``: node -> unit names)."""
    import plotly.graph_objects as go

    stations = stations or {}
    fig = go.Figure()
    xs: list[float | None] = []
    ys: list[float | None] = []
    for e in spec.edges:
        a, b = spec.nodes[e.from_], spec.nodes[e.to]
        xs += [a.x, b.x, None]
        ys += [a.y, b.y, None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"color": "#bbbbbb", "width": 3},
            name="segments",
            hoverinfo="skip",
        )
    )
    for e in spec.edges:
        if e.one_way:
            a, b = spec.nodes[e.from_], spec.nodes[e.to]
            fig.add_annotation(
                x=(a.x + 2 * b.x) / 3,
                y=(a.y + 2 * b.y) / 3,
                ax=(2 * a.x + b.x) / 3,
                ay=(2 * a.y + b.y) / 3,
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                showarrow=True,
                arrowhead=3,
                arrowsize=1.5,
                arrowcolor="#555555",
                text="",
            )
    for kind, (symbol, colour) in _KIND_STYLE.items():
        names = [n for n, node in spec.nodes.items() if node.kind == kind]
        if not names:
            continue
        text = [f"{n}: {', '.join(stations[n])}" if n in stations else n for n in names]
        labels = [
            ", ".join(stations[n]) if n in stations else ("" if kind == "waypoint" else n)
            for n in names
        ]
        fig.add_trace(
            go.Scatter(
                x=[spec.nodes[n].x for n in names],
                y=[spec.nodes[n].y for n in names],
                mode="markers+text",
                name=kind,
                text=labels,
                textposition="top center",
                hovertext=text,
                hoverinfo="text",
                marker={"symbol": symbol, "size": 12, "color": colour},
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="x (m)",
        yaxis_title="y (m)",
        yaxis={"scaleanchor": "x", "scaleratio": 1},
        template="plotly_white",
    )
    return fig


def write_layout_html(scenario: Any, path: str | Any) -> Any:
    """Write the drawing of a scenario's layout (``layout_figure``) to a standalone HTML file."""
    from pathlib import Path

    assert scenario.layout is not None
    stations: dict[str, list[str]] = {}
    for name, uid in scenario.unit_names():
        st = scenario.units[uid].station
        if st is not None:
            stations.setdefault(st, []).append(name)
    fig = layout_figure(scenario.layout, stations, title=f"{scenario.name}: layout")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(out), include_plotlyjs="cdn")
    return out
