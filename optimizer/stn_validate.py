"""Validation of `StnData`: every value and cross-reference, with the JSON path of the place.

`validate(data)` runs from `StnData.__post_init__`, so data built in code (the twin's translation
of a scenario) is held to the same rules as a file; it also fills the look-up index of `data`.
The first problem raises `StnDataError(where, message)`, `where` being the JSON path the reader
(`optimizer.formats.stn`) reports, e.g. `units[3][2]`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from optimizer.stn_data import (
    FRACTION_TOLERANCE,
    GRID_TOLERANCE,
    MAX_AMOUNT,
    MAX_GRID_POINTS,
    MAX_MONEY,
    MAX_NAMES,
    MAX_ROWS,
    MAX_TIME,
    Arc,
    OutputArc,
    State,
    StnDataError,
    UnitTask,
    Utility,
)

if TYPE_CHECKING:
    from optimizer.stn_data import StnData

__all__ = ["validate"]


def validate(data: StnData) -> None:
    """Check `data` (module docstring); raise `StnDataError` on the first problem."""
    _Validator(data).run()


def _show(value: object) -> str:
    return (
        repr(value)
        if isinstance(value, str)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def _choices(names: Iterable[str], limit: int = 12) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


class _Validator:
    """Checks one `StnData` and fills its look-up index; raises on the first problem."""

    def __init__(self, data: StnData) -> None:
        self.d = data

    def fail(self, where: str, value: object, expected: str) -> None:
        raise StnDataError(where, f"bad value {_show(value)}; expected {expected}.")

    def number(self, where: str, value: object, low: float, high: float, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, value, f"{what} (a number)")
        if not math.isfinite(value) or not low <= value <= high:
            self.fail(where, value, f"{what} from {low:g} to {high:g}")
        return float(value)

    def name(self, where: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            self.fail(where, value, "a non-empty name of at most 200 characters")
        return value

    def rows(self, where: str, rows: tuple) -> None:
        if not isinstance(rows, tuple):
            self.fail(where, type(rows).__name__, "a tuple")
        if len(rows) > MAX_ROWS:
            self.fail(where, f"{len(rows)} entries", f"at most {MAX_ROWS}")

    def run(self) -> None:
        d = self.d
        self.name("name", d.name)
        self.grid()
        self.states()
        self.unit_tasks()
        self.arcs()
        self.tasks_complete()
        self.final_min()
        self.utilities()
        self.cleanings_and_changeovers()
        self.flows()
        self.initial_plant()
        if d.reference is not None:
            self.number("reference.value", d.reference.value, -1e15, 1e15, "a finite value")
            if d.reference.sense not in ("max", "min"):
                self.fail("reference.sense", d.reference.sense, "'max' or 'min'")

    def grid(self) -> None:
        g = self.d.grid
        start = self.number("grid.start", g.start, -MAX_TIME, MAX_TIME, "a time")
        stop = self.number("grid.stop", g.stop, -MAX_TIME, MAX_TIME, "a time")
        step = self.number("grid.step", g.step, 0.0, MAX_TIME, "a step > 0")
        if step <= 0:
            self.fail("grid.step", g.step, "a step > 0")
        if stop <= start:
            self.fail("grid.stop", g.stop, f"a time after grid.start {start:g}")
        x = (stop - start) / step
        if x > MAX_GRID_POINTS:
            self.fail(
                "grid.step",
                g.step,
                f"a step giving at most {MAX_GRID_POINTS} periods (this one gives {x:.0f})",
            )
        if abs(x - round(x)) > GRID_TOLERANCE * max(1.0, x):
            self.fail(
                "grid.stop",
                g.stop,
                f"a grid point: start + a whole number of steps ({start:g} + n * {step:g})",
            )

    def states(self) -> None:
        d = self.d
        self.rows("states", d.states)
        if not d.states:
            self.fail("states", "{}", "at least one state")
        if len(d.states) > MAX_NAMES:
            self.fail("states", f"{len(d.states)} states", f"at most {MAX_NAMES}")
        index: dict[str, State] = {}
        for s in d.states:
            self.name("states", s.name)
            at = f"states.{s.name}"
            if s.name in index:
                self.fail(at, s.name, "each state named once")
            index[s.name] = s
            if s.policy not in ("store", "none", "zero_wait"):
                self.fail(f"{at}.policy", s.policy, "'store', 'none' or 'zero_wait'")
            if s.capacity is not None:
                self.number(f"{at}.capacity", s.capacity, 0.0, MAX_AMOUNT, "a capacity or null")
                if s.policy != "store" and s.capacity != 0:
                    self.fail(
                        f"{at}.capacity",
                        s.capacity,
                        f"null or 0 with policy '{s.policy}' (no storage tank)",
                    )
            self.number(f"{at}.init", s.initial, 0.0, MAX_AMOUNT, "an initial stock")
            cap = s.effective_capacity
            if cap is not None and s.initial > cap:
                self.fail(f"{at}.init", s.initial, f"at most the capacity {cap:g}")
            self.number(f"{at}.price", s.price, -MAX_MONEY, MAX_MONEY, "a price")
        d._index["states"] = index

    def unit_tasks(self) -> None:
        d = self.d
        self.rows("units", d.unit_tasks)
        if not d.unit_tasks:
            self.fail("units", "[]", "at least one [unit, task, Bmin, Bmax, fixed, variable] row")
        index: dict[tuple[str, str], UnitTask] = {}
        for n, ut in enumerate(d.unit_tasks):
            at = f"units[{n}]"
            self.name(f"{at}[0]", ut.unit)
            self.name(f"{at}[1]", ut.task)
            if (ut.unit, ut.task) in index:
                self.fail(
                    f"{at}[1]",
                    ut.task,
                    f"each task listed once per unit ({ut.unit!r} already runs it)",
                )
            index[ut.unit, ut.task] = ut
            self.number(f"{at}[2]", ut.bmin, 0.0, MAX_AMOUNT, "a minimum batch size Bmin >= 0")
            self.number(f"{at}[3]", ut.bmax, 0.0, MAX_AMOUNT, "a maximum batch size Bmax > 0")
            if ut.bmax <= 0:
                self.fail(f"{at}[3]", ut.bmax, "a maximum batch size Bmax > 0")
            if ut.bmin > ut.bmax:
                self.fail(f"{at}[2]", ut.bmin, f"Bmin <= Bmax ({ut.bmax:g})")
            self.number(f"{at}[4]", ut.fixed_cost, -MAX_MONEY, MAX_MONEY, "a fixed cost")
            self.number(f"{at}[5]", ut.variable_cost, -MAX_MONEY, MAX_MONEY, "a variable cost")
        tasks = {t for _, t in index}
        units = {u for u, _ in index}
        if len(tasks) > MAX_NAMES or len(units) > MAX_NAMES:
            self.fail("units", f"{len(units)} units, {len(tasks)} tasks", f"at most {MAX_NAMES}")
        d._index["unit_tasks"] = index
        d._index["tasks"] = tasks
        d._index["units"] = units

    def known_state(self, where: str, name: object) -> str:
        self.name(where, name)
        if name not in self.d._index["states"]:
            self.fail(
                where, name, f"a state defined in states: {_choices(self.d._index['states'])}"
            )
        return name

    def known_task(self, where: str, name: object) -> str:
        self.name(where, name)
        if name not in self.d._index["tasks"]:
            self.fail(
                where, name, f"a task some unit runs (in units): {_choices(self.d._index['tasks'])}"
            )
        return name

    def known_unit(self, where: str, name: object) -> str:
        self.name(where, name)
        if name not in self.d._index["units"]:
            self.fail(where, name, f"a unit listed in units: {_choices(self.d._index['units'])}")
        return name

    def known_pair(self, at: str, unit: str, task: str) -> None:
        """`at[0]` names a unit and `at[1]` a task that unit runs."""
        self.known_unit(f"{at}[0]", unit)
        self.known_task(f"{at}[1]", task)
        if (unit, task) not in self.d._index["unit_tasks"]:
            self.fail(f"{at}[1]", task, f"a task that unit {unit!r} runs (per units)")

    def arcs(self) -> None:
        d = self.d
        self.rows("st_arcs", d.inputs)
        self.rows("ts_arcs", d.outputs)
        inputs: dict[str, list[Arc]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for n, a in enumerate(d.inputs):
            at = f"st_arcs[{n}]"
            self.known_state(f"{at}[0]", a.state)
            self.known_task(f"{at}[1]", a.task)
            if (a.state, a.task) in seen:
                self.fail(f"{at}[0]", a.state, f"each input state once per task ({a.task!r})")
            seen.add((a.state, a.task))
            self.number(f"{at}[2]", a.fraction, 0.0, 1.0, "a fraction > 0 and <= 1")
            if a.fraction <= 0:
                self.fail(f"{at}[2]", a.fraction, "a fraction > 0 and <= 1")
            inputs[a.task].append(a)
        outputs: dict[str, list[OutputArc]] = defaultdict(list)
        seen = set()
        for n, o in enumerate(d.outputs):
            at = f"ts_arcs[{n}]"
            self.known_task(f"{at}[0]", o.task)
            self.known_state(f"{at}[1]", o.state)
            if (o.task, o.state) in seen:
                self.fail(f"{at}[1]", o.state, f"each output state once per task ({o.task!r})")
            seen.add((o.task, o.state))
            self.number(f"{at}[2]", o.fraction, 0.0, 1.0, "a fraction > 0 and <= 1")
            if o.fraction <= 0:
                self.fail(f"{at}[2]", o.fraction, "a fraction > 0 and <= 1")
            self.number(f"{at}[3]", o.duration, 0.0, MAX_TIME, "a duration > 0")
            if o.duration <= 0:
                self.fail(f"{at}[3]", o.duration, "a duration > 0")
            if o.duration / d.grid.step > MAX_GRID_POINTS:
                self.fail(f"{at}[3]", o.duration, f"at most {MAX_GRID_POINTS} grid steps")
            outputs[o.task].append(o)
        d._index["inputs"] = {t: tuple(v) for t, v in inputs.items()}
        d._index["outputs"] = {t: tuple(v) for t, v in outputs.items()}

    def tasks_complete(self) -> None:
        d = self.d
        first_row = {}
        for n, ut in enumerate(d.unit_tasks):
            first_row.setdefault(ut.task, n)
        for task, n in first_row.items():
            for side, arcs, key in (
                ("input", d._index["inputs"], "st_arcs"),
                ("output", d._index["outputs"], "ts_arcs"),
            ):
                if task not in arcs:
                    self.fail(
                        f"units[{n}][1]", task, f"a task with at least one {side} arc in {key}"
                    )
                total = sum(a.fraction for a in arcs[task])
                if abs(total - 1.0) > FRACTION_TOLERANCE:
                    rows = [
                        i
                        for i, a in enumerate(d.inputs if side == "input" else d.outputs)
                        if a.task == task
                    ]
                    self.fail(
                        f"{key}[{rows[0]}][2]",
                        total,
                        f"{side} fractions of task {task!r} summing to 1 "
                        f"(rows {', '.join(f'{key}[{i}]' for i in rows)} sum to "
                        f"{total:g})",
                    )

    def final_min(self) -> None:
        seen: set[str] = set()
        self.rows("extra", self.d.final_min)
        for n, row in enumerate(self.d.final_min):
            if not (isinstance(row, tuple) and len(row) == 2):
                self.fail(f"extra[{n}]", row, "a pair (state, amount)")
            s = self.known_state(f"extra[{n}][0]", row[0])
            if s in seen:
                self.fail(f"extra[{n}][0]", s, "each state once in extra")
            seen.add(s)
            amount = self.number(f"extra[{n}][1]", row[1], 0.0, MAX_AMOUNT, "an amount >= 0")
            cap = self.d.state(s).effective_capacity
            if cap is not None and amount > cap:
                self.fail(f"extra[{n}][1]", amount, f"at most the capacity {cap:g} of {s!r}")

    def utilities(self) -> None:
        d = self.d
        self.rows("utilities", d.utilities)
        index: dict[str, Utility] = {}
        for u in d.utilities:
            self.name("utilities", u.name)
            at = f"utilities.{u.name}"
            if u.name in index:
                self.fail(at, u.name, "each utility named once")
            index[u.name] = u
            self.number(f"{at}.capacity", u.capacity, 0.0, MAX_AMOUNT, "a capacity")
            self.rows(f"{at}.changes", u.changes)
            for n, change in enumerate(u.changes):
                if not (isinstance(change, tuple) and len(change) == 2):
                    self.fail(f"{at}.changes[{n}]", change, "a pair (time, capacity)")
                self.number(f"{at}.changes[{n}][0]", change[0], -MAX_TIME, MAX_TIME, "a time")
                self.number(f"{at}.changes[{n}][1]", change[1], 0.0, MAX_AMOUNT, "a capacity")
        d._index["utilities"] = index
        self.rows("unit_utilities", d.utility_uses)
        seen: set[tuple[str, str, str]] = set()
        for n, use in enumerate(d.utility_uses):
            at = f"unit_utilities[{n}]"
            self.known_pair(at, use.unit, use.task)
            self.name(f"{at}[2]", use.utility)
            if use.utility not in index:
                self.fail(
                    f"{at}[2]",
                    use.utility,
                    f"a utility defined in utilities: {_choices(index) or 'none defined'}",
                )
            if (use.unit, use.task, use.utility) in seen:
                self.fail(f"{at}[2]", use.utility, "each utility once per unit and task")
            seen.add((use.unit, use.task, use.utility))
            self.number(f"{at}[3]", use.fixed, 0.0, MAX_AMOUNT, "a fixed use >= 0")
            self.number(f"{at}[4]", use.per_size, 0.0, MAX_AMOUNT, "a use per unit size >= 0")

    def cleanings_and_changeovers(self) -> None:
        d = self.d
        self.rows("cleaning", d.cleanings)
        cleanings: dict[tuple[str, str], float] = {}
        for n, c in enumerate(d.cleanings):
            at = f"cleaning[{n}]"
            self.known_pair(at, c.unit, c.task)
            if (c.unit, c.task) in cleanings:
                self.fail(f"{at}[1]", c.task, "each unit and task once in cleaning")
            cleanings[c.unit, c.task] = self.number(
                f"{at}[2]", c.duration, 0.0, MAX_TIME, "a duration >= 0"
            )
        self.rows("changeovers", d.changeovers)
        changeovers: dict[tuple[str, str, str], float] = {}
        for n, c in enumerate(d.changeovers):
            at = f"changeovers[{n}]"
            self.known_unit(f"{at}[0]", c.unit)
            for k, task in ((1, c.from_task), (2, c.to_task)):
                self.known_task(f"{at}[{k}]", task)
                if (c.unit, task) not in d._index["unit_tasks"]:
                    self.fail(f"{at}[{k}]", task, f"a task that unit {c.unit!r} runs (per units)")
            key = (c.unit, c.from_task, c.to_task)
            if key in changeovers:
                self.fail(at, f"{c.from_task} -> {c.to_task}", "each pair once per unit")
            changeovers[key] = self.number(f"{at}[3]", c.duration, 0.0, MAX_TIME, "a duration >= 0")
        d._index["cleanings"] = cleanings
        d._index["changeovers"] = changeovers

    def on_grid_window(self, where: str, time: object) -> float:
        g = self.d.grid
        return self.number(where, time, g.start, g.stop, "a time within the grid")

    def flows(self) -> None:
        d = self.d
        self.rows("demands", d.demands)
        for n, dem in enumerate(d.demands):
            at = f"demands[{n}]"
            self.known_state(f"{at}[0]", dem.state)
            self.on_grid_window(f"{at}[1]", dem.time)
            self.number(f"{at}[2]", dem.amount, 0.0, MAX_AMOUNT, "an amount >= 0")
            if dem.penalty is not None:
                self.number(f"{at}[3]", dem.penalty, 0.0, MAX_MONEY, "a penalty >= 0 or null")
        self.rows("receipts", d.receipts)
        for n, rec in enumerate(d.receipts):
            at = f"receipts[{n}]"
            self.known_state(f"{at}[0]", rec.state)
            self.on_grid_window(f"{at}[1]", rec.time)
            self.number(f"{at}[2]", rec.amount, 0.0, MAX_AMOUNT, "an amount >= 0")

    def initial_plant(self) -> None:
        d = self.d
        self.rows("initial.units", d.unit_init)
        self.rows("initial.in_progress", d.in_progress)
        busy: dict[str, str] = {}
        for n, ui in enumerate(d.unit_init):
            at = f"initial.units[{n}]"
            self.known_unit(f"{at}[0]", ui.unit)
            if ui.unit in busy:
                self.fail(f"{at}[0]", ui.unit, f"each unit once (also in {busy[ui.unit]})")
            busy[ui.unit] = at
            self.number(f"{at}[1]", ui.free_at, -MAX_TIME, MAX_TIME, "a time")
            if ui.last_task is not None:
                self.known_task(f"{at}[2]", ui.last_task)
                if (ui.unit, ui.last_task) not in d._index["unit_tasks"]:
                    self.fail(f"{at}[2]", ui.last_task, f"a task unit {ui.unit!r} runs, or null")
            self.rows(f"{at}[3]", ui.held)
            held: set[str] = set()
            for state, amount in ui.held:
                where = f"{at}[3].{state}"
                self.known_state(where, state)
                if d.state(state).policy != "none" or state in held:
                    self.fail(where, state, "each NIS state (policy 'none') once")
                held.add(state)
                makes = any(
                    o.state == state
                    for (unit, task) in d._index["unit_tasks"]
                    if unit == ui.unit
                    for o in d._index["outputs"].get(task, ())
                )
                if not makes:
                    self.fail(
                        where, state, f"a state unit {ui.unit!r} makes (it holds only its own)"
                    )
                self.number(where, amount, 0.0, MAX_AMOUNT, "an amount >= 0")
        for n, b in enumerate(d.in_progress):
            at = f"initial.in_progress[{n}]"
            self.known_task(f"{at}[0]", b.task)
            self.known_unit(f"{at}[1]", b.unit)
            if (b.unit, b.task) not in d._index["unit_tasks"]:
                self.fail(f"{at}[1]", b.unit, f"a unit that runs {b.task!r} (per units)")
            if b.unit in busy:
                self.fail(f"{at}[1]", b.unit, f"a unit not already described in {busy[b.unit]}")
            busy[b.unit] = at
            start = self.number(
                f"{at}[2]", b.start, -MAX_TIME, d.grid.start, "a start at or before grid.start"
            )
            end = start + max(o.duration for o in d._index["outputs"][b.task])
            if end <= d.grid.start:
                self.fail(
                    f"{at}[2]",
                    b.start,
                    f"a batch still running at grid.start "
                    f"{d.grid.start:g} (this one ended at {end:g})",
                )
            ut = d._index["unit_tasks"][b.unit, b.task]
            self.number(f"{at}[3]", b.size, 0.0, ut.bmax, f"a size from 0 to Bmax {ut.bmax:g}")
