"""The plain MES convention: round trips through CSV and Parquet, text batch ids, other
systems' names, time zones, and one clear error per bad row."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, SCENARIOS
from tests.twin.helpers import load_data
from tests.twin.test_ocel import assert_same_log
from twin.log_schema import LogError, batch_ids
from twin.mes import read_mes, write_mes
from twin.simulate import simulate


@pytest.fixture(scope="module")
def tiny():
    """Four weeks of the tiny plant: QC, rejects, scrap, cleaning, maintenance."""
    sc = load_data(SCENARIOS / "tiny.yaml")
    return sc, simulate(sc, seed=3).events


def _csv(tmp_path, text: str, name: str = "mes.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_run_round_trips_with_iso_timestamps(tiny, tmp_path, suffix):
    sc, table = tiny
    path = write_mes(table, tmp_path / f"mes{suffix}", start=sc.start)
    assert_same_log(table, read_mes(path, sc.start))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_hours_round_trip_to_the_bit(tiny, tmp_path, suffix):
    sc, table = tiny
    path = write_mes(table, tmp_path / f"mes{suffix}")
    back = read_mes(path, sc.start)
    assert np.array_equal(back["t"].to_numpy(), table["t"].to_numpy())
    assert_same_log(table, back)


def test_iso_timestamps_without_a_start_count_from_midnight(tiny, tmp_path):
    sc, table = tiny
    path = write_mes(table, tmp_path / "mes.csv", start=sc.start)
    back = read_mes(path)
    shift = (sc.start - sc.start.replace(hour=0, minute=0)) / dt.timedelta(hours=1)
    assert np.allclose(back["t"].to_numpy(), table["t"].to_numpy() + shift, atol=1e-9)


# --------------------------------------------------------------------------- the convention
def test_text_batch_ids_are_numbered_by_first_appearance_and_kept(tmp_path):
    p = _csv(
        tmp_path,
        "timestamp,event,unit,batch,order,product,step,state,value\n"
        "2026-03-02T08:00:00,end,gran_1,B-0311,PO-7,tab_a,0,,\n"  # out of order on purpose
        "2026-03-02T06:10:00,start,gran_1,B-0311,PO-7,tab_a,0,,\n"
        "2026-03-02T06:00:00,start,gran_2,B-0007,PO-7,tab_a,0,,\n"
        "2026-03-02T07:00:00,state,gran_1,,,,,down,0\n",
    )
    table = read_mes(p)
    rows = table.to_pylist()
    assert [(r["t"], r["kind"], r["batch"]) for r in rows] == [
        (6.0, "step_start", 0),
        (pytest.approx(6 + 1 / 6), "step_start", 1),
        (7.0, "state", -1),
        (8.0, "step_end", 1),
    ]
    assert batch_ids(table) == {0: "B-0007", 1: "B-0311"}
    again = write_mes(table, tmp_path / "again.csv")
    assert "B-0311" in again.read_text()
    assert batch_ids(read_mes(again, dt.datetime(2026, 3, 2))) == {0: "B-0007", 1: "B-0311"}


def test_whole_number_batch_ids_are_the_batch_numbers(tmp_path):
    p = _csv(tmp_path, "timestamp,event,unit,batch,step\n0,start,u,12,0\n1.5,end,u,12,0\n")
    table = read_mes(p, dt.datetime(2026, 1, 5))
    assert table["batch"].to_pylist() == [12, 12] and batch_ids(table) == {}
    assert table["t"].to_pylist() == [0.0, 1.5] and table["step"].to_pylist() == [0, 0]


def test_other_systems_names_semicolons_and_extra_columns(tmp_path):
    p = _csv(
        tmp_path,
        "Time;Event_Type;Equipment;Batch_ID;Operator;Step;State;Value\n"
        "2026-03-02 06:00;CIP-Start;mix_1;;Anna;;major;1.5\n"
        "2026-03-02 07:30;cip_end;mix_1;;Anna;;major;\n"
        "2026-03-02 08:00;StartOperation;mix_1;7;Ben;0;;\n"
        "2026-03-02 09:00;Failure;mix_1;;;;;\n",
    )
    rows = read_mes(p).to_pylist()
    assert [(r["kind"], r["unit"], r["state"], r["value"]) for r in rows[:2]] == [
        ("clean_start", "mix_1", "major", 1.5),
        ("clean_end", "mix_1", "major", pytest.approx(float("nan"), nan_ok=True)),
    ]
    assert [r["kind"] for r in rows[2:]] == ["step_start", "breakdown"]
    assert rows[2]["batch"] == 7 and rows[2]["step"] == 0


def test_utc_offsets_count_elapsed_hours_across_a_clock_change(tmp_path):
    p = _csv(
        tmp_path,
        "timestamp,event,unit,state\n"
        "2026-03-28T23:00:00+01:00,state,u,idle\n"
        "2026-03-29T03:00:00+02:00,state,u,down\n",  # the clocks went forward at 02:00
    )
    table = read_mes(p)
    assert table["t"].to_pylist() == [23.0, 26.0]


def test_parquet_with_typed_columns(tmp_path):
    p = tmp_path / "typed.parquet"
    stamps = [dt.datetime(2026, 3, 2, 6), dt.datetime(2026, 3, 2, 7, 30)]
    pq.write_table(
        pa.table(
            {
                "timestamp": pa.array(stamps, type=pa.timestamp("ms")),
                "event": ["start", "end"],
                "unit": ["u", "u"],
                "batch": pa.array([3, 3], type=pa.int64()),
                "step": pa.array([1, 1], type=pa.int32()),
                "value": pa.array([None, 1.5]),
            }
        ),
        p,
    )
    rows = read_mes(p).to_pylist()
    assert [(r["t"], r["kind"], r["batch"], r["step"]) for r in rows] == [
        (6.0, "step_start", 3, 1),
        (7.5, "step_end", 3, 1),
    ]


def test_the_example_in_the_docs_reads(tmp_path):
    doc = (REPO / "docs" / "event_logs.md").read_text(encoding="utf-8")
    example = re.search(r"```csv\n(.*?)```", doc, re.S).group(1)
    rows = read_mes(_csv(tmp_path, example)).to_pylist()
    assert [r["kind"] for r in rows] == ["unit_added", "state", "step_start", "state", "step_end"]
    assert rows[2]["unit"] == "gran_1" and rows[2]["order"] == "PO-77" and rows[3]["value"] == 55


# --------------------------------------------------------------------------- bad input
HEADER = "timestamp,event,unit,batch,order,product,step,state,value\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "2026-03-02T06:00:00,start,u,1,,,0,,\n2026-03-02T07:00:00,melt,u,1,,,0,,\n",
            r"line 3: event: bad value 'melt'; expected a twin kind",
        ),
        (
            "2026-03-02T06:00:00,start,u,1,,,first,,\n",
            r"line 2: step: bad value 'first'; expected a whole number",
        ),
        ("2026-03-02T06:00:00,start,u,1,,,-1,,\n", r"line 2: step: bad value '-1'"),
        ("2026-03-02T06:00:00,state,u,,,,,idle,lots\n", r"line 2: value: bad value 'lots'"),
        (
            "2026-03-02T06:00:00,state,,,,,,idle,\n",
            r"line 2: unit: empty; a 'state' event \(kind state\) needs the unit",
        ),
        (
            "2026-03-02T06:00:00,start,u,,,,0,,\n",
            r"line 2: batch: empty; a 'start' event \(kind step_start\) needs the batch",
        ),
        (
            "2026-03-02T06:00:00,state,u,,,,,idle,\n2026-03-02 7h,state,u,,,,,down,\n",
            r"line 3: timestamp: bad value '2026-03-02 7h'; expected an ISO 8601",
        ),
        (
            "2026-03-02T06:00:00,state,u,,,,,idle,\n12.5,state,u,,,,,down,\n",
            r"line 3: timestamp: bad value '12.5' \(hours, where the first row has a date-time\)",
        ),
        (
            "1.0,state,u,,,,,idle,\n2026-03-02T06:00:00,state,u,,,,,down,\n",
            r"line 3: timestamp: bad value '2026-03-02T06:00:00'; expected a number of hours",
        ),
        ("20260302,state,u,,,,,idle,\n", r"line 2: timestamp: bad value '20260302'.*at most"),
        (
            "2026-03-02T06:00:00Z,state,u,,,,,idle,\n2026-03-02T07:00:00,state,u,,,,,down,\n",
            r"line 3: timestamp: bad value '2026-03-02T07:00:00': no UTC offset",
        ),
        ("2026-03-02T06:00:00,state,u,,,,idle,\n", r"line 2: 8 fields; expected 9"),
        ('2026-03-02T06:00:00,state,"u,,,,,idle,\n', r"line \d+: malformed CSV"),
        ("", r"holds no events"),
        (",,,,,,,,\n", r"holds no events"),
    ],
)
def test_each_bad_row_is_one_clear_error(tmp_path, body, message):
    p = _csv(tmp_path, HEADER + body)
    with pytest.raises(LogError, match=message) as err:
        read_mes(p, dt.datetime(2026, 3, 2) if body.startswith("1.0") else None)
    assert str(err.value).startswith(str(p))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty file; expected a header"),
        ("time,unit\n2026-03-02,u\n", r"header: no column event \(found: time, unit\)"),
        ("timestamp,event,Event\n", r"column 'event' given twice"),
    ],
)
def test_bad_headers(tmp_path, text, message):
    with pytest.raises(LogError, match=message):
        read_mes(_csv(tmp_path, text))


def test_rows_of_other_event_types_are_an_error_or_left_out(tmp_path):
    p = _csv(
        tmp_path,
        HEADER + "2026-03-01T23:00:00,shift_handover,,,,,,,\n"
        "2026-03-02T06:00:00,state,u,,,,,idle,\n"
        "whenever,shift_handover,,,,,,,\n",  # a skipped row is not read any further
    )
    with pytest.raises(LogError, match=r"line 2: event: bad value 'shift_handover'.*'skip'"):
        read_mes(p)
    table = read_mes(p, unmapped="skip")
    assert table["kind"].to_pylist() == ["state"] and table["t"].to_pylist() == [6.0]


def test_hours_need_a_start_and_events_not_before_it(tmp_path):
    p = _csv(tmp_path, "timestamp,event,unit,state\n0.5,state,u,idle\n")
    with pytest.raises(LogError, match="timestamps are hours, so the calendar start"):
        read_mes(p)
    p = _csv(tmp_path, "timestamp,event,unit,state\n2026-03-01T23:00:00,state,u,idle\n")
    with pytest.raises(
        LogError, match=r"line 2: timestamp: '2026-03-01T23:00:00' is before the start"
    ):
        read_mes(p, dt.datetime(2026, 3, 2))


def test_not_utf8_names_the_line(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(b"timestamp,event,unit,state\n2026-03-02T06:00:00,state,M\xfchle,idle\n")
    with pytest.raises(LogError, match=r"line 2: not UTF-8 text \(byte 54: "):
        read_mes(p)


def test_write_mes_refuses_other_extensions(tiny, tmp_path):
    with pytest.raises(LogError, match=r"extension '.xlsx'; expected .csv or .parquet"):
        write_mes(tiny[1], tmp_path / "x.xlsx")
