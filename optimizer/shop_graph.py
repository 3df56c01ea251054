"""Flat operation indices and machine sequences: the shared language of the shop heuristics.

Operations are numbered job by job (`0..n_ops-1`). A `Sequencing` fixes, for every operation,
the machine that runs it and, for every machine, the order of its operations. Together with the
job order this is a disjunctive graph; its longest paths give the earliest (semi-active) start
times, and the makespan.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.formats import ShopInstance

__all__ = ["FlatShop", "ScheduleRow", "Sequencing", "semi_active_starts", "to_schedule"]

ScheduleRow = tuple[int, int, int, int, int]
"""(job, operation index in job, machine, start, end)."""


@dataclass(frozen=True, eq=False)
class FlatShop:
    """An instance with operations numbered `0..n_ops-1` and job links as arrays (-1 = none)."""

    instance: ShopInstance
    n_ops: int
    n_machines: int
    job_of: tuple[int, ...]
    index_in_job: tuple[int, ...]
    job_pred: tuple[int, ...]
    job_succ: tuple[int, ...]
    alternatives: tuple[tuple[tuple[int, int], ...], ...]
    duration_on: tuple[dict[int, int], ...]
    op_id: tuple[tuple[int, ...], ...]
    """`op_id[j][i]` is the flat number of operation `i` of job `j`."""

    @classmethod
    def of(cls, instance: ShopInstance) -> FlatShop:
        job_of, index_in_job, pred, succ, alts, op_id = [], [], [], [], [], []
        for j, job in enumerate(instance.jobs):
            ids = []
            for i, op in enumerate(job):
                o = len(job_of)
                ids.append(o)
                job_of.append(j)
                index_in_job.append(i)
                pred.append(o - 1 if i > 0 else -1)
                succ.append(o + 1 if i + 1 < len(job) else -1)
                alts.append(tuple(op))
            op_id.append(tuple(ids))
        return cls(
            instance=instance,
            n_ops=len(job_of),
            n_machines=instance.n_machines,
            job_of=tuple(job_of),
            index_in_job=tuple(index_in_job),
            job_pred=tuple(pred),
            job_succ=tuple(succ),
            alternatives=tuple(alts),
            duration_on=tuple(dict(a) for a in alts),
            op_id=tuple(op_id),
        )


@dataclass(frozen=True)
class Sequencing:
    """Machine of every operation and operation order on every machine."""

    machine_of: tuple[int, ...]
    sequences: tuple[tuple[int, ...], ...]


def semi_active_starts(flat: FlatShop, seq: Sequencing) -> list[int] | None:
    """Earliest start of every operation under `seq`, or None when the orders form a cycle."""
    n = flat.n_ops
    dur = [flat.duration_on[o][seq.machine_of[o]] for o in range(n)]
    machine_succ = [-1] * n
    indegree = [0 if flat.job_pred[o] < 0 else 1 for o in range(n)]
    for order in seq.sequences:
        for a, b in zip(order, order[1:], strict=False):
            machine_succ[a] = b
            indegree[b] += 1
    start = [0] * n
    stack = [o for o in range(n) if indegree[o] == 0]
    done = 0
    while stack:
        o = stack.pop()
        done += 1
        end = start[o] + dur[o]
        for s in (flat.job_succ[o], machine_succ[o]):
            if s >= 0:
                if start[s] < end:
                    start[s] = end
                indegree[s] -= 1
                if indegree[s] == 0:
                    stack.append(s)
    return start if done == n else None


def to_schedule(flat: FlatShop, seq: Sequencing) -> tuple[ScheduleRow, ...]:
    """The semi-active schedule of `seq` as rows sorted by job and operation."""
    starts = semi_active_starts(flat, seq)
    if starts is None:
        raise ValueError("the machine sequences contain a cycle; no schedule exists.")
    rows = []
    for o in range(flat.n_ops):
        machine = seq.machine_of[o]
        end = starts[o] + flat.duration_on[o][machine]
        rows.append((flat.job_of[o], flat.index_in_job[o], machine, starts[o], end))
    return tuple(rows)
