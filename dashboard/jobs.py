"""Background what-if runs: each job runs an experiment in a thread of the server, on the
experiment executors (in this process for one replication, else a local process pool), saves
every replication to the run store as it finishes and reports its progress."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from twin.executors import Executor, InProcess, LocalPool, cpu_count
from twin.experiment import Experiment
from twin.store import Store
from twin.variants import Variant

__all__ = ["Job", "Jobs"]


@dataclass
class Job:
    id: int
    label: str
    replications: int
    done: int = 0
    total: int = 0
    state: str = "queued"  # queued | running | done | failed
    run_id: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None


class Jobs:
    """The what-if jobs of one dashboard (one store)."""

    def __init__(self, root: str, max_workers: int | None = None) -> None:
        self.root = root
        self.max_workers = max_workers or cpu_count()
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._one_at_a_time = threading.Semaphore(1)

    def submit(
        self, variant: Variant, seed: int, replications: int, plan_seconds: float | None = None
    ) -> int:
        """Start a job; returns its id at once. With ``plan_seconds`` the job first optimises
        a plan (that long) and every replication follows it."""
        label = (variant.name or "base") + (
            f", optimised plan ({plan_seconds:g} s)" if plan_seconds else ""
        )
        job = Job(next(self._ids), label, replications)
        with self._lock:
            self._jobs[job.id] = job
        threading.Thread(
            target=self._run,
            args=(job, variant, seed, replications, plan_seconds),
            daemon=True,
            name=f"what-if-{job.id}",
        ).start()
        return job.id

    def _executor(self, replications: int) -> Executor:
        workers = min(replications, self.max_workers)
        return InProcess() if workers <= 1 else LocalPool(workers)

    def _run(
        self, job: Job, variant: Variant, seed: int, replications: int, plan_seconds: float | None
    ) -> None:
        def progress(done: int, total: int) -> None:
            with self._lock:
                job.done, job.total = done, total

        with self._one_at_a_time:
            try:
                options = None
                if plan_seconds:
                    with self._lock:
                        job.state = "planning"
                    variant, options = _with_plan(variant, seed, plan_seconds)
                exp = Experiment(
                    [variant], seed, replications, store=Store(self.root), options=options
                )
                with self._lock:
                    job.state, job.total = "running", exp.total
                with self._executor(len(exp.pending)) as ex:
                    result = exp.run(ex, progress)
                with self._lock:
                    job.run_id = result[0].run_id
                    job.state = "done"
            except Exception as exc:  # shown on the page; the server keeps running
                with self._lock:
                    job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                job.finished = time.time()

    def list(self) -> list[dict[str, Any]]:
        """Every job, newest first, as plain data."""
        with self._lock:
            return [asdict(j) for j in sorted(self._jobs.values(), key=lambda j: -j.id)]

    def running(self) -> bool:
        with self._lock:
            return any(j.state in ("queued", "planning", "running") for j in self._jobs.values())


def _with_plan(variant: Variant, seed: int, seconds: float) -> tuple[Variant, dict[str, Any]]:
    """The variant with its orders fixed (as the plan knows them) and the options that make
    every replication follow an optimised plan: ``twin run --plan auto -n N`` through the same
    service (``optimizer.plan_commands.prepare_plan_run``), so both wire a plan alike."""
    import dataclasses

    from optimizer.plan_commands import prepare_plan_run
    from twin.experiment import task_options

    planned = prepare_plan_run(variant.scenario, seed, "auto", time_limit=seconds)
    label = planned.label or "--plan auto"
    variant = dataclasses.replace(
        variant,
        scenario=planned.scenario,
        overrides=(*variant.overrides, label),
        name=f"{variant.name or 'base'}, optimised plan ({seconds:g} s)",
    )
    return variant, task_options(planned.options) or {}
