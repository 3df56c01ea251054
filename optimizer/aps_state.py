"""Planning from the plant as it is now: a ``twin.state.PlantState`` -> ``ApsData``.

The same state type serves warm starts, forecasts, the live twin and re-planning, so a plan
made "from now" sees exactly what the twin would resume from:

- batches on the floor keep their place: a step under way (its unit claimed for cleaning and
  setup, in setup, processing, or its unit down) is not re-planned, and the batch's next step
  is ready when it is expected to end (the mean of what is left of it, given the time already
  spent); a batch queued (or holding the unit of its previous step after a direct transfer)
  is planned from its current step, ready now;
- units are free when what they are doing is expected to end, with their cleanliness, campaign
  count, dirty-hold clock and maintenance counters as the state has them;
- staff busy with work under way are booked until it ends;
- open orders keep their due dates; orders not released yet (fixed orders of the scenario, or
  generated ones for a given seed) are planned whole from their release, up to a horizon.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import replace
from typing import Any

from optimizer.aps_data import (
    ApsBuilder,
    ApsData,
    BatchData,
    OrderData,
    UnitStart,
    planning_duration,
)
from twin.plant import PlannedOrder, generate_orders
from twin.rules import DIRTY, CleanState, cleaned, cleaning_duration, cleaning_kind
from twin.scenario import Scenario
from twin.state import PlantState

__all__ = ["data_from_state", "merge_orders", "expected_remaining"]

_UNDER_WAY = ("claimed", "setup", "processing", "down")
"""Phases of a batch whose step has its unit: the step runs whatever a new plan says."""

_SAMPLES = 256


def expected_remaining(dist: Any, elapsed: float) -> float:
    """The mean of what is left of a duration that has run ``elapsed`` hours (exact for fixed
    durations; an average of conditional draws with a fixed seed otherwise)."""
    if getattr(dist, "dist", "fixed") == "fixed":
        return max(0.0, float(dist.value) - elapsed)
    if elapsed <= 0:
        return float(dist.mean)
    rng = random.Random(12345)
    return sum(dist.remaining(rng, elapsed) for _ in range(_SAMPLES)) / _SAMPLES


def data_from_state(
    scenario: Scenario,
    state: PlantState,
    horizon_h: float | None = None,
    orders: list[PlannedOrder] | None = None,
    seed: int = 0,
    replication: int = 0,
    quantile: float | None = None,
    qc_offset: bool = True,
    staff: bool = True,
    due_margin: float = 0.0,
    hold_slack: float = 0.0,
) -> ApsData:
    """The planning problem of the work left at ``state.time``: batches on the floor and
    orders released within ``horizon_h`` hours after it (all if None). ``orders`` are the
    future orders to consider (default: the scenario's, generated for ``seed`` and
    ``replication``, as the twin releases them)."""
    now = state.time
    sc = scenario
    builder = ApsBuilder(sc, quantile, qc_offset, staff, due_margin, hold_slack)
    units = {u.name: i for i, u in enumerate(builder.units)}
    end = math.inf if horizon_h is None else now + horizon_h
    starts: dict[int, UnitStart] = {}
    busy: list[tuple[int, float, float, int]] = []
    pools = builder.pool_names

    def book(need: Any, until: float) -> None:
        if need is not None and staff and until > now:
            busy.append((pools.index(need.qualification), now, until, need.count))

    # ---------------------------------------------------------------- units and steps under way
    step_end: dict[str, float] = {}  # batch key -> expected end of its step under way
    for name, us in state.units.items():
        ui = units.get(name)
        if ui is None:
            continue
        ec = sc.equipment_classes[builder.units[ui].cls]
        clean = us.clean
        free = now
        nbm = us.batches_since_maintenance
        due = us.maintenance_due
        b = state.batches.get(us.holder or "")
        if b is not None and b.phase in _UNDER_WAY:
            step = sc.products[b.product].recipe[b.step]
            scale = b.size / step.scale_reference if step.scale_reference else 1.0
            left = expected_remaining(step.duration, b.processed_h / scale) * scale
            if b.phase == "claimed":  # cleaning (the rest of it, or what it needs), then setup
                if us.activity == "clean":
                    done = now - us.activity_since
                    kind = us.activity_kind or "major"
                    left += (
                        max(0.0, us.activity_hours - done)
                        if us.activity_hours is not None
                        else expected_remaining(
                            cleaning_duration(ec.cleaning, kind, clean.last_product, b.product),
                            done,
                        )
                    )
                    clean = cleaned(clean, kind, now + left)
                else:
                    kind = cleaning_kind(ec.cleaning, clean, b.product, now)
                    if kind is not None:
                        left += builder.units[ui].clean_hours(kind, clean.last_product, b.product)
                        clean = cleaned(clean, kind, now + left)
                left += planning_duration(step.setup, quantile)
            elif b.phase == "setup":  # the rest of the setup, then the whole processing
                done = now - b.since
                left += (
                    max(0.0, b.setup_hours - done)
                    if b.setup_hours is not None
                    else expected_remaining(step.setup, done)
                )
            elif b.phase == "down" and ec.failures is not None:
                if us.activity == "repair":
                    done = now - us.activity_since
                    left += (
                        max(0.0, us.activity_hours - done)
                        if us.activity_hours is not None
                        else expected_remaining(ec.failures.mttr, done)
                    )
                else:
                    left += ec.failures.mttr.mean
            free = now + left
            step_end[b.key] = free
            book(step.operators, free)
            needs = builder.units[ui].needs_cleaning
            clean = CleanState(
                DIRTY if needs else clean.cleanliness,
                b.product,
                clean.campaign_count + 1,
                clean.clean_since,
                free,
            )
            nbm += 1
            m = ec.maintenance
            due = due or (m is not None and m.every_batches is not None and nbm >= m.every_batches)
        elif us.activity in ("clean", "maintenance") and us.holder is None:
            done = now - us.activity_since
            if us.activity == "clean":
                dist = ec.cleaning.campaign if ec.cleaning.campaign else ec.cleaning.major
                spec_staff = ec.cleaning.operators
            else:
                dist = ec.maintenance.duration if ec.maintenance else None
                spec_staff = None
            if dist is not None:
                left = (
                    max(0.0, us.activity_hours - done)
                    if us.activity_hours is not None
                    else expected_remaining(dist, done)
                )
                free = now + left
                if spec_staff is not None:
                    book(spec_staff, free)
                elif us.activity == "maintenance" and ec.maintenance.qualification and staff:
                    busy.append((pools.index(ec.maintenance.qualification), now, free, 1))
                if us.activity == "clean":
                    clean = CleanState("clean", clean.last_product, 0, free, clean.dirty_since)
                else:
                    nbm, due = 0, False
        starts[ui] = UnitStart(
            free=free,
            last_product=clean.last_product,
            dirty=clean.cleanliness == DIRTY,
            since=clean.dirty_since if clean.cleanliness == DIRTY else clean.clean_since,
            campaign=clean.campaign_count,
            batches_since_maint=nbm,
            clean=clean,
            maintenance_due=due,
        )

    # ---------------------------------------------------------------- batches on the floor
    groups: dict[str, list[tuple[int, int, float, int, int]]] = defaultdict(list)
    for b in sorted(state.batches.values(), key=lambda x: (x.order, x.index)):
        if b.order not in state.orders or b.phase in ("quarantine", "qc"):
            continue
        recipe = sc.products[b.product].recipe
        hold, pin, ready, first = -1, -1, now, b.step
        if b.phase in _UNDER_WAY:  # its step is not re-planned: the next is, when it ends
            first = b.step + 1
            ready = step_end.get(b.key, now)
            if recipe[b.step].transfer == "direct" and b.unit in units:
                hold = units[b.unit]
        elif (
            b.phase == "blocked"
            and b.unit in units
            and b.step > 0
            and recipe[b.step - 1].transfer == "direct"
        ):
            hold = units[b.unit]
        if first >= len(recipe):
            continue
        groups[b.order].append((b.index, first, ready, hold, pin))
    for oid, items in groups.items():
        o = state.orders[oid]
        po = PlannedOrder(o.id, o.product, o.quantity, o.release, o.due, o.priority)
        prod = sc.products[o.product]
        n = o.batches_needed
        for idx, first, ready, hold, pin in sorted(items):
            size = prod.batch_size if idx < n else o.quantity - (n - 1) * prod.batch_size
            builder.add_order(
                po,
                sizes=[size],
                first_index=idx,
                ready=[ready],
                first_step=[first],
                holds=[hold],
                pinned=[pin],
            )

    # ---------------------------------------------------------------- orders not released yet
    if orders is None:
        orders = generate_orders(sc, seed, replication)
    for o in orders:
        if o.id in state.orders or not (now < o.release < end):
            continue
        builder.add_order(o)
    data = builder.build(t0=now, starts=starts, busy=tuple(busy))
    return merge_orders(data)


def merge_orders(data: ApsData) -> ApsData:
    """One order entry per order id (batches of an order added one by one are merged), so
    tardiness is counted per order."""
    merged: dict[str, OrderData] = {}
    position: dict[str, int] = {}
    index: dict[int, int] = {}
    for oi, o in enumerate(data.orders):
        if o.id in merged:
            prev = merged[o.id]
            merged[o.id] = replace(prev, batches=prev.batches + o.batches)
        else:
            position[o.id] = len(merged)
            merged[o.id] = o
        index[oi] = position[o.id]
    orders = tuple(merged.values())
    batches = tuple(
        BatchData(b.key, index[b.order], b.product, b.size, b.ready, b.ops, b.holds)
        for b in data.batches
    )
    return replace(data, orders=orders, batches=batches)
