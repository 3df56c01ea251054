"""How good a forecast was: scoring predictions against what the plant then did.

A forecast (``twin.forecast``) names the orders and batches it can see at its start and gives
each a completion time (a point, p10, p90) and an on-time probability. Given the plant's log
after the start, ``outcomes`` says when each of them was actually done, and ``Errors`` pools
over many forecasts:

- **MAE** (hours) of the point forecast over the items that either the plant finished or the
  forecaster expected within the window ``(start, start + window]``; both times are clipped at
  the window's end (an item not done by then counts as done at the end), so an item one says
  is done and the other not costs the distance to the end, and forecasters are compared on the
  same items when ``items`` is shared;
- **coverage** of the p10-p90 interval over the items whose interval ends within the window
  (p90 <= its end): chosen by what the forecast said, not by what happened, because the
  items the plant happened to finish early are those whose outcome fell low, so scoring them
  shows intervals too narrow even for a forecaster that knows the true plant (64% over the
  first day in ``benchmarks/bench_forecast.py`` when the items were chosen by the outcome); an
  item not done by the end of its interval is not covered;
- **Brier score** of the on-time probability over the items due within the window (their
  outcome is known at its end): ``mean((p - on_time)^2)``; 0 is perfect, 0.25 a coin.

``naive_forecast`` is the baseline a planner has without a model: the historical lead time
per product (order release to completion, and to each batch's QC release), conditional on the
age the order has reached.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from twin.forecast import Forecast, measure_completions
from twin.state import PlantState

__all__ = [
    "Point",
    "Errors",
    "points_of",
    "outcomes",
    "naive_forecast",
    "window_items",
]


@dataclass(frozen=True)
class Point:
    """One item's forecast, in model hours: ``point`` is what MAE scores (None: not done
    within the forecast's horizon), ``p10``/``p90`` the interval (None: past the horizon)."""

    id: str
    due: float
    point: float | None
    p10: float | None
    p90: float | None
    p_on_time: float | None


Items = dict[str, dict[str, Point]]  # "orders" / "batches" -> id -> Point


def points_of(fc: Forecast) -> Items:
    """A simulation forecast's items; the median is the point (it minimises absolute error)."""

    def conv(preds: Iterable[Any]) -> dict[str, Point]:
        return {p.id: Point(p.id, p.due, p.p50, p.p10, p.p90, p.p_on_time) for p in preds}

    return {"orders": conv(fc.orders), "batches": conv(fc.batches)}


def outcomes(state: PlantState, after: pa.Table) -> dict[str, dict[str, float]]:
    """When the plant finished each order and batch key of ``state``: from its log ``after``
    the state's instant (events at or before it are ignored), counted as a forecast counts."""
    t = after.column("t").to_numpy()
    later = after.filter(pa.array(t > state.time + 1e-9))
    made = {o.id: o.made for o in state.orders.values()}
    keys = {b.id: b.key for b in state.batches.values()}
    return measure_completions(made, keys, later)


def window_items(
    start: float,
    window: float,
    truth: Mapping[str, float],
    forecasts: Iterable[Mapping[str, Point]],
) -> set[str]:
    """Items the plant or any of the forecasters has done within ``(start, start + window]``."""
    end = start + window + 1e-9
    out = {i for i, t in truth.items() if t <= end}
    for f in forecasts:
        out |= {i for i, p in f.items() if p.point is not None and p.point <= end}
    return out


@dataclass
class Errors:
    """Pooled errors of one forecaster at one window, over any number of forecasts."""

    abs_err: list[float] = field(default_factory=list)
    covered: list[bool] = field(default_factory=list)
    brier: list[float] = field(default_factory=list)

    def add(
        self,
        points: Mapping[str, Point],
        truth: Mapping[str, float],
        start: float,
        window: float,
        items: Iterable[str],
    ) -> None:
        end = start + window
        for i in sorted(items):
            p = points.get(i)
            if p is None:
                continue
            got = min(truth.get(i, math.inf), end)
            said = end if p.point is None else min(p.point, end)
            self.abs_err.append(abs(said - got))
        for i, p in points.items():
            if p.p10 is None or p.p90 is None or p.p90 > end + 1e-9:
                continue
            t = truth.get(i, math.inf)
            self.covered.append(p.p10 - 1e-9 <= t <= p.p90 + 1e-9)
        for i, p in points.items():
            if p.due > end + 1e-9 or p.p_on_time is None:
                continue
            on_time = truth.get(i, math.inf) <= p.due + 1e-9
            self.brier.append((p.p_on_time - float(on_time)) ** 2)

    def summary(self) -> dict[str, Any]:
        def mean(x: list[float]) -> float | None:
            return float(np.mean(x)) if x else None

        return {
            "mae_h": mean(self.abs_err),
            "n_mae": len(self.abs_err),
            "coverage": mean([float(c) for c in self.covered]),
            "n_coverage": len(self.covered),
            "brier": mean(self.brier),
            "n_brier": len(self.brier),
        }


# --------------------------------------------------------------------------- the baseline
def _lead_times(history: pa.Table) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per product: order lead times (release to completion) and batch lead times (the
    order's release to the batch's QC release), from the orders the history saw finish."""
    kind = history.column("kind").to_pylist()
    t = history.column("t").to_pylist()
    order = history.column("order").to_pylist()
    product = history.column("product").to_pylist()
    released: dict[str, tuple[float, str]] = {}
    qc: dict[str, list[float]] = defaultdict(list)
    orders: dict[str, list[float]] = defaultdict(list)
    batches: dict[str, list[float]] = defaultdict(list)
    for k, ti, o, p in zip(kind, t, order, product, strict=True):
        if k == "order_release" and o is not None:
            released[o] = (ti, p)
        elif k == "qc_release" and o in released:
            qc[o].append(ti)
        elif k == "order_complete" and o in released:
            r, prod = released[o]
            orders[prod].append(ti - r)
            batches[prod].extend(x - r for x in qc.get(o, ()))
    return orders, batches


def _conditional(
    sample: list[float], pooled: list[float], age: float, release: float, due: float, min_n: int
) -> tuple[float, float, float, float] | None:
    """Mean, p10, p90 and on-time share of ``release + L`` over past lead times ``L`` longer
    than ``age`` (the product's own, or all products' where it has fewer than ``min_n``); an
    order older than that many past ones takes all of them, none earlier than now
    (``release + age``)."""
    for pool in (sample, pooled):
        longer = np.array([x for x in pool if x > age], dtype=float)
        if len(longer) >= min_n:
            break
    else:
        pool = sample if len(sample) >= min_n else pooled
        if not pool:
            return None
        longer = np.maximum(np.array(pool, dtype=float), age)
    done = release + longer
    return (
        float(done.mean()),
        float(np.quantile(done, 0.1)),
        float(np.quantile(done, 0.9)),
        float(np.mean(done <= due + 1e-9)),
    )


def naive_forecast(history: pa.Table, state: PlantState, min_n: int = 5) -> Items:
    """The baseline without a model: for each open order of ``state`` (and each of its
    batches), the historical mean lead time of its product from the order's release, among
    past orders that took longer than this one's age so far; p10, p90 and the on-time share
    from the same past lead times. Where too few past orders are that old, the lead times of
    all products; where still too few, the completion is unknown (None)."""
    orders, batches = _lead_times(history)
    all_orders = [x for v in orders.values() for x in v]
    all_batches = [x for v in batches.values() for x in v]
    out: Items = {"orders": {}, "batches": {}}
    now = state.time
    open_orders = {o.id: o for o in state.orders.values() if o.completed is None}
    keys: dict[str, str] = {
        b.key: b.order for b in state.batches.values() if b.order in open_orders
    }
    for o in open_orders.values():
        for k in range(o.made + 1, o.batches_needed + 1):
            keys[f"{o.id}/{k}"] = o.id
    for o in open_orders.values():
        got = _conditional(orders.get(o.product, []), all_orders, now - o.release, o.release,
                           o.due, min_n)  # fmt: skip
        out["orders"][o.id] = _point(o.id, o.due, got, now)
    for key, oid in keys.items():
        o = open_orders[oid]
        got = _conditional(batches.get(o.product, []), all_batches, now - o.release, o.release,
                           o.due, min_n)  # fmt: skip
        out["batches"][key] = _point(key, o.due, got, now)
    return out


def _point(pid: str, due: float, got: tuple[float, ...] | None, now: float) -> Point:
    if got is None:
        return Point(pid, due, None, None, None, None)
    mean, p10, p90, p_on = got
    return Point(pid, due, max(mean, now), max(p10, now), max(p90, now), p_on)
