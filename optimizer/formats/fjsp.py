"""Reader for flexible job-shop instances in the Brandimarte (1993) text format.

The first line holds `jobs machines [mean eligible machines per operation]` (the third number is
ignored). Then comes one line per job: the number of operations, then for each operation the
number `k` of eligible machines followed by `k` pairs `machine duration`, machines numbered from
1 as in the original files. Machines are renumbered from 0 in the `ShopInstance`. Sizes and
durations are bounded (`optimizer.formats.MAX_*`).
"""

from __future__ import annotations

import math
from pathlib import Path

from optimizer.formats import (
    MAX_JOBS,
    MAX_MACHINES,
    MAX_OPERATIONS,
    InstanceFormatError,
    ShopInstance,
    WorkCounter,
    data_lines,
    parse_duration,
    parse_int,
    parse_positive,
    read_text,
)

__all__ = ["parse_fjsp", "read_fjsp"]


def read_fjsp(path: str | Path, name: str | None = None) -> ShopInstance:
    """Read a Brandimarte file; the instance is named after the file stem unless `name` is given."""
    path = Path(path)
    text = read_text(path)
    return parse_fjsp(text, source=str(path), name=name or path.stem)


def parse_fjsp(text: str, source: str = "<string>", name: str = "fjsp") -> ShopInstance:
    """Parse the text of a Brandimarte instance; `source` names it in error messages."""
    lines = data_lines(text)
    if not lines:
        raise InstanceFormatError(
            source, 1, "no data found; expected a first line 'jobs machines [mean machines]'."
        )
    line_no, tokens = lines[0]
    if len(tokens) not in (2, 3):
        raise InstanceFormatError(
            source,
            line_no,
            f"found {' '.join(tokens)!r}; expected 'jobs machines' optionally followed by the "
            "mean number of machines per operation.",
        )
    n_jobs = parse_positive(tokens[0], source, line_no, "number of jobs", MAX_JOBS)
    n_machines = parse_positive(tokens[1], source, line_no, "number of machines", MAX_MACHINES)
    if len(tokens) == 3:
        try:
            mean = float(tokens[2])
        except ValueError:
            mean = math.nan
        if not (math.isfinite(mean) and mean >= 0) or "_" in tokens[2]:
            raise InstanceFormatError(
                source,
                line_no,
                f"found {tokens[2]!r} as third value; expected the mean number of machines "
                "per operation (a finite number >= 0), or nothing.",
            )
    job_lines = lines[1:]
    if len(job_lines) < n_jobs:
        last = job_lines[-1][0] if job_lines else line_no
        raise InstanceFormatError(
            source,
            last,
            f"the header announces {n_jobs} jobs but only {len(job_lines)} job lines follow; "
            "expected one line per job.",
        )
    if len(job_lines) > n_jobs:
        extra_no, extra = job_lines[n_jobs]
        raise InstanceFormatError(
            source,
            extra_no,
            f"unexpected data {' '.join(extra[:6])!r} after the {n_jobs} job lines announced "
            "in the header; expected the end of the file.",
        )
    counter = WorkCounter(source)
    jobs = tuple(_parse_job(tokens, source, no, n_machines, counter) for no, tokens in job_lines)
    return ShopInstance(name=name, n_machines=n_machines, jobs=jobs)


def _parse_job(
    tokens: list[str], source: str, line_no: int, n_machines: int, counter: WorkCounter
) -> tuple:
    """One job line: `n_ops` then, per operation, `k` and `k` pairs `machine duration`."""
    pos = 0

    def take(what: str, duration_of: int | None = None) -> int:
        nonlocal pos
        if pos >= len(tokens):
            raise InstanceFormatError(
                source,
                line_no,
                f"the line ends after {len(tokens)} numbers; expected {what} next "
                "(the operation counts announce more data than the line holds).",
            )
        if duration_of is None:
            value = parse_int(tokens[pos], source, line_no, what)
        else:
            value = parse_duration(tokens[pos], source, line_no, f"of operation {duration_of}")
        pos += 1
        return value

    n_ops = take("the number of operations")
    if not 0 < n_ops <= MAX_OPERATIONS:
        raise InstanceFormatError(
            source,
            line_no,
            f"the number of operations is {n_ops}; expected an integer from 1 to {MAX_OPERATIONS}.",
        )
    ops = []
    for i in range(n_ops):
        k = take(f"the number of eligible machines of operation {i + 1}")
        if not 1 <= k <= n_machines:
            raise InstanceFormatError(
                source,
                line_no,
                f"operation {i + 1} has {k} eligible machines; expected a count from 1 to "
                f"{n_machines}.",
            )
        alternatives = []
        seen: set[int] = set()
        for _ in range(k):
            machine = take(f"a machine number (1..{n_machines}) for operation {i + 1}")
            duration = take(f"a duration for operation {i + 1}", duration_of=i + 1)
            if not 1 <= machine <= n_machines:
                raise InstanceFormatError(
                    source,
                    line_no,
                    f"machine {machine} of operation {i + 1} is out of range; expected a "
                    f"machine number from 1 to {n_machines} (Brandimarte numbering from 1).",
                )
            if machine in seen:
                raise InstanceFormatError(
                    source,
                    line_no,
                    f"machine {machine} is listed twice for operation {i + 1}; expected "
                    "distinct eligible machines.",
                )
            seen.add(machine)
            alternatives.append((machine - 1, duration))
        ops.append(tuple(alternatives))
    counter.add(line_no, len(ops), sum(max(d for _, d in op) for op in ops))
    if pos != len(tokens):
        raise InstanceFormatError(
            source,
            line_no,
            f"{len(tokens) - pos} unexpected extra numbers starting with {tokens[pos]!r} after "
            f"the {n_ops} operations announced at the start of the line; expected the end of "
            "the line.",
        )
    return tuple(ops)
