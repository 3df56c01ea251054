"""Constructive schedules by priority dispatching (Giffler-Thompson active schedules).

At each step the operation/machine pair with the earliest possible completion `C*` fixes the
machine `k*`; every ready operation that could start on `k*` before `C*` is in conflict, and a
priority rule picks one of them. For a flexible shop a second variant first balances the machine
loads greedily and then dispatches with that assignment fixed. Each run takes milliseconds; the
best of several rules seeds the local search.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from optimizer.shop_graph import FlatShop, Sequencing, semi_active_starts

__all__ = ["RULES", "best_dispatch", "dispatch", "makespan_of"]

RULES = ("mwkr", "mopnr", "spt", "lpt", "lwkr", "fifo", "random")
"""Priority rules: most work remaining, most operations remaining, shortest/longest processing
time, least work remaining, earliest ready job, and uniform random."""


def makespan_of(flat: FlatShop, seq: Sequencing) -> int:
    """Makespan of the semi-active schedule of `seq` (which must be acyclic)."""
    starts = semi_active_starts(flat, seq)
    if starts is None:
        raise ValueError("cyclic machine sequences have no makespan.")
    return max(starts[o] + flat.duration_on[o][seq.machine_of[o]] for o in range(flat.n_ops))


def dispatch(
    flat: FlatShop,
    rule: str,
    rng: random.Random | None = None,
    assignment: tuple[int, ...] | None = None,
) -> Sequencing:
    """One Giffler-Thompson pass with `rule`; `assignment` fixes machines when given."""
    if rule not in RULES:
        raise ValueError(f'unknown dispatch rule "{rule}"; expected one of {", ".join(RULES)}.')
    if rule == "random" and rng is None:
        raise ValueError('the "random" rule needs an rng.')
    alts = flat.alternatives
    if assignment is not None:
        alts = tuple(((m, flat.duration_on[o][m]),) for o, m in enumerate(assignment))
    min_dur = [min(d for _, d in a) for a in alts]
    work_left = [0] * flat.n_ops
    ops_left = [0] * flat.n_ops
    for ids in flat.op_id:
        acc = 0
        for count, o in enumerate(reversed(ids), start=1):
            acc += min_dur[o]
            work_left[o] = acc
            ops_left[o] = count
    priority = _priority(rule, rng, work_left, ops_left)

    n_jobs = len(flat.op_id)
    next_index = [0] * n_jobs
    job_ready = [0] * n_jobs
    machine_ready = [0] * flat.n_machines
    machine_of = [0] * flat.n_ops
    sequences: list[list[int]] = [[] for _ in range(flat.n_machines)]
    open_jobs = [j for j in range(n_jobs) if flat.op_id[j]]
    while open_jobs:
        best_c, best_k = None, -1
        for j in open_jobs:
            o = flat.op_id[j][next_index[j]]
            for k, d in alts[o]:
                c = max(job_ready[j], machine_ready[k]) + d
                if best_c is None or c < best_c:
                    best_c, best_k = c, k
        conflict = []
        for j in open_jobs:
            o = flat.op_id[j][next_index[j]]
            for k, d in alts[o]:
                if k == best_k:
                    start = max(job_ready[j], machine_ready[k])
                    if start < best_c or start + d <= best_c:
                        conflict.append((o, j, d))
                    break
        o, j, d = min(conflict, key=lambda c: priority(c[0], c[2], job_ready[c[1]]))
        start = max(job_ready[j], machine_ready[best_k])
        job_ready[j] = machine_ready[best_k] = start + d
        machine_of[o] = best_k
        sequences[best_k].append(o)
        next_index[j] += 1
        if next_index[j] == len(flat.op_id[j]):
            open_jobs.remove(j)
    return Sequencing(tuple(machine_of), tuple(tuple(s) for s in sequences))


def _priority(
    rule: str, rng: random.Random | None, work_left: list[int], ops_left: list[int]
) -> Callable[[int, int, int], tuple]:
    """Sort key (smaller first) of operation `o` with duration `d` whose job is ready at `t`."""
    if rule == "mwkr":
        return lambda o, d, t: (-work_left[o], o)
    if rule == "mopnr":
        return lambda o, d, t: (-ops_left[o], -work_left[o], o)
    if rule == "spt":
        return lambda o, d, t: (d, o)
    if rule == "lpt":
        return lambda o, d, t: (-d, o)
    if rule == "lwkr":
        return lambda o, d, t: (work_left[o], o)
    if rule == "fifo":
        return lambda o, d, t: (t, o)
    assert rng is not None
    return lambda o, d, t: (rng.random(), o)


def balanced_assignment(flat: FlatShop) -> tuple[int, ...]:
    """Machine per operation chosen greedily to keep loads even (longest operations first)."""
    load = [0] * flat.n_machines
    machine_of = [0] * flat.n_ops
    order = sorted(range(flat.n_ops), key=lambda o: -min(d for _, d in flat.alternatives[o]))
    for o in order:
        k, d = min(flat.alternatives[o], key=lambda a: (load[a[0]] + a[1], a[1], a[0]))
        machine_of[o] = k
        load[k] += d
    return tuple(machine_of)


def best_dispatch(
    flat: FlatShop, rng: random.Random, random_runs: int = 10
) -> tuple[Sequencing, int]:
    """Best schedule over all rules (and both assignment variants for a flexible shop)."""
    assignments: list[tuple[int, ...] | None] = [None]
    if any(len(a) > 1 for a in flat.alternatives):
        assignments.append(balanced_assignment(flat))
    best: tuple[Sequencing, int] | None = None
    for assignment in assignments:
        for rule in RULES:
            for _ in range(random_runs if rule == "random" else 1):
                seq = dispatch(flat, rule, rng, assignment)
                cmax = makespan_of(flat, seq)
                if best is None or cmax < best[1]:
                    best = (seq, cmax)
    assert best is not None
    return best
