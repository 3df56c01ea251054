"""Makespan scheduling of job shops and flexible job shops: `solve_shop(instance) -> ShopResult`.

Three stages share the time budget:

1. priority dispatching (Giffler-Thompson, several rules, best kept) gives a feasible schedule
   in milliseconds (`optimizer.shop_dispatch`);
2. tabu search on the critical path improves it (`optimizer.shop_tabu`);
3. a disjunctive MILP, warm-started from the best schedule with its big-M values tightened to
   that makespan, polishes it and proves a lower bound (`optimizer.shop_milp`).

With one thread the tabu search gets the first 60% of the budget (less if it stalls), the MILP
the rest, and the tabu search again any time the MILP leaves. With two or more threads a second
process runs the MILP once the tabu search has had a short head start, then a second tabu search
with another seed; the main tabu search continues beside it and whichever proves or improves
first wins. Every stage stops as soon as the makespan meets the lower bound. The returned
schedule is always checked by `check_schedule`, which shares no code with the search.
"""

from __future__ import annotations

import heapq
import math
import multiprocessing
import random
import time
from dataclasses import dataclass
from typing import Any, Literal

from optimizer.formats import ShopInstance
from optimizer.shop_dispatch import best_dispatch, makespan_of
from optimizer.shop_graph import FlatShop, ScheduleRow, Sequencing, to_schedule
from optimizer.shop_tabu import TabuParams, tabu_search
from optimizer.solvers import DEFAULT_SOLVER, SolveResult, SolverOptions, check_solver

__all__ = [
    "ShopInstance",
    "ShopResult",
    "check_schedule",
    "shop_lower_bound",
    "solve_shop",
]

ShopStatus = Literal["optimal", "feasible", "time_limit"]

_TABU_SHARE = 0.6
"""Share of the budget for the tabu search when the MILP runs after it (one thread)."""
_HEAD_START = 0.08
"""Share of the budget (at most 5 s) the tabu search runs alone before the parallel MILP."""
_PATIENCE = 0.02
"""The head start ends early when the best makespan has not changed for this share of the
budget (at least 0.2 s)."""
_SEQUENTIAL_PATIENCE = 0.1
"""With one thread the first tabu phase also ends when it has not improved for this share of the
budget (at least 0.5 s)."""
_MILP_SHARE = 0.5
"""Share of the time left after the head start that the parallel MILP may use."""
_MIN_MILP_SECONDS = 0.5


@dataclass(frozen=True)
class ShopResult:
    """Best schedule found, a proven lower bound and how the run ended.

    `status` is "optimal" when the makespan equals the lower bound, "time_limit" when the clock
    stopped the search, "feasible" when an iteration or node limit did. `schedule` rows are
    `(job, operation, machine, start, end)`, sorted by job and operation.
    """

    instance: str
    makespan: int
    lower_bound: int
    status: ShopStatus
    seconds: float
    schedule: tuple[ScheduleRow, ...]
    found_by: str
    """"dispatch", "tabu" or "milp": the stage that found the returned schedule."""
    tabu_iterations: int
    milp_status: str | None
    """Status of the MILP run, None when it did not run."""

    @property
    def gap(self) -> float:
        """Relative optimality gap `(makespan - lower_bound) / makespan`."""
        return (self.makespan - self.lower_bound) / self.makespan if self.makespan else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "instance": self.instance,
            "makespan": self.makespan,
            "lower_bound": self.lower_bound,
            "gap": self.gap,
            "status": self.status,
            "seconds": self.seconds,
            "found_by": self.found_by,
            "tabu_iterations": self.tabu_iterations,
            "milp_status": self.milp_status,
            "schedule": [
                {"job": j, "operation": i, "machine": k, "start": s, "end": e}
                for j, i, k, s, e in self.schedule
            ],
        }


# ------------------------------------------------------------------------------ checking
def check_schedule(instance: ShopInstance, schedule: tuple[ScheduleRow, ...] | list) -> list[str]:
    """Every violation of `schedule` against `instance` (empty when the schedule is valid).

    Checks that each operation appears exactly once, on an eligible machine, for exactly its
    duration there, not before time 0, after its job predecessor, and that no two operations
    overlap on a machine.
    """
    problems: list[str] = []
    seen: dict[tuple[int, int], tuple[int, int, int]] = {}
    by_machine: dict[int, list[tuple[int, int, int, int]]] = {}
    for row in schedule:
        if len(row) != 5:
            problems.append(f"row {row!r} does not have 5 fields (job, op, machine, start, end).")
            continue
        job, op, machine, start, end = row
        if not (0 <= job < instance.n_jobs and 0 <= op < len(instance.jobs[job])):
            problems.append(f"row {row!r} names an operation that does not exist.")
            continue
        if (job, op) in seen:
            problems.append(f"job {job} operation {op} is scheduled more than once.")
            continue
        seen[job, op] = (machine, start, end)
        durations = dict(instance.jobs[job][op])
        if machine not in durations:
            problems.append(
                f"job {job} operation {op} runs on machine {machine}, which is not eligible "
                f"(eligible: {sorted(durations)})."
            )
        elif end - start != durations[machine]:
            problems.append(
                f"job {job} operation {op} lasts {end - start} on machine {machine}; "
                f"its duration there is {durations[machine]}."
            )
        if start < 0:
            problems.append(f"job {job} operation {op} starts at {start} < 0.")
        by_machine.setdefault(machine, []).append((start, end, job, op))
    for j, job_ops in enumerate(instance.jobs):
        for i in range(len(job_ops)):
            if (j, i) not in seen:
                problems.append(f"job {j} operation {i} is missing from the schedule.")
            elif i > 0 and (j, i - 1) in seen and seen[j, i][1] < seen[j, i - 1][2]:
                problems.append(
                    f"job {j} operation {i} starts at {seen[j, i][1]}, before operation "
                    f"{i - 1} of the job ends at {seen[j, i - 1][2]}."
                )
    for machine, intervals in sorted(by_machine.items()):
        intervals.sort()
        latest: tuple[int, int, int, int] | None = None
        for iv in intervals:
            if latest is not None and iv[0] < latest[1]:
                problems.append(
                    f"machine {machine}: job {iv[2]} operation {iv[3]} [{iv[0]}, {iv[1]}) "
                    f"overlaps job {latest[2]} operation {latest[3]} [{latest[0]}, {latest[1]})."
                )
            if latest is None or iv[1] > latest[1]:
                latest = iv
    return problems


# ---------------------------------------------------------------------------- lower bound
def shop_lower_bound(instance: ShopInstance) -> int:
    """A valid lower bound on the makespan, computed in milliseconds.

    The largest of: the longest job (minimum durations), the total minimum work spread evenly
    over the machines, and for every machine the one-machine preemptive bound (Jackson's
    preemptive schedule) of the operations that can only run there, with heads and tails from
    the minimum durations of their jobs.
    """
    min_dur = [[min(d for _, d in op) for op in job] for job in instance.jobs]
    bound = max(sum(d) for d in min_dur)
    total = sum(sum(d) for d in min_dur)
    bound = max(bound, -(-total // instance.n_machines))
    fixed: dict[int, list[tuple[int, int, int]]] = {}
    for job, durs in zip(instance.jobs, min_dur, strict=True):
        head = 0
        tail = sum(durs)
        for op, d in zip(job, durs, strict=True):
            tail -= d
            if len(op) == 1:
                fixed.setdefault(op[0][0], []).append((head, op[0][1], tail))
            head += d
    for ops in fixed.values():
        bound = max(bound, _preemptive_one_machine(ops))
    return bound


def _preemptive_one_machine(ops: list[tuple[int, int, int]]) -> int:
    """max_o (completion + tail) of the preemptive schedule that always runs the longest tail."""
    ops = sorted(ops)
    t = 0
    i = 0
    ready: list[list[int]] = []  # [-tail, remaining]
    value = 0
    while i < len(ops) or ready:
        if not ready and t < ops[i][0]:
            t = ops[i][0]
        while i < len(ops) and ops[i][0] <= t:
            head, dur, tail = ops[i]
            heapq.heappush(ready, [-tail, dur])
            i += 1
        top = ready[0]
        next_release = ops[i][0] if i < len(ops) else math.inf
        run = min(top[1], next_release - t)
        t += run
        top[1] -= run
        if top[1] == 0:
            heapq.heappop(ready)
            value = max(value, t - top[0])
    return int(value)


# ---------------------------------------------------------------------------------- solve
@dataclass
class _Best:
    """Best sequencing so far and where it came from (mutable run bookkeeping)."""

    seq: Sequencing
    makespan: int
    found_by: str

    def offer(self, seq: Sequencing, makespan: int, found_by: str) -> bool:
        if makespan < self.makespan:
            self.seq, self.makespan, self.found_by = seq, makespan, found_by
            return True
        return False


def solve_shop(
    instance: ShopInstance,
    time_limit: float = 60.0,
    seed: int = 0,
    threads: int = 1,
    solver: str = DEFAULT_SOLVER,
    node_limit: int | None = None,
    *,
    iterations: int | None = None,
    use_milp: bool = True,
    tabu: TabuParams = TabuParams(),
) -> ShopResult:
    """Minimise the makespan of `instance` within `time_limit` seconds.

    `threads=1` runs everything in this process; `threads>=2` adds a second process that runs
    the MILP (HiGHS gets `threads - 1` threads) and then a second tabu search. `iterations` caps
    the tabu search and `node_limit` the MILP branch and bound; with both set and `threads=1`
    the result depends only on `seed` (unless the clock stops a stage first). `solver` names the
    MILP solver (see `optimizer.solvers`); `use_milp=False` skips the MILP. Raises
    `SolverUnavailableError` at once when the solver cannot run here.
    """
    started = time.perf_counter()
    if not (isinstance(time_limit, int | float) and time_limit > 0):
        raise ValueError(f'"time_limit" must be > 0 seconds, got {time_limit!r}.')
    if not (isinstance(threads, int) and threads >= 1):
        raise ValueError(f'"threads" must be an integer >= 1, got {threads!r}.')
    if not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f'"seed" must be an integer >= 0, got {seed!r}.')
    if iterations is not None and not (isinstance(iterations, int) and iterations >= 1):
        raise ValueError(f'"iterations" must be an integer >= 1 or None, got {iterations!r}.')
    if use_milp:
        check_solver(solver)
    milp_options = SolverOptions(
        name=solver, time_limit=time_limit, threads=1, seed=seed, node_limit=node_limit
    )
    deadline = started + time_limit
    flat = FlatShop.of(instance)
    lower = shop_lower_bound(instance)
    rng = random.Random(seed)
    seq, cmax = best_dispatch(flat, rng)
    best = _Best(seq, cmax, "dispatch")
    run = _Run(flat, rng, tabu, deadline, iterations, best, lower)
    if best.makespan > lower:
        # a daemonic process (a multiprocessing.Pool or dask worker) may not start children
        if use_milp and threads >= 2 and not multiprocessing.current_process().daemon:
            milp_options = SolverOptions(
                name=solver,
                time_limit=time_limit,
                threads=threads - 1,
                seed=seed,
                node_limit=node_limit,
            )
            run.parallel(started, time_limit, milp_options, seed)
        else:
            run.sequential(started, time_limit, milp_options if use_milp else None)
    return _finish(instance, flat, run, started)


def _milp_setup_seconds(flat: FlatShop) -> float:
    """Rough time to import Pyomo, build the MILP and hand it to the solver (0.4 ms a pair)."""
    per_machine = [0] * flat.n_machines
    for alts in flat.alternatives:
        for k, _ in alts:
            per_machine[k] += 1
    pairs = sum(c * (c - 1) // 2 for c in per_machine)
    return 0.5 + 0.0004 * pairs


class _Run:
    """Bookkeeping of one `solve_shop` call: best solution, bound, limits hit."""

    def __init__(self, flat, rng, tabu, deadline, iterations, best: _Best, lower: int) -> None:
        self.flat = flat
        self.rng = rng
        self.tabu = tabu
        self.deadline = deadline
        self.iterations_left = iterations
        self.best = best
        self.lower = lower
        self.tabu_iterations = 0
        self.clock_stopped = False
        self.milp_status: str | None = None
        self.milp_setup = _milp_setup_seconds(flat)

    def tabu_until(self, deadline: float, poll=None) -> str:
        out = tabu_search(
            self.flat,
            self.best.seq,
            self.rng,
            lower_bound=self.lower,
            max_iterations=self.iterations_left,
            deadline=min(deadline, self.deadline),
            poll=poll,
            params=self.tabu,
        )
        self.tabu_iterations += out.iterations
        if self.iterations_left is not None:
            self.iterations_left = max(0, self.iterations_left - out.iterations)
        self.best.offer(out.best, out.makespan, "tabu")
        if out.stopped_by == "time" and deadline >= self.deadline:
            self.clock_stopped = True
        return out.stopped_by

    def take_milp(self, result: SolveResult, seq: Sequencing | None) -> None:
        self.milp_status = result.status
        if result.status == "time_limit":
            self.clock_stopped = True
        if seq is not None:
            try:
                cmax = makespan_of(self.flat, seq)
            except ValueError:
                cmax = None
            if cmax is not None:
                self.best.offer(seq, cmax, "milp")
        if result.status == "optimal" and result.objective is not None:
            self.lower = max(self.lower, math.ceil(result.objective - 1e-6))
        elif result.bound is not None:
            self.lower = max(self.lower, math.ceil(result.bound - 1e-6))
        self.lower = min(self.lower, self.best.makespan)

    def sequential(self, started: float, time_limit: float, milp: SolverOptions | None) -> None:
        """Tabu search, then the MILP, then the tabu search again with whatever time is left.

        The first tabu phase ends at its share of the budget or when it stops improving.
        """
        if milp is None:
            self.tabu_until(self.deadline)
            return
        # with an iteration limit the run must not depend on the clock: no stagnation test
        patience = max(0.5, _SEQUENTIAL_PATIENCE * time_limit)
        poll = _stagnation(patience) if self.iterations_left is None else None
        self.tabu_until(started + _TABU_SHARE * time_limit, poll=poll)
        if self._proven():
            return
        if self.deadline - time.perf_counter() < _MIN_MILP_SECONDS + 2 * self.milp_setup:
            self.tabu_until(self.deadline)  # too little time to build and solve the MILP
            return
        from optimizer.shop_milp import solve_milp

        rows = to_schedule(self.flat, self.best.seq)
        outcome = solve_milp(self.flat, rows, self.lower, milp, deadline=self.deadline)
        self.take_milp(outcome.result, outcome.sequencing)
        if self._proven() or self.iterations_left == 0:
            return
        if self.deadline - time.perf_counter() > 0.1:
            self.tabu_until(self.deadline)

    def parallel(self, started: float, time_limit: float, milp: SolverOptions, seed: int) -> None:
        """Tabu search alone for a head start, then beside a second process.

        The second process first runs the MILP (at most half of the time left, which proves
        the small instances); if that ends without a proof it runs a second tabu search with
        another seed from the best schedule known then, until the deadline.
        """
        head_start = started + min(_HEAD_START * time_limit, 5.0)
        self.tabu_until(head_start, poll=_stagnation(max(0.2, _PATIENCE * time_limit)))
        if self._proven():
            return
        left = self.deadline - time.perf_counter()
        if left < _MIN_MILP_SECONDS + 2 * self.milp_setup:
            self.tabu_until(self.deadline)  # too little time to build and solve the MILP
            return
        milp_seconds = left if self.iterations_left is not None else _MILP_SHARE * left
        rows = to_schedule(self.flat, self.best.seq)
        worker = _Worker(_milp_child, (self.flat.instance, rows, self.lower, milp, milp_seconds))
        helper_seed = seed * 7919 + 1
        try:
            while True:
                stopped = self.tabu_until(self.deadline, poll=lambda _best, w=worker: w.ready())
                if stopped != "poll":
                    break
                kind, *payload = worker.message()
                worker.stop()
                if kind == "milp":
                    self.take_milp(*payload)
                elif kind == "tabu":
                    self.best.offer(payload[1], payload[0], "tabu")
                if self._proven():
                    return
                left = self.deadline - time.perf_counter()
                if kind == "milp" and left > _MIN_MILP_SECONDS and self.iterations_left is None:
                    worker = _Worker(
                        _tabu_child,
                        (
                            self.flat.instance,
                            self.best.seq,
                            self.lower,
                            helper_seed,
                            left - 0.05,
                            self.tabu,
                        ),
                    )
            if not self._proven() and worker.alive():
                # the tabu search may have stopped on its iteration limit: the helper keeps the
                # rest of the budget, plus a little grace for its own clock checks
                grace = min(0.5 + 0.02 * time_limit, 0.08 * time_limit)
                if worker.wait(max(0.0, self.deadline - time.perf_counter()) + grace):
                    kind, *payload = worker.message()
                    if kind == "milp":
                        self.take_milp(*payload)
                    elif kind == "tabu":
                        self.best.offer(payload[1], payload[0], "tabu")
                else:
                    self.clock_stopped = True
        finally:
            worker.stop()

    def _proven(self) -> bool:
        """True when the best makespan meets the lower bound."""
        return self.best.makespan <= self.lower


def _stagnation(patience: float):
    """A tabu `poll` that stops the search once its best has not changed for `patience` s."""
    last = [-1, time.perf_counter()]

    def stagnated(best: int) -> bool:
        now = time.perf_counter()
        if best != last[0]:
            last[:] = [best, now]
        return now - last[1] > patience

    return stagnated


class _Worker:
    """A child process that sends back one message through a pipe."""

    def __init__(self, target, args: tuple) -> None:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self._conn, child = ctx.Pipe(duplex=False)
        self._message: tuple | None = None
        self._process = ctx.Process(target=target, args=(child, *args), daemon=True)
        self._process.start()
        child.close()

    def ready(self) -> bool:
        """True once, when the message has just arrived."""
        if self._message is not None:
            return False
        if self._conn.poll():
            self._receive()
            return True
        return False

    def _receive(self) -> None:
        try:
            self._message = self._conn.recv()
        except (EOFError, OSError):
            self._message = ("error", "the helper process ended without an answer")

    def alive(self) -> bool:
        return self._message is None

    def wait(self, seconds: float) -> bool:
        if self._message is None and self._conn.poll(seconds):
            self._receive()
        return self._message is not None

    def message(self) -> tuple:
        assert self._message is not None
        return self._message

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=5)
        self._conn.close()


def _milp_child(conn, instance, rows, lower, options: SolverOptions, seconds: float) -> None:
    """Child process: solve the MILP, send ("milp", SolveResult, Sequencing | None)."""
    deadline = time.perf_counter() + seconds
    try:
        from optimizer.shop_milp import solve_milp

        outcome = solve_milp(FlatShop.of(instance), rows, lower, options, deadline=deadline)
        conn.send(("milp", outcome.result, outcome.sequencing))
    except Exception as exc:  # report, never leave the parent waiting
        result = SolveResult("error", None, None, None, 0.0, options.name, repr(exc))
        conn.send(("milp", result, None))
    finally:
        conn.close()


def _tabu_child(conn, instance, start, lower, seed, seconds, params) -> None:
    """Child process: a tabu search with its own seed, send ("tabu", makespan, Sequencing)."""
    deadline = time.perf_counter() + seconds
    try:
        flat = FlatShop.of(instance)
        out = tabu_search(
            flat, start, random.Random(seed), lower_bound=lower, deadline=deadline, params=params
        )
        conn.send(("tabu", out.makespan, out.best))
    except Exception as exc:
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


def _finish(instance: ShopInstance, flat: FlatShop, run: _Run, started: float) -> ShopResult:
    rows = to_schedule(flat, run.best.seq)
    problems = check_schedule(instance, rows)
    if problems:
        raise RuntimeError(
            "internal error: the best schedule failed verification: " + "; ".join(problems[:5])
        )
    makespan = max(r[4] for r in rows)
    lower = min(run.lower, makespan)
    if makespan <= lower:
        status: ShopStatus = "optimal"
    elif run.clock_stopped:
        status = "time_limit"
    else:
        status = "feasible"
    return ShopResult(
        instance=instance.name,
        makespan=makespan,
        lower_bound=lower,
        status=status,
        seconds=time.perf_counter() - started,
        schedule=rows,
        found_by=run.best.found_by,
        tabu_iterations=run.tabu_iterations,
        milp_status=run.milp_status,
    )
