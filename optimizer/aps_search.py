"""Heuristics for the plant scheduling model: dispatch rules, then simulated annealing.

Both work on a *list* of batch segments that the decoder (``optimizer.aps_schedule``) turns
into a schedule honouring cleaning, hold times, calendars, maintenance and staff, so every
list is a feasible plan (hold times are penalised where the decoder cannot meet them).

- ``dispatch_lists``: one list per rule (fifo, edd, spt, priority, min_changeover, slack,
  campaign); the best decoded one is the warm start of everything else.
- ``anneal``: insertion moves (a segment moves a few places in the list) and swaps of two
  segments of the same equipment class, accepted by the Metropolis rule with a geometric
  cooling schedule; a random generator seeded once is passed down; the best list is kept.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from optimizer.aps_data import ApsData, Objective
from optimizer.aps_schedule import Evaluator, Schedule, Segment, decode

__all__ = ["RULES", "dispatch_lists", "list_from_sequence", "best_rule", "anneal"]

RULES = ("fifo", "edd", "spt", "priority", "min_changeover", "slack", "campaign")


def dispatch_lists(data: ApsData, segments: list[Segment]) -> dict[str, list[int]]:
    """A segment list per dispatch rule."""
    est: list[float] = []
    work: list[float] = []
    tail: dict[int, float] = {}
    for seg in segments:
        w = sum(data.ops[o].dur + data.ops[o].setup for o in seg.ops)
        work.append(w)
    for seg in reversed(segments):
        nxt = seg.index + 1
        same = nxt < len(segments) and segments[nxt].batch == seg.batch
        tail[seg.index] = work[seg.index] + (tail.get(nxt, 0.0) if same else 0.0)
    acc = 0.0
    for seg in segments:
        acc = 0.0 if seg.k == 0 else acc
        est.append(data.batches[seg.batch].ready + acc)
        acc += work[seg.index]

    def key_of(rule: str) -> Callable[[Segment], tuple]:
        def base(s: Segment) -> tuple:
            return (s.batch, s.k)

        b = data.batches
        o = data.orders
        if rule == "fifo":
            return lambda s: (est[s.index], *base(s))
        if rule == "edd":
            return lambda s: (o[b[s.batch].order].due, est[s.index], *base(s))
        if rule == "spt":
            return lambda s: (round(est[s.index] / 24.0), work[s.index], *base(s))
        if rule == "priority":
            return lambda s: (-o[b[s.batch].order].weight, o[b[s.batch].order].due, *base(s))
        if rule == "min_changeover":
            return lambda s: (
                math.floor(o[b[s.batch].order].due / 168.0),
                b[s.batch].product,
                est[s.index],
                *base(s),
            )
        if rule == "slack":
            return lambda s: (o[b[s.batch].order].due - tail[s.index], *base(s))
        if rule == "campaign":
            return lambda s: (
                math.floor(est[s.index] / 72.0),
                b[s.batch].product,
                est[s.index],
                *base(s),
            )
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")

    def first_held(rule: str) -> Callable[[Segment], tuple]:
        key = key_of(rule)  # batches blocking a unit go first: the unit is freed by them
        return lambda s: (data.batches[s.batch].holds < 0 or s.k > 0, key(s))

    return {r: [s.index for s in sorted(segments, key=first_held(r))] for r in RULES}


def list_from_sequence(
    data: ApsData, segments: list[Segment], sequence: list[tuple[str, int]]
) -> list[int]:
    """A segment list that places segments in the order their first steps appear in
    ``sequence`` ((batch key, step) pairs: a run of the twin by claim, a plan's operations);
    segments it does not name follow in fifo order. (Placing the twin's unit choices too
    decodes worse: a segment's later steps would claim their units ahead of their turn.)"""
    seg_of: dict[tuple[str, int], int] = {}
    for seg in segments:
        key = data.batches[seg.batch].key
        for oi in seg.ops:
            seg_of[(key, data.ops[oi].step)] = seg.index
    out: list[int] = []
    seen: set[int] = set()
    for item in sequence:
        si = seg_of.get(item)
        if si is not None and si not in seen:
            seen.add(si)
            out.append(si)
    merged = out + [i for i in dispatch_lists(data, segments)["fifo"] if i not in seen]
    # a batch's segments keep their own order whatever the sequence said
    pos = {si: k for k, si in enumerate(merged)}
    by_batch: dict[int, list[int]] = {}
    for seg in segments:
        by_batch.setdefault(seg.batch, []).append(seg.index)
    for segs in by_batch.values():
        for slot, si in zip(sorted(pos[si] for si in segs), segs, strict=True):
            merged[slot] = si
    return merged


def best_rule(
    data: ApsData,
    segments: list[Segment],
    objective: Objective,
    extra: dict[str, list[int]] | None = None,
) -> tuple[str, list[int], Schedule, dict[str, float]]:
    """Decode every rule's list (and the ``extra`` named lists); return the best (name, list,
    schedule) and all costs."""
    best = None
    costs: dict[str, float] = {}
    for rule, order in {**dispatch_lists(data, segments), **(extra or {})}.items():
        sched = decode(data, segments, order)
        costs[rule] = sched.cost(objective)
        if best is None or costs[rule] < best[2].cost(objective) - 1e-9:
            best = (rule, order, sched)
    assert best is not None
    return (*best, costs)


def anneal(
    data: ApsData,
    segments: list[Segment],
    order: list[int],
    objective: Objective,
    deadline: float,
    rng: random.Random,
    max_iter: int | None = None,
) -> tuple[list[int], Schedule, int]:
    """Simulated annealing on the segment list until ``deadline`` (perf_counter seconds) or
    ``max_iter`` moves. Returns the best list, its schedule and the number of moves."""
    cur = list(order)
    ev = Evaluator(data, segments)
    cur_s = ev.evaluate(cur)
    ev.accept()
    cur_c = cur_s.cost(objective)
    best, best_s, best_c = list(cur), cur_s, cur_c
    n = len(cur)
    if n < 2:
        return best, best_s, 0
    by_cls: dict[str, list[int]] = {}
    for seg in segments:
        by_cls.setdefault(data.ops[seg.ops[0]].cls, []).append(seg.index)
    t_start = time.perf_counter()
    span = max(1e-3, deadline - t_start)
    temp0 = max(1.0, 0.02 * cur_c)
    window = max(3, min(40, n // 4))
    it = 0
    while True:
        now = time.perf_counter()
        if now >= deadline or (max_iter is not None and it >= max_iter):
            break
        it += 1
        frac = (now - t_start) / span if max_iter is None else it / max_iter
        temp = temp0 * (0.001**frac)
        cand = list(cur)
        if rng.random() < 0.5:
            i = rng.randrange(n)
            j = min(n - 1, max(0, i + rng.randint(-window, window)))
            if i == j:
                continue
            cand.insert(j, cand.pop(i))
            changed = min(i, j)
        else:
            i = rng.randrange(n)
            peers = by_cls[data.ops[segments[cand[i]].ops[0]].cls]
            if len(peers) < 2:
                continue
            other = rng.choice(peers)
            j = cand.index(other)
            if abs(i - j) > 3 * window or i == j:
                continue
            cand[i], cand[j] = cand[j], cand[i]
            changed = min(i, j)
        sched = ev.evaluate(cand, changed)
        c = sched.cost(objective)
        if c <= cur_c or rng.random() < math.exp(-(c - cur_c) / temp):
            cur, cur_s, cur_c = cand, sched, c
            ev.accept()
            if c < best_c - 1e-9:
                best, best_s, best_c = list(cand), sched, c
    return best, best_s, it
