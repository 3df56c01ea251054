"""Look-ahead forecasts: N replications from a plant state over a horizon.

``forecast(scenario, state, horizon_h, replications)`` is a what-if that starts at now: every
replication is a warm start from the same state (``simulate(..., state=...)``), with its own
random durations, breakdowns and future orders, and common random numbers across variants
started from one state (the streams are keyed by seed, replication, entity and purpose).

Per known order (open in the state, or a fixed order of the scenario released within the
horizon) it gives the probability of finishing on time and the completion time (mean, p10,
p50, p90); per batch the same; plant KPIs with 95% confidence intervals; orders at risk first.
A completion after the horizon is not observed: the share of replications where that happened
is reported (``beyond_horizon``), percentiles past it are None, and an order due after the
horizon that is not done by then has no on-time probability yet (None).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from twin.scenario import Scenario
from twin.state import PlantState

if TYPE_CHECKING:
    from twin.executors import Executor
    from twin.plan import Plan

__all__ = [
    "Forecast",
    "ForecastError",
    "Prediction",
    "forecast",
    "save_forecast",
    "list_forecasts",
    "load_forecast",
    "MAX_FORECAST_REPLICATIONS",
]

MAX_FORECAST_REPLICATIONS = 10_000


class ForecastError(ValueError):
    """A forecast that cannot be made as asked (phrased for the user)."""


FORECAST_KPIS = (
    "batches.qc_released",
    "otif_pct",
    "lead_time_h.mean",
    "wip.mean",
    "cleaning_share",
    "deviations.total",
)


@dataclass(frozen=True)
class Prediction:
    """What the replications say about one order or batch."""

    id: str
    order: str
    due: float
    p_on_time: float | None
    mean: float | None
    p10: float | None
    p50: float | None
    p90: float | None
    beyond_horizon: float  # share of replications where it was not done by the horizon's end
    replications: int

    @property
    def at_risk_key(self) -> tuple:
        p = 2.0 if self.p_on_time is None else self.p_on_time
        return (p, self.due, self.id)


@dataclass(frozen=True)
class Forecast:
    scenario: str
    start: dt.datetime
    at: float
    horizon_h: float
    replications: int
    seed: int
    orders: tuple[Prediction, ...]
    batches: tuple[Prediction, ...]
    kpis: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def iso(self, hours: float | None) -> str | None:
        if hours is None:
            return None
        return (self.start + dt.timedelta(hours=hours)).isoformat(timespec="minutes")

    def to_dict(self) -> dict[str, Any]:
        def pred(p: Prediction) -> dict[str, Any]:
            return {
                "id": p.id,
                "order": p.order,
                "due": self.iso(p.due),
                "p_on_time": p.p_on_time,
                "completion": {
                    "mean": self.iso(p.mean),
                    "p10": self.iso(p.p10),
                    "p50": self.iso(p.p50),
                    "p90": self.iso(p.p90),
                },
                "beyond_horizon": p.beyond_horizon,
            }

        orders = [{k: v for k, v in pred(p).items() if k != "order"} for p in self.orders]
        return {
            "scenario": self.scenario,
            "at": self.iso(self.at),
            "horizon_h": self.horizon_h,
            "replications": self.replications,
            "seed": self.seed,
            "orders": orders,
            "batches": [pred(p) for p in self.batches],
            "kpis": self.kpis,
            "meta": self.meta,
        }


# ---------------------------------------------------------------------- in the worker
@dataclass(frozen=True)
class _Chunk:
    """Replications ``reps`` of one forecast, as plain data for any executor: the scenario and
    state are read once per chunk, not once per replication."""

    scenario: dict[str, Any]
    state: dict[str, Any]
    plan: dict[str, Any] | None
    seed: int
    reps: tuple[int, ...]
    made: dict[str, int]
    keys: dict[int, str]


def _run_chunk(chunk: _Chunk) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    from twin.experiment import model_hash
    from twin.plan import plan_from_dict
    from twin.scenario import load_dict
    from twin.simulate import simulate
    from twin.state import state_from_dict

    sc = load_dict(chunk.scenario, "<forecast scenario>")
    state = state_from_dict(chunk.state, "<forecast state>")
    plan = plan_from_dict(chunk.plan, "<forecast plan>") if chunk.plan is not None else None
    out = []
    for rep in chunk.reps:
        run = simulate(sc, seed=chunk.seed, replication=rep, state=state, plan=plan)
        out.append((rep, run.kpis, measure_completions(chunk.made, chunk.keys, run.events)))
    return [(rep, kpis, {**m, "model": model_hash()}) for rep, kpis, m in out]


_COMPLETION_KINDS = ["batch_release", "qc_release", "order_complete"]


def measure_completions(made: dict[str, int], keys: dict[int, str], events: pa.Table) -> dict:
    """From one replication's log: completion time per order and per batch key (QC release;
    a rejected or scrapped batch ends its key, its replacement gets a new one)."""
    import pyarrow.compute as pc

    # only three kinds of event matter: pick their rows before reading any into Python
    wanted = pc.is_in(events.column("kind"), value_set=pa.array(_COMPLETION_KINDS))
    events = events.filter(wanted)
    kind = events.column("kind").to_pylist()
    t = events.column("t").to_pylist()
    order = events.column("order").to_pylist()
    batch = events.column("batch").to_pylist()
    count: Counter[str] = Counter(made)
    key_of = dict(keys)
    orders: dict[str, float] = {}
    batches: dict[str, float] = {}
    for k, ti, o, b in zip(kind, t, order, batch, strict=True):
        if k == "batch_release":
            count[o] += 1
            key_of[b] = f"{o}/{count[o]}"
        elif k == "qc_release" and b in key_of:
            batches[key_of[b]] = ti
        elif k == "order_complete":
            orders[o] = ti
    return {"orders": orders, "batches": batches}


# ---------------------------------------------------------------------- the forecast
def forecast(
    scenario: Scenario,
    state: PlantState,
    horizon_h: float,
    replications: int = 100,
    seed: int = 0,
    plan: Plan | None = None,
    executor: Executor | None = None,
    progress: Any = None,
    members: Sequence[Scenario] = (),
) -> Forecast:
    """N replications of ``scenario`` from ``state`` over ``horizon_h`` hours (see the module
    docstring). Runs in this process unless an ``executor`` is given; ``progress(done, total)``
    is called as replications finish. With ``members`` (plants of the same name, e.g. the
    ensemble of ``twin.fit_ensemble`` that carries a fit's parameter uncertainty), replication
    ``r`` runs ``members[r % len(members)]`` and ``scenario`` only names the forecast."""
    from twin.executors import InProcess
    from twin.experiment import ExperimentError, flatten_kpis, model_hash, summarize

    if not (isinstance(horizon_h, int | float) and math.isfinite(horizon_h) and horizon_h > 0):
        raise ForecastError(
            f"horizon: bad value {horizon_h!r}: expected a positive number of hours"
        )
    if not 1 <= replications <= MAX_FORECAST_REPLICATIONS:
        raise ForecastError(
            f"replications: bad value {replications}: expected 1 to {MAX_FORECAST_REPLICATIONS}"
        )
    if state.scenario != scenario.name:
        raise ForecastError(
            f"state: taken from scenario '{state.scenario}', not '{scenario.name}': expected a "
            "state of the plant being forecast"
        )
    for m in members:
        if m.name != scenario.name:
            raise ForecastError(
                f"members: plant '{m.name}' is not '{scenario.name}': expected variants of the "
                "plant being forecast"
            )
    end = state.time + horizon_h

    def until_end(plant: Scenario) -> Scenario:
        sim = plant.simulation.model_copy(update={"horizon": end, "warmup": 0.0})
        return plant.model_copy(update={"simulation": sim})

    sc = until_end(scenario)
    plants = [until_end(m) for m in members] or [sc]
    made = {o.id: o.made for o in state.orders.values()}
    keys = {b.id: b.key for b in state.batches.values()}
    ex = executor or InProcess()
    parts = max(1, min(replications, 4 * getattr(ex, "workers", 1)))
    sdata = state.to_dict()
    pdata = plan.to_dict() if plan is not None else None
    chunks = []
    for m, plant in enumerate(plants):
        data = plant.to_dict()
        reps = range(m, replications, len(plants))
        split = max(1, min(len(reps), parts // len(plants)))
        for k in range(split):
            if reps[k::split]:
                chunks.append(_Chunk(data, sdata, pdata, seed, tuple(reps[k::split]), made, keys))
    results: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for part in ex.map_unordered(_run_chunk, chunks):
        for rep, kpis, m in part:
            if m["model"] != model_hash():
                raise ExperimentError(
                    "a worker runs different twin code from this process: install the same "
                    "pharmatwin on all workers"
                )
            results[rep] = (kpis, m)
        if progress is not None:
            progress(len(results), replications)
    measured = [results[r][1] for r in range(replications)]
    known = _known_orders(sc, state, end)
    order_preds = []
    for oid, (due, _product) in known.items():
        times = [m["orders"].get(oid) for m in measured]
        order_preds.append(_predict(oid, oid, due, times, end))
    batch_keys = _known_batches(sc, state, known)
    batch_preds = []
    for key, oid in batch_keys.items():
        times = [m["batches"].get(key) for m in measured]
        batch_preds.append(_predict(key, oid, known[oid][0], times, end))
    order_preds.sort(key=lambda p: p.at_risk_key)
    batch_preds.sort(key=lambda p: p.at_risk_key)
    flat = [flatten_kpis(results[r][0]) for r in range(replications)]
    names = [n for n in FORECAST_KPIS if any(n in f for f in flat)]
    kpis = {n: i.to_dict() for n, i in summarize(flat, names).items()}
    return Forecast(
        scenario.name,
        scenario.start,
        state.time,
        horizon_h,
        replications,
        seed,
        tuple(order_preds),
        tuple(batch_preds),
        kpis,
        {"state_source": state.source, **({"members": len(members)} if members else {})},
    )


def _known_orders(sc: Scenario, state: PlantState, end: float) -> dict[str, tuple[float, str]]:
    """Orders the forecast can name: open in the state, or fixed in the scenario and released
    within the horizon (generated future orders differ from one replication to the next)."""
    out = {o.id: (o.due, o.product) for o in state.orders.values() if o.completed is None}
    for o in sc.orders:
        if state.time < float(o.release) <= end and o.id not in state.orders:
            out[o.id] = (float(o.due), o.product)
    return out


def _known_batches(sc: Scenario, state: PlantState, known: dict[str, Any]) -> dict[str, str]:
    """Batch keys of the known orders: those on the floor and those still to be made."""
    out = {b.key: b.order for b in state.batches.values() if b.order in known}
    for oid in known:
        o = state.orders.get(oid)
        if o is not None:
            for k in range(o.made + 1, o.batches_needed + 1):
                out[f"{oid}/{k}"] = oid
        else:
            spec = next(x for x in sc.orders if x.id == oid)
            n = max(1, math.ceil(spec.quantity / sc.products[spec.product].batch_size - 1e-9))
            for k in range(1, n + 1):
                out[f"{oid}/{k}"] = oid
    return out


def _predict(pid: str, order: str, due: float, times: list[float | None], end: float) -> Prediction:
    n = len(times)
    done = np.array([t for t in times if t is not None], dtype=float)
    beyond = (n - len(done)) / n
    # decided in every replication (late if not done by its due date within the horizon);
    # otherwise due after the horizon and not done by then in some replications: no answer yet
    decided = due <= end + 1e-9 or beyond == 0
    p_on = float(np.sum(done <= due + 1e-9)) / n if decided else None

    def q(p: float) -> float | None:
        # percentiles over all replications, the unfinished ones counted as after the horizon
        k = p * (n - 1)
        if math.ceil(k) >= len(done):
            return None
        ordered = np.sort(done)
        lo, hi = ordered[int(math.floor(k))], ordered[int(math.ceil(k))]
        return float(lo + (hi - lo) * (k - math.floor(k)))

    return Prediction(
        pid,
        order,
        due,
        p_on,
        float(done.mean()) if beyond == 0 and len(done) else None,
        q(0.1),
        q(0.5),
        q(0.9),
        beyond,
        n,
    )


# ---------------------------------------------------------------------- the run store
FORECASTS = "forecasts"
"""Folder of the run store where forecasts are kept: ``runs/forecasts/<id>/forecast.json``
(and ``state.json``, the state it started from)."""


def save_forecast(root: str | Path, fc: Forecast, state: PlantState | None = None) -> str:
    """File a forecast in the run store at ``root``; returns its id. Written in a temporary
    folder and renamed, so it appears whole or not at all."""
    import secrets
    import shutil
    import tempfile

    from twin.store import json_safe

    base = Path(root) / FORECASTS
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    fid = f"{stamp}-{fc.scenario}-{secrets.token_hex(3)}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{fid}.", dir=base))
    try:
        data = {
            **fc.to_dict(),
            "id": fid,
            "created": dt.datetime.now().isoformat(timespec="seconds"),
        }
        (tmp / "forecast.json").write_text(json.dumps(json_safe(data), indent=1))
        if state is not None:
            (tmp / "state.json").write_text(json.dumps(state.to_dict(), indent=1))
        tmp.rename(base / fid)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return fid


def list_forecasts(root: str | Path) -> list[dict[str, Any]]:
    """The stored forecasts, oldest first: id, scenario, at, horizon, replications, created."""
    base = Path(root) / FORECASTS
    out = []
    if base.is_dir():
        for d in sorted(base.iterdir()):
            f = d / "forecast.json"
            if d.name.startswith(".") or not f.is_file():
                continue
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            out.append(
                {
                    k: data.get(k)
                    for k in ("id", "scenario", "at", "horizon_h", "replications", "created")
                }
            )
    return out


def load_forecast(root: str | Path, fid: str) -> dict[str, Any]:
    """A stored forecast as its JSON (``Forecast.to_dict`` form); ValueError if unknown."""
    f = Path(root) / FORECASTS / fid / "forecast.json"
    if "/" in fid or fid.startswith(".") or not f.is_file():
        raise ForecastError(f"forecast {fid!r}: not in the store {root}; expected one of its ids")
    return json.loads(f.read_text(encoding="utf-8"))
