"""SimPy events for the parts of the twin that run by callbacks instead of as processes.

A SimPy process costs a generator resume per event it waits for. The hottest parts of a run
(the order book's releases, batches of plain products, deferred dispatch decisions) attach
callbacks to the very events a process would wait for, at the moment it would wait, so the
event queue, and with it every decision and the log, is the same. What a process adds to
the queue on its own, its start (an urgent event) and its end (its own event, which nothing
may wait for but which ``Plant.end_of_instant`` sees in the queue), is scheduled here too:
``process_start`` and ``process_end``.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy
from simpy.core import NORMAL, URGENT

__all__ = ["Triggered", "at_end_of_instant", "process_start", "process_end"]

Callback = Callable[[simpy.Event], None]


class Triggered(simpy.Event):
    """An event born triggered and scheduled at once, built as SimPy's own ``Initialize``
    is: the cost of ``env.event()`` + ``callbacks.append`` + ``succeed()`` in one step."""

    def __init__(self, env: simpy.Environment, priority: int, callbacks: list[Callback]) -> None:
        self.env = env
        self.callbacks = callbacks
        self._value = None
        self._ok = True
        env.schedule(self, priority)


def at_end_of_instant(env: simpy.Environment, callback: Callback) -> None:
    """Call ``callback`` once the events already scheduled at this instant have run."""
    Triggered(env, NORMAL, [callback])


def process_start(env: simpy.Environment, callback: Callback) -> None:
    """Schedule ``callback`` where ``env.process`` would schedule a new process's start."""
    Triggered(env, URGENT, [callback])


def process_end(env: simpy.Environment) -> None:
    """Schedule what a process schedules as it ends (its own event)."""
    Triggered(env, NORMAL, [])
