"""Shop-scheduling instances read from public benchmark files.

Both readers (`jobshop.read_jobshop` for OR-Library/JSPLIB job shops and `fjsp.read_fjsp` for
Brandimarte flexible job shops) produce the same immutable `ShopInstance`: jobs, each an ordered
tuple of operations, each operation a tuple of `(machine, duration)` alternatives. A job shop is
the special case where every operation has exactly one alternative.

Every reader refuses absurd input with an `InstanceFormatError` rather than letting it reach a
solver: numbers must be plain ASCII integers (no `1e3`, `1_000`, `3.5`, full-width digits), and
sizes stay within the limits below, which bound the memory a file can claim and keep every time
a model handles far below the point where a solver's tolerances exceed one time unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_DURATION",
    "MAX_FILE_BYTES",
    "MAX_HORIZON",
    "MAX_JOBS",
    "MAX_MACHINES",
    "MAX_OPERATIONS",
    "Alternative",
    "InstanceFormatError",
    "Operation",
    "ShopInstance",
]

MAX_JOBS = 10_000
"""Jobs in one shop instance (the largest public sets have a few hundred)."""
MAX_MACHINES = 1_000
"""Machines in one shop instance."""
MAX_OPERATIONS = 100_000
"""Operations in one shop instance, all jobs together (bounds the memory of a model)."""
MAX_DURATION = 1_000_000
"""Longest duration of one operation, in the file's time unit."""
MAX_HORIZON = 100_000_000
"""Largest total work (sum over operations of the longest alternative), the upper end of every
start time and big-M of the MILP: at 1e8, HiGHS's relative tolerances (1e-9) stay below a tenth
of a time unit, so rounded starts and bounds remain exact integers."""
MAX_FILE_BYTES = 64 * 2**20
"""Largest instance file read (64 MiB; the largest public instances are a few MB)."""

_INTEGER = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS = 18

Alternative = tuple[int, int]
"""One way to run an operation: (machine index from 0, integer duration)."""

Operation = tuple[Alternative, ...]
"""The alternatives of one operation, in file order; at least one."""


class InstanceFormatError(ValueError):
    """A benchmark file that does not follow its format.

    The message names the file, the 1-based line, the offending value and what was expected,
    so that the user can open the file at the right place and fix it.
    """

    def __init__(
        self, path: str | Path, line_no: int, message: str, *, where: str | None = None
    ) -> None:
        self.path = str(path)
        self.line_no = line_no
        self.where = where
        """The place inside a structured (JSON) file, like `units[3][2]`; None for text files."""
        self.detail = message
        place = f"{self.path}, line {line_no}" if line_no > 0 else self.path
        if where:
            place = f"{place}: {where}"
        super().__init__(f"{place}: {message}")


@dataclass(frozen=True)
class ShopInstance:
    """An immutable (flexible) job-shop instance; minimise the makespan.

    `jobs[j][i]` is operation `i` of job `j` (operations of a job run in order); it lists the
    machines that may run it with their durations. Machines are numbered `0..n_machines-1`.
    """

    name: str
    n_machines: int
    jobs: tuple[tuple[Operation, ...], ...]

    def __post_init__(self) -> None:
        if not 0 < self.n_machines <= MAX_MACHINES:
            raise ValueError(f'"n_machines" must be in 1..{MAX_MACHINES}, got {self.n_machines}.')
        if not self.jobs:
            raise ValueError("an instance needs at least one job.")
        if len(self.jobs) > MAX_JOBS:
            raise ValueError(f"an instance has at most {MAX_JOBS} jobs, got {len(self.jobs)}.")
        n_ops = sum(len(job) for job in self.jobs)
        if n_ops > MAX_OPERATIONS:
            raise ValueError(f"an instance has at most {MAX_OPERATIONS} operations, got {n_ops}.")
        for j, job in enumerate(self.jobs):
            if not job:
                raise ValueError(f"job {j} has no operations.")
            for i, op in enumerate(job):
                if not op:
                    raise ValueError(f"job {j} operation {i} has no eligible machine.")
                seen: set[int] = set()
                for machine, duration in op:
                    if not (isinstance(machine, int) and isinstance(duration, int)):
                        raise ValueError(
                            f"job {j} operation {i}: machine {machine!r} and duration "
                            f"{duration!r} must be integers."
                        )
                    if not 0 <= machine < self.n_machines:
                        raise ValueError(
                            f"job {j} operation {i} references machine {machine}, "
                            f"outside 0..{self.n_machines - 1}."
                        )
                    if machine in seen:
                        raise ValueError(f"job {j} operation {i} lists machine {machine} twice.")
                    if duration < 0:
                        raise ValueError(f"job {j} operation {i} has negative duration {duration}.")
                    if duration > MAX_DURATION:
                        raise ValueError(
                            f"job {j} operation {i} has duration {duration}, above the limit "
                            f"of {MAX_DURATION}."
                        )
                    seen.add(machine)
        total = sum(max(d for _, d in op) for job in self.jobs for op in job)
        if total > MAX_HORIZON:
            raise ValueError(
                f"the total work (longest alternative of every operation) is {total}, above "
                f"the limit of {MAX_HORIZON}."
            )

    @property
    def n_jobs(self) -> int:
        return len(self.jobs)

    @property
    def n_operations(self) -> int:
        return sum(len(job) for job in self.jobs)

    @property
    def is_flexible(self) -> bool:
        """True when some operation may run on more than one machine."""
        return any(len(op) > 1 for job in self.jobs for op in job)


def data_lines(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank lines that are not `#` comments, as (1-based line number, tokens)."""
    out = []
    for no, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            out.append((no, stripped.split()))
    return out


def parse_int(
    token: str,
    source: str,
    line_no: int,
    what: str,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """`int(token)` for a plain ASCII integer within `[low, high]` (each bound optional).

    Anything else is an `InstanceFormatError` that quotes the token and says what was meant:
    Python's `int` would also accept `1_000`, full-width digits and 5,000-digit numbers.
    """
    shown = _shown(token)
    if not _INTEGER.fullmatch(token):
        raise InstanceFormatError(
            source, line_no, f"found {shown!r}; expected {what} written as an integer."
        )
    if len(token.lstrip("+-")) > _MAX_DIGITS:
        bounds = _range(low, high) or f" of at most {_MAX_DIGITS} digits"
        raise InstanceFormatError(
            source,
            line_no,
            f"found {shown!r}, an integer of {len(token.lstrip('+-'))} digits; "
            f"expected {what}{bounds}.",
        )
    value = int(token)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InstanceFormatError(
            source, line_no, f"{what} is {value}; expected an integer{_range(low, high)}."
        )
    return value


def _shown(token: str) -> str:
    return token if len(token) <= 32 else f"{token[:20]}... ({len(token)} characters)"


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def parse_positive(
    token: str, source: str, line_no: int, what: str, high: int | None = None
) -> int:
    """Like `parse_int` for a count that must be > 0 (and at most `high`)."""
    return parse_int(token, source, line_no, f"the {what}", 1, high)


def parse_duration(token: str, source: str, line_no: int, where: str) -> int:
    """An operation duration: an integer from 0 to `MAX_DURATION`; `where` names it."""
    if _INTEGER.fullmatch(token) and len(token.lstrip("+-")) > _MAX_DIGITS:
        value = None
    else:
        value = parse_int(token, source, line_no, f"a duration {where}")
    if value is None or value > MAX_DURATION:
        raise InstanceFormatError(
            source,
            line_no,
            f"duration {_shown(token)} {where} is too large; expected an integer from 0 to "
            f"{MAX_DURATION} (larger values make the scheduling MILP numerically unsound).",
        )
    if value < 0:
        raise InstanceFormatError(
            source, line_no, f"duration {value} {where} is negative; expected an integer >= 0."
        )
    return value


class WorkCounter:
    """Running totals of a shop file, refused as soon as one passes its limit."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.operations = 0
        self.work = 0

    def add(self, line_no: int, operations: int, work: int) -> None:
        """Count `operations` more operations whose longest alternatives sum to `work`."""
        self.operations += operations
        self.work += work
        if self.operations > MAX_OPERATIONS:
            raise InstanceFormatError(
                self.source,
                line_no,
                f"the instance reaches {self.operations} operations here; expected at most "
                f"{MAX_OPERATIONS} in all.",
            )
        if self.work > MAX_HORIZON:
            raise InstanceFormatError(
                self.source,
                line_no,
                f"the total work (sum of the longest duration of every operation) reaches "
                f"{self.work} here; expected at most {MAX_HORIZON}, which keeps start times "
                "exact in the MILP.",
            )


def read_text(path: str | Path) -> str:
    """The text of an instance file, or InstanceFormatError (missing file, not UTF-8)."""
    path = Path(path)
    if not path.is_file():
        raise InstanceFormatError(path, 0, "no such file; expected an instance file.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InstanceFormatError(
            path,
            0,
            f"the file holds {size} bytes; expected an instance file of at most "
            f"{MAX_FILE_BYTES} bytes.",
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InstanceFormatError(path, 1, f"the file is not UTF-8 text ({exc.reason}).") from exc
