"""What every ``twin`` command shares: the error contract, the consoles, JSON output, the
option types and the checks of option values.

The error contract: a problem with what the user asked for is one paragraph on stderr that
names the option or file, the path inside it, the bad value and what was expected, with exit
code 2 and never a traceback. Library code raises its own input errors
(:class:`~twin.scenario.ScenarioError`, ``StoreError``, ``ExperimentError``,
``ExecutorError``); commands raise :class:`UserError`; click's own usage errors (a missing
argument, a value that is not a number) are printed in the same form by :class:`TwinGroup`.

Option values are checked here, at the edge, before any work starts: numbers must be finite
and inside sane bounds (anything that sizes memory or work has an upper bound, and the
message says it).
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from twin.scenario import ScenarioError

__all__ = [
    "UserError",
    "user_errors",
    "out",
    "err",
    "print_json",
    "TwinGroup",
    "check_int",
    "check_number",
    "check_seed",
    "parse_hours",
    "MAX_SEED",
    "MAX_WORKERS_PER_CORE",
    "MAX_TIME_LIMIT_S",
]

out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

MAX_SEED = 2**63 - 1
"""Seeds are stored in run.json and queried with DuckDB (BIGINT)."""
MAX_WORKERS_PER_CORE = 4
"""``--workers`` may oversubscribe the cores at most this much (each worker holds a plant)."""
MAX_TIME_LIMIT_S = 86_400.0
"""Solver time limits: at most a day."""


class UserError(Exception):
    """A problem with what the user asked for (already phrased for them)."""


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(2)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


_LIBRARY_ERRORS = (
    ("twin.store", "StoreError"),
    ("twin.experiment", "ExperimentError"),
    ("twin.executors", "ExecutorError"),
    ("optimizer.aps_data", "PlanInfeasibleError"),
    ("optimizer.formats", "InstanceFormatError"),
    ("optimizer.routing", "RoutingInfeasibleError"),
    ("optimizer.solvers", "SolverUnavailableError"),
    ("optimizer.options", "OptionError"),
    ("twin.log_schema", "LogError"),
    ("twin.fit", "FitError"),
    ("twin.forecast", "ForecastError"),
)
"""Input errors of the library, phrased for the user: (module, class). Only modules already
imported are looked at (an exception of a module never imported cannot have been raised), so
no command pays for importing the optimizer to recognise its errors."""


def input_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ScenarioError, UserError]
    for module, name in _LIBRARY_ERRORS:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(getattr(loaded, name, None), type):
            types.append(getattr(loaded, name))
    return tuple(types)


def _message(exc: BaseException) -> str:
    cli = getattr(exc, "cli_message", None)  # optimizer.options.OptionError: with the flag
    return cli() if callable(cli) else str(exc)


def user_errors(fn: F) -> F:
    """Turn known input problems into one message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:  # a file named on the command line that cannot be read/written
            where = exc.filename if exc.filename is not None else "a file"
            _fail(
                _escape(
                    f"{where}: {exc.strerror or exc}; expected an existing, readable file "
                    "(and a writable place for outputs)"
                )
            )
        except Exception as exc:
            if isinstance(exc, input_error_types()):
                _fail(_escape(_message(exc)))
            raise

    return wrapper  # type: ignore[return-value]


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(type(obj).__name__)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_jsonable) + "\n")


# --------------------------------------------------------------------------- usage errors
def _click_class(name: str) -> type[Exception]:
    """A class of the click that Typer runs on (Typer may carry its own copy of click, so
    ``import click`` can be another one): found among the bases of ``typer.BadParameter``."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise ImportError(name)  # pragma: no cover - typer without click's exception classes


_ClickException = _click_class("ClickException")


class TwinGroup(TyperGroup):
    """The top-level command group: click's usage errors (missing argument, a value of the
    wrong type, an unknown option) become the same one-paragraph ``error:`` as every other
    input problem, with exit code 2 and a pointer to ``--help``."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.Abort:
            err.print("aborted")
            rv = 1
        except _ClickException as exc:
            rv = exc.exit_code  # type: ignore[attr-defined]
            if type(exc).__name__ != "NoArgsIsHelpError":  # (the help is printed already)
                err.print(
                    f"[bold red]error:[/] {_escape(_usage_message(exc))}",
                    highlight=False,
                    soft_wrap=True,
                )
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _usage_message(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    names = []
    while ctx is not None and ctx.parent is not None:  # the root is `twin` whatever it is called
        names.append(ctx.info_name)
        ctx = ctx.parent
    where = " ".join(["twin", *reversed(names)])
    hint = f"; see `{where} --help`"
    param = getattr(exc, "param", None)
    if param is not None:
        names = getattr(exc, "param_hint", None) or "/".join(param.opts) or param.name
        if isinstance(names, list | tuple):
            names = " / ".join(names)
        names = str(names).replace("'", "").replace('"', "")
        if type(exc).__name__ == "MissingParameter":
            kind = getattr(param, "param_type_name", "option")
            return f"{names}: missing {kind}{hint}"
        message = str(getattr(exc, "message", exc)).rstrip(".")
        errors = getattr(exc.__cause__, "errors", None)  # Typer's parsing: a pydantic error
        if callable(errors):
            try:
                value = errors()[0]["input"]
            except (LookupError, TypeError):
                value = None
            if value is not None:
                message = f"bad value {value!r}: {message[:1].lower()}{message[1:]}"
        return f"{names}: {message}{hint}"
    return f"{exc.format_message().rstrip('.')}{hint}"  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- value checks
def check_out_dir(out_dir: Path | None, force: bool) -> None:
    """``--out DIR [--force]`` of a command that writes a run folder: a new or empty folder, or
    a previous run output with ``--force``; ``--force`` alone is an error."""
    if force and out_dir is None:
        raise UserError("--force: replaces a previous run output in --out; give --out DIR")
    if out_dir is not None:
        from twin.simulate import RunDirError, check_run_dir

        try:
            check_run_dir(out_dir, force)
        except RunDirError as exc:
            raise UserError(f"--out {exc}") from None


def check_int(option: str, value: int | None, low: int, high: int, what: str = "") -> int | None:
    """``value`` if ``low <= value <= high`` (None passes), else a UserError saying the bound."""
    if value is None:
        return None
    if not low <= value <= high:
        _bad(option, value, f"an integer from {low:,} to {high:,}" + (f" ({what})" if what else ""))
    return value


def check_number(
    option: str,
    value: float | None,
    low: float,
    high: float,
    unit: str = "",
    low_open: bool = False,
    high_open: bool = False,
) -> float | None:
    """``value`` if finite and inside ``[low, high]`` (open ends on request); None passes."""
    if value is None:
        return None
    ok = math.isfinite(value) and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        lo = f"> {_g(low)}" if low_open else f">= {_g(low)}"
        hi = f"< {_g(high)}" if high_open else f"<= {_g(high)}"
        _bad(option, value, f"a finite number {lo} and {hi}" + (f" {unit}" if unit else ""))
    return float(value)


def check_seed(option: str, value: int, high: int = MAX_SEED) -> int:
    check_int(option, value, 0, high)
    return value


def parse_hours(
    option: str, value: str | None, low: float = 0.0, high: float | None = None,
    low_open: bool = False,
) -> float | None:  # fmt: skip
    """A duration option (``24h``, ``90min``, ``2d``, or hours) within bounds; None passes."""
    if value is None:
        return None
    from twin.units import parse_duration

    try:
        hours = parse_duration(value)
    except ValueError as exc:
        raise UserError(f"{option}: bad value {value!r}: {exc}") from None
    if (hours <= low if low_open else hours < low) or (high is not None and hours > high):
        bound = f"more than {_hours(low)}" if low_open else f"at least {_hours(low)}"
        if high is not None:
            bound += f" and at most {_hours(high)}"
        raise UserError(f"{option}: bad value {value!r}: expected a duration of {bound}")
    return hours


def _bad(option: str, value: Any, expected: str) -> NoReturn:
    raise UserError(f"{option}: bad value {_g(value)}: expected {expected}")


def _g(x: Any) -> str:
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return str(x)
        return f"{x:,g}" if abs(x) < 1e16 else f"{x:g}"
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}" if abs(x) < 10**16 else str(x)
    return repr(x)


def _hours(h: float) -> str:
    if h >= 48 and h % 24 == 0:
        return f"{h / 24:g} d ({h:,g} h)"
    if 0 < h < 1:
        return f"{h * 60:g} min"
    return f"{h:,g} h"


# --------------------------------------------------------------------------- option types
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change one value: dotted.path=value (repeatable), e.g. units.press_1.count=2.",
    ),
]
Replications = Annotated[
    int, typer.Option("--replications", "-n", help="Replications per scenario.")
]
Seed = Annotated[
    int, typer.Option(help="Random seed (replication r of every variant shares streams).")
]
Kpis = Annotated[
    list[str] | None,
    typer.Option("--kpi", help="KPI to report (repeatable; globs like 'oee.*.oee')."),
]
StoreDir = Annotated[Path | None, typer.Option("--store", help="Run store folder (default: runs).")]
NoStore = Annotated[bool, typer.Option("--no-store", help="Do not write runs to the store.")]
Fresh = Annotated[
    bool, typer.Option("--fresh", help="Simulate again even if the store has the runs.")
]
Workers = Annotated[
    int | None, typer.Option(help="Local worker processes (default: all cores); 1 runs in-process.")
]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask",
        help="Run on Dask: 'local' starts a LocalCluster, or a scheduler "
        "address such as tcp://host:8786.",
    ),
]
Timeout = Annotated[
    float, typer.Option("--connect-timeout", help="Seconds to reach a Dask scheduler.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object, no progress bar.")]
TimeLimit = Annotated[
    float, typer.Option("--time-limit", help="Solver time limit, seconds (at most a day).")
]
Solver = Annotated[str, typer.Option(help="Pyomo solver name (HiGHS by default).")]
