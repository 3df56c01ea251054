"""Progress of long solves, reported to an optional callback (watching is kept out of the
algorithm, as PyVRP keeps its progress printer apart).

A solver that takes a ``progress`` argument calls it with a :class:`Progress` at each step
worth showing: the phase it is in, the seconds since the call began, the best answer so far
(``incumbent``) and the proven bound (``bound``), both in ``unit``, and one line of detail.
The callback must be quick and must not raise; ``Progress.line()`` is a ready-made terminal
line of at most 80 characters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "Reporter"]


@dataclass(frozen=True)
class Progress:
    """One report of a running solve.

    ``phase`` names the step ("demand", "bound", "greedy", "milp", "twin" for fleet sizing;
    "heuristic", "milp" for routing); ``incumbent`` is the best answer found so far and
    ``bound`` the best proven bound on it (None when not known yet), both in ``unit``
    ("AGVs", "km", ...).
    """

    phase: str
    elapsed: float
    incumbent: float | None = None
    bound: float | None = None
    unit: str = ""
    detail: str = ""

    def line(self, width: int = 80) -> str:
        """``" 12.3s milp   best 4, bound 3 AGVs  3 AGVs, 40 % done, 380/604 late"``, cut to
        ``width`` characters."""
        unit = f" {self.unit}" if self.unit else ""
        if self.incumbent is not None and self.bound is not None:
            known = f"best {_number(self.incumbent)}, bound {_number(self.bound)}{unit}"
        elif self.incumbent is not None:
            known = f"best {_number(self.incumbent)}{unit}"
        elif self.bound is not None:
            known = f"bound {_number(self.bound)}{unit}"
        else:
            known = ""
        text = f"{self.elapsed:5.1f}s {self.phase:<6}"
        if known:
            text += " " + known
        if self.detail:
            text += ("  " if known else " ") + self.detail
        return text if len(text) <= width else text[: width - 3] + "..."


ProgressCallback = Callable[[Progress], None]


def _number(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:,.1f}"


class Reporter:
    """Sends :class:`Progress` reports to ``callback`` (a no-op without one), timed on
    ``clock`` from ``started``, in ``unit``."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        started: float | None = None,
        unit: str = "",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.callback = callback
        self.clock = clock
        self.started = clock() if started is None else started
        self.unit = unit

    def __bool__(self) -> bool:
        return self.callback is not None

    def __call__(
        self,
        phase: str,
        detail: str = "",
        incumbent: float | None = None,
        bound: float | None = None,
    ) -> None:
        if self.callback is not None:
            elapsed = self.clock() - self.started
            self.callback(Progress(phase, elapsed, incumbent, bound, self.unit, detail))
