"""Pure functions from a stored forecast (``twin forecast --store``: the JSON of
``twin.forecast.Forecast.to_dict`` with its id, as ``twin.forecast.load_forecast`` reads it) to
what the Forecast page shows: the orders as prediction bars against their due dates, most at
risk first (the bars of ``live_figures.prediction_bars``, the Live page's own), the plant KPIs
with their confidence intervals, and a headline. Plotly dicts, tested without a browser."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from dashboard.live_figures import prediction_bars

__all__ = ["forecast_options", "order_rows", "orders_figure", "kpi_rows", "headline"]

KPI_LABELS = {
    "batches.qc_released": "batches released",
    "otif_pct": "OTIF %",
    "lead_time_h.mean": "lead time h (mean)",
    "wip.mean": "WIP (mean)",
    "cleaning_share": "cleaning share",
    "deviations.total": "deviations",
}


def _at(fc: Mapping[str, Any]) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(fc["at"])
    except (KeyError, TypeError, ValueError):
        return dt.datetime(2000, 1, 1)


def _hours(at: dt.datetime, iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return (dt.datetime.fromisoformat(iso) - at).total_seconds() / 3600.0
    except (TypeError, ValueError):
        return None


def forecast_options(listing: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Dropdown options of ``twin.forecast.list_forecasts``, newest first."""
    out = []
    for f in reversed(list(listing)):
        horizon = f.get("horizon_h") or 0
        label = (
            f"{f.get('scenario')} from {f.get('at')}, {horizon / 24:g} d, "
            f"{f.get('replications')} runs ({f.get('id')})"
        )
        out.append({"label": label, "value": str(f.get("id"))})
    return out


def order_rows(fc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The forecast's orders, most at risk first (lowest on-time probability, then earliest
    due; undecided last), with times in hours from the forecast's start."""
    at = _at(fc)
    rows = []
    for o in fc.get("orders") or []:
        c = o.get("completion") or {}
        rows.append(
            {
                "order": o.get("id"),
                "p_on_time": o.get("p_on_time"),
                "due_h": _hours(at, o.get("due")),
                "p10_h": _hours(at, c.get("p10")),
                "p50_h": _hours(at, c.get("p50")),
                "p90_h": _hours(at, c.get("p90")),
                "beyond_horizon": o.get("beyond_horizon"),
            }
        )

    def key(r: dict[str, Any]) -> tuple:
        p = r["p_on_time"]
        return (2.0 if p is None else p, r["due_h"] if r["due_h"] is not None else 1e18)

    return sorted(rows, key=key)


def orders_figure(fc: Mapping[str, Any] | None, top: int = 40) -> dict[str, Any]:
    """Per order a bar from p10 to p90 of its completion, a dot at the median and a tick at
    its due date, coloured by on-time probability (red below 80%, amber below 95%); the most
    at risk on top. Percentiles past the horizon are drawn at its end."""
    if not fc:
        return prediction_bars([], dt.datetime(2000, 1, 1), 0.0, "No forecast selected", "fc")
    rows = order_rows(fc)
    shown = rows[:top]
    more = f", the {top} most at risk of {len(rows)}" if len(rows) > top else ""
    title = (
        f"{len(rows)} orders from {fc.get('at')} over {(fc.get('horizon_h') or 0) / 24:g} d "
        f"({fc.get('replications')} replications{more})<br><sup>bar p10-p90 completion, dot "
        "median, tick due; (on-time probability)</sup>"
    )
    return prediction_bars(shown, _at(fc), float(fc.get("horizon_h") or 0), title, "fc")


def kpi_rows(fc: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Plant KPIs over the horizon: mean and its confidence interval, per replication."""
    out = []
    for name, k in ((fc or {}).get("kpis") or {}).items():
        if not isinstance(k, Mapping) or k.get("mean") is None:
            continue
        lo, hi = k.get("low"), k.get("high")
        ci = "" if lo is None or hi is None else f"[{lo:,.3g}, {hi:,.3g}]"
        level = k.get("level")
        out.append(
            {
                "kpi": KPI_LABELS.get(name, name),
                "mean": f"{k['mean']:,.3g}",
                "ci": ci,
                "level": "" if level is None else f"{level:.0%}",
                "n": str(k.get("n", "")),
            }
        )
    return out


def headline(fc: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) cards: when, horizon, replications, orders at risk and undecided."""
    if not fc:
        return []
    orders = fc.get("orders") or []
    ps = [o.get("p_on_time") for o in orders]
    at_risk = sum(1 for p in ps if p is not None and p < 0.8)
    return [
        ("forecast from", str(fc.get("at"))),
        ("horizon", f"{(fc.get('horizon_h') or 0) / 24:g} d"),
        ("replications", str(fc.get("replications"))),
        ("orders", str(len(orders))),
        ("at risk (< 80%)", str(at_risk)),
        ("not decided yet", str(sum(1 for p in ps if p is None))),
    ]
