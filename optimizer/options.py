"""Checks of the numeric options of the optimizer's commands, made at the edge.

Every entry point of ``twin route`` and ``twin fleet`` (``optimizer.route_commands``,
``optimizer.fleet_commands``, and the solvers they call) checks its numbers before any work
starts. A bad one raises :class:`OptionError`: one paragraph naming the option, the bad value
and what was expected, so a front end can show it as it is (the CLI exits with code 2). NaN and
infinity are refused wherever a finite number is meant: a time limit of ``nan`` or ``inf``
would otherwise run for ever or fail deep inside a solver.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

__all__ = [
    "OptionError",
    "check_count",
    "check_finite",
    "check_positive",
    "check_seed",
    "check_share",
    "check_time_limit",
]

MAX_SEED = 2**31 - 1
"""The largest seed every random generator we pass it to accepts (HiGHS: a C int)."""


class OptionError(ValueError):
    """A bad value of an option: ``option``, the ``value`` given, and what was ``expected``.

    ``str(error)`` names the option as the Python parameter (``time_limit``); ``flag`` is the
    command-line spelling (``--time-limit``) and ``cli_message()`` the same paragraph with it.
    """

    def __init__(self, option: str, value: Any, expected: str, flag: str | None = None) -> None:
        self.option = option
        self.value = value
        self.expected = expected
        self.flag = flag or "--" + option.replace("_", "-")
        super().__init__(f"{option}: bad value {_show(value)}: expected {expected}")

    def cli_message(self) -> str:
        """The paragraph with the command-line flag instead of the parameter name."""
        return f"{self.flag}: bad value {_show(self.value)}: expected {self.expected}"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_finite(value: Any, option: str, expected: str) -> float:
    """``value`` as a float if it is a finite real number, else OptionError(expected)."""
    if not (_real(value) and math.isfinite(value)):
        raise OptionError(option, value, expected)
    return float(value)


def check_positive(value: Any, option: str, unit: str) -> float:
    """A finite number > 0 (``unit`` says what it counts: "seconds", "hours")."""
    expected = f"a finite number of {unit} > 0"
    number = check_finite(value, option, expected)
    if number <= 0:
        raise OptionError(option, value, expected)
    return number


def check_time_limit(value: Any, option: str = "time_limit") -> float:
    """A time limit in seconds: finite and > 0."""
    return check_positive(value, option, "seconds")


def check_share(value: Any, option: str) -> float:
    """A share in (0, 1] (a service level: 0.95 for 95 %)."""
    expected = "a share in (0, 1], such as 0.95 for 95 %"
    number = check_finite(value, option, expected)
    if not 0 < number <= 1:
        raise OptionError(option, value, expected)
    return number


def check_count(value: Any, option: str, minimum: int = 0) -> int:
    """An integer >= ``minimum``."""
    if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum):
        raise OptionError(option, value, f"an integer >= {minimum}")
    return int(value)


def check_seed(value: Any, option: str = "seed") -> int:
    """A seed: an integer in 0 .. 2**31 - 1."""
    if not (isinstance(value, Integral) and not isinstance(value, bool) and 0 <= value <= MAX_SEED):
        raise OptionError(option, value, f"an integer from 0 to {MAX_SEED}")
    return int(value)
