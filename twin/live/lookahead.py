"""Rolling look-ahead for the live twin: forecasts from the current state in the background,
how good they turned out (forecast error), and re-planning when an order is at risk.

:class:`Lookahead` runs one forecast at a time on a worker thread (the replications themselves
on the executor it was given, e.g. a local process pool), so the live twin keeps applying
events while it runs. When a forecast is done it is stored, its predictions are kept for
scoring, and if a re-planning callback was given and an order's on-time probability is below
the threshold, the callback is called with the state, the forecast and the orders at risk; it
returns what the new plan changes (a plain dict), which is stored and reported.

:class:`ForecastError` scores forecasts against what the plant then did: when a batch is
QC-released (or an order completes), each kept forecast that predicted it gives an error
``actual - p50`` (hours): the mean (bias: positive = the plant is later than forecast), the
mean absolute error, and the share that landed within the forecast's p10..p90.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from twin.forecast import Forecast, Prediction, forecast
from twin.scenario import Scenario
from twin.state import PlantState

__all__ = ["Lookahead", "ForecastError", "Replan", "at_risk"]

Replan = Callable[[Scenario, PlantState, Forecast, list[Prediction]], dict[str, Any] | None]
"""A re-planning callback: (scenario, state, forecast, orders at risk) -> what the new plan
changes (shown and stored), or None when it did not re-plan."""


def at_risk(fc: Forecast, threshold: float) -> list[Prediction]:
    """Orders whose on-time probability is below ``threshold`` (most at risk first)."""
    return [p for p in fc.orders if p.p_on_time is not None and p.p_on_time < threshold]


@dataclass
class _Kept:
    made_at: float  # model hours of the state it started from
    predictions: dict[str, tuple[float | None, float | None, float | None]]  # key -> p10, p50, p90


class ForecastError:
    """Forecasts against outcomes (see the module docstring)."""

    def __init__(self, keep: int = 24) -> None:
        self.kept: deque[_Kept] = deque(maxlen=keep)
        self.errors: deque[tuple[float, bool]] = deque(maxlen=5000)  # (actual - p50, in p10..p90)
        self._lock = threading.Lock()

    def add(self, fc: Forecast) -> None:
        preds = {p.id: (p.p10, p.p50, p.p90) for p in (*fc.batches, *fc.orders)}
        with self._lock:
            self.kept.append(_Kept(fc.at, preds))

    def outcome(self, key: str, t: float) -> None:
        """A batch (``order/index``) or order finished at ``t``."""
        with self._lock:
            for k in self.kept:
                p = k.predictions.get(key)
                if p is None or p[1] is None or k.made_at >= t:
                    continue
                p10, p50, p90 = p
                inside = p10 is not None and p90 is not None and p10 - 1e-9 <= t <= p90 + 1e-9
                self.errors.append((t - p50, inside))

    def summary(self) -> dict[str, Any]:
        with self._lock:
            errs = list(self.errors)
        if not errs:
            return {"n": 0, "bias_h": None, "mae_h": None, "coverage": None}
        n = len(errs)
        return {
            "n": n,
            "bias_h": sum(e for e, _ in errs) / n,
            "mae_h": sum(abs(e) for e, _ in errs) / n,
            "coverage": sum(1 for _, inside in errs if inside) / n,
        }

    def checkpoint(self) -> dict[str, Any]:
        with self._lock:
            return {
                "errors": [list(e) for e in self.errors],
                "kept": [
                    {"made_at": k.made_at, "p": {key: list(v) for key, v in k.predictions.items()}}
                    for k in self.kept
                ],
            }

    def restore(self, data: dict[str, Any]) -> None:
        for e in data.get("errors") or []:
            if isinstance(e, list) and len(e) == 2 and isinstance(e[0], int | float):
                self.errors.append((float(e[0]), bool(e[1])))
        for k in data.get("kept") or []:
            try:
                preds = {key: tuple(v) for key, v in k["p"].items()}
                self.kept.append(_Kept(float(k["made_at"]), preds))  # type: ignore[arg-type]
            except (KeyError, TypeError, ValueError, AttributeError):
                continue


def forecast_summary(fc: Forecast, seconds: float, top: int = 15) -> dict[str, Any]:
    """What the status shows of a forecast: when, how many, the orders most at risk."""
    orders = []
    for p in fc.orders[:top]:
        orders.append(
            {
                "order": p.id,
                "due_h": p.due,
                "p_on_time": p.p_on_time,
                "p10_h": p.p10,
                "p50_h": p.p50,
                "p90_h": p.p90,
                "beyond_horizon": p.beyond_horizon,
            }
        )
    return {
        "at_h": fc.at,
        "horizon_h": fc.horizon_h,
        "replications": fc.replications,
        "seconds": seconds,
        "orders": orders,
        "orders_total": len(fc.orders),
        "kpis": fc.kpis,
    }


class Lookahead:
    """Background forecasts and re-planning (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        horizon_h: float,
        replications: int,
        seed: int = 0,
        executor: Any = None,
        replan: Replan | None = None,
        threshold: float = 0.8,
        store: Callable[[str, dict[str, Any]], str | None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        if not (math.isfinite(horizon_h) and horizon_h > 0):
            raise ValueError(f"horizon: bad value {horizon_h!r}: expected hours > 0")
        self.scenario = scenario
        self.horizon_h, self.replications, self.seed = horizon_h, replications, seed
        self.executor, self.replan, self.threshold = executor, replan, threshold
        self.store = store
        self.say = say or (lambda _m: None)
        self.errors = ForecastError()
        self.latest: dict[str, Any] | None = None
        self.replans: deque[dict[str, Any]] = deque(maxlen=10)
        self.count = 0
        self.failures = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookahead")
        self._running: Future | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        return self._running is not None and not self._running.done()

    def start(self, state: PlantState, trigger: str = "every") -> bool:
        """Start a forecast from ``state`` unless one is running (False then)."""
        if self.busy or self._closed:
            return False
        self._running = self._pool.submit(self._run, state, trigger)
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Until the running forecast (and its re-plan) is done."""
        if self._running is not None:
            self._running.exception(timeout=timeout)

    def _run(self, state: PlantState, trigger: str) -> None:
        t0 = time.perf_counter()
        try:
            fc = forecast(
                self.scenario,
                state,
                self.horizon_h,
                self.replications,
                seed=self.seed + self.count,
                executor=self.executor,
            )
        except Exception as exc:  # a forecast that fails must not stop the twin
            self.failures += 1
            self.say(f"forecast from {state.time:.2f} h failed: {type(exc).__name__}: {exc}")
            return
        seconds = time.perf_counter() - t0
        self.count += 1
        self.errors.add(fc)
        summary = forecast_summary(fc, seconds)
        data = {**fc.to_dict(), "trigger": trigger, "seconds": seconds}
        fid = self.store("forecast", data) if self.store is not None else None
        risky = at_risk(fc, self.threshold)
        self.latest = {**summary, "id": fid, "trigger": trigger, "at_risk": len(risky)}
        self.say(
            f"forecast at {state.time:.1f} h: {fc.replications} replications over "
            f"{fc.horizon_h:g} h in {seconds:.1f} s; {len(risky)} order(s) below "
            f"{self.threshold:.0%} on time"
        )
        if self.replan is None or not risky:
            return
        try:
            change = self.replan(self.scenario, state, fc, risky)
        except Exception as exc:
            self.failures += 1
            self.say(f"re-planning failed: {type(exc).__name__}: {exc}")
            return
        if change is None:
            return
        change = {"at_h": state.time, "forecast": fid, **change}
        if self.store is not None:
            change["id"] = self.store("replan", change)
        self.replans.append(change)
        self.say(f"re-planned at {state.time:.1f} h: {change.get('summary', '')}")

    def close(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
