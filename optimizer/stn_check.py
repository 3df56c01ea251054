"""Independent check of an STN schedule: replay it and recompute the objective.

`check_schedule(data, schedule)` shares no code with the model (`optimizer.stn_model`): it works
in real time on the batches as listed, not on grid indices, and states the rules directly:

- every batch runs a task its unit can run (or holds NIS material on a unit that makes it),
  starts on a grid point at or after the grid start, lasts the task's longest output duration
  (a hold: one grid step), ends by the grid stop, and has a size within [Bmin, Bmax];
- a hold starts at the first grid point after the batch before it on its unit ends, and that
  batch made the material at its end (or held it), at least as much as is held;
- on each unit, a batch starts no earlier than the end of the one before it (or the unit's
  initial release) plus the cleaning after that one and the changeover between the two; after
  a hold, the gap is that after the last real batch before it on the unit;
- stock, replayed at every grid point (arrivals at or before it, then the inputs of the batches
  starting there and the demands shipped there), stays within [0, capacity] (0 for NIS and
  zero-wait states), and the final stock meets `extra`;
- hard demands are shipped in full, soft ones at most in full;
- at every grid interval the utilities used by the batches running in it (including batches in
  progress) stay within the capacity.

The objective is recomputed from the final stock, the shipments and the batch costs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from optimizer.stn_data import StnData, grid_index

__all__ = ["Batch", "StnCheck", "StnSchedule", "check_schedule"]


@dataclass(frozen=True)
class Batch:
    """One batch: `task` on `unit` from `start` to `end` (the unit is busy), of `size`.

    A hold batch (`hold=True`) keeps material of the NIS state `task` in `unit` for one step."""

    task: str
    unit: str
    start: float
    end: float
    size: float
    hold: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "unit": self.unit,
            "start": self.start,
            "end": self.end,
            "size": round(self.size, 6),
            "hold": self.hold,
        }


@dataclass(frozen=True)
class StnSchedule:
    """Batches sorted by start and unit; `shipped[d]` is what leaves for `data.demands[d]`."""

    batches: tuple[Batch, ...]
    shipped: tuple[float, ...] = ()


@dataclass(frozen=True)
class StnCheck:
    """What the replay found: `problems` (empty when the schedule is valid), the recomputed
    objective and its parts, the stock per state at every grid point and the utility use per
    grid interval."""

    problems: tuple[str, ...]
    objective: float
    value: float
    cost: float
    penalty: float
    stock: dict[str, tuple[float, ...]] = field(default_factory=dict)
    utility_use: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_schedule(data: StnData, schedule: StnSchedule) -> StnCheck:
    """Replay `schedule` against `data` (module docstring); never raises for a bad schedule."""
    return _Replay(data, schedule).run()


class _Replay:
    def __init__(self, data: StnData, schedule: StnSchedule) -> None:
        self.d = data
        self.s = schedule
        self.problems: list[str] = []
        g = data.grid
        self.times = [g.start + k * g.step for k in range(g.periods + 1)]
        amounts = [abs(s.initial) for s in data.states] + [ut.bmax for ut in data.unit_tasks]
        amounts += [s.capacity for s in data.states if s.capacity is not None]
        amounts += [r.amount for r in data.receipts] + [d.amount for d in data.demands]
        self.tol = 1e-6 * max(1.0, max(amounts))
        self.ttol = 1e-7 * g.step
        self.unit_tasks = {(ut.unit, ut.task): ut for ut in data.unit_tasks}
        self.inputs: dict[str, list] = defaultdict(list)
        for a in data.inputs:
            self.inputs[a.task].append(a)
        self.outputs: dict[str, list] = defaultdict(list)
        for o in data.outputs:
            self.outputs[o.task].append(o)
        self.nis = {s.name for s in data.states if s.policy == "none"}

    def problem(self, text: str) -> None:
        if len(self.problems) < 200:
            self.problems.append(text)

    def run(self) -> StnCheck:
        valid = [b for b in self.s.batches if self.batch_ok(b)]
        self.units(valid)
        stock = self.material(valid)
        shipped_value, penalty = self.demands()
        use = self.utilities(valid)
        price = {s.name: s.price for s in self.d.states}
        final = {s: levels[-1] for s, levels in stock.items()}
        value = sum(price[s] * final[s] for s in final) + shipped_value
        cost = 0.0
        for b in valid:
            if not b.hold:
                ut = self.unit_tasks[b.unit, b.task]
                cost += ut.fixed_cost + ut.variable_cost * b.size
        return StnCheck(
            problems=tuple(self.problems),
            objective=value - penalty - cost,
            value=value,
            cost=cost,
            penalty=penalty,
            stock={s: tuple(v) for s, v in stock.items()},
            utility_use={u: tuple(v) for u, v in use.items()},
        )

    # ------------------------------------------------------------------------ batches
    def hold_limit(self, b: Batch) -> float | None:
        """Largest batch a unit can hold of NIS state `b.task`; None if it cannot hold it."""
        sizes = [
            ut.bmax
            for (unit, task), ut in self.unit_tasks.items()
            if unit == b.unit and any(o.state == b.task for o in self.outputs[task])
        ]
        return max(sizes) if sizes and b.task in self.nis else None

    def batch_ok(self, b: Batch) -> bool:
        g = self.d.grid
        name = f"{'hold of ' if b.hold else ''}{b.task!r} on {b.unit!r} at {b.start:g}"
        if b.hold:
            limit = self.hold_limit(b)
            if limit is None:
                self.problem(
                    f"{name}: {b.unit!r} cannot hold {b.task!r} (not an NIS state it makes)."
                )
                return False
            duration, bmin, bmax = g.step, 0.0, limit
        else:
            ut = self.unit_tasks.get((b.unit, b.task))
            if ut is None:
                self.problem(f"{name}: the unit does not run this task.")
                return False
            duration = max(o.duration for o in self.outputs[b.task])
            bmin, bmax = ut.bmin, ut.bmax
        ok = True
        if not all(math.isfinite(x) for x in (b.start, b.end, b.size)):
            self.problem(f"{name}: start, end and size must be finite numbers.")
            return False
        if b.start < g.start - self.ttol or grid_index(g, b.start, "exact") is None:
            self.problem(f"{name}: starts off the grid ({g.start:g} + n * {g.step:g}).")
            ok = False
        if abs(b.end - (b.start + duration)) > self.ttol:
            self.problem(
                f"{name}: ends at {b.end:g}; it lasts {duration:g}, so it ends at "
                f"{b.start + duration:g}."
            )
            ok = False
        if b.start + duration > g.stop + self.ttol:
            self.problem(f"{name}: ends at {b.start + duration:g}, after the grid stop {g.stop:g}.")
            ok = False
        if b.size < bmin - self.tol or b.size > bmax + self.tol:
            self.problem(f"{name}: size {b.size:g} outside [{bmin:g}, {bmax:g}].")
            ok = False
        return ok

    def gap(self, unit: str, before: str | None, task: str, hold: bool) -> float:
        if before is None or hold:
            return 0.0
        return max(
            next((c.duration for c in self.d.cleanings if (c.unit, c.task) == (unit, before)), 0.0),
            next(
                (
                    c.duration
                    for c in self.d.changeovers
                    if (c.unit, c.from_task, c.to_task) == (unit, before, task)
                ),
                0.0,
            ),
        )

    def units(self, batches: list[Batch]) -> None:
        release: dict[str, tuple[float, str | None]] = {}
        in_hand: dict[str, dict[str, float]] = {}  # unit -> NIS material it holds when free
        for ui in self.d.unit_init:
            release[ui.unit] = (ui.free_at, ui.last_task)
            in_hand[ui.unit] = dict(ui.held)
        for b in self.d.in_progress:
            end = b.start + max(o.duration for o in self.outputs[b.task])
            release[b.unit] = (end, b.task)
            in_hand[b.unit] = self.left_in_unit(b.task, b.size)
        on_unit: dict[str, list[Batch]] = defaultdict(list)
        for b in batches:
            on_unit[b.unit].append(b)
        for unit, seq in on_unit.items():
            seq.sort(key=lambda b: (b.start, b.end))
            free, last_real = release.get(unit, (-math.inf, None))
            holding = in_hand.get(unit, {})
            previous = "its initial state"
            for b in seq:
                need = free + self.gap(unit, last_real, b.task, b.hold)
                if b.start < free - self.ttol:
                    self.problem(
                        f"unit {unit!r}: {b.task!r} at {b.start:g} overlaps "
                        f"{previous} (busy until {free:g})."
                    )
                elif b.start < need - self.ttol:
                    self.problem(
                        f"unit {unit!r}: {b.task!r} at {b.start:g} starts before "
                        f"{need:g}, the end of {previous} plus its cleaning or "
                        "changeover."
                    )
                if b.hold:
                    self.hold_follows(unit, b, free, holding, previous)
                    holding = {b.task: b.size}
                else:
                    last_real = b.task
                    holding = self.left_in_unit(b.task, b.size)
                free = max(free, b.end)
                previous = f"{b.task!r} at {b.start:g}"

    def left_in_unit(self, task: str, size: float) -> dict[str, float]:
        """NIS material a batch leaves in its unit: outputs of NIS states at its very end."""
        duration = max(o.duration for o in self.outputs[task])
        return {
            o.state: o.fraction * size
            for o in self.outputs[task]
            if o.state in self.nis and abs(o.duration - duration) <= self.ttol
        }

    def hold_follows(
        self, unit: str, b: Batch, free: float, holding: dict[str, float], previous: str
    ) -> None:
        """A hold starts at the first grid point after the batch before it on the unit ends,
        and keeps at most the NIS material that batch left there."""
        g = self.d.grid
        right_after = free > -math.inf and grid_index(g, free, "up") == grid_index(
            g, b.start, "exact"
        )
        if not right_after or b.task not in holding:
            self.problem(
                f"unit {unit!r}: hold of {b.task!r} at {b.start:g} does not follow a batch of "
                f"the unit that made or held it ({previous} comes before)."
            )
        elif b.size > holding[b.task] + self.tol:
            self.problem(
                f"unit {unit!r}: hold of {b.task!r} at {b.start:g} keeps {b.size:g}, more than "
                f"the {holding[b.task]:g} {previous} left in the unit."
            )

    # ----------------------------------------------------------------------- material
    def material(self, batches: list[Batch]) -> dict[str, list[float]]:
        g = self.d.grid
        n = len(self.times) - 1
        arrive: dict[tuple[str, int], float] = defaultdict(float)
        leave: dict[tuple[str, int], float] = defaultdict(float)

        def arrival_index(t: float) -> int:
            return max(0, grid_index(g, t, "up"))

        for r in self.d.receipts:
            arrive[r.state, arrival_index(r.time)] += r.amount
        for ui in self.d.unit_init:
            for state, amount in ui.held:
                arrive[state, arrival_index(ui.free_at)] += amount
        for b in self.d.in_progress:
            for o in self.outputs[b.task]:
                if grid_index(g, b.start + o.duration, "up") >= 0:  # else: in the initial stock
                    arrive[o.state, arrival_index(b.start + o.duration)] += o.fraction * b.size
        for b in batches:
            k = grid_index(g, b.start, "exact")
            if b.hold:
                leave[b.task, k] += b.size
                arrive[b.task, arrival_index(b.start + g.step)] += b.size
                continue
            for a in self.inputs[b.task]:
                leave[a.state, k] += a.fraction * b.size
            for o in self.outputs[b.task]:
                arrive[o.state, arrival_index(b.start + o.duration)] += o.fraction * b.size
        shipped = self.shipped()
        for d, dem in enumerate(self.d.demands):
            leave[dem.state, min(n, grid_index(g, dem.time, "down"))] += shipped[d]
        stock: dict[str, list[float]] = {}
        for s in self.d.states:
            level = s.initial
            levels = []
            cap = s.effective_capacity
            for k in range(n + 1):
                level += arrive.get((s.name, k), 0.0) - leave.get((s.name, k), 0.0)
                levels.append(level)
                if level < -self.tol:
                    self.problem(f"state {s.name!r} at {self.times[k]:g}: stock {level:g} < 0.")
                elif cap is not None and level > cap + self.tol:
                    self.problem(
                        f"state {s.name!r} at {self.times[k]:g}: stock {level:g} above "
                        f"the capacity {cap:g}."
                    )
            stock[s.name] = levels
        for s, amount in self.d.final_min:
            if stock[s][-1] < amount - self.tol:
                self.problem(
                    f"state {s!r}: final stock {stock[s][-1]:g} below the {amount:g} "
                    "required (extra)."
                )
        return stock

    def shipped(self) -> list[float]:
        out = list(self.s.shipped) + [0.0] * (len(self.d.demands) - len(self.s.shipped))
        return out[: len(self.d.demands)]

    def demands(self) -> tuple[float, float]:
        if len(self.s.shipped) != len(self.d.demands):
            self.problem(
                f"the schedule ships {len(self.s.shipped)} demands; the data has "
                f"{len(self.d.demands)}."
            )
        price = {s.name: s.price for s in self.d.states}
        value = penalty = 0.0
        for d, (dem, amount) in enumerate(zip(self.d.demands, self.shipped(), strict=True)):
            if amount < -self.tol or amount > dem.amount + self.tol:
                self.problem(
                    f"demand {d} ({dem.state!r} at {dem.time:g}): ships {amount:g}, "
                    f"outside [0, {dem.amount:g}]."
                )
            elif dem.penalty is None and amount < dem.amount - self.tol:
                self.problem(
                    f"demand {d} ({dem.state!r} at {dem.time:g}): ships {amount:g} of "
                    f"{dem.amount:g}; it must be met in full."
                )
            value += price[dem.state] * amount
            if dem.penalty is not None:
                penalty += dem.penalty * max(0.0, dem.amount - amount)
        return value, penalty

    # ---------------------------------------------------------------------- utilities
    def utilities(self, batches: list[Batch]) -> dict[str, list[float]]:
        n = len(self.times) - 1
        step = self.d.grid.step
        uses: dict[tuple[str, str], list] = defaultdict(list)
        for u in self.d.utility_uses:
            uses[u.unit, u.task].append(u)
        running = [(b.unit, b.task, b.start, b.end, b.size, True) for b in batches if not b.hold]
        for b in self.d.in_progress:
            end = b.start + max(o.duration for o in self.outputs[b.task])
            running.append((b.unit, b.task, b.start, end, b.size, False))
        out: dict[str, list[float]] = {}
        for u in self.d.utilities:
            total = [0.0] * n
            planned = [0.0] * n
            for unit, task, start, end, size, is_planned in running:
                for use in uses.get((unit, task), ()):
                    if use.utility != u.name:
                        continue
                    amount = use.fixed + use.per_size * size
                    for k in range(n):
                        t0 = self.times[k]
                        if start < t0 + step - self.ttol and end > t0 + self.ttol:
                            total[k] += amount
                            if is_planned:
                                planned[k] += amount
            for k in range(n):
                cap = u.capacity_between(self.times[k], self.times[k] + step)
                if planned[k] > self.tol and total[k] > cap + self.tol:
                    self.problem(
                        f"utility {u.name!r} over [{self.times[k]:g}, "
                        f"{self.times[k] + step:g}): uses {total[k]:g} of {cap:g}."
                    )
            out[u.name] = total
        return out
