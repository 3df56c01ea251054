"""Pure functions from the KPIs of several runs to the plotly figures of the Compare page and
the HTML report: KPI distributions per run, utilisation per unit state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import PALETTE, STATE_COLOURS, heading, kpi_unit


# --------------------------------------------------------------------------- compare
def distribution_figure(
    flat: Mapping[str, Sequence[Mapping[str, float]]],
    names: Sequence[str],
    labels: Mapping[str, str],
) -> go.Figure:
    """Box plots with every replication shown: one panel per KPI (titled with its unit), one
    box per run (named by its label)."""
    names = list(names)[:9] or ["otif_pct"]
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    titles = [f"{n} ({kpi_unit(n)})" if kpi_unit(n) else n for n in names]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles)
    for j, rid in enumerate(flat):
        colour = PALETTE[j % len(PALETTE)]
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
        template="plotly_white",
        title=heading("KPIs of every replication compared (one box per run)"),
        height=260 * rows + 80,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "y": -0.05},
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
                    hovertemplate="%{y}: %{x:.1f}% " + state + "<extra></extra>",
                ),
                row=1,
                col=j + 1,
            )
            shown.add(state)
    fig.update_layout(
        barmode="stack",
        template="plotly_white",
        title=heading("Utilisation: mean share of time per state and unit"),
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        height=max(320, 20 * _n_units(flat) + 130),
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
