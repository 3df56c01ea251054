"""The independent checker of APS plans: ``check_plan(data, plan)`` lists what a plan gets
wrong against the data, without the decoder (every plan is checked before it is handed out).
"""

from __future__ import annotations

import math
from typing import Any

from optimizer.aps_data import ApsData
from twin.plan import Plan, PlannedOperation

__all__ = ["check_plan"]


def check_plan(data: ApsData, plan: Plan, tol: float = 1e-6, holds: bool = True) -> list[str]:
    """Problems of a plan against the data, independent of the decoder: every operation
    planned once on an eligible unit; steps in recipe order; no overlap on a unit including the
    changeover clean and setup; hold times (unless ``holds`` is False); starts inside the unit's
    open windows; staff: the operators of every step, held from setup to end, are granted on
    their shift and never more at once than the qualification counts (cleaning and maintenance
    crews are not in the plan's times and are not counted); planned maintenance: when it falls
    due (every N hours or N batches) before a unit can take its next batch, the unit's idle
    time before that batch holds it."""
    problems: list[str] = []
    units = data.unit_index
    idx = {(data.batches[op.batch].key, op.step): i for i, op in enumerate(data.ops)}
    seen: dict[int, PlannedOperation] = {}
    for p in plan.operations:
        i = idx.get((p.key, p.step))
        if i is None:
            problems.append(f"{p.key} step {p.step}: not an operation of the planned orders")
            continue
        if i in seen:
            problems.append(f"{p.key} step {p.step}: planned twice")
        seen[i] = p
        op = data.ops[i]
        if units.get(p.unit) not in op.units:
            problems.append(f"{p.key} step {p.step}: unit {p.unit} is not of class {op.cls}")
        first = op.index == data.batches[op.batch].ops[0]
        if first and p.start < data.batches[op.batch].ready + op.setup - tol:
            problems.append(f"{p.key} step {p.step}: starts at {p.start:.2f} before its release")
    for i, op in enumerate(data.ops):
        if i not in seen:
            problems.append(f"{data.batches[op.batch].key} step {op.step}: not planned")
    for b in data.batches:
        for a, c in zip(b.ops, b.ops[1:], strict=False):
            if a not in seen or c not in seen:
                continue
            pa, pc = seen[a], seen[c]
            if pc.start - data.ops[c].setup < pa.end - tol:
                problems.append(
                    f"{b.key} step {pc.step}: starts at {pc.start:.2f} before step "
                    f"{pa.step} ends at {pa.end:.2f}"
                )
            mh = data.ops[a].max_hold
            if holds and mh is not None and pc.start - pa.end > mh + tol:
                problems.append(
                    f"{b.key} step {pc.step}: hold time {pc.start - pa.end:.2f} h "
                    f"after step {pa.step} exceeds {mh:g} h"
                )
    by_unit: dict[str, list[tuple[PlannedOperation, int]]] = {}
    for i, p in seen.items():
        by_unit.setdefault(p.unit, []).append((p, i))
    for name, lst in by_unit.items():
        if name not in units:
            continue
        u = data.units[units[name]]
        lst.sort(key=lambda x: x[0].start)
        for (p, i), (q, j) in zip(lst, lst[1:], strict=False):
            pi = data.batches[data.ops[i].batch].product
            pj = data.batches[data.ops[j].batch].product
            need = u.change_clean(pi, pj)
            if u.dirty_hold is not None and q.start - p.end > u.dirty_hold:
                need = 0.0  # the unit was cleaned while it waited
            if q.start - data.ops[j].setup - need < p.end - tol:
                problems.append(
                    f"unit {name}: {q.key} step {q.step} at {q.start:.2f} overlaps "
                    f"{p.key} step {p.step} ending {p.end:.2f} (+{need:g} h clean, "
                    f"{data.ops[j].setup:g} h setup)"
                )
        problems += _check_maintenance(data, u, lst, seen, tol)
        cal = u.calendar
        if cal.always:
            continue
        prev_end = data.t0
        prev_product: str | None = None
        for p, i in lst:
            op = data.ops[i]
            batch = data.batches[op.batch]
            k = batch.ops.index(i)
            pred = batch.ops[k - 1] if k > 0 else None
            ready = seen[pred].end if pred is not None and pred in seen else batch.ready
            need = u.change_clean(prev_product, batch.product)
            if u.dirty_hold is not None and p.start - op.setup - prev_end > u.dirty_hold:
                need = 0.0  # the unit may have been cleaned while it waited
            lo, hi = max(prev_end, ready), p.start - op.setup - need
            if not (cal.is_open(hi) or cal.is_open(lo) or cal.next_change(lo) <= hi + tol):
                problems.append(
                    f"unit {name}: {p.key} step {p.step} must be taken in "
                    f"[{lo:.2f}, {hi:.2f}] h, when the unit is closed"
                )
            prev_end, prev_product = p.end, batch.product
    problems += _check_staff(data, seen, max(tol, 1e-5))
    return problems


def _check_staff(data: ApsData, seen: dict[int, PlannedOperation], tol: float) -> list[str]:
    """Operators per qualification: each step holds its ``count`` from the start of its setup
    to its end, is granted only when its pool is on shift, and a pool never has more booked at
    once than it counts (bookings already taken, ``data.busy``, included)."""
    problems: list[str] = []
    bookings: dict[int, list[tuple[float, float, int, str]]] = {}
    for p, s, e, n in data.busy:
        bookings.setdefault(p, []).append((s, e, n, "booked before planning"))
    for i, pl in sorted(seen.items(), key=lambda kv: kv[1].start):
        op = data.ops[i]
        if op.staff is None:
            continue
        p, n = op.staff
        pool = data.pools[p]
        granted = pl.start - op.setup
        cal = pool.calendar
        # (plan times may be rounded: an instant either side of the grant will do)
        if not (cal.always or any(cal.is_open(granted + d) for d in (0.0, -tol, tol))):
            problems.append(
                f"staff {pool.name}: {pl.key} step {pl.step} needs {n} from "
                f"{granted:.2f} h, when the {pool.name} shift is off"
            )
        bookings.setdefault(p, []).append((granted, pl.end, n, f"{pl.key} step {pl.step}"))
    for p, books in sorted(bookings.items()):
        pool = data.pools[p]
        events = sorted(
            [(s + tol, 1, k) for k, (s, e, _, _) in enumerate(books) if e - s > 2 * tol]
            + [(e - tol, 0, k) for k, (s, e, _, _) in enumerate(books) if e - s > 2 * tol]
        )
        use, active = 0, set()
        for t, starting, k in events:
            if not starting:
                if k in active:
                    active.discard(k)
                    use -= books[k][2]
                continue
            active.add(k)
            use += books[k][2]
            if use > pool.count:
                who = ", ".join(books[a][3] for a in sorted(active, key=lambda a: books[a][0]))
                problems.append(
                    f"staff {pool.name}: {use} booked at {t - tol:.2f} h, only "
                    f"{pool.count} exist ({who})"
                )
                break  # one report per qualification
    return problems


def _check_maintenance(
    data: ApsData,
    u: Any,
    lst: list[tuple[PlannedOperation, int]],
    seen: dict[int, PlannedOperation],
    tol: float,
) -> list[str]:
    """Planned maintenance (``maint_duration`` every ``maint_every`` hours and/or every
    ``maint_every_batches`` batches) waits for the batch in hand and takes the unit before its
    next batch. Wherever it certainly fell due before the unit could take a batch (due while
    the unit was busy or idle, before the batch was there), the time from the later of the
    unit's last end and the due time to the batch's setup must hold it."""
    every, per_batches, dur = u.maint_every, u.maint_every_batches, u.maint_duration
    if dur <= 0 or (every is None and per_batches is None):
        return []
    problems: list[str] = []
    next_due = (math.floor(data.t0 / every) + 1) * every if every else math.inf
    count = u.start.batches_since_maint
    prev_end = max(data.t0, u.start.free)
    for p, i in lst:
        op = data.ops[i]
        batch = data.batches[op.batch]
        k = batch.ops.index(i)
        pred = batch.ops[k - 1] if k > 0 else None
        ready = seen[pred].end if pred is not None and pred in seen else batch.ready
        take = p.start - op.setup  # the unit is set up (and cleaned) by then
        by_batches = per_batches is not None and count >= per_batches
        certain = by_batches or next_due <= max(prev_end, ready) + tol
        possible = certain or next_due <= take + tol
        m_start = max(prev_end, next_due if not by_batches else prev_end)
        if possible:
            fits = take - m_start >= dur - tol
            if certain and not fits:
                why = f"after {count} batches" if by_batches else f"due at {next_due:.2f} h"
                problems.append(
                    f"unit {u.name}: maintenance ({dur:g} h, {why}) does not fit "
                    f"before {p.key} step {p.step} (set up at {take:.2f} h, unit "
                    f"free from {prev_end:.2f} h)"
                )
            if fits or certain:  # it ran (or has to have run) before this batch
                count = 0
                while next_due <= m_start + tol:
                    next_due += every if every else math.inf
        count += 1
        prev_end = max(prev_end, p.end)
    return problems
