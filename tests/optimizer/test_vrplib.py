"""The VRPLIB (Solomon VRPTW) reader: a tiny hand-written file, malformed files, the public
instances in benchmarks/instances/vrptw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.formats import InstanceFormatError
from optimizer.formats.vrplib import parse_vrplib, read_vrplib, solomon_distance, to_routing_data

VRPTW = Path(__file__).resolve().parents[2] / "benchmarks" / "instances" / "vrptw"

TINY = """NAME : tiny
TYPE : CVRPTW
DIMENSION : 4
VEHICLES : 2
CAPACITY : 10
EDGE_WEIGHT_TYPE : EUC_2D
NODE_COORD_SECTION
1 0 0
2 3 4
3 1 1
4 0 7
DEMAND_SECTION
1 0
2 4
3 5
4 6
TIME_WINDOW_SECTION
1 0 100
2 0 50
3 10 20
4 0 100
SERVICE_TIME_SECTION
1 0
2 2
3 2
4 3
DEPOT_SECTION
1
-1
EOF
"""


def test_reader_reads_every_section() -> None:
    inst = parse_vrplib(TINY, name="tiny")
    assert inst.name == "tiny"
    assert inst.capacity == 10
    assert inst.vehicles == 2
    assert inst.n_customers == 3
    assert inst.coords == ((0, 0), (3, 4), (1, 1), (0, 7))
    assert inst.demands == (0, 4, 5, 6)
    assert inst.windows == ((0, 100), (0, 50), (10, 20), (0, 100))
    assert inst.service_times == (0, 2, 2, 3)
    assert inst.customer_ids == (2, 3, 4)


def test_distance_is_truncated_to_one_decimal() -> None:
    assert solomon_distance((0, 0), (3, 4)) == 5.0
    assert solomon_distance((0, 0), (1, 1)) == 1.4  # sqrt(2) = 1.414...
    assert solomon_distance((40, 50), (45, 68)) == 18.6  # sqrt(349) = 18.681...
    assert solomon_distance((0.5, 0), (0, 0)) == 0.5


def test_depot_not_first_is_moved_to_node_zero() -> None:
    text = TINY.replace("DEPOT_SECTION\n1\n", "DEPOT_SECTION\n3\n")
    inst = parse_vrplib(text)
    assert inst.coords[0] == (1, 1)
    assert inst.customer_ids == (1, 2, 4)


def test_routing_data_has_a_free_fleet_and_solomon_distances() -> None:
    data = to_routing_data(parse_vrplib(TINY))
    assert data.vehicle_types[0].count is None
    assert data.vehicle_types[0].capacity == 10
    assert data.distance[0][1] == 5.0
    assert data.depot.opens == 0 and data.depot.closes == 100
    assert data.customers[1].ready == 10 and data.customers[1].service == 2
    assert to_routing_data(parse_vrplib(TINY), fleet_from_file=True).vehicle_types[0].count == 2


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("2 3 4\n", "2 3 x4\n", 9, ["'x4'", "NODE_COORD_SECTION"]),
        ("3 10 20\n", "3 20 10\n", 20, ["[20, 10]", "earliest <= latest"]),
        ("CAPACITY : 10", "CAPACITY : -5", 5, ["CAPACITY", "> 0"]),
        ("EUC_2D", "EXPLICIT", 6, ["EXPLICIT", "EUC_2D"]),
        ("4 0 100\nSERVICE", "SERVICE", 20, ["TIME_WINDOW_SECTION", "missing node ids: 4"]),
        ("3 5\n", "3 5 7\n", 15, ["2 numbers per line"]),
        ("4 6\n", "4 -6\n", 16, ["demand -6", ">= 0"]),
        ("DEPOT_SECTION\n1\n", "DEPOT_SECTION\n1\n2\n", 28, ["expected exactly one"]),
        ("DEPOT_SECTION", "PICKUP_SECTION\nDEPOT_SECTION", 27, ["PICKUP_SECTION"]),
        ("1 0 0\n2 3 4", "1 0 0\n1 3 4", 9, ["appears twice"]),
        ("2 3 4\n", "2 3 nan\n", 9, ["'nan'", "finite number"]),
        ("2 3 4\n", "2 3 1e30\n", 9, ["1e30", "at most 10000000"]),
        ("2 0 50\n", "2 -5 50\n", 19, ["[-5, 50]", "0 <= earliest"]),
        ("3 2\n", "3 -2\n", 25, ["service time -2", ">= 0"]),
        ("DIMENSION : 4", "DIMENSION : four", 3, ["'four'", "DIMENSION as an integer"]),
        ("DIMENSION : 4", "DIMENSION : 5000", 3, ["5000", "from 2 to 1001"]),
        ("4 0 7\n", "4 0 7\nCOMMENT : late\n", 12, ["after the sections began"]),
        ("TYPE : CVRPTW\n", "TYPE : CVRPTW\nstray words\n", 3, ["'stray words'", "KEY : VALUE"]),
        ("DEPOT_SECTION\n1\n", "DEPOT_SECTION\n9\n", 28, ["depot id 9", "outside 1..4"]),
        (
            "NODE_COORD_SECTION\n1 0 0",
            "NODE_COORD_SECTION\n1 0 0\nNODE_COORD_SECTION",
            9,
            ["twice"],
        ),
    ],
)
def test_malformed_files_name_line_value_and_expectation(
    tmp_path: Path, old: str, new: str, line: int, words: list[str]
) -> None:
    assert old in TINY
    path = tmp_path / "bad.vrp"
    path.write_text(TINY.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InstanceFormatError) as info:
        read_vrplib(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == str(path)
    assert err.line_no == line, str(err)
    for word in words:
        assert word in str(err)


def test_missing_section_and_header() -> None:
    without_demand = TINY.replace("DEMAND_SECTION\n1 0\n2 4\n3 5\n4 6\n", "")
    with pytest.raises(InstanceFormatError, match="DEMAND_SECTION is missing"):
        parse_vrplib(without_demand)
    with pytest.raises(InstanceFormatError, match="DIMENSION is missing"):
        parse_vrplib(TINY.replace("DIMENSION : 4\n", ""))


def test_public_solomon_files_read() -> None:
    table = json.loads((VRPTW / "best_known.json").read_text(encoding="utf-8"))
    for row in table:
        inst = read_vrplib(VRPTW / f"{row['instance']}.vrp")
        assert inst.n_customers == row["customers"]
        assert inst.demands[0] == 0
        assert all(d > 0 for d in inst.demands[1:])


def test_reader_gives_the_same_instance_as_the_published_layout() -> None:
    """Node ids out of order and comment lines: `vrplib` keeps the file order and drops the
    ids, so the reader puts the rows back by id."""
    shuffled = TINY.replace("2 4\n3 5\n", "3 5\n# a comment\n2 4\n")
    assert parse_vrplib(shuffled) == parse_vrplib(TINY)
