"""The columnar event log: every observable change of a run goes through ``EventLog.emit``.

Columns are typed arrays (``array.array``) and strings are interned once, so a plant-year with
millions of events stays compact. ``to_table()`` gives an Arrow table (string columns
dictionary-encoded), ``write_parquet()`` a deterministic Parquet file: the same scenario and
seed give the same bytes.

Schema (one row per event):

=========  ========  ==========================================================
column     type      meaning
=========  ========  ==========================================================
t          float64   model time, hours since the scenario start
kind       string    event kind (see ``KINDS``)
unit       string    unit name, or null
batch      int32     batch number, or -1
order      string    order id, or null
product    string    product, or null
step       int16     recipe step index, or -1
state      string    unit state (``state`` events) or a sub-kind, or null
value      float64   a number whose meaning depends on the kind (kW, hours, ...)
detail     string    free text (class of a unit, reason of a deviation, ...)
=========  ========  ==========================================================
"""

from __future__ import annotations

import math
from array import array
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["EventLog", "KINDS", "read_parquet"]

KINDS = (
    "run_start",  # value = warm-up hours, detail = scenario name
    "unit_added",  # unit, detail = equipment class, state = room
    "order_release",  # order, product, value = due time, step = priority, detail = quantity
    "batch_release",  # batch, order, product, value = batch size
    "step_start",  # processing starts; value = ideal (OEE) duration
    "step_end",  # value = processing hours (without breakdown time)
    "setup",  # value = setup hours
    "clean_start",  # state = minor|major|campaign|reclean|full
    "clean_end",
    "breakdown",
    "repair_start",
    "repair_end",
    "maintenance_start",
    "maintenance_end",
    "deviation",  # state = hold_time|dirty_hold, value = hours over the limit
    "scrap",  # detail = reason
    "quarantine",
    "qc_start",
    "qc_release",
    "qc_reject",
    "order_complete",
    "state",  # unit state change; state = new state, value = kW drawn in it
    "run_end",  # value = horizon
)

_NAN = math.nan


class EventLog:
    """Append-only columnar log bound to a clock (anything with a ``now`` attribute)."""

    __slots__ = ("_clock", "_t", "_kind", "_unit", "_batch", "_order", "_product", "_step",
                 "_state", "_value", "_detail", "_codes", "_strings")

    def __init__(self, clock: object) -> None:
        self._clock = clock
        self._t = array("d")
        self._kind = array("b")
        self._unit = array("i")
        self._batch = array("i")
        self._order = array("i")
        self._product = array("i")
        self._step = array("h")
        self._state = array("i")
        self._value = array("d")
        self._detail = array("i")
        self._codes: dict[str | None, int] = {None: -1}
        self._strings: list[str] = []

    def code(self, text: str | None) -> int:
        """The interned code of a string (-1 for None)."""
        c = self._codes.get(text)
        if c is None:
            c = len(self._strings)
            self._codes[text] = c
            self._strings.append(text)  # type: ignore[arg-type]
        return c

    def emit(
        self,
        kind: int,
        unit: int = -1,
        batch: int = -1,
        order: int = -1,
        product: int = -1,
        step: int = -1,
        state: int = -1,
        value: float = _NAN,
        detail: int = -1,
    ) -> None:
        """Record one event at the current time. Strings are passed as codes (``code()``)."""
        self._t.append(self._clock.now)
        self._kind.append(kind)
        self._unit.append(unit)
        self._batch.append(batch)
        self._order.append(order)
        self._product.append(product)
        self._step.append(step)
        self._state.append(state)
        self._value.append(value)
        self._detail.append(detail)

    def __len__(self) -> int:
        return len(self._t)

    def to_table(self) -> pa.Table:
        dictionary = pa.array(self._strings, type=pa.string())
        kinds = pa.array(KINDS, type=pa.string())

        def strings(col: array) -> pa.Array:
            idx = np.frombuffer(col, dtype=np.int32)
            return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0), dictionary)

        return pa.table(
            {
                "t": pa.array(np.frombuffer(self._t, dtype=np.float64)),
                "kind": pa.DictionaryArray.from_arrays(
                    pa.array(np.frombuffer(self._kind, dtype=np.int8)), kinds
                ),
                "unit": strings(self._unit),
                "batch": pa.array(np.frombuffer(self._batch, dtype=np.int32)),
                "order": strings(self._order),
                "product": strings(self._product),
                "step": pa.array(np.frombuffer(self._step, dtype=np.int16)),
                "state": strings(self._state),
                "value": pa.array(np.frombuffer(self._value, dtype=np.float64)),
                "detail": strings(self._detail),
            }
        )


def kind_code(name: str) -> int:
    return KINDS.index(name)


def write_parquet(table: pa.Table, path: str | Path) -> None:
    """Write a log deterministically (fixed writer options, zstd)."""
    pq.write_table(table, str(path), compression="zstd", write_statistics=True, use_dictionary=True)


def read_parquet(path: str | Path) -> pa.Table:
    return pq.read_table(str(path))
