"""The plant state as a fold over its event log: ``StateBuilder(scenario).apply(events)``.

The events are the twin's own log, or an observed plant's log read into the same schema
(``twin.logs.read_log``: OCEL 2.0, MES CSV/Parquet). Each event moves the state the way the
twin's processes moved the plant when they emitted it, so the state after the events up to
``t`` is the plant at ``t``: a snapshot of a run, the state of an observed log, and the live
twin following a feed are one and the same computation. ``apply_event`` takes one event at a
time (the live twin); ``state(at)`` reads the result as a :class:`~twin.state.PlantState`.

Events the fold cannot place (a step start for a batch it never saw released, a repair end of
a unit that was not down) are counted in ``anomalies`` with their reason, not raised: an
observed plant is allowed to surprise the model, and the live twin reports them as
divergences.

The event records are in ``twin.state.records``, the handler of each event kind in
``twin.state.handlers``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from twin.scenario import Scenario
from twin.state.handlers import HANDLERS
from twin.state.model import (
    BackorderState,
    BatchState,
    LotState,
    OrderState,
    PlantState,
    PurchaseOrderState,
    UnitState,
    VehicleState,
)
from twin.state.records import BatchRecord, Event, UnitRecord
from twin.state.validity import why_invalid

__all__ = ["StateBuilder", "state_from_events", "states_at", "Event"]


class StateBuilder:
    """Folds events into the plant state of ``scenario`` (see the module docstring)."""

    def __init__(self, scenario: Scenario, source: str = "") -> None:
        self.scenario = scenario
        self.source = source
        self.time = 0.0
        self.units: dict[str, UnitRecord] = {}
        cls_of = {}
        for name, uid in scenario.unit_names():
            cls = scenario.units[uid].equipment_class
            cls_of[name] = cls
            self.units[name] = UnitRecord(name, cls)
        self.batches: dict[int, BatchRecord] = {}
        self.orders: dict[str, OrderState] = {}
        self.made: Counter[str] = Counter()
        self.next_batch_id = 0
        self.lots: dict[str, LotState] = {}
        self.purchase_orders: dict[str, PurchaseOrderState] = {}
        self.backorders: dict[tuple[str, str], float] = {}
        self.vehicles: dict[str, VehicleState] = {}
        self.anomalies: Counter[str] = Counter()
        self.events = 0

    @classmethod
    def from_state(cls, scenario: Scenario, state: PlantState) -> StateBuilder:
        """A builder that continues from a saved state (the live twin restarting): events
        after ``state.time`` are applied on top of it."""
        sb = cls(scenario, state.source)
        sb.time = state.time
        ids = {b.key: b.id for b in state.batches.values()}
        for name, us in state.units.items():
            u = sb.units.get(name)
            if u is None:
                sb.anomalies["state of an unknown unit"] += 1
                continue
            u.state, u.since, u.holder = us.state, us.since, ids.get(us.holder or "", -1)
            u.activity, u.activity_kind = us.activity, us.activity_kind
            u.activity_since, u.activity_hours = us.activity_since, us.activity_hours
            u.clean, u.operating_h = us.clean, us.operating_h
            u.batches_since_maintenance = us.batches_since_maintenance
            u.last_maintenance = us.last_maintenance
            if us.state == "processing":  # the open spell counts on from the state's time
                u.spell = state.time
        for bs in state.batches.values():
            sb.batches[bs.id] = BatchRecord(
                bs.id,
                bs.order,
                bs.index,
                bs.product,
                bs.size,
                bs.released,
                bs.step,
                bs.phase,
                bs.since,
                bs.unit,
                bs.processed_h,
                bs.setup_hours,
                bs.hold_deadline,
                bs.hold_flagged,
                bs.quarantine_since,
                bs.qc_hands_on,
            )
        sb.orders = dict(state.orders)
        sb.made.update({o.id: o.made for o in state.orders.values()})
        sb.next_batch_id = state.next_batch_id
        sb.lots = {lot.id: lot for lot in state.lots}
        sb.purchase_orders = {po.id: po for po in state.purchase_orders}
        sb.backorders = {(bo.order, bo.material): bo.quantity for bo in state.backorders}
        sb.vehicles = dict(state.vehicles)
        return sb

    # ------------------------------------------------------------------ input
    def apply_table(self, table: pa.Table, until: float | None = None) -> StateBuilder:
        """Apply the events of an event-log table in order (those at or before ``until``)."""
        cols = {c: table.column(c).to_pylist() for c in table.column_names}
        n = table.num_rows
        t = cols["t"]
        for i in range(n):
            if until is not None and t[i] > until + 1e-9:
                break
            self.apply_event(
                Event(
                    t[i],
                    cols["kind"][i],
                    cols["unit"][i],
                    cols["batch"][i] if cols["batch"][i] is not None else -1,
                    cols["order"][i],
                    cols["product"][i],
                    cols["step"][i] if cols["step"][i] is not None else -1,
                    cols["state"][i],
                    cols["value"][i] if cols["value"][i] is not None else math.nan,
                    cols["detail"][i],
                )
            )
        if until is not None:
            self.time = max(self.time, until)
        return self

    def apply_event(self, e: Event) -> None:
        """Apply one event (events must come in time order)."""
        if e.t < self.time - 1e-9:
            self.anomalies["event out of time order"] += 1
            return
        self.time = e.t
        self.events += 1
        if why_invalid(self.scenario, self, e) is not None:
            self.anomalies[f"{e.kind} the plant state cannot hold (skipped)"] += 1
            return
        handler = HANDLERS.get(e.kind)
        if handler is not None:
            handler(self, e)

    # ------------------------------------------------------------------ helpers
    def unit_of(self, e: Event) -> UnitRecord | None:
        """The unit ``e`` names (None, counted as an anomaly, for an unknown unit)."""
        u = self.units.get(e.unit or "")
        if u is None:
            self.anomalies[f"{e.kind} of an unknown unit"] += 1
        return u

    def batch_of(self, e: Event, bid: int | None = None) -> BatchRecord | None:
        """The batch ``e`` (or ``bid``) names (None, counted as an anomaly, if never released)."""
        b = self.batches.get(e.batch if bid is None else bid)
        if b is None:
            self.anomalies[f"{e.kind} of a batch never released"] += 1
        return b

    def end_spell(self, u: UnitRecord, t: float) -> None:
        """Close ``u``'s running spell at ``t``: its hours go to the unit and to its batch."""
        if u.spell is not None:
            hours = max(0.0, t - u.spell)
            u.operating_h += hours
            b = self.batches.get(u.holder)
            if b is not None and b.phase in ("processing", "down"):
                b.processed_h += hours
            u.spell = None

    # ------------------------------------------------------------------ output
    def state(self, at: float | None = None) -> PlantState:
        """The plant at ``at`` (default: the last event applied); processing spells and
        activities still open are counted up to that instant."""
        time = self.time if at is None else max(at, self.time)
        sc = self.scenario
        keys = {bid: f"{b.order}/{b.index}" for bid, b in self.batches.items()}
        units = {}
        busy: Counter[str] = Counter()
        for name, u in self.units.items():
            spell = 0.0 if u.spell is None else max(0.0, time - u.spell)
            ec = sc.equipment_classes[u.cls]
            due = self._maintenance_due(u, time, ec)
            units[name] = UnitState(
                name=name,
                state=u.state,
                since=u.since,
                holder=keys.get(u.holder),
                activity=u.activity,
                activity_kind=u.activity_kind,
                activity_since=u.activity_since,
                activity_hours=u.activity_hours,
                clean=u.clean,
                operating_h=u.operating_h + spell,
                batches_since_maintenance=u.batches_since_maintenance,
                maintenance_due=due,
                last_maintenance=u.last_maintenance,
            )
            busy.update(self._staff_of(u, ec))
        batches = {}
        for bid, b in self.batches.items():
            processed = b.processed_h
            u = self.units.get(b.unit or "")
            if u is not None and u.holder == bid and u.spell is not None:
                processed += max(0.0, time - u.spell)
            batches[keys[bid]] = BatchState(
                key=keys[bid],
                id=bid,
                order=b.order,
                index=b.index,
                product=b.product,
                size=b.size,
                released=b.released,
                step=b.step,
                phase=b.phase,
                since=b.since,
                unit=b.unit,
                processed_h=processed,
                setup_hours=b.setup_hours,
                hold_deadline=b.hold_deadline,
                hold_flagged=b.hold_flagged,
                quarantine_since=b.quarantine_since,
                qc_hands_on=b.qc_hands_on,
            )
            if b.phase == "qc":
                qc = sc.products[b.product].qc or sc.qc
                hands = b.qc_hands_on
                if (
                    qc is not None
                    and qc.qualification
                    and (hands is None or time < b.since + hands)
                ):
                    busy[qc.qualification] += 1
        return PlantState(
            time=time,
            start=sc.start,
            scenario=sc.name,
            units=units,
            batches=batches,
            orders=dict(self.orders),
            staff_busy=dict(busy),
            next_batch_id=self.next_batch_id,
            lots=tuple(lot for lot in self.lots.values() if lot.quantity > 1e-9),
            vehicles=dict(self.vehicles),
            purchase_orders=tuple(self.purchase_orders.values()),
            backorders=tuple(
                BackorderState(o, m, q) for (o, m), q in self.backorders.items() if q > 1e-9
            ),
            source=self.source,
        )

    def _maintenance_due(self, u: UnitRecord, time: float, ec: Any) -> bool:
        m = ec.maintenance
        if m is None or u.activity == "maintenance":
            return False
        if m.every_batches is not None and u.batches_since_maintenance >= m.every_batches:
            return True
        if m.every is not None:
            last = u.last_maintenance if u.last_maintenance is not None else 0.0
            due_at = (math.floor(last / m.every + 1e-9) + 1) * m.every  # first due after it
            return due_at <= time + 1e-9
        return False

    def _staff_of(self, u: UnitRecord, ec: Any) -> dict[str, int]:
        sc = self.scenario
        if u.activity in ("processing", "setup"):
            b = self.batches.get(u.holder)
            if b is not None:
                ops = sc.products[b.product].recipe[b.step].operators
                if ops is not None:
                    return {ops.qualification: ops.count}
        elif u.activity == "clean" and ec.cleaning.operators is not None:
            return {ec.cleaning.operators.qualification: ec.cleaning.operators.count}
        elif u.activity == "repair" and sc.repairs is not None:
            return {sc.repairs.qualification: 1}
        elif u.activity == "maintenance" and ec.maintenance and ec.maintenance.qualification:
            return {ec.maintenance.qualification: 1}
        return {}


def state_from_events(
    scenario: Scenario, table: pa.Table, at: float | None = None, source: str = ""
) -> PlantState:
    """The plant state at ``at`` (default: the end of the log) from an event-log table."""
    return StateBuilder(scenario, source).apply_table(table, at).state(at)


def states_at(
    scenario: Scenario,
    table: pa.Table,
    times: Sequence[float],
    start: PlantState | None = None,
    source: str = "",
) -> list[PlantState]:
    """The plant state at each of ``times`` (sorted, ascending) from one fold over the log of a
    run that began empty or at ``start`` (``twin run --snapshot-at``)."""
    sb = (
        StateBuilder.from_state(scenario, start)
        if start is not None
        else StateBuilder(scenario, source)
    )
    end = table.column("t").to_numpy()
    states = []
    for t in times:  # one fold over the log, read at each instant in turn
        upto = table.slice(0, int((end <= t + 1e-9).sum()))
        rest = upto.slice(sb.events) if sb.events else upto
        sb.apply_table(rest, t)
        states.append(sb.state(t))
    return states
