"""The playback timeline sent once to the browser, in a compact columnar binary form, so the
browser draws any cursor time by itself (``assets/playback.js``) while the slider is dragged.

Layout: a little-endian uint32 giving the length of a UTF-8 JSON header, the header (padded to
8 bytes), then the arrays, each at an 8-byte aligned offset. The header names every array with
its dtype, offset and length, and carries the names (units, states, vehicles) and colours the
codes refer to. A plant-year (265k events) is about 3.5 MB, 1.8 MB gzip-compressed (sent so
when the browser accepts it).
"""

from __future__ import annotations

import gzip
import json
import struct
from typing import Any

import numpy as np

from dashboard.figures import AGV_COLOURS, STATE_COLOURS, kpi_release_kind, spread_radius
from dashboard.playback_data import TRACKED_STATES, Playback

__all__ = ["encode", "decode", "timeline_bytes", "CARD_MARKS"]

# event kinds whose times the KPI cards count (see figures.kpi_cards)
CARD_MARKS = ("breakdown", "deviation", "order_complete")


def _flat(parts: list[np.ndarray], dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-entity arrays as one array and offsets (uint32, len + 1)."""
    lengths = [len(p) for p in parts]
    off = np.zeros(len(parts) + 1, dtype=np.uint32)
    off[1:] = np.cumsum(lengths)
    flat = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
    return flat, off


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Header and arrays in the layout of the module docstring."""
    chunks: list[bytes] = []
    offset = 0
    table = {}
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        raw = a.tobytes()
        table[name] = [a.dtype.str.lstrip("<|="), offset, int(a.size)]
        pad = (-len(raw)) % 8
        chunks.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    head = json.dumps({**header, "arrays": table}, separators=(",", ":")).encode()
    head += b" " * ((-(len(head) + 4)) % 8)
    return struct.pack("<I", len(head)) + head + b"".join(chunks)


def decode(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The inverse of :func:`encode` (used by tests; the browser has its own reader)."""
    (n,) = struct.unpack_from("<I", data)
    header = json.loads(data[4 : 4 + n])
    base = 4 + n
    arrays = {
        name: np.frombuffer(data, dtype=np.dtype(dt), count=count, offset=base + off)
        for name, (dt, off, count) in header["arrays"].items()
    }
    return header, arrays


def timeline_arrays(pb: Playback) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """What the browser needs to draw the plant and the KPI cards at any time."""
    st_t, st_off = _flat(pb.st_times, "f8")
    st_c, _ = _flat(pb.st_codes, "u1")
    mv_t0, mv_off = _flat(pb.mv_t0, "f8")
    mv_t1, _ = _flat(pb.mv_t1, "f8")
    a, _ = _flat([m.reshape(-1, 2) for m in pb.mv_a] or [np.zeros((0, 2))], "f8")
    b, _ = _flat([m.reshape(-1, 2) for m in pb.mv_b] or [np.zeros((0, 2))], "f8")
    # moves go between a few layout points: send the points once and an index per end
    ends = np.concatenate([a, b]).reshape(-1, 2)
    uniq, inverse = np.unique(ends[:, 0] + 1j * ends[:, 1], return_inverse=True)
    points = np.stack([uniq.real, uniq.imag], axis=1)
    inverse = inverse.ravel()
    vs_t, vs_off = _flat(pb.vs_times, "f8")
    vs_c, _ = _flat(pb.vs_codes, "u1")
    order = np.argsort(pb.bp_start, kind="stable")
    release = kpi_release_kind(pb)
    arrays: dict[str, np.ndarray] = {
        "unit_xy": pb.unit_xy.astype("f4").ravel(),
        "st_off": st_off,
        "st_t": st_t,
        "st_c": st_c,
        "v_home": pb.v_home.astype("f4").ravel(),
        "mv_off": mv_off,
        "mv_t0": mv_t0,
        "mv_dur": (mv_t1 - mv_t0).astype("f4"),
        "mv_a": inverse[: len(a)].astype("u2"),
        "mv_b": inverse[len(a) :].astype("u2"),
        "points": points.astype("f4").ravel(),
        "vs_off": vs_off,
        "vs_t": vs_t,
        "vs_c": vs_c,
        "bp_start": pb.bp_start[order].astype("f8"),
        "bp_end": pb.bp_end[order].astype("f8"),
        "bp_batch": pb.bp_batch[order].astype("i4"),
        "bp_unit": pb.bp_unit[order].astype("i2"),
        "bp_vehicle": pb.bp_vehicle[order].astype("i2"),
        "cum_t": pb.cum_t.astype("f8"),
        "wip_t": pb.wip_t.astype("f8"),
        "wip_v": pb.wip_v.astype("f4"),
        "mark_release": pb.marks.get(release, np.zeros(0)).astype("f8"),
    }
    for s in TRACKED_STATES:
        arrays[f"cum_h_{s}"] = pb.cum_h[s].astype("f4")  # unit-hours: 0.01 h at 10^5 h
        arrays[f"cum_n_{s}"] = pb.cum_n[s].astype("u2")
    for k in CARD_MARKS:
        arrays[f"mark_{k}"] = pb.marks.get(k, np.zeros(0)).astype("f8")
    header = {
        "run": pb.run_id,
        "replication": pb.replication,
        "start_ms": int(np.datetime64(pb.start, "ms").astype(np.int64)),
        "t0": pb.t0,
        "t1": pb.t1,
        "units": pb.units,
        "unit_class": pb.unit_class,
        "unit_room": pb.unit_room,
        "states": pb.states,
        "state_colours": [STATE_COLOURS.get(s, "#444444") for s in pb.states],
        "vehicles": pb.vehicles,
        "v_states": pb.v_states,
        "v_colours": [AGV_COLOURS.get(s, "#444444") for s in pb.v_states],
        "tracked": list(TRACKED_STATES),
        "spread_m": spread_radius(pb),
        "marks": list(CARD_MARKS),
    }
    return header, arrays


def timeline_bytes(pb: Playback, compress: bool = False) -> bytes:
    """The encoded timeline (gzip-compressed with ``compress``: level 1, a few tens of ms)."""
    raw = encode(*timeline_arrays(pb))
    return gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw
