"""The plant emulator: a scenario run (or a recorded log) played as if it were the plant.

The run is simulated first (deterministic: the same scenario and seed give the same events),
then its events are published as they happen in scaled real time: an event at model hour
``t`` goes out ``(t - from) * 3600 / speed`` wall seconds after the start (``speed``:
simulated seconds per wall second, 3600 = an hour a second). Events before ``from`` are
published at once (the plant's history, so a live twin starting with the emulator sees a busy
plant). Each event carries the source id, its row number as ``seq`` and ``id``
(``<source>:<seq>``), and the wall time it was sent; a heartbeat (every half second, retained)
says how far the source is and what the plant clock reads.

The emulator keeps everything it published and answers replay requests (MQTT
``.../_source/<source>/replay``, OPC UA ``Replay``): a live twin that missed events (it was
down, the broker restarted) gets them again. ``published()`` is what went out: ``twin emulate
--out DIR`` writes it as a run folder, to compare the live twin's view with what the emulated
plant really did.
"""

from __future__ import annotations

import datetime as dt
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from twin.live.events import Namespace, encode_event
from twin.scenario import Scenario
from twin.state import Event

__all__ = ["Emulator", "EmulatorOptions", "EmulationReport", "events_of", "MAX_SPEED"]

MAX_SPEED = 1e7
MAX_REPLAY = 200_000  # events sent again for one request at most


@dataclass(frozen=True)
class EmulatorOptions:
    speed: float = 3600.0  # simulated seconds per wall second
    from_h: float = 0.0  # events before this model hour are published at once
    heartbeat_every: float = 0.5  # wall seconds
    linger: float = 0.0  # after the last event, keep answering replays this long (seconds)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed) and 0 < self.speed <= MAX_SPEED):
            raise ValueError(
                f"--speed: bad value {self.speed!r}: expected 0 < speed <= {MAX_SPEED:g}"
            )
        if not (math.isfinite(self.from_h) and self.from_h >= 0):
            raise ValueError(f"--from: bad value {self.from_h!r}: expected hours >= 0")


@dataclass(frozen=True)
class EmulationReport:
    source: str
    published: int
    total: int
    replayed: int
    seconds: float
    plant_hours: float
    stopped: bool  # stopped before the last event


def events_of(table: pa.Table) -> list[Event]:
    """The rows of an event-log table as events."""
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    out = []
    for i in range(table.num_rows):
        v = cols["value"][i]
        out.append(
            Event(
                cols["t"][i],
                cols["kind"][i],
                cols["unit"][i],
                cols["batch"][i] if cols["batch"][i] is not None else -1,
                cols["order"][i],
                cols["product"][i],
                cols["step"][i] if cols["step"][i] is not None else -1,
                cols["state"][i],
                math.nan if v is None else v,
                cols["detail"][i],
            )
        )
    return out


class Emulator:
    """Plays ``table`` (an event log of ``scenario``'s plant) in scaled real time to the
    transports given (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        table: pa.Table,
        start: dt.datetime | None = None,
        options: EmulatorOptions = EmulatorOptions(),
        source: str | None = None,
        site: str | None = None,
        root: str = "pharmatwin",
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.table = table
        self.events = events_of(table)
        self.start = start or scenario.start
        self.options = options
        self.source = source or f"emu-{scenario.name}-{secrets.token_hex(3)}"
        self.ns = Namespace.of(scenario, root, site)
        self.say = say or (lambda _m: None)
        self.mqtt: Any = None
        self.opcua: Any = None
        self.sent = [0.0] * len(self.events)  # when each event went out (Unix seconds)
        self.count = 0  # events published so far (rows 0 .. count-1)
        self.replayed = 0
        self._requests: queue.SimpleQueue[tuple[str, int, int]] = queue.SimpleQueue()
        self.wall0: float | None = None
        self.done = threading.Event()

    # ------------------------------------------------------------------ transports
    def attach_mqtt(self, publisher: Any) -> None:
        """An ``MqttPublisher`` (its replay requests come back to this emulator)."""
        publisher.on_replay = lambda a, b: self._requests.put(("mqtt", a, b))
        self.mqtt = publisher

    def attach_opcua(self, server: Any) -> None:
        """An ``OpcUaPlantServer``."""
        server.on_replay = lambda a, b: self._requests.put(("opcua", a, b))
        self.opcua = server

    # ------------------------------------------------------------------ the clock
    @property
    def end_h(self) -> float:
        return self.events[-1].t if self.events else self.options.from_h

    def plant_clock(self, now: float | None = None) -> float:
        """The plant's model hour now (the emulated clock; it stops at the last event)."""
        if self.wall0 is None:
            return self.options.from_h
        now = time.time() if now is None else now
        t = self.options.from_h + (now - self.wall0) * self.options.speed / 3600.0
        return min(t, max(self.end_h, self.options.from_h))

    def _due(self, i: int) -> float:
        """Wall time (Unix seconds) when event ``i`` happens."""
        assert self.wall0 is not None
        t = self.events[i].t - self.options.from_h
        return self.wall0 + max(0.0, t) * 3600.0 / self.options.speed

    # ------------------------------------------------------------------ running
    def _publish(self, i: int, replay: str | None = None) -> None:
        e = self.events[i]
        if replay is None:
            self.sent[i] = time.time()
        payload = encode_event(e, f"{self.source}:{i}", self.start, self.source, i, self.sent[i])
        if self.mqtt is not None and replay in (None, "mqtt"):
            self.mqtt.publish(self.ns.event_topic(e), payload)
        if self.opcua is not None and replay in (None, "opcua"):
            self.opcua.publish(e, payload, i, self.start)

    def _heartbeat(self, state: str) -> None:
        seq = self.count - 1
        t = self.plant_clock()
        if self.count < len(self.events):  # no later than what went out (a busy emulator lags)
            t = min(t, self.events[self.count].t)
        if self.mqtt is not None:
            self.mqtt.heartbeat(
                {
                    "seq": seq,
                    "t": t,
                    "state": state,
                    "speed": self.options.speed,
                    "sent": time.time(),
                    "events": len(self.events),
                }  # fmt: skip
            )
        if self.opcua is not None:
            self.opcua.heartbeat(self.source, seq, t, self.options.speed, state)

    def _serve_requests(self) -> None:
        """Send the requested events again: the requests waiting now, merged, so an event
        asked for by several overlapping requests goes out once."""
        wanted: dict[str, set[int]] = {}
        while True:
            try:
                via, first, last = self._requests.get_nowait()
            except queue.Empty:
                break
            last = min(last, self.count - 1, first + MAX_REPLAY - 1)
            if first <= last:
                wanted.setdefault(via, set()).update(range(first, last + 1))
        for via, seqs in wanted.items():
            for i in sorted(seqs)[:MAX_REPLAY]:
                self._publish(i, replay=via)
                self.replayed += 1

    def run(self, stop: threading.Event | None = None) -> EmulationReport:
        """Publish every event at its time (see the module docstring); returns when the last
        one went out (and ``linger`` passed) or ``stop`` was set."""
        stop = stop or threading.Event()
        n = len(self.events)
        self.wall0 = time.time()
        t0 = time.perf_counter()
        self._heartbeat("running")  # the plant's clock before its history arrives
        next_beat = time.time() + self.options.heartbeat_every
        history = self.options.from_h
        while self.count < n and not stop.is_set():
            now = time.time()
            clock = self.plant_clock(now)
            burst = 0
            while self.count < n and (
                self.events[self.count].t <= clock or self.events[self.count].t <= history
            ):
                self._publish(self.count)
                self.count += 1
                burst += 1
                if burst >= 2000:  # let heartbeats and replays through a long burst
                    break
            self._serve_requests()
            if now >= next_beat:
                self._heartbeat("running")
                next_beat = now + self.options.heartbeat_every
            if self.count < n and burst < 2000:
                wait = min(self._due(self.count), next_beat) - time.time()
                if wait > 0:
                    stop.wait(min(wait, 0.05))
        finished = self.count >= n
        self._heartbeat("done" if finished else "stopped")
        end = time.time() + (self.options.linger if finished else 0.0)
        while time.time() < end and not stop.is_set():
            self._serve_requests()
            if time.time() >= next_beat:
                self._heartbeat("done")
                next_beat = time.time() + self.options.heartbeat_every
            stop.wait(0.05)
        self._serve_requests()
        self.done.set()
        return EmulationReport(
            self.source,
            self.count,
            n,
            self.replayed,
            time.perf_counter() - t0,
            self.plant_clock() - self.options.from_h,
            not finished,
        )

    def published(self) -> pa.Table:
        """The events published so far, as an event-log table (rows 0 .. count-1)."""
        return self.table.slice(0, self.count)
