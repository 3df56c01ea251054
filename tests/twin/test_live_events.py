"""The live event interface: payloads round-trip, bad payloads are refused with a reason, the
topic namespace is MQTT-safe, and no payload (fuzzed) crashes the shadow twin: every bad
message is counted."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.eventlog import KINDS
from twin.live.events import (
    FROM_PACKML,
    PACKML,
    PACKML_CODES,
    BatchIds,
    Namespace,
    PayloadError,
    decode_event,
    encode_event,
    topic_escape,
    topic_unescape,
)
from twin.live.shadow import ShadowTwin
from twin.scenario import UNIT_STATES, load
from twin.state import Event

START = dt.datetime(2026, 1, 5, 6, 0)


@pytest.fixture(scope="module")
def tiny():
    return load("scenarios/tiny.yaml")


def test_round_trip_keeps_every_field():
    e = Event(12.5, "step_start", "press_1#2", 7, "o1", "tab_a", 1, None, 4.25, "x")
    payload = encode_event(e, "src:42", START, "src", 42, 1_700_000_000.5)
    got = decode_event(payload, START)
    assert got.event == e
    assert (got.id, got.source, got.seq, got.sent) == ("src:42", "src", 42, 1_700_000_000.5)
    d = json.loads(payload)
    assert d["ts"] == "2026-01-05T18:30:00.000000"
    assert d["batch"] == 7 and d["step"] == 1


def test_nan_and_missing_fields_are_null_and_read_back():
    e = Event(1.0, "state", "gran_1", -1, None, None, -1, "down", math.nan, None)
    d = json.loads(encode_event(e, "a", START))
    assert d["value"] is None and d["batch"] is None and d["packml"] == "Held"
    got = decode_event(json.dumps(d), START).event
    assert got.batch == -1 and got.step == -1 and math.isnan(got.value)


def test_time_from_ts_when_t_is_missing_offsets_ignored():
    base = {"id": "x", "kind": "breakdown", "unit": "gran_1"}
    for ts in ("2026-01-06T06:00:00", "2026-01-06T06:00:00Z", "2026-01-06T06:00:00+02:00"):
        assert decode_event(json.dumps({**base, "ts": ts}), START).event.t == pytest.approx(24.0)


def test_text_batch_ids_are_numbered_once_and_kept():
    ids = BatchIds()
    base = {"id": "x", "kind": "batch_release", "t": 1.0, "order": "o1"}
    a = decode_event(json.dumps({**base, "batch": "B-2026-0042"}), START, ids).event.batch
    b = decode_event(json.dumps({**base, "batch": "B-2026-0043"}), START, ids).event.batch
    again = decode_event(json.dumps({**base, "batch": "B-2026-0042"}), START, ids).event.batch
    assert a == again != b and a >= BatchIds.BASE
    assert decode_event(json.dumps({**base, "batch": "17"}), START, ids).event.batch == 17
    assert BatchIds(ids.ids).number("B-2026-0099") not in (a, b)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not a JSON text"),
        (b"[1, 2]", "a JSON list"),
        (b"{}", "id: missing"),
        (json.dumps({"id": "x", "kind": "nope", "t": 1}), "kind: bad value 'nope'"),
        (json.dumps({"id": "x", "kind": "state"}), "t/ts: missing"),
        (json.dumps({"id": "x", "kind": "state", "t": -1}), "before the plant's start"),
        (json.dumps({"id": "x", "kind": "state", "t": 1e300}), "t: bad value"),
        (json.dumps({"id": "x", "kind": "state", "ts": "yesterday"}), "ts: bad value"),
        (json.dumps({"id": "x", "kind": "state", "t": 1, "unit": 5}), "unit: bad value 5"),
        (json.dumps({"id": "x", "kind": "state", "t": 1, "unit": "u" * 201}), "unit: bad value"),
        (json.dumps({"id": "x", "kind": "state", "t": 1, "step": 1.5}), "step: bad value 1.5"),
        (json.dumps({"id": "x", "kind": "state", "t": 1, "batch": True}), "batch: bad value True"),
        (json.dumps({"id": "x", "kind": "state", "t": 1, "value": "7"}), "value: bad value '7'"),
        (json.dumps({"id": "x", "kind": "state", "t": 1, "seq": -3}), "seq: bad value -3"),
        (json.dumps({"id": "x", "v": 2, "kind": "state", "t": 1}), "v: bad value 2"),
        (b"{" * 5000 + b"}" * 5000, "payload of 10,000 bytes"),
        (b"[" * 4000 + b"]" * 4000, "not a JSON text"),
    ],
)
def test_bad_payloads_are_refused_with_the_reason(payload, reason):
    with pytest.raises(PayloadError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        decode_event(payload, START)


def test_topics_are_mqtt_safe_and_isa95_shaped(tiny):
    ns = Namespace.of(tiny, "pharmatwin", "site/a")
    assert topic_escape("press_1#2") == "press_1%232"
    assert topic_unescape(topic_escape("a/b+c#d%e$f")) == "a/b+c#d%e$f"
    unit = Event(0, "state", "press_1#2", state="idle")
    topic = ns.event_topic(unit)
    assert topic.startswith("pharmatwin/site%2Fa/") and topic.endswith("/press_1%232/event")
    assert not any(c in topic for c in "#+")
    assert len(topic.split("/")) == 5  # root / site / area / unit / event
    assert ns.event_topic(Event(0, "order_release", order="o1")).endswith("/mes/orders/event")
    assert ns.event_topic(Event(0, "qc_release", batch=1)).endswith("/mes/qc/event")
    assert ns.event_topic(Event(0, "agv_state", "agv_1")).endswith("/logistics/agv_1/event")
    assert ns.event_filter == "pharmatwin/site%2Fa/+/+/event"


def test_packml_mapping_covers_every_state_and_reads_back():
    assert set(PACKML) == set(UNIT_STATES)
    for state, (packml, mode) in PACKML.items():
        assert packml in PACKML_CODES
        back = FROM_PACKML[(packml, mode)]
        assert back == state or (state, back) == ("blocked", "starved")


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
_field = st.sampled_from(
    ["id", "kind", "t", "ts", "unit", "batch", "order", "product", "step", "state", "value",
     "detail", "seq", "src", "sent", "v"]
)  # fmt: skip
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)
_payloads = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(_field, _json_values, max_size=12).map(
        lambda d: json.dumps(d, allow_nan=True).encode()
    ),
    st.builds(
        lambda kind, extra: json.dumps(
            {"id": "e", "kind": kind, "t": 1.0, **extra}, allow_nan=True
        ).encode(),
        st.sampled_from(KINDS),
        st.dictionaries(_field, _json_scalars, max_size=6),
    ),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=st.lists(_payloads, min_size=1, max_size=20))
def test_fuzzed_payloads_never_crash_the_twin_and_every_bad_one_is_counted(tiny, payloads):
    twin = ShadowTwin(tiny, say=lambda _m: None)
    bad = 0
    for p in payloads:
        try:
            decode_event(p, tiny.start, BatchIds())
        except PayloadError:
            bad += 1
        twin.submit(p, "fuzz")
    twin.step(0)
    twin.sequencer.flush()
    s = twin.status()
    assert s["counts"]["received"] == len(payloads)
    assert s["counts"]["bad"] == bad
    assert sum(s["counts"]["bad_reasons"].values()) == bad


_event = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(KINDS),
        "dt": st.floats(0, 5),
        "unit": st.sampled_from([None, "gran_1", "press_1", "press_1#2", "nope", "agv_1"]),
        "batch": st.integers(-1, 6),
        "order": st.sampled_from([None, "o1", "o2", "o9"]),
        "product": st.sampled_from([None, "tab_a", "tab_b", "api_x"]),
        "step": st.integers(-1, 4),
        "state": st.sampled_from([None, *UNIT_STATES, "melting", "released", "quarantine"]),
        "value": st.sampled_from([None, 0.0, 1.5, 200.0, -3.0, 1e12]) | st.floats(-1e3, 1e3),
        "detail": st.sampled_from([None, "600", "inf", "-1", "abc", "L1", "n1>n2", "0"]),
    }
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(_event, min_size=1, max_size=40))
def test_well_formed_nonsense_never_breaks_the_state_it_saves(tiny, events):
    """Payloads that pass the checks but make no sense for the plant (unknown units, steps
    beyond the recipe, negative quantities...) are divergences; the state stays one that can
    be saved and read back (a restart never fails on it)."""
    from twin.state import state_from_dict

    twin = ShadowTwin(tiny, say=lambda _m: None)
    t = 0.0
    for i, e in enumerate(events):
        t += e.pop("dt")
        twin.submit(json.dumps({"id": f"e{i}", "src": "f", "seq": i, "t": t, **e}).encode())
    twin.step(0)
    state = twin.builder.state()
    again = state_from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.units.keys() == state.units.keys() and again.batches.keys() == state.batches.keys()
    assert twin.counts.bad == 0 and twin.counts.applied + twin.sync.counts["invalid"] <= len(events)
