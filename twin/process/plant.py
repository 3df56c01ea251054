"""The process plant in SimPy: tanks, units, utilities and the material between them.

Material is always in one *place*: ``supply`` (outside, before it enters), a tank
(``tank:<material>``), a unit (``unit:<name>``: drawn into a running batch, or made and held
there), ``customer`` (shipped) or ``waste:<reason>`` (discarded: ``expired``, ``zero_wait``,
``yield_loss``, ``overflow``). Every change of place is one ``material_move`` event, so
replaying the log gives what every place holds at every instant, and what entered equals what
left plus what is held plus what was discarded (``twin.process.kpi.mass_balance``).

A batch draws its inputs at its start, holds its utilities while it runs, delivers each output
at its own offset, and after its end keeps the unit while the unit holds material of ``none``
storage, or output a full finite tank had no room for (state ``blocked``), then cleans
(waiting for cleaning utilities in state ``waiting_utility``). Material of ``zero_wait``
storage must be drawn by a starting batch the instant it appears, or it is lost. Lots older
than their material's ``max_hold`` are discarded. Processes only emit events; what to start,
and when, is the controller's (`twin.process.control`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from twin.eventlog import EventLog, kind_code
from twin.process.model import (
    EPS,
    PlantModel,
    TaskModel,
    output_offsets,
    utility_need,
)
from twin.streams import Stream, stream

__all__ = ["Lot", "ProcessPlant", "UnitRuntime"]


@dataclass
class Lot:
    """Material made (or received) at `made`, `amount` of it still there."""

    material: str
    made: float
    amount: float
    place: str  # tank:<material> or unit:<name>


@dataclass
class UnitRuntime:
    name: str
    free: bool = True
    state: str = "idle"
    holds: list[Lot] = field(default_factory=list)  # none / zero_wait material made here
    emptied: simpy.Event | None = None
    to_failure: float = math.inf  # operating hours left until the next breakdown


class ProcessPlant:
    """One replication of a process plant; `controller` decides what starts (see `control`)."""

    def __init__(self, model: PlantModel, name: str, seed: int = 0, replication: int = 0):
        self.model = model
        self.name = name
        self.seed, self.replication = seed, replication
        self.env = simpy.Environment()
        self.log = EventLog(self.env)
        self.lots: dict[str, list[Lot]] = {m: [] for m in model.materials}
        self.level: dict[str, float] = dict.fromkeys(model.materials, 0.0)
        self.incoming: dict[str, float] = dict.fromkeys(model.materials, 0.0)
        self.unloading: dict[str, list[Lot]] = {m: [] for m in model.materials}
        self.in_use: dict[str, float] = dict.fromkeys(model.utilities, 0.0)
        self.units = {u: UnitRuntime(u) for u, _, _ in model.units}
        self.next_batch = 1
        self.controller: Any = None
        self._waiters: list[tuple[dict[str, float], simpy.Event]] = []
        self._busy = False
        self._again = False
        self._rng: dict[tuple[str, ...], Stream] = {}
        self._k = {k: kind_code(k) for k in _KINDS}
        self._code = self.log.code

    # ------------------------------------------------------------------ helpers
    def rng(self, *key: str) -> Stream:
        s = self._rng.get(key)
        if s is None:
            s = self._rng[key] = stream(self.seed, self.replication, *key)
        return s

    def emit(self, kind: str, **cols: Any) -> None:
        c = self._code
        self.log.emit(
            self._k[kind],
            unit=c(cols.get("unit")),
            batch=cols.get("batch", -1),
            order=c(cols.get("order")),
            product=c(cols.get("product")),
            state=c(cols.get("state")),
            value=cols.get("value", math.nan),
            detail=c(cols.get("detail")),
        )

    def move(
        self, material: str, amount: float, src: str, dst: str, unit: str | None = None,
        batch: int = -1, order: str | None = None,
    ) -> None:  # fmt: skip
        self.emit(
            "material_move", unit=unit, batch=batch, order=order, product=material,
            state=src, detail=dst, value=amount,
        )  # fmt: skip

    def set_state(self, unit: str, state: str) -> None:
        u = self.units[unit]
        if u.state != state:
            u.state = state
            self.emit("state", unit=unit, state=state)

    def _tank_level(self, material: str) -> None:
        self.emit("tank_level", unit=material, product=material, value=self.level[material])

    # ------------------------------------------------------------------ material
    def available(self, material: str) -> float:
        """What a starting batch could draw now: the tank and what units hold of it."""
        held = sum(
            lot.amount for u in self.units.values() for lot in u.holds if lot.material == material
        )
        return self.level[material] + held

    def space(self, material: str) -> float:
        """Room left for outputs not yet promised (finite tanks; others have no limit)."""
        m = self.model.materials[material]
        if m.storage != "finite":
            return math.inf
        return max(0.0, m.capacity - self.level[material] - self.incoming[material])

    def put_tank(
        self,
        material: str,
        amount: float,
        src: str,
        unit: str | None,
        batch: int,
        made: float | None = None,
    ) -> None:
        """`amount` (made at `made`, default now) enters the tank of `material` (the caller
        checked the room)."""
        tank = f"tank:{material}"
        self.move(material, amount, src, tank, unit, batch)
        lot = Lot(material, self.env.now if made is None else made, amount, tank)
        self.lots[material].append(lot)
        self.level[material] += amount
        self._tank_level(material)
        self._expire_later(lot)

    def _unload(self, material: str) -> None:
        """Room came free in a finite tank: units waiting to unload into it do (first come)."""
        queue = self.unloading[material]
        while queue:
            lot = queue[0]
            room = self.model.materials[material].capacity - self.level[material]
            if lot.amount <= EPS:
                queue.pop(0)
                continue
            if room <= EPS:
                return
            take = min(lot.amount, room)
            src, made = lot.place, lot.made
            self._take(lot, take, "", None, -1, log=False)
            self.put_tank(material, take, src, src[5:], -1, made)

    def receive(self, material: str, amount: float, how: str) -> None:
        """Material from outside (initial stock, a receipt); what the tank has no room for is
        discarded as ``overflow``."""
        room = self.space(material)
        take = min(amount, room)
        if take > EPS:
            self.put_tank(material, take, f"supply:{how}", None, -1)
        if amount - take > EPS:
            self.move(material, amount - take, f"supply:{how}", "waste:overflow")

    def draw(self, material: str, amount: float, unit: str, batch: int) -> None:
        """Take `amount` (first made, first used): tank lots, then lots units hold."""
        need = amount
        for lot in list(self.lots[material]):
            if need <= EPS:
                break
            take = min(lot.amount, need)
            self._take(lot, take, f"unit:{unit}", unit, batch)
            need -= take
        if need > EPS:
            held = sorted(
                (lot for u in self.units.values() for lot in u.holds if lot.material == material),
                key=lambda lot: lot.made,
            )
            for lot in held:
                if need <= EPS:
                    break
                take = min(lot.amount, need)
                self._take(lot, take, f"unit:{unit}", unit, batch)
                need -= take

    def _take(
        self, lot: Lot, amount: float, dst: str, unit: str | None, batch: int, log: bool = True
    ) -> None:
        if log:
            self.move(lot.material, amount, lot.place, dst, unit, batch)
        lot.amount -= amount
        if lot.place.startswith("tank:"):
            self.level[lot.material] = max(0.0, self.level[lot.material] - amount)
            if lot.amount <= EPS:
                self.lots[lot.material].remove(lot)
            self._tank_level(lot.material)
            if self.unloading[lot.material]:
                self._unload(lot.material)
        elif lot.amount <= EPS:
            holder = self.units[lot.place[5:]]
            holder.holds.remove(lot)
            if not holder.holds and holder.emptied is not None:
                holder.emptied.succeed()
                holder.emptied = None

    def _expire_later(self, lot: Lot) -> None:
        limit = self.model.materials[lot.material].max_hold
        if limit is not None:
            self.env.process(self._expire(lot, limit))

    def _expire(self, lot: Lot, limit: float) -> Generator:
        yield self.env.timeout(max(0.0, lot.made + limit - self.env.now))
        if lot.amount > EPS:
            self._take(lot, lot.amount, "waste:expired", None, -1)
            self.wake()

    # ------------------------------------------------------------------ utilities
    def utilities_free(self, need: dict[str, float]) -> bool:
        return all(self.in_use[u] + x <= self.model.utilities[u] + EPS for u, x in need.items())

    def acquire(self, need: dict[str, float]) -> None:
        for u, x in need.items():
            if x > 0:
                self.in_use[u] += x
                self.emit("utility_level", unit=u, value=self.in_use[u])

    def release(self, need: dict[str, float]) -> None:
        for u, x in need.items():
            if x > 0:
                self.in_use[u] = max(0.0, self.in_use[u] - x)
                self.emit("utility_level", unit=u, value=self.in_use[u])
        while self._waiters and self.utilities_free(self._waiters[0][0]):
            need0, ev = self._waiters.pop(0)
            self.acquire(need0)
            ev.succeed()
        self.wake()

    def wait_utilities(self, need: dict[str, float]) -> simpy.Event:
        """An event that fires once `need` is granted (first come, first served)."""
        ev = self.env.event()
        if not self._waiters and self.utilities_free(need):
            self.acquire(need)
            ev.succeed()
        else:
            self._waiters.append((need, ev))
        return ev

    # ------------------------------------------------------------------ batches
    def start(self, task: TaskModel, unit: str, size: float, batch: int | None = None) -> int:
        """Start a batch now: inputs drawn, utilities taken, output room promised. The caller
        checked that all of this is possible."""
        if batch is None:
            batch = self.next_batch
            self.next_batch += 1
        u = self.units[unit]
        u.free = False
        self.emit("task_start", unit=unit, batch=batch, detail=task.name, value=size)
        self.set_state(unit, "processing")
        for m, f in task.inputs:
            self.draw(m, f * size, unit, batch)
        need = utility_need(task, size)
        self.acquire(need)
        for m, f, _ in task.outputs:
            if self.model.materials[m].storage == "finite":
                self.incoming[m] += f * size
        self.env.process(self._batch(task, unit, size, batch, need))
        return batch

    def _batch(
        self, task: TaskModel, unit: str, size: float, batch: int, need: dict[str, float]
    ) -> Generator:
        env = self.env
        t0 = env.now
        fixed = task.duration.sample(self.rng("task", task.name, "duration"))
        duration = max(0.0, fixed) + task.per_size * size
        worked = 0.0
        for m, amount, offset in output_offsets(task, size, duration):
            if offset > worked:
                yield from self._work(unit, offset - worked)
                worked = offset
            self._deliver(m, amount, unit, batch)
        if duration > worked:
            yield from self._work(unit, duration - worked)
        loss = size * (1.0 - task.yield_)
        if loss > EPS:
            self._lose(task, unit, batch, loss)
        self.emit("task_end", unit=unit, batch=batch, detail=task.name, value=env.now - t0)
        self.release(need)
        u = self.units[unit]
        if u.holds:
            self.set_state(unit, "blocked")
            u.emptied = env.event()
            yield u.emptied
        if task.cleaning is not None:
            cneed = dict(task.cleaning_utilities)
            if cneed:
                ev = self.wait_utilities(cneed)
                if not ev.triggered:
                    self.set_state(unit, "waiting_utility")
                yield ev
            self.set_state(unit, "cleaning")
            self.emit("clean_start", unit=unit, state="minor")
            yield env.timeout(max(0.0, task.cleaning.sample(self.rng("clean", unit))))
            self.emit("clean_end", unit=unit, state="minor")
            if cneed:
                self.release(cneed)
        u.free = True
        self.set_state(unit, "idle")
        self.wake()

    def _lose(self, task: TaskModel, unit: str, batch: int, loss: float) -> None:
        """The yield loss of a batch: drawn inputs, in their fractions, go to waste."""
        for m, f in task.inputs:
            self.move(m, f * loss, f"unit:{unit}", "waste:yield_loss", unit, batch)

    def _deliver(self, material: str, amount: float, unit: str, batch: int) -> None:
        m = self.model.materials[material]
        if amount <= EPS:
            return
        if m.has_tank:
            room = amount
            if m.storage == "finite":
                self.incoming[material] = max(0.0, self.incoming[material] - amount)
                room = max(0.0, m.capacity - self.level[material])
            if min(amount, room) > EPS:
                self.put_tank(material, min(amount, room), f"unit:{unit}", unit, batch)
            if amount - room > EPS:  # the tank is full: the rest waits in the unit (blocked)
                lot = Lot(material, self.env.now, amount - room, f"unit:{unit}")
                self.units[unit].holds.append(lot)
                self.unloading[material].append(lot)
                self._expire_later(lot)
            self.wake()
            return
        lot = Lot(material, self.env.now, amount, f"unit:{unit}")
        self.units[unit].holds.append(lot)
        if m.storage == "none":
            self._expire_later(lot)
            self.wake()
            return
        self.wake()  # zero_wait: batches that use it start at this instant, or it is lost
        if lot.amount > EPS:
            self._take(lot, lot.amount, "waste:zero_wait", unit, batch)

    def _work(self, unit: str, hours: float) -> Generator:
        """Processing time on a unit, with its breakdowns (operating-time MTBF, MTTR)."""
        f = self.model.failures.get(unit)
        u = self.units[unit]
        left = hours
        while left > EPS:
            if f is None:
                yield self.env.timeout(left)
                return
            if math.isinf(u.to_failure):
                u.to_failure = f.mtbf.sample(self.rng("unit", unit, "failures"))
            if u.to_failure >= left:
                yield self.env.timeout(left)
                u.to_failure -= left
                return
            yield self.env.timeout(u.to_failure)
            left -= u.to_failure
            u.to_failure = math.inf
            self.emit("breakdown", unit=unit)
            self.set_state(unit, "down")
            repair = max(0.0, f.mttr.sample(self.rng("unit", unit, "repair")))
            self.emit("repair_start", unit=unit, value=repair)
            yield self.env.timeout(repair)
            self.emit("repair_end", unit=unit)
            self.set_state(unit, "processing")

    # ------------------------------------------------------------------ control
    def wake(self) -> None:
        """Something changed: let the controller start what it can (re-entrant calls loop)."""
        if self.controller is None:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            while True:
                self._again = False
                self.controller.dispatch(self)
                if not self._again:
                    break
        finally:
            self._busy = False

    # ------------------------------------------------------------------ the run
    def run(self, progress: Callable[[float], None] | None = None) -> None:
        env, model = self.env, self.model
        self.emit("run_start", value=0.0, detail=self.name)
        for unit, cls, room in model.units:
            self.emit("unit_added", unit=unit, detail=cls, state=room)
            self.emit("state", unit=unit, state="idle")
        for name, m in model.materials.items():
            cap = m.capacity if math.isfinite(m.capacity) else math.nan
            self.emit("tank_added", unit=name, product=name, state=m.storage, value=cap)
        for name, cap in model.utilities.items():
            self.emit("utility_added", unit=name, value=cap)
        if self.controller is not None:
            self.controller.attach(self)
        for name, m in model.materials.items():
            if m.initial > 0:
                self.receive(name, m.initial, "initial")
        env.process(self._calendar())
        if progress is not None:
            env.process(self._progress(progress))
        self.wake()
        env.run(until=model.horizon)
        while env.peek() <= model.horizon:  # what falls due at the horizon itself
            env.step()
        self.emit("run_end", value=model.horizon)

    def _calendar(self) -> Generator:
        """Receipts and demands at their times, in time order (receipts first at a tie)."""
        events: list[tuple[float, int, int, Any]] = []
        for i, r in enumerate(self.model.receipts):
            events.append((r.at, 0, i, r))
        for i, d in enumerate(self.model.demands):
            events.append((d.due, 1, i, d))
        events.sort(key=lambda e: e[:3])
        for when, kind, _, item in events:
            if when > self.env.now:
                yield self.env.timeout(when - self.env.now)
            if kind == 0:
                self.receive(item.material, item.amount, "receipt")
            else:
                self._ship_demand(item)
            self.wake()

    def _ship_demand(self, d: Any) -> None:
        need = d.amount
        for lot in list(self.lots[d.material]):
            if need <= EPS:
                break
            take = min(lot.amount, need)
            self.move(d.material, take, lot.place, "customer", order=d.id)
            lot.amount -= take
            self.level[d.material] = max(0.0, self.level[d.material] - take)
            if lot.amount <= EPS:
                self.lots[d.material].remove(lot)
            need -= take
        self._tank_level(d.material)
        if self.unloading[d.material]:
            self._unload(d.material)
        if need > EPS:
            self.emit("stockout", order=d.id, product=d.material, value=need)

    def _progress(self, progress: Callable[[float], None]) -> Generator:
        step = max(self.model.horizon / 200.0, 1.0)
        while True:
            progress(self.env.now)
            yield self.env.timeout(step)


_KINDS = (
    "run_start",
    "run_end",
    "unit_added",
    "state",
    "tank_added",
    "tank_level",
    "utility_added",
    "utility_level",
    "task_start",
    "task_end",
    "material_move",
    "stockout",
    "breakdown",
    "repair_start",
    "repair_end",
    "clean_start",
    "clean_end",
    "plan_task",
    "deviation",
)
