"""Shop-scheduling instances read from public benchmark files.

Both readers (`jobshop.read_jobshop` for OR-Library/JSPLIB job shops and `fjsp.read_fjsp` for
Brandimarte flexible job shops) produce the same immutable `ShopInstance`: jobs, each an ordered
tuple of operations, each operation a tuple of `(machine, duration)` alternatives. A job shop is
the special case where every operation has exactly one alternative.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Alternative", "InstanceFormatError", "Operation", "ShopInstance"]

Alternative = tuple[int, int]
"""One way to run an operation: (machine index from 0, integer duration)."""

Operation = tuple[Alternative, ...]
"""The alternatives of one operation, in file order; at least one."""


class InstanceFormatError(ValueError):
    """A benchmark file that does not follow its format.

    The message names the file, the 1-based line, the offending value and what was expected,
    so that the user can open the file at the right place and fix it.
    """

    def __init__(self, path: str | Path, line_no: int, message: str) -> None:
        self.path = str(path)
        self.line_no = line_no
        self.detail = message
        where = f"{self.path}, line {line_no}" if line_no > 0 else self.path
        super().__init__(f"{where}: {message}")


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
        if self.n_machines <= 0:
            raise ValueError(f'"n_machines" must be > 0, got {self.n_machines}.')
        if not self.jobs:
            raise ValueError("an instance needs at least one job.")
        for j, job in enumerate(self.jobs):
            if not job:
                raise ValueError(f"job {j} has no operations.")
            for i, op in enumerate(job):
                if not op:
                    raise ValueError(f"job {j} operation {i} has no eligible machine.")
                seen: set[int] = set()
                for machine, duration in op:
                    if not 0 <= machine < self.n_machines:
                        raise ValueError(
                            f"job {j} operation {i} references machine {machine}, "
                            f"outside 0..{self.n_machines - 1}."
                        )
                    if machine in seen:
                        raise ValueError(f"job {j} operation {i} lists machine {machine} twice.")
                    if duration < 0:
                        raise ValueError(f"job {j} operation {i} has negative duration {duration}.")
                    seen.add(machine)

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


def parse_int(token: str, source: str, line_no: int, what: str) -> int:
    """`int(token)`, or an `InstanceFormatError` that quotes the token and says what was meant."""
    try:
        return int(token)
    except ValueError:
        raise InstanceFormatError(
            source, line_no, f"found {token!r}; expected {what} written as an integer."
        ) from None


def parse_positive(token: str, source: str, line_no: int, what: str) -> int:
    """Like `parse_int` for a count that must be > 0."""
    value = parse_int(token, source, line_no, f"the {what}")
    if value <= 0:
        raise InstanceFormatError(
            source, line_no, f"the {what} is {value}; expected an integer > 0."
        )
    return value


def read_text(path: str | Path) -> str:
    """The text of an instance file, or InstanceFormatError (missing file, not UTF-8)."""
    path = Path(path)
    if not path.is_file():
        raise InstanceFormatError(path, 0, "no such file; expected an instance file.")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InstanceFormatError(path, 1, f"the file is not UTF-8 text ({exc.reason}).") from exc
