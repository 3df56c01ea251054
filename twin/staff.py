"""Operators and calendars: staff pools by qualification, on weekly shift calendars.

A pool grants staff only while its shift is on; work already started when a shift ends is
finished (overtime), new work waits for the next shift. Requests are granted first-fit: at
once when enough staff are free, otherwise in arrival order among those that fit when staff
come free. The planner's decoder books staff with the same rule.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import simpy

__all__ = ["Calendar", "Pool", "ALWAYS"]


class Calendar:
    """A weekly calendar of open windows, anchored at the scenario start."""

    def __init__(self, windows: list[tuple[float, float]], week_offset: float) -> None:
        self.windows = windows
        self.offset = week_offset
        self.always = len(windows) == 1 and windows[0] == (0.0, 168.0)
        self._points = sorted({p for w in windows for p in w})

    def is_open(self, t: float) -> bool:
        if self.always:
            return True
        w = (t + self.offset) % 168.0
        return any(a <= w < b for a, b in self.windows)

    def next_change(self, t: float) -> float:
        """The first time after t at which is_open changes (inf if never)."""
        if self.always or not self.windows:
            return math.inf
        now_open = self.is_open(t + 1e-9)
        week_start = t - (t + self.offset) % 168.0
        for k in range(3):
            for p in self._points:
                tp = week_start + 168.0 * k + p
                if tp > t + 1e-9 and self.is_open(tp + 1e-9) != now_open:
                    return tp
        return math.inf


ALWAYS = Calendar([(0.0, 168.0)], 0.0)


def run_calendar(env: simpy.Environment, calendar: Calendar, on_change: Callable[[bool], None]):
    """A SimPy process that calls ``on_change(is_open)`` at every change of the calendar."""
    while True:
        nxt = calendar.next_change(env.now)
        if math.isinf(nxt):
            return
        yield env.timeout(nxt - env.now)
        on_change(calendar.is_open(env.now + 1e-9))


class Pool:
    """Staff of one qualification."""

    def __init__(self, env: simpy.Environment, name: str, count: int, calendar: Calendar) -> None:
        self.env = env
        self.name = name
        self.count = count
        self.free = count
        self.on_shift = calendar.is_open(env.now)
        self._waiting: deque[tuple[int, simpy.Event]] = deque()
        if not calendar.always:
            env.process(run_calendar(env, calendar, self._shift_change))

    def request(self, n: int = 1) -> simpy.Event:
        """Staff are granted at once when n are free and on shift (first fit: a request that
        fits is not held back by a larger one waiting), else when they become so."""
        ev = self.env.event()
        if self.on_shift and self.free >= n:
            self.free -= n
            ev.succeed(n)
        else:
            self._waiting.append((n, ev))
        return ev

    def take(self, n: int = 1) -> simpy.Event:
        """Staff already at work when a run resumes from a plant state: granted at once, on
        shift or not (work started on shift is finished), as far as the pool has them."""
        if self.free >= n:
            ev = self.env.event()
            self.free -= n
            ev.succeed(n)
            return ev
        return self.request(n)

    def cancel(self, ev: simpy.Event) -> None:
        """Withdraw a request; if it was already granted, give the staff back."""
        for item in self._waiting:
            if item[1] is ev:
                self._waiting.remove(item)
                return
        if ev.triggered:
            self.release(ev.value)

    def release(self, n: int = 1) -> None:
        self.free += n
        self._grant()

    def _shift_change(self, is_open: bool) -> None:
        self.on_shift = is_open
        self._grant()

    def _grant(self) -> None:
        if not self.on_shift or not self._waiting:
            return
        keep: deque[tuple[int, simpy.Event]] = deque()
        while self._waiting:
            n, ev = self._waiting.popleft()
            if self.free >= n:
                self.free -= n
                ev.succeed(n)
            else:
                keep.append((n, ev))
        self._waiting = keep


def week_offset(start_weekday: int, start_hour: float) -> float:
    """Hours from the Monday 00:00 before the scenario start to the start itself."""
    return start_weekday * 24.0 + start_hour
