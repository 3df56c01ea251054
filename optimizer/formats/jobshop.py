"""Reader for job-shop instances in the OR-Library / JSPLIB text format.

Lines starting with `#` are comments and blank lines are skipped. The first data line holds
`n m` (jobs, machines); then come exactly `n` lines, one per job, each with `m` pairs
`machine duration` in the order the job visits the machines, machines numbered from 0.
Sizes and durations are bounded (`optimizer.formats.MAX_*`).
"""

from __future__ import annotations

from pathlib import Path

from optimizer.formats import (
    MAX_JOBS,
    MAX_MACHINES,
    InstanceFormatError,
    ShopInstance,
    WorkCounter,
    data_lines,
    parse_duration,
    parse_int,
    parse_positive,
    read_text,
)

__all__ = ["parse_jobshop", "read_jobshop"]


def read_jobshop(path: str | Path, name: str | None = None) -> ShopInstance:
    """Read a JSPLIB file; the instance is named after the file stem unless `name` is given."""
    path = Path(path)
    text = read_text(path)
    return parse_jobshop(text, source=str(path), name=name or path.stem)


def parse_jobshop(text: str, source: str = "<string>", name: str = "jobshop") -> ShopInstance:
    """Parse the text of a JSPLIB instance; `source` names it in error messages."""
    lines = data_lines(text)
    if not lines:
        raise InstanceFormatError(
            source, 1, "no data found; expected a line 'n m' with the numbers of jobs and machines."
        )
    line_no, tokens = lines[0]
    if len(tokens) != 2:
        raise InstanceFormatError(
            source,
            line_no,
            f"found {' '.join(tokens)!r}; expected exactly two integers 'n m' "
            "(number of jobs, number of machines).",
        )
    n_jobs = parse_positive(tokens[0], source, line_no, "number of jobs", MAX_JOBS)
    n_machines = parse_positive(tokens[1], source, line_no, "number of machines", MAX_MACHINES)
    job_lines = lines[1:]
    if len(job_lines) < n_jobs:
        last = job_lines[-1][0] if job_lines else line_no
        raise InstanceFormatError(
            source,
            last,
            f"the header announces {n_jobs} jobs but only {len(job_lines)} job lines follow; "
            f"expected one line per job with {n_machines} 'machine duration' pairs.",
        )
    if len(job_lines) > n_jobs:
        extra_no, extra = job_lines[n_jobs]
        raise InstanceFormatError(
            source,
            extra_no,
            f"unexpected data {' '.join(extra[:6])!r} after the {n_jobs} job lines announced "
            "in the header; expected the end of the file.",
        )
    jobs = []
    counter = WorkCounter(source)
    for line_no, tokens in job_lines:
        if len(tokens) != 2 * n_machines:
            raise InstanceFormatError(
                source,
                line_no,
                f"found {len(tokens)} numbers; expected {2 * n_machines} "
                f"({n_machines} pairs 'machine duration', one per machine).",
            )
        ops = []
        seen: set[int] = set()
        for k in range(n_machines):
            machine = parse_int(tokens[2 * k], source, line_no, "a machine number")
            duration = parse_duration(tokens[2 * k + 1], source, line_no, f"in pair {k + 1}")
            if not 0 <= machine < n_machines:
                raise InstanceFormatError(
                    source,
                    line_no,
                    f"machine {machine} in pair {k + 1} is out of range; expected a machine "
                    f"number from 0 to {n_machines - 1}.",
                )
            if machine in seen:
                raise InstanceFormatError(
                    source,
                    line_no,
                    f"machine {machine} appears twice in this job; expected each of the "
                    f"{n_machines} machines exactly once.",
                )
            seen.add(machine)
            ops.append(((machine, duration),))
        counter.add(line_no, len(ops), sum(op[0][1] for op in ops))
        jobs.append(tuple(ops))
    return ShopInstance(name=name, n_machines=n_machines, jobs=tuple(jobs))
