"""Experiments: replications of scenario variants with common random numbers, KPI means with
confidence intervals, and paired differences between variants.

Common random numbers (CRN): every random stream of the model is derived from (seed,
replication, entity, purpose) (see :mod:`twin.streams`). Replication ``r`` of every variant of
an experiment therefore draws the same order arrivals, the same step durations for the same
batch and the same breakdowns for the same unit. A difference between two variants at the same
replication index is then mostly the effect of the change, not noise, and the paired-difference
interval is narrower than the one from independent runs.

A replication is a :class:`Task` of plain data (the resolved scenario as ``Scenario.to_dict()``,
seed, replication) run by :func:`run_task` on any executor of :mod:`twin.executors`; it returns
the KPIs and the event log as Arrow IPC bytes. :func:`run_experiment` fans the tasks out, writes
each result to a :class:`~twin.store.Store` as it arrives and skips replications the store
already holds (so an interrupted sweep resumes where it stopped).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import json
import math
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from twin.scenario import load_dict
from twin.simulate import simulate

if TYPE_CHECKING:
    from twin.executors import Executor
    from twin.store import Store
    from twin.variants import Variant

__all__ = [
    "DEFAULT_KPIS",
    "ExperimentError",
    "Interval",
    "Task",
    "TaskResult",
    "VariantRuns",
    "flatten_kpis",
    "select_kpis",
    "mean_ci",
    "paired_ci",
    "welch_ci",
    "summarize",
    "differences",
    "fingerprint",
    "model_hash",
    "run_task",
    "task_options",
    "store_run",
    "Experiment",
    "run_experiment",
    "MAX_REPLICATIONS",
    "MAX_SIMULATIONS",
]

DEFAULT_KPIS = (
    "otif_pct",
    "lead_time_h.mean",
    "lead_time_h.p95",
    "batches.qc_released",
    "makespan_h",
    "wip.mean",
    "energy_kwh.per_batch",
    "cleaning_share",
    "deviations.total",
)
PROCESS_DEFAULT_KPIS = (
    "demand_fill_pct",
    "batches.total",
    "discarded.total",
    "plan.on_time_pct",
    "plan.delay_mean_h",
)
"""The defaults of a process plant's runs (twin.process.kpi), shown where they exist."""
_NOT_KPIS = {"scenario", "seed", "replication"}

MAX_REPLICATIONS = 10_000
"""Replications of one scenario in one experiment."""
MAX_SIMULATIONS = 10_000
"""Simulations in one experiment (distinct variants x replications): every result's KPIs are
held in memory until the experiment ends (tens of kB each for a real plant)."""


class ExperimentError(ValueError):
    """A problem with what an experiment was asked to do (phrased for the user)."""


# --------------------------------------------------------------------------- KPI names
def flatten_kpis(kpis: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric scalar KPIs under dotted names (``oee.press_1.oee``); None and text are left out."""
    out: dict[str, float] = {}
    for key, value in kpis.items():
        if not prefix and key in _NOT_KPIS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_kpis(value, name + "."))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float | np.integer | np.floating):
            out[name] = float(value)
    return out


def select_kpis(
    flat: Sequence[Mapping[str, float]], patterns: Sequence[str] | None = None
) -> list[str]:
    """KPI names matching ``patterns`` (exact names or globs like ``oee.*.oee``), in pattern
    order. With no patterns: the defaults that exist. An unmatched pattern is an error."""
    names = sorted({n for d in flat for n in d})
    if not patterns:
        return [n for n in (*DEFAULT_KPIS, *PROCESS_DEFAULT_KPIS) if n in names]
    out: list[str] = []
    for pat in patterns:
        if not pat.strip():
            raise ExperimentError("--kpi: bad value '': expected a KPI name or a glob")
        hits = [pat] if pat in names else fnmatch.filter(names, pat)
        if not hits:
            shown = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
            raise ExperimentError(
                f"--kpi: bad value {pat!r}: no such KPI; expected one of: {shown}"
            )
        out.extend(h for h in hits if h not in out)
    return out


# --------------------------------------------------------------------------- intervals
@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided Student-t confidence interval (None when n < 2)."""

    mean: float | None
    low: float | None
    high: float | None
    sd: float | None
    n: int
    level: float = 0.95

    @property
    def half_width(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2

    def covers(self, value: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "half_width": self.half_width,
            "sd": self.sd,
            "n": self.n,
            "level": self.level,
        }


def _clean(values: Iterable[float | None]) -> np.ndarray:
    arr = np.array([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def _t(level: float, dof: float) -> float:
    """The Student-t quantile for a two-sided ``level`` interval: ``scipy.stats.t.ppf``'s own
    kernel, imported on use (``scipy.special`` loads in half the time of ``scipy.stats``)."""
    from scipy.special import stdtrit

    return float(stdtrit(dof, 0.5 + level / 2))


def mean_ci(values: Iterable[float | None], level: float = 0.95) -> Interval:
    """Mean and Student-t interval of independent observations (None/NaN are dropped)."""
    x = _clean(values)
    n = len(x)
    if n == 0:
        return Interval(None, None, None, None, 0, level)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, None, None, None, 1, level)
    sd = float(x.std(ddof=1))
    half = _t(level, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, sd, n, level)


def paired_ci(
    a: Sequence[float | None], b: Sequence[float | None], level: float = 0.95
) -> Interval:
    """Interval of the mean of ``b[i] - a[i]`` (pairs where both exist)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    diffs = [y - x for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return mean_ci(diffs, level)


def welch_ci(a: Iterable[float | None], b: Iterable[float | None], level: float = 0.95) -> Interval:
    """Interval of mean(b) - mean(a) for independent samples (Welch's unequal variances)."""
    x, y = _clean(a), _clean(b)
    if len(x) == 0 or len(y) == 0:
        return Interval(None, None, None, None, 0, level)
    diff = float(y.mean() - x.mean())
    n = min(len(x), len(y))
    if len(x) < 2 or len(y) < 2:
        return Interval(diff, None, None, None, n, level)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    if se == 0:
        return Interval(diff, diff, diff, 0.0, n, level)
    dof = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = _t(level, dof) * se
    return Interval(diff, diff - half, diff + half, se * math.sqrt(n), n, level)


def summarize(
    kpis: Sequence[Mapping[str, Any]], names: Sequence[str], level: float = 0.95
) -> dict[str, Interval]:
    """KPI name -> mean and interval over replications."""
    flat = [flatten_kpis(k) for k in kpis]
    return {n: mean_ci([f.get(n) for f in flat], level) for n in names}


def differences(
    base: Sequence[Mapping[str, Any]],
    other: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    level: float = 0.95,
    paired: bool = True,
) -> dict[str, Interval]:
    """KPI name -> interval of ``other - base``: paired by replication (common random numbers:
    the replications both have, matched by their ``replication`` KPI, or by position when the
    KPIs do not carry it) or, with ``paired=False``, as independent samples."""
    if paired and all("replication" in k for k in (*base, *other)):
        rb = {k["replication"]: k for k in other}
        pairs = [(k, rb[k["replication"]]) for k in base if k["replication"] in rb]
        base, other = [a for a, _ in pairs], [b for _, b in pairs]
    fa = [flatten_kpis(k) for k in base]
    fb = [flatten_kpis(k) for k in other]
    out = {}
    for n in names:
        a, b = [f.get(n) for f in fa], [f.get(n) for f in fb]
        if paired:
            m = min(len(a), len(b))
            out[n] = paired_ci(a[:m], b[:m], level)
        else:
            out[n] = welch_ci(a, b, level)
    return out


# --------------------------------------------------------------------------- identity
@functools.cache
def model_hash() -> str:
    """A hash of the model's source code: stored results are reused only by the same code."""
    from twin import __version__

    root = Path(__file__).parent
    h = hashlib.sha256(__version__.encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(scenario: Mapping[str, Any], seed: int, extra: Any = None) -> str:
    """What determines a run's results: resolved scenario, seed, model code (and ``extra``,
    plain data for anything else a run depends on, such as a plan it follows)."""
    ident: dict[str, Any] = {"scenario": scenario, "seed": seed, "model": model_hash()}
    if extra is not None:
        ident["extra"] = extra
    text = json.dumps(
        ident,
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Task:
    """One replication of one resolved scenario, as plain data for any executor."""

    key: str
    scenario: dict[str, Any]
    seed: int
    replication: int
    keep_events: bool = True
    options: dict[str, Any] | None = None  # simulate() options: plan (as data), planner, ...


@dataclass(frozen=True)
class TaskResult:
    key: str
    seed: int
    replication: int
    kpis: dict[str, Any]
    events_ipc: bytes | None
    n_events: int
    wall_seconds: float
    host: str = ""
    model: str = ""

    def events(self) -> pa.Table:
        """The event log (decoded from Arrow IPC)."""
        if self.events_ipc is None:
            raise ValueError("this result was computed without its event log")
        return pa.ipc.open_stream(self.events_ipc).read_all()


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def sim_kwargs(options: Mapping[str, Any] | None, replication: int = 0) -> dict[str, Any]:
    """simulate() keyword arguments from a task's options: the plan travels as plain data,
    a planner that knows replications is told which one it plans for."""
    if not options:
        return {}
    from twin.plan import plan_from_dict

    kwargs = dict(options)
    if kwargs.get("plan") is not None:
        kwargs["plan"] = plan_from_dict(kwargs["plan"], "<task plan>")
    if isinstance(kwargs.get("state"), Mapping):
        from twin.state import state_from_dict

        kwargs["state"] = state_from_dict(kwargs["state"], "<task state>")
    planner = kwargs.get("planner")
    if (
        planner is not None
        and dataclasses.is_dataclass(planner)
        and hasattr(planner, "replication")
    ):
        kwargs["planner"] = dataclasses.replace(planner, replication=replication)
    return kwargs


def task_options(options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """simulate() options as a task carries them: a plan as plain data (see
    :func:`sim_kwargs` for the way back)."""
    if not options:
        return None
    out = dict(options)
    for name in ("plan", "state"):
        value = out.get(name)
        if value is not None and not isinstance(value, Mapping):
            out[name] = value.to_dict()
    return out


def store_run(
    store: Store,
    variant: Variant,
    run: Any,
    options: Mapping[str, Any] | None = None,
    label: str | None = None,
) -> str:
    """File one simulated run (a :class:`twin.simulate.Run`) in the store; returns its run id.

    Without ``options`` the run entry with the same fingerprint (resolved scenario, seed,
    model code) is reused. A run that followed a plan (``options``: plan, re-planning) is a
    new entry every time: the plan is part of what the run is, and re-planning solves are
    time-limited, so two such runs need not agree. ``label`` (e.g. ``--plan plan.json``) is
    recorded with the overrides.
    """
    import secrets

    data = variant.data()
    if options:
        key = fingerprint(data, run.seed, extra={"plan": label, "run": secrets.token_hex(8)})
        if label:
            variant = dataclasses.replace(variant, overrides=(*variant.overrides, label))
        run_id = store.create_run(variant, data, run.seed, 1, key)
    else:
        key = fingerprint(data, run.seed)
        run_id = store.find(key) or store.create_run(variant, data, run.seed, 1, key)
    store.save_run(run_id, run)
    return run_id


def options_ident(options: Mapping[str, Any] | None) -> Any:
    """Plain data identifying simulate() options, for the run fingerprint."""
    if not options:
        return None
    return {k: (repr(v) if k == "planner" else v) for k, v in sorted(options.items())}


def run_task(task: Task) -> TaskResult:
    """Simulate one replication (in whatever process the executor chose)."""
    scenario = load_dict(task.scenario, source=f"<task {task.key[:8]}>")
    run = simulate(
        scenario,
        seed=task.seed,
        replication=task.replication,
        **sim_kwargs(task.options, task.replication),
    )
    return TaskResult(
        key=task.key,
        seed=task.seed,
        replication=task.replication,
        kpis=run.kpis,
        events_ipc=_ipc(run.events) if task.keep_events else None,
        n_events=run.events.num_rows,
        wall_seconds=run.wall_seconds,
        host=f"{socket.gethostname()}:{os.getpid()}",
        model=model_hash(),
    )


# --------------------------------------------------------------------------- experiments
@dataclass
class VariantRuns:
    """The replications of one variant: KPIs by replication index, and its stored run."""

    variant: Variant
    key: str
    kpis: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None
    reused: int = 0
    simulated: int = 0
    wall_seconds: float = 0.0


class Experiment:
    """Replications of variants with common random numbers, planned then run.

    Creating an Experiment only reads: it resolves what each variant needs and, with a store,
    which replications are already stored for the same scenario, seed and model code (those are
    reused, not simulated again, unless ``fresh``). :meth:`run` creates missing runs in the
    store, fans the remaining tasks out on an executor and saves each result as it arrives.
    Replication ``r`` of every variant uses seed ``seed`` and replication index ``r``;
    identical variants are simulated once.
    """

    def __init__(
        self,
        variants: Sequence[Variant],
        seed: int = 0,
        replications: int = 1,
        store: Store | None = None,
        fresh: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if not 1 <= replications <= MAX_REPLICATIONS:
            raise ExperimentError(
                f"--replications: bad value {replications}: expected 1 to "
                f"{MAX_REPLICATIONS:,} replications"
            )
        if not variants:
            raise ExperimentError("an experiment needs at least one variant")
        if len(variants) * replications > MAX_SIMULATIONS:
            raise ExperimentError(
                f"--replications: bad value {replications}: {len(variants):,} scenarios x "
                f"{replications:,} replications = {len(variants) * replications:,} "
                f"simulations; expected at most {MAX_SIMULATIONS:,} in one command (fewer "
                "points or replications; the store keeps what ran, so a larger study can be "
                "run in parts)"
            )
        self.variants = list(variants)
        self.seed, self.replications, self.store = seed, replications, store
        self._data = [v.data() for v in self.variants]
        self.options = dict(options) if options else None
        extra = options_ident(self.options)
        self._keys = [fingerprint(d, seed, extra) for d in self._data]
        self._first: dict[str, int] = {}  # key -> first variant with it
        for i, k in enumerate(self._keys):
            self._first.setdefault(k, i)
        self._done: dict[str, dict[int, dict[str, Any]]] = {k: {} for k in self._first}
        self._run_ids: dict[str, str] = {}
        if store is not None and not fresh:
            for k in self._first:
                run_id = store.find(k)
                if run_id is not None:
                    self._run_ids[k] = run_id
                    stored = store.kpis(run_id)
                    self._done[k] = {r: kp for r, kp in stored.items() if r < replications}
        self._reused = {k: len(d) for k, d in self._done.items()}

    @property
    def total(self) -> int:
        """Replications to have when done (identical variants counted once)."""
        return len(self._first) * self.replications

    @property
    def pending(self) -> list[Task]:
        """Replications still to simulate, replication-major (so an interrupted experiment
        has the same replications of every variant)."""
        return list(self.iter_pending())

    @property
    def pending_count(self) -> int:
        """How many replications are still to simulate (without building the tasks)."""
        return self.total - sum(len(d) for d in self._done.values())

    def iter_pending(self) -> Iterator[Task]:
        """The pending tasks, built one at a time as an executor asks for them."""
        keep = self.store is not None
        for r in range(self.replications):
            for k, i in self._first.items():
                if r not in self._done[k]:
                    yield Task(
                        k, self._data[i], self.seed, r, keep_events=keep, options=self.options
                    )

    def run(
        self,
        executor: Executor | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[VariantRuns]:
        """Simulate what is pending (in-process when no executor is given)."""
        from twin.executors import InProcess

        store = self.store
        pending = self.pending_count
        tasks = self.iter_pending()
        if store is not None:
            for k, i in self._first.items():
                if k in self._run_ids:
                    store.require(self._run_ids[k], self.replications)
                else:
                    self._run_ids[k] = store.create_run(
                        self.variants[i], self._data[i], self.seed, self.replications, k
                    )
        count = self.total - pending
        if progress is not None:
            progress(count, self.total)
        walls: dict[str, float] = dict.fromkeys(self._first, 0.0)
        if pending:
            ex = InProcess() if executor is None else executor
            for res in ex.map_unordered(run_task, tasks):
                if res.model != model_hash():
                    raise ExperimentError(
                        f"worker {res.host} runs different twin code (model {res.model}) from "
                        f"this process ({model_hash()}): the source changed while running, or "
                        "the workers have another version; install the same pharmatwin on all"
                    )
                if store is not None:
                    store.save(self._run_ids[res.key], res)
                self._done[res.key][res.replication] = res.kpis
                walls[res.key] += res.wall_seconds
                count += 1
                if progress is not None:
                    progress(count, self.total)
        out = []
        for v, k in zip(self.variants, self._keys, strict=True):
            d = self._done[k]
            out.append(
                VariantRuns(
                    v,
                    k,
                    [d[r] for r in range(self.replications)],
                    self._run_ids.get(k),
                    reused=self._reused[k],
                    simulated=self.replications - self._reused[k],
                    wall_seconds=walls[k],
                )
            )
        return out


def run_experiment(
    variants: Sequence[Variant],
    seed: int = 0,
    replications: int = 1,
    executor: Executor | None = None,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
    fresh: bool = False,
) -> list[VariantRuns]:
    """Run ``replications`` of every variant with common random numbers (see
    :class:`Experiment`); returns one :class:`VariantRuns` per variant, in order."""
    return Experiment(variants, seed, replications, store, fresh).run(executor, progress)
