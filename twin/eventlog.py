"""The columnar event log: every observable change of a run goes through ``EventLog.emit``.

Events are packed into NumPy column chunks and strings are interned once, so a plant-year with
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
import struct
import typing
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if typing.TYPE_CHECKING:
    import simpy

__all__ = ["EventLog", "KINDS", "read_parquet"]

KINDS = (
    "run_start",  # value = warm-up hours, detail = scenario name
    "unit_added",  # unit, detail = equipment class, state = room
    "order_release",  # order, product, value = due time, step = priority, detail = quantity
    "batch_release",  # batch, order, product, value = batch size
    "step_start",  # processing starts; value = ideal (OEE) duration
    "step_end",  # value = processing hours (without breakdown time)
    "setup",  # value = setup hours
    "clean_start",  # state = minor|major|campaign|reclean|full, batch = the batch it cleans for
    "clean_end",
    "breakdown",
    "repair_start",  # value = repair hours
    "repair_end",
    "maintenance_start",  # value = maintenance hours
    "maintenance_end",
    "deviation",  # state = hold_time|dirty_hold, value = hours over the limit
    "scrap",  # detail = reason
    "quarantine",  # only with QC: the batch waits for qc_start / qc_release / qc_reject
    "qc_start",  # value = the analyst's hands-on hours
    "qc_release",
    "qc_reject",
    "order_complete",
    "state",  # unit state change; state = new state, value = kW, batch = the batch holding it
    "run_end",  # value = horizon
    # material flow (twin/materials.py); the product column holds the material
    "lot_receipt",  # unit = warehouse, product = material, detail = lot, state = status, value = q
    "lot_status",  # unit = warehouse, product, detail = lot, state = new status, value = qty
    "material_pick",  # batch, step, unit = warehouse (null: intermediate), product, detail = lot
    "material_produce",  # batch, step, product = intermediate material, value = qty
    "starve_start",  # batch, step, unit, product = material, value = quantity short
    "starve_end",  # batch, step, unit, product = material, value = hours starved
    "reorder",  # product = material, state = sS|schedule, detail = purchase order, value = qty
    "shipment",  # order, unit = warehouse, product = material, detail = lot, value = qty
    "stockout",  # order, product = material, value = quantity short at the due date
    "wh_level",  # unit = warehouse, state = storage class, value = pallet positions used
    "wh_full",  # unit = warehouse, product = material, detail = lot, value = positions needed
    # transport (twin/transport.py); the unit column holds the vehicle
    "agv_added",  # unit = vehicle, detail = start node, value = battery kWh
    "agv_state",  # unit = vehicle, state = idle|empty|loaded|traffic|handling|charging, value = kWh
    "agv_move",  # unit = vehicle, state = segment, detail = from>to, value = metres
    "transport_request",  # batch, detail = request, state = material|ibc|finished|receipt
    "transport_pickup",  # unit = vehicle, batch, detail = request, value = hours since request
    "transport_done",  # unit = vehicle, batch, detail = request, value = hours since request
    "traffic_wait",  # unit = vehicle, detail = first blocked resource, value = hours waited
    "charge_start",  # unit = vehicle, detail = charger node, value = battery kWh
    "charge_end",  # unit = vehicle, detail = charger node, value = battery kWh
    # plans (twin/plan.py)
    "plan_op",  # unit, order, batch = index of the batch in its order, step, value = planned start
    "plan_end",  # value = planned end of the last operation (the plan's makespan)
    "replan",  # value = operations in the new plan, detail = trigger
    # warm starts (twin/state): what a run started from a plant state carries over
    "order_resume",  # as order_release, for an order released before the state's instant;
    # batch = the batch numbers it had handed out (the next one is batch + 1)
    "batch_resume",  # batch, order, product, value = size, step = its step, detail = its key
    # process plants (twin/process): tanks, utilities, tasks and the material between them
    "tank_added",  # unit = tank (its material's name), product = material, state = storage
    "tank_level",  # unit = tank, product = material, value = level after the change
    "utility_added",  # unit = utility, value = capacity
    "utility_level",  # unit = utility, value = amount in use after the change
    "task_start",  # unit, batch, detail = task, value = batch size
    "task_end",  # unit, batch, detail = task, value = processing hours
    "material_move",  # unit, batch, product = material, state = from, detail = to, value = qty
    "plan_task",  # unit, batch = plan index, detail = task, value = planned start
)

_NAN = math.nan


ROW = np.dtype(
    [
        ("t", "<f8"),
        ("kind", "i1"),
        ("unit", "<i4"),
        ("batch", "<i4"),
        ("order", "<i4"),
        ("product", "<i4"),
        ("step", "<i2"),
        ("state", "<i4"),
        ("value", "<f8"),
        ("detail", "<i4"),
    ]
)
_PACK = struct.Struct("<dbiiiihidi")  # one row of ROW, byte for byte (43 bytes, no padding)
assert _PACK.size == ROW.itemsize
_CHUNK = 32_768


class EventLog:
    """Append-only columnar log bound to a SimPy environment (its clock).

    ``emit`` packs each event into one buffer of bytes laid out as ``ROW`` (43 bytes an
    event); every 32k events the buffer is split into one NumPy array per column, so the whole
    run never holds a Python object per event. ``to_table`` hands the columns to Arrow without
    copying them.
    """

    __slots__ = ("_env", "emit", "_buf", "_cols", "_n", "_codes", "_strings", "_watch")

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env
        self._buf = bytearray()  # packed rows (ROW), until flushed
        self._cols: dict[str, list[np.ndarray]] = {name: [] for name in ROW.names}
        self._n = 0
        self._codes: dict[str | None, int] = {None: -1}
        self._strings: list[str] = []
        self._watch: dict[int, list[typing.Callable[[int], None]]] = {}
        self.emit = self._emitter()

    def watch(self, kind: int, callback: typing.Callable[[int], None]) -> None:
        """Call ``callback(kind)`` after every event of that kind (observers, e.g. re-planning)."""
        self._watch.setdefault(kind, []).append(callback)

    def code(self, text: str | None) -> int:
        """The interned code of a string (-1 for None)."""
        c = self._codes.get(text)
        if c is None:
            c = len(self._strings)
            self._codes[text] = c
            self._strings.append(text)  # type: ignore[arg-type]
        return c

    def _emitter(self) -> typing.Callable[..., None]:
        """``emit``, built as a closure over the buffer and the clock: it runs once per event
        (a dozen times per job on a flow line), so it reads locals rather than attributes and
        packs the row with one C call (``struct``) into one growing buffer. Packing costs less
        than appending ten fields to ten lists, and the buffer becomes columns with one copy
        per column instead of a conversion of Python numbers."""
        extend = self._buf.extend
        pack = _PACK.pack
        size = len
        buf = self._buf
        limit = _CHUNK * _PACK.size
        watch = self._watch
        flush = self._flush
        env = self._env  # SimPy keeps the time in ``_now``; ``now`` is a property around it

        def emit(
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
            extend(pack(env._now, kind, unit, batch, order, product, step, state, value, detail))
            if size(buf) >= limit:
                flush()
            if watch and kind in watch:
                for callback in watch[kind]:
                    callback(kind)

        return emit

    def _flush(self) -> None:
        buf = self._buf
        if buf:
            rows = np.frombuffer(buf, dtype=ROW)
            for name, chunks in self._cols.items():
                chunks.append(rows[name].copy())  # contiguous, owns its memory
            self._n += len(rows)
            del rows  # release the view before the buffer is emptied in place
            buf.clear()  # in place: ``emit`` extends this buffer

    def __len__(self) -> int:
        return self._n + len(self._buf) // _PACK.size

    @property
    def nbytes(self) -> int:
        """Bytes held by the packed columns."""
        return sum(c.nbytes for chunks in self._cols.values() for c in chunks)

    def column(self, name: str) -> np.ndarray:
        """One column as a NumPy array (a copy when the log spans several chunks)."""
        self._flush()
        chunks = self._cols[name]
        if not chunks:
            return np.zeros(0, dtype=ROW[name])
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def rows(self, start: int = 0) -> typing.Iterator[tuple]:
        """Events from index ``start`` on, as tuples of the schema's columns with names
        resolved (kind, unit, order, product, state and detail as text or None)."""
        self._flush()
        strings = self._strings
        offset = 0
        for k, kinds in enumerate(self._cols["kind"]):
            n = len(kinds)
            if offset + n <= start:
                offset += n
                continue
            cols = [self._cols[name][k] for name in ROW.names]
            lo = max(0, start - offset)
            for row in zip(*(c[lo:].tolist() for c in cols), strict=True):
                t, kind, unit, batch, order, product, step, state, value, detail = row
                yield (
                    t,
                    KINDS[kind],
                    strings[unit] if unit >= 0 else None,
                    batch,
                    strings[order] if order >= 0 else None,
                    strings[product] if product >= 0 else None,
                    step,
                    strings[state] if state >= 0 else None,
                    value,
                    strings[detail] if detail >= 0 else None,
                )
            offset += n

    def to_table(self) -> pa.Table:
        """The log as an Arrow table whose columns wrap the log's own chunks (no copy)."""
        self._flush()
        dictionary = _string_array(self._strings)
        kinds = _string_array(KINDS)

        def wrap(data: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
            bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
            return pa.Array.from_buffers(
                pa.from_numpy_dtype(data.dtype), len(data), [bitmap, pa.py_buffer(data)]
            )

        def column(name: str) -> pa.ChunkedArray:
            chunks = self._cols[name]
            if name == "kind":
                arrays = [pa.DictionaryArray.from_arrays(wrap(c), kinds) for c in chunks]
                kind_type = pa.dictionary(pa.int8(), pa.string())
                return pa.chunked_array(arrays, type=kind_type)
            if name in _STRING_COLUMNS:
                arrays = [
                    pa.DictionaryArray.from_arrays(wrap(c, c >= 0), dictionary) for c in chunks
                ]
                return pa.chunked_array(arrays, type=pa.dictionary(pa.int32(), pa.string()))
            return pa.chunked_array([wrap(c) for c in chunks], type=pa.from_numpy_dtype(ROW[name]))

        return pa.table({name: column(name) for name in ROW.names})


_STRING_COLUMNS = ("unit", "order", "product", "state", "detail")


def _string_array(strings: typing.Sequence[str]) -> pa.Array:
    """An Arrow string array built from its buffers (offsets and UTF-8 bytes): the same array
    as ``pa.array(strings)``, without ``pa.array``'s first call importing pandas (a quarter of
    a second of a short run)."""
    data = [x.encode() for x in strings]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data))
    )


def kind_code(name: str) -> int:
    return KINDS.index(name)


def write_parquet(table: pa.Table, path: str | Path | typing.BinaryIO) -> None:
    """Write a log deterministically (fixed writer options, zstd) to a path or binary file."""
    target = str(path) if isinstance(path, str | Path) else path
    pq.write_table(table, target, compression="zstd", write_statistics=True, use_dictionary=True)


def read_parquet(path: str | Path) -> pa.Table:
    return pq.read_table(str(path))
