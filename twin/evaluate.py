"""Replications of scenarios, run as one batch on any executor: how other packages run the twin.

``replicate(scenarios, seeds)`` simulates every scenario with every seed (and replication
index), fanned out on an executor of :mod:`twin.executors` (in-process by default, a local
process pool on all cores, or Dask), and returns one :class:`Replication` per run in a fixed
order, whichever finished first. Each run is a :class:`twin.experiment.Task` run by
:func:`twin.experiment.run_task`, as in experiments, so the same scenario, seed and replication
give the same event log here as with ``simulate`` or ``twin run``.

What a caller needs from a run is usually small (a few figures from the event log), while the
log of a plant-year holds hundreds of thousands of events. ``measure(events, kpis)`` is
therefore called in the worker, next to the log, and only what it returns travels back; the
log itself comes back only with ``keep_events``. On a process pool or Dask, ``measure`` must be
picklable: a module-level function, or a ``functools.partial`` of one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from twin.experiment import ExperimentError, Task, TaskResult, model_hash, run_task

if TYPE_CHECKING:
    from twin.executors import Executor
    from twin.plan import Plan
    from twin.scenario import Scenario
    from twin.state import PlantState

__all__ = ["Measure", "Replication", "replicate", "rule_sequences"]

Measure = Callable[[pa.Table, dict[str, Any]], Any]
"""``measure(events, kpis) -> anything picklable``, called in the worker after each run."""


@dataclass(frozen=True)
class Replication:
    """One run of ``replicate``: which scenario (its index in the list given), seed and
    replication; its KPIs, what ``measure`` returned (None without one), and the event log
    when it was kept."""

    scenario: int
    seed: int
    replication: int
    kpis: dict[str, Any]
    measured: Any
    wall_seconds: float
    events_ipc: bytes | None = None

    def events(self) -> pa.Table:
        """The event log (only with ``replicate(..., keep_events=True)``)."""
        if self.events_ipc is None:
            raise ValueError("this replication was run without keeping its event log")
        return pa.ipc.open_stream(self.events_ipc).read_all()


@dataclass(frozen=True)
class _Job:
    """A task and what to do with its result in the worker (plain data, picklable)."""

    scenario: int
    task: Task
    measure: Measure | None
    keep_events: bool


def _run(job: _Job) -> tuple[Replication, str, str]:
    res: TaskResult = run_task(job.task)
    measured = job.measure(res.events(), res.kpis) if job.measure is not None else None
    rep = Replication(
        job.scenario,
        res.seed,
        res.replication,
        res.kpis,
        measured,
        res.wall_seconds,
        res.events_ipc if job.keep_events else None,
    )
    return rep, res.model, res.host


def replicate(
    scenarios: Sequence[Scenario],
    seeds: Sequence[int] = (0,),
    replications: int = 1,
    *,
    plan: Plan | None = None,
    state: PlantState | None = None,
    measure: Measure | None = None,
    keep_events: bool = False,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Replication]:
    """Simulate each scenario with each seed and replication index ``0..replications-1``.

    Returns the runs ordered by scenario, then seed, then replication. ``plan`` is followed
    by every run (as ``simulate(..., plan=plan)``); with ``state`` every run starts from that
    plant state (``simulate(..., state=state)``). ``progress(done, total)`` is called as
    runs finish. Runs in this process unless an ``executor`` is given (the caller opens and
    closes it). Raises ``ExperimentError`` if a worker runs other twin code than this process.
    """
    if replications < 1:
        raise ExperimentError(f"replications: bad value {replications}: expected at least 1")
    options: dict[str, Any] = {}
    if plan is not None:
        options["plan"] = plan.to_dict()
    if state is not None:  # every run starts from this plant state (a warm start)
        options["state"] = state.to_dict()
    runs_events = keep_events or measure is not None
    jobs = []
    for s, scenario in enumerate(scenarios):
        data = scenario.to_dict()
        for seed in seeds:
            for r in range(replications):
                task = Task(f"{s}:{seed}:{r}", data, int(seed), r, runs_events, options or None)
                jobs.append(_Job(s, task, measure, keep_events))
    total = len(jobs)
    if progress is not None:
        progress(0, total)
    if executor is None:
        from twin.executors import InProcess

        executor = InProcess()
    order = {(j.scenario, j.task.seed, j.task.replication): k for k, j in enumerate(jobs)}
    out: list[Replication | None] = [None] * total
    for done, (rep, model, host) in enumerate(executor.map_unordered(_run, jobs), start=1):
        if model != model_hash():
            raise ExperimentError(
                f"worker {host} runs different twin code (model {model}) from this process "
                f"({model_hash()}): the source changed while running, or the workers have "
                "another version; install the same pharmatwin on all"
            )
        out[order[(rep.scenario, rep.seed, rep.replication)]] = rep
        if progress is not None:
            progress(done, total)
    return [rep for rep in out if rep is not None]


def rule_sequences(
    scenario: Scenario, rules: Sequence[str], state: PlantState | None = None
) -> dict[str, list[tuple[str, int]]]:
    """The order in which each dispatch rule claims units for the steps left to do when every
    duration is at its mean and nothing fails (``twin.deterministic.with_mean_durations``),
    from the empty plant or from ``state``: per rule, (batch key "order/index", step) in the
    order the units were claimed (for cleaning, setup or processing).

    A planner starts its search from these (a rollout of each rule): what the plant would do
    without a plan is then always among the plans it weighs. A deterministic run of a month
    of the reference plant takes a few hundredths of a second."""
    from twin.deterministic import with_mean_durations
    from twin.dispatch import make_policy
    from twin.kpi import LogView
    from twin.simulate import simulate

    det = with_mean_durations(scenario)
    made = {o.id: o.made for o in state.orders.values()} if state is not None else {}
    out: dict[str, list[tuple[str, int]]] = {}
    for rule in rules:
        run = simulate(det, seed=0, policy=make_policy(rule), state=state)
        v = LogView(run.events)
        keys: dict[int, str] = {}
        if state is not None:
            keys = {b.id: b.key for b in state.batches.values()}
        count = dict(made)
        rel, st = v.kind("batch_release"), v.kind("step_start")
        rt, rb, ro = v.t[rel].tolist(), v.batch[rel].tolist(), v.strings("order", rel)
        events = [(t, 0, b, o) for t, b, o in zip(rt, rb, ro, strict=True)]
        # a step is placed when its unit is claimed: at its cleaning, setup or start
        events += [(t, 1, b, None) for t, b in _rows(v, "clean_start") if b >= 0]
        events += [(t, 1, b, None) for t, b in _rows(v, "setup")]
        steps = zip(_rows(v, "step_start"), v.step[st].tolist(), strict=True)
        events += [(t, 2, b, s) for (t, b), s in steps]
        claimed: dict[int, float] = {}
        placed: list[tuple[float, str, int]] = []
        for t, what, b, x in sorted(events, key=lambda e: (e[0], e[1])):
            if what == 0:
                count[x] = count.get(x, 0) + 1
                keys[b] = f"{x}/{count[x]}"
            elif what == 1:
                claimed.setdefault(b, t)
            elif b in keys:
                placed.append((claimed.pop(b, t), keys[b], int(x)))
        out[rule] = [(k, s) for _t, k, s in sorted(placed, key=lambda p: p[0])]
    return out


def _rows(v: Any, kind: str) -> list[tuple[float, int]]:
    sel = v.kind(kind)
    return list(zip(v.t[sel].tolist(), v.batch[sel].tolist(), strict=True))
