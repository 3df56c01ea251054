"""Readers of JSPLIB and Brandimarte files: good files, malformed and absurd files, the public
instances in benchmarks/instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.formats import (
    MAX_DURATION,
    MAX_FILE_BYTES,
    MAX_HORIZON,
    MAX_JOBS,
    MAX_MACHINES,
    MAX_OPERATIONS,
    InstanceFormatError,
    ShopInstance,
    read_text,
)
from optimizer.formats.fjsp import parse_fjsp, read_fjsp
from optimizer.formats.jobshop import parse_jobshop, read_jobshop
from tests.conftest import INSTANCES

JSP_TEXT = """# a comment
# instance tiny
3 2
0 3 1 2
1 4 0 1

0 2 1 2
"""

FJSP_TEXT = """2 3 1.5
2 1 1 4 2 2 3 3 5
1 1 3 7
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jobshop_reader_reads_jobs_in_order(tmp_path: Path) -> None:
    inst = read_jobshop(write(tmp_path, "tiny.txt", JSP_TEXT))
    assert inst == ShopInstance(
        name="tiny",
        n_machines=2,
        jobs=(
            (((0, 3),), ((1, 2),)),
            (((1, 4),), ((0, 1),)),
            (((0, 2),), ((1, 2),)),
        ),
    )
    assert (inst.n_jobs, inst.n_operations, inst.is_flexible) == (3, 6, False)


def test_fjsp_reader_renumbers_machines_from_zero(tmp_path: Path) -> None:
    inst = read_fjsp(write(tmp_path, "mini.fjs", FJSP_TEXT))
    assert inst.name == "mini"
    assert inst.n_machines == 3
    assert inst.jobs == (
        (((0, 4),), ((1, 3), (2, 5))),
        (((2, 7),),),
    )
    assert inst.is_flexible


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "no data"),
        ("# only a comment\n", 1, "no data"),
        ("3\n", 1, "exactly two integers"),
        ("2 x\n0 1 1 1\n", 1, "'x'"),
        ("0 2\n", 1, "number of jobs is 0"),
        ("2 2\n0 3 1 2\n", 2, "only 1 job lines"),
        ("1 2\n0 3 1\n", 2, "expected 4"),
        ("1 2\n0 3 2 2\n", 2, "machine 2"),
        ("1 2\n0 3 0 2\n", 2, "appears twice"),
        ("1 2\n0 3.5 1 2\n", 2, "'3.5'"),
        ("1 2\n0 -3 1 2\n", 2, "negative"),
        ("1 2\n0 3 1 2\n\n1 1 0 1\n", 4, "after the 1 job lines"),
    ],
)
def test_malformed_jobshop_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(InstanceFormatError) as info:
        read_jobshop(path)
    err = info.value
    assert err.line_no == line
    assert err.path == str(path)
    assert str(path) in str(err) and f"line {line}" in str(err)
    assert fragment in str(err)
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("2\n", 1, "'jobs machines'"),
        ("1 2 abc\n1 1 1 1\n", 1, "'abc'"),
        ("1 2\n2 1 1 4\n", 2, "line ends after 4 numbers"),
        ("1 2\n1 1 3 4\n", 2, "machine 3"),
        ("1 2\n1 1 0 4\n", 2, "machine 0"),
        ("1 2\n1 3 1 4 2 4 1 1\n", 2, "3 eligible machines"),
        ("1 2\n1 2 1 4 1 5\n", 2, "listed twice"),
        ("1 2\n1 1 1 4 9\n", 2, "extra numbers starting with '9'"),
        ("1 2\n0\n", 2, "number of operations is 0"),
        ("1 2\n1 1 1 x\n", 2, "'x'"),
        ("2 2\n1 1 1 4\n", 2, "only 1 job lines"),
    ],
)
def test_malformed_fjsp_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = write(tmp_path, "bad.fjs", text)
    with pytest.raises(InstanceFormatError) as info:
        read_fjsp(path)
    assert info.value.line_no == line
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_parsers_name_the_source_in_errors() -> None:
    with pytest.raises(InstanceFormatError, match="<memory>, line 1"):
        parse_jobshop("1\n", source="<memory>")
    with pytest.raises(InstanceFormatError, match="<memory>, line 2"):
        parse_fjsp("1 1\n1 1 2 3\n", source="<memory>")


def test_instance_checks_itself() -> None:
    with pytest.raises(ValueError, match="machine 3"):
        ShopInstance("x", 2, ((((3, 1),),),))
    with pytest.raises(ValueError, match="no eligible machine"):
        ShopInstance("x", 2, (((),),))
    with pytest.raises(ValueError, match="negative duration"):
        ShopInstance("x", 2, ((((0, -1),),),))
    with pytest.raises(ValueError, match="twice"):
        ShopInstance("x", 2, ((((0, 1), (0, 2)),),))


def test_public_instances_read() -> None:
    sizes = {}
    for path in sorted((INSTANCES / "jobshop").glob("*.txt")):
        inst = read_jobshop(path)
        sizes[inst.name] = (inst.n_jobs, inst.n_machines, inst.n_operations)
    for path in sorted((INSTANCES / "fjsp").glob("*.txt")):
        inst = read_fjsp(path)
        assert inst.is_flexible
        sizes[inst.name] = (inst.n_jobs, inst.n_machines, inst.n_operations)
    assert sizes["ft06"] == (6, 6, 36)
    assert sizes["ft10"] == (10, 10, 100)
    assert sizes["la01"] == (10, 5, 50)
    assert sizes["mk01"] == (10, 6, 55)
    assert sizes["mk03"] == (15, 8, 150)
    assert len(sizes) == 18


# ------------------------------------------------------------------------ absurd values
BIG = "1" + "0" * 23  # 10^23: once crashed the MILP with an IndexError deep inside HiGHS


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        # not integers
        ("1 2\n0 1e3 1 2\n", 2, ["'1e3'", "a duration in pair 1 written as an integer"]),
        ("1 2\n0 1_000 1 2\n", 2, ["'1_000'", "written as an integer"]),
        ("1 2\n0 \uff13 1 2\n", 2, ["'\uff13'", "written as an integer"]),
        ("1 2\n0 0x10 1 2\n", 2, ["'0x10'", "written as an integer"]),
        ("1.0 2\n0 1 1 2\n", 1, ["'1.0'", "number of jobs"]),
        # negative
        ("1 2\n0 -3 1 2\n", 2, ["duration -3 in pair 1 is negative", "integer >= 0"]),
        ("-1 2\n", 1, ["number of jobs is -1", f"from 1 to {MAX_JOBS}"]),
        ("1 2\n-1 3 1 2\n", 2, ["machine -1", "from 0 to 1"]),
        # beyond the bounds
        (
            f"3 3\n0 {BIG} 1 2 2 5\n1 3 0 4 2 7\n2 3 1 4 0 7\n",
            2,
            [f"duration {BIG} in pair 1 is too large", f"0 to {MAX_DURATION}"],
        ),
        (
            f"1 2\n0 {MAX_DURATION + 1} 1 2\n",
            2,
            [f"duration {MAX_DURATION + 1} in pair 1 is too large", f"0 to {MAX_DURATION}"],
        ),
        ("9" * 40 + " 2\n", 1, ["integer of 40 digits", f"number of jobs from 1 to {MAX_JOBS}"]),
        (f"{MAX_JOBS + 1} 2\n", 1, [f"number of jobs is {MAX_JOBS + 1}", f"1 to {MAX_JOBS}"]),
        (
            f"1 {MAX_MACHINES + 1}\n",
            1,
            [f"number of machines is {MAX_MACHINES + 1}", f"1 to {MAX_MACHINES}"],
        ),
    ],
)
def test_absurd_jobshop_values_are_refused(
    tmp_path: Path, text: str, line: int, fragments: list[str]
) -> None:
    path = write(tmp_path, "absurd.txt", text)
    with pytest.raises(InstanceFormatError) as info:
        read_jobshop(path)
    message = str(info.value)
    assert info.value.line_no == line
    assert message.startswith(f"{path}, line {line}: ")
    for fragment in fragments:
        assert fragment in message, message


def test_jobshop_total_work_is_bounded(tmp_path: Path) -> None:
    """Each duration is legal, but together they pass the horizon a MILP handles exactly."""
    per_job = MAX_DURATION * 10
    n_jobs = MAX_HORIZON // per_job + 1
    row = " ".join(f"{k} {MAX_DURATION}" for k in range(10))
    path = write(tmp_path, "long.txt", f"{n_jobs} 10\n" + f"{row}\n" * n_jobs)
    with pytest.raises(InstanceFormatError) as info:
        read_jobshop(path)
    assert info.value.line_no == n_jobs + 1  # the line where the total passes the limit
    assert f"reaches {n_jobs * per_job}" in str(info.value)
    assert f"at most {MAX_HORIZON}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        ("1 2\n1 1 1 2.5\n", 2, ["'2.5'", "a duration of operation 1 written as an integer"]),
        (f"1 2\n1 1 1 {BIG}\n", 2, [f"duration {BIG} of operation 1 is too large"]),
        (
            f"1 2\n1 1 1 {MAX_DURATION + 1}\n",
            2,
            [f"duration {MAX_DURATION + 1} of operation 1 is too large"],
        ),
        ("1 2\n1 1 1 -4\n", 2, ["duration -4 of operation 1 is negative"]),
        ("1 2\n1 1 -1 4\n", 2, ["machine -1 of operation 1 is out of range"]),
        ("1 2 nan\n1 1 1 4\n", 1, ["'nan'", "finite number >= 0"]),
        ("1 2 inf\n1 1 1 4\n", 1, ["'inf'", "finite number >= 0"]),
        ("1 2 -1\n1 1 1 4\n", 1, ["'-1'", "finite number >= 0"]),
        (f"{MAX_JOBS + 1} 2\n", 1, [f"number of jobs is {MAX_JOBS + 1}"]),
        (f"1 {MAX_MACHINES + 1}\n", 1, [f"number of machines is {MAX_MACHINES + 1}"]),
        (
            f"1 2\n{MAX_OPERATIONS + 1} 1 1 4\n",
            2,
            [f"number of operations is {MAX_OPERATIONS + 1}", f"1 to {MAX_OPERATIONS}"],
        ),
    ],
)
def test_absurd_fjsp_values_are_refused(
    tmp_path: Path, text: str, line: int, fragments: list[str]
) -> None:
    path = write(tmp_path, "absurd.fjs", text)
    with pytest.raises(InstanceFormatError) as info:
        read_fjsp(path)
    message = str(info.value)
    assert info.value.line_no == line
    assert message.startswith(f"{path}, line {line}: ")
    for fragment in fragments:
        assert fragment in message, message


def test_fjsp_operation_count_is_bounded_over_all_jobs(tmp_path: Path) -> None:
    per_job = 1000
    n_jobs = MAX_OPERATIONS // per_job + 1
    row = f"{per_job} " + " ".join(["1 1 1"] * per_job)
    path = write(tmp_path, "many.fjs", f"{n_jobs} 1\n" + f"{row}\n" * n_jobs)
    with pytest.raises(InstanceFormatError) as info:
        read_fjsp(path)
    assert info.value.line_no == n_jobs + 1
    assert f"reaches {n_jobs * per_job} operations" in str(info.value)


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(InstanceFormatError, match=f"{MAX_FILE_BYTES + 1} bytes"):
        read_text(path)
    with pytest.raises(InstanceFormatError, match="huge.txt"):
        read_jobshop(path)


def test_instance_refuses_absurd_values_built_in_code() -> None:
    with pytest.raises(ValueError, match="above the limit"):
        ShopInstance("x", 1, ((((0, MAX_DURATION + 1),),),))
    with pytest.raises(ValueError, match="must be integers"):
        ShopInstance("x", 1, ((((0, 2.5),),),))
    with pytest.raises(ValueError, match="n_machines"):
        ShopInstance("x", MAX_MACHINES + 1, ((((0, 1),),),))
    with pytest.raises(ValueError, match="total work"):
        ShopInstance("x", 1, tuple((((0, MAX_DURATION),),) for _ in range(101)))
