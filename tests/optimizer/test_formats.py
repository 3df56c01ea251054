"""Readers of JSPLIB and Brandimarte files: good files, malformed files, the shared benchmarks."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.formats import InstanceFormatError, ShopInstance
from optimizer.formats.fjsp import parse_fjsp, read_fjsp
from optimizer.formats.jobshop import parse_jobshop, read_jobshop

BENCHMARKS = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"

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


@pytest.mark.skipif(not BENCHMARKS.is_dir(), reason="shared benchmarks not present")
def test_shared_benchmarks_read() -> None:
    sizes = {}
    for path in sorted((BENCHMARKS / "jobshop").glob("*.txt")):
        inst = read_jobshop(path)
        sizes[inst.name] = (inst.n_jobs, inst.n_machines, inst.n_operations)
    for path in sorted((BENCHMARKS / "fjsp").glob("*.txt")):
        inst = read_fjsp(path)
        assert inst.is_flexible
        sizes[inst.name] = (inst.n_jobs, inst.n_machines, inst.n_operations)
    assert sizes["ft06"] == (6, 6, 36)
    assert sizes["ft10"] == (10, 10, 100)
    assert sizes["la01"] == (10, 5, 50)
    assert sizes["mk01"] == (10, 6, 55)
    assert sizes["mk03"] == (15, 8, 150)
