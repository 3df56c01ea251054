"""The shadow twin: the plant state kept in step with the plant's events.

Adapters (``twin.live.mqtt``, ``twin.live.opcua``, a test) hand raw messages to
:meth:`ShadowTwin.submit` from their own threads; the twin's loop (:meth:`ShadowTwin.run`, or
:meth:`ShadowTwin.step` called by hand) reads them, checks each payload (``twin.live.events``:
a bad one is counted, logged and skipped), drops duplicates and restores the plant's order
(``twin.live.stream``), checks each event against the model (``twin.live.divergence``) and
folds it into the plant state (``twin.state.StateBuilder.apply_event``).

Besides that, now and then:

- every ``status_every`` seconds it writes what the dashboard shows (``status.json``);
- every ``save_every`` seconds the plant state, the position in each source and the events
  applied since the last save (``twin.live.session``), and the state to ``state_out``;
- every ``forecast_every`` hours of plant time it starts a look-ahead forecast from the current
  state (``twin.live.lookahead``), re-planning when an order is at risk;
- it asks sources to send gaps again (``request_replay``), and checks running steps against
  their bounds.

A restart with the same session resumes from its last saved state: events it had applied are
dropped as duplicates, and what came after its last save is asked for again.

Why one module of ~620 lines: it is one class, the twin's loop, and every concern it drives
lives in its own module already (payloads, ordering, divergence, sessions, look-ahead); what
remains here is their sequencing and the status they add up to.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.live.divergence import Divergence, DivergenceDetector, SyncIndicator
from twin.live.events import BatchIds, LiveEvent, PayloadError, decode_event
from twin.live.lookahead import Lookahead
from twin.live.session import LiveSession
from twin.live.stream import Sequencer
from twin.scenario import Scenario
from twin.state import Event, PlantState, StateBuilder

__all__ = ["ShadowTwin", "ShadowOptions", "MAX_INBOX"]

log = logging.getLogger("twin.live")

MAX_INBOX = 200_000
"""Messages waiting to be read; an adapter that finds the inbox full waits a little, then the
message is dropped and counted (a sequenced source's gap is then asked for again)."""
MAX_STATUS_BYTES = 4096
GRACE = 2.0
CATCH_UP_H = 24.0
"""The twin counts as catching up while the plant's clock is more than this many plant hours
ahead of its state (a quiet day of the plant is fine: the clock runs on without events)."""
LAG_WINDOW = 60.0
"""The lag shown is over the events applied in the last minute."""
"""Seconds an event may take from its source to the twin before a step still running by the
source's clock (its heartbeat) counts as overdue."""


@dataclass(frozen=True)
class ShadowOptions:
    """How the shadow twin runs (times in wall seconds unless they say hours)."""

    status_every: float = 1.0
    save_every: float = 5.0
    tick_every: float = 0.5
    window: float = 0.2  # re-ordering window of unsequenced events
    gap_timeout: float = 1.0  # a gap older than this is asked for again
    give_up: float = 20.0  # a gap older than this is skipped (its events counted as lost)
    stale_after: float = 15.0  # no message from a source for this long: out of sync
    forecast_every_h: float | None = None  # plant hours between forecasts
    keep_lags: bool = False  # keep every lag and sending time (benchmarks); else the last 5000

    def __post_init__(self) -> None:
        for name in ("status_every", "save_every", "tick_every", "gap_timeout", "give_up"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: bad value {v!r}: expected seconds > 0")
        if self.forecast_every_h is not None and not (
            math.isfinite(self.forecast_every_h) and self.forecast_every_h > 0
        ):
            raise ValueError(
                f"forecast_every: bad value {self.forecast_every_h!r}: expected hours > 0"
            )


@dataclass
class _SourceInfo:
    state: str = "running"
    speed: float | None = None
    plant_t: float | None = None  # the source's plant clock at ``at`` (model hours)
    at: float = 0.0  # when it said so (Unix seconds)
    last_seen: float = 0.0


@dataclass
class _Counts:
    received: int = 0
    applied: int = 0
    bad: int = 0
    dropped: int = 0  # inbox full
    bad_reasons: Counter[str] = field(default_factory=Counter)


class ShadowTwin:
    """The live twin's core (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        session: LiveSession | None = None,
        *,
        state: PlantState | None = None,
        options: ShadowOptions = ShadowOptions(),
        lookahead: Lookahead | None = None,
        state_out: str | Path | None = None,
        say: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scenario = scenario
        self.session = session
        self.options = options
        self.lookahead = lookahead
        self.state_out = Path(state_out) if state_out is not None else None
        self.say = say or (lambda m: log.info(m))
        self.clock = clock
        self.start = scenario.start
        now = clock()
        self.inbox: queue.Queue[tuple[str, bytes, str, float]] = queue.Queue(MAX_INBOX)
        self.counts = _Counts()
        self.detector = DivergenceDetector(scenario)
        self.sync = SyncIndicator()
        self.recent: deque[dict[str, Any]] = deque(maxlen=50)
        self.sources: dict[str, _SourceInfo] = {}
        self.connections: dict[str, str] = {}
        self.lags: deque[float] | list[float] = [] if options.keep_lags else deque(maxlen=5000)
        self.sent: list[float] = []  # with keep_lags: when each event of ``lags`` was sent
        self._rate: deque[tuple[float, int]] = deque(maxlen=64)
        self._recent_lags: deque[tuple[float, float]] = deque(maxlen=20_000)
        self._new: list[Event] = []
        self._new_divs: list[dict[str, Any]] = []
        self.requesters: list[Callable[[str, int, int], None]] = []
        self._asked: dict[str, tuple[int, int, float, int]] = {}  # source -> first, last, at, n
        # (wall time, events/s, lag p50, lag p95, plant time) at each status: the page's curves
        self.history: deque[tuple[float, float, float | None, float | None, float]] = deque(
            maxlen=600
        )
        self.replay_requests = 0
        self.batch_ids = BatchIds()
        self.resumed = False
        checkpoint = None
        resume = session.resume() if session is not None else None
        if resume is not None and resume[0].scenario == scenario.name:
            state, checkpoint = resume
            self.resumed = True
        if state is not None:
            self.builder = StateBuilder.from_state(scenario, state)
        else:
            self.builder = StateBuilder(scenario, "live")
        self.builder.source = "live"
        seq_opts = {"window": options.window, "gap_timeout": options.gap_timeout,
                    "give_up": options.give_up, "now": now}  # fmt: skip
        if checkpoint is not None:
            self.sequencer = Sequencer.from_checkpoint(checkpoint.get("sequencer", {}), **seq_opts)
            self.detector.restore(checkpoint.get("detector", {}))
            self.sync.counts.update(checkpoint.get("divergences", {}))
            self.sync.total = sum(self.sync.counts.values())
            self.counts.applied = int(checkpoint.get("applied", 0))
            self.counts.bad = int(checkpoint.get("bad", 0))
            self.batch_ids = BatchIds(checkpoint.get("batch_ids") or {})
            if lookahead is not None:
                lookahead.errors.restore(checkpoint.get("forecast_error", {}))
        else:
            self.sequencer = Sequencer(**seq_opts)
        self.detector.sync_anomalies(self.builder)
        if lookahead is not None and lookahead.store is None and session is not None:
            lookahead.store = lambda kind, data: (
                session.save_forecast(data) if kind == "forecast" else session.save_replan(data)
            )
        self._last = {"status": 0.0, "save": now, "tick": 0.0, "replay": 0.0}
        self._last_forecast_t: float | None = None
        self._lost_seen = self.sequencer.lost
        self._lost_at = -math.inf
        self.stopped = threading.Event()
        self.lock = threading.RLock()  # held while events are applied; readers take it too

    # ------------------------------------------------------------------ input (any thread)
    def submit(self, payload: bytes, origin: str = "direct", topic: str = "") -> None:
        """One raw event message (the adapters call this from their threads)."""
        self._put(("event", payload, origin, self.clock()))

    def submit_status(self, payload: bytes, origin: str = "direct") -> None:
        """One source heartbeat (``{"src", "seq", "t", "state", "speed", "sent"}``)."""
        self._put(("status", payload, origin, self.clock()))

    def _put(self, item: tuple[str, bytes, str, float]) -> None:
        try:
            self.inbox.put(item, timeout=2.0)
        except queue.Full:
            self.counts.dropped += 1

    def connection(self, name: str, status: str) -> None:
        """An adapter says how its connection is (shown in the status)."""
        self.connections[name] = status

    # ------------------------------------------------------------------ the loop
    def run(
        self, stop: threading.Event | None = None, until: Callable[[], bool] | None = None
    ) -> None:
        """Apply events until ``stop`` is set (or ``until()`` is true); then save and stop."""
        stop = stop or self.stopped
        try:
            while not stop.is_set() and not (until is not None and until()):
                self.step(0.05)
        finally:
            self.close()

    def step(self, timeout: float = 0.0) -> int:
        """Read what arrived (waiting up to ``timeout`` seconds for the first message), apply
        what is ready, and do what is due; returns the number of events applied."""
        items = []
        try:
            items.append(
                self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
            )
            while len(items) < 20_000:
                items.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        with self.lock:
            now = self.clock()
            for what, payload, origin, received in items:
                if what == "status":
                    self._status_message(payload, received)
                else:
                    self._event_message(payload, origin, received)
            applied = 0
            for ev in self.sequencer.pop(now):
                self._apply(ev)
                applied += 1
            self._periodic(self.clock())
        return applied

    def _event_message(self, payload: bytes, origin: str, received: float) -> None:
        self.counts.received += 1
        try:
            ev = decode_event(payload, self.start, self.batch_ids, received, origin)
        except PayloadError as exc:
            self._bad(str(exc), origin)
            return
        except Exception as exc:  # a reader bug must not stop the twin: counted, logged
            self._bad(f"unreadable: {type(exc).__name__}", origin)
            return
        if ev.source:
            info = self.sources.setdefault(ev.source, _SourceInfo())
            info.last_seen = received
        self.sequencer.push(ev, received)

    def _bad(self, reason: str, origin: str) -> None:
        self.counts.bad += 1
        key = reason.split(":", 1)[0][:40]
        self.counts.bad_reasons[key] += 1
        if self.counts.bad <= 20 or self.counts.bad % 1000 == 0:
            self.say(f"skipped a bad message from {origin} ({self.counts.bad:,} so far): {reason}")

    def _status_message(self, payload: bytes, received: float) -> None:
        if len(payload) > MAX_STATUS_BYTES:
            self._bad("status: too long", "status")
            return
        try:
            d = json.loads(payload)
            src, seq = d["src"], d.get("seq", -1)
            if not (isinstance(src, str) and 0 < len(src) <= 200 and isinstance(seq, int)):
                raise ValueError
            t = d.get("t")
            speed = d.get("speed")
            sent = d.get("sent")
            state = d.get("state", "running")
        except (ValueError, KeyError, TypeError, RecursionError):
            self._bad("status: not a source heartbeat", "status")
            return
        info = self.sources.setdefault(src, _SourceInfo())
        info.last_seen = received
        info.state = state if isinstance(state, str) and len(state) <= 20 else "running"
        info.speed = (
            float(speed) if isinstance(speed, int | float) and math.isfinite(speed) else None
        )
        if isinstance(t, int | float) and math.isfinite(t):
            info.plant_t = float(t)
            info.at = (
                float(sent) if isinstance(sent, int | float) and math.isfinite(sent) else received
            )
        if seq >= 0:
            self.sequencer.announce(src, seq, received)

    def _apply(self, lev: LiveEvent) -> None:
        e = lev.event
        sb = self.builder
        refused = self.detector.invalid(sb, e, lev.id)
        if refused is not None:  # folding it would make the plant state invalid
            self.sync.record([refused])
            self._diverged([refused])
            return
        divs = self.detector.check(sb, e, lev.id)
        done_key = None
        if e.kind == "qc_release":
            b = sb.batches.get(e.batch)
            if b is not None:
                done_key = f"{b.order}/{b.index}"
        before = sb.events
        sb.apply_event(e)
        divs += self.detector.after(sb, e, lev.id)
        self.sync.record(divs)
        if sb.events > before:
            self._new.append(e)
            self.counts.applied += 1
        now = self.clock()
        if lev.sent is not None:
            self.lags.append(now - lev.sent)
            self._recent_lags.append((now, now - lev.sent))
            if self.options.keep_lags:
                self.sent.append(lev.sent)
        if divs:
            self._diverged(divs)
        if self.lookahead is not None:
            if done_key is not None:
                self.lookahead.errors.outcome(done_key, e.t)
            elif e.kind == "order_complete" and e.order:
                self.lookahead.errors.outcome(e.order, e.t)

    def _diverged(self, divs: list[Divergence]) -> None:
        for d in divs:
            item = {**d.to_dict(), "at": self._iso(d.t)}
            self.recent.append(item)
            self._new_divs.append(item)
            if self.sync.total <= 20 or self.sync.total % 500 == 0:
                self.say(f"divergence #{self.sync.total:,} at {item['at']}: {d.message}")

    # ------------------------------------------------------------------ periodic work
    def _periodic(self, now: float) -> None:
        last = self._last
        if now - last["tick"] >= self.options.tick_every:
            last["tick"] = now
            # steps running past their bound by the plant's clock, allowing events GRACE
            # seconds on the way (no false alarm for a step end still in transit)
            # (while catching up, the steps' ends are among the events still to apply)
            clock = 0.0 if self._catching_up() else (self.plant_clock(now - GRACE) or 0.0)
            divs = self.detector.tick(self.builder, max(self.builder.time, clock))
            if divs:
                self.sync.record(divs, event=False)
                self._diverged(divs)
            if self.sequencer.lost > self._lost_seen:
                n = self.sequencer.lost - self._lost_seen
                self._lost_seen = self.sequencer.lost
                self._lost_at = now
                d = Divergence(self.builder.time, "lost", f"{n:,} event(s) never arrived")
                self.sync.record([d], event=False)
                self._diverged([d])
        self._replay(now)
        if self.lookahead is not None and self.options.forecast_every_h is not None:
            self._maybe_forecast()
        if now - last["status"] >= self.options.status_every:
            last["status"] = now
            self.write_status(now)
        if now - last["save"] >= self.options.save_every:
            last["save"] = now
            self.save()

    def write_status(self, now: float) -> None:
        """Add a point (rate, lag, plant time) to the history and write the status with it to
        the session (``status.json``); the loop calls this every ``status_every`` seconds."""
        status = self._status(now)
        lag = status["lag"]
        self.history.append(
            (round(now, 3), round(status["rate_per_s"], 2), lag["p50_s"], lag["p95_s"],
             self.builder.time)
        )  # fmt: skip
        if self.session is not None:
            status["history"] = list(self.history)
            self.session.write_status(status)

    def _replay(self, now: float) -> None:
        """Ask sources for their gaps: once per gap, again only if nothing came of it for a
        while (the wait doubles up to 16 x ``gap_timeout``)."""
        if not self.requesters:
            return
        for gap in self.sequencer.gaps(now):
            asked = self._asked.get(gap.source)
            covered = asked is not None and asked[0] <= gap.first and gap.last <= asked[1]
            if covered and now - max(asked[2], gap.since) < self._backoff(asked[3]):
                continue
            tries = asked[3] + 1 if covered else 1
            self._asked[gap.source] = (gap.first, gap.last, now, tries)
            self.replay_requests += 1
            for request in self.requesters:
                try:
                    request(gap.source, gap.first, gap.last)
                except Exception as exc:  # a transport that cannot ask must not stop the twin
                    self.say(f"could not ask {gap.source} for events again: {exc}")

    def _backoff(self, tries: int) -> float:
        return self.options.gap_timeout * (2 ** min(tries, 4))

    def _maybe_forecast(self) -> None:
        t = self.builder.time
        every = self.options.forecast_every_h
        if t <= 0 or self.lookahead is None or self.lookahead.busy or every is None:
            return
        if self._last_forecast_t is not None and t - self._last_forecast_t < every:
            return
        if self._catching_up():
            return  # forecast from where the plant is, not from its past
        if self.lookahead.start(self.builder.state(), "every"):
            self._last_forecast_t = t

    def _catching_up(self) -> bool:
        """Events are waiting, a source said it published more than the twin has, or the
        plant's clock is more than ``CATCH_UP_H`` ahead of the twin's state."""
        if self.sequencer.held or not self.inbox.empty():
            return True
        if any(
            s.next is not None and s.announced >= s.next for s in self.sequencer.sources.values()
        ):
            return True
        clock = self.plant_clock(self.clock() - GRACE)
        return clock is not None and clock - self.builder.time > CATCH_UP_H

    def forecast_now(self, trigger: str = "asked") -> bool:
        """Start a forecast from the current state now (False if one is running)."""
        if self.lookahead is None:
            return False
        with self.lock:
            ok = self.lookahead.start(self.builder.state(), trigger)
            if ok:
                self._last_forecast_t = self.builder.time
        return ok

    def save(self) -> None:
        """The plant state, the position in each source and the new events, atomically."""
        state = self.builder.state()
        if self.session is not None:
            self.session.save(state, self.checkpoint(state), self._new)
            self.session.append_divergences(self._new_divs)
        self._new = []
        self._new_divs = []
        if self.state_out is not None:
            state.save(self.state_out)

    def checkpoint(self, state: PlantState) -> dict[str, Any]:
        cp = {
            "time": state.time,
            "sequencer": self.sequencer.checkpoint(),
            "detector": self.detector.checkpoint(),
            "divergences": dict(self.sync.counts),
            "applied": self.counts.applied,
            "bad": self.counts.bad,
            "batch_ids": self.batch_ids.ids,
        }
        if self.lookahead is not None:
            cp["forecast_error"] = self.lookahead.errors.checkpoint()
        return cp

    def close(self) -> None:
        """Save everything (events held behind a gap are not applied: a restart asks for the
        gap again) and stop the look-ahead."""
        if self.lookahead is not None:
            self.lookahead.close(wait=False)
        with self.lock:
            self.save()
            self.write_status(self.clock())
            if self.session is not None:
                self.session.close()

    # ------------------------------------------------------------------ reading
    def _iso(self, hours: float) -> str:
        return (self.start + dt.timedelta(hours=hours)).isoformat(timespec="seconds")

    def plant_clock(self, now: float) -> float | None:
        """The plant's time now (model hours) from the sources' heartbeats, if they said."""
        best = None
        for info in self.sources.values():
            if info.plant_t is None:
                continue
            t = info.plant_t
            if info.state == "running" and info.speed:
                t += (now - info.at) * info.speed / 3600.0
            best = t if best is None else max(best, t)
        return best

    def caught_up(self, source: str | None = None, finished: bool = False) -> bool:
        """Every event each source announced has been applied (and none is waiting); with
        ``finished``, the sources also said they are done."""
        srcs = self.sequencer.sources
        names = [source] if source is not None else list(srcs)
        if not names or self.sequencer.held or not self.inbox.empty():
            return False
        for n in names:
            s = srcs.get(n)
            if s is None or s.next is None or s.announced < 0 or s.next <= s.announced:
                return False
            if finished and self.sources.get(n, _SourceInfo()).state != "done":
                return False
        return True

    def lag_summary(self, window: float = LAG_WINDOW) -> dict[str, Any]:
        """Event-to-state lag (seconds from the source's publishing to the state) of the events
        applied in the last ``window`` seconds."""
        now = self.clock()
        lags = sorted(lag for at, lag in self._recent_lags if now - at <= window)
        if not lags:
            return {"n": 0, "p50_s": None, "p95_s": None, "max_s": None}

        def q(p: float) -> float:
            return lags[min(len(lags) - 1, int(p * (len(lags) - 1) + 0.5))]

        return {"n": len(lags), "p50_s": q(0.5), "p95_s": q(0.95), "max_s": lags[-1]}

    def rate(self, now: float) -> float:
        """Events applied per second over the last ten seconds."""
        self._rate.append((now, self.counts.applied))
        old = [(t, n) for t, n in self._rate if now - t <= 10.0]
        if len(old) < 2 or old[-1][0] - old[0][0] <= 0:
            return 0.0
        return (old[-1][1] - old[0][1]) / (old[-1][0] - old[0][0])

    def status(self, now: float | None = None) -> dict[str, Any]:
        """What the dashboard and the console show (plain JSON data; any thread)."""
        with self.lock:
            return self._status(self.clock() if now is None else now)

    def unit_states(self) -> tuple[float, int, dict[str, str]]:
        """(plant time, events applied, unit -> state): one consistent reading (any thread)."""
        with self.lock:
            states = {n: u.state for n, u in self.builder.units.items()}
            return self.builder.time, self.counts.applied, states

    def _status(self, now: float) -> dict[str, Any]:
        sb = self.builder
        units = {}
        for name, u in sb.units.items():
            b = sb.batches.get(u.holder) if u.holder >= 0 else None
            units[name] = {
                "state": u.state,
                "since_h": u.since,
                "batch": f"{b.order}/{b.index}" if b is not None else None,
                "product": b.product if b is not None else None,
                "step": b.step if b is not None else None,
            }
        vehicles = {n: {"state": v.state, "node": v.node} for n, v in sb.vehicles.items()}
        clock = self.plant_clock(now)
        stale = bool(self.sources) and all(
            now - s.last_seen > self.options.stale_after and s.state == "running"
            for s in self.sources.values()
        )
        gaps = len(self.sequencer.gaps(now))
        drift = self.detector.drift
        lost_recent = now - self._lost_at < 60.0
        sources = {}
        for name, s in self.sequencer.sources.items():
            info = self.sources.get(name, _SourceInfo())
            sources[name] = {
                "next_seq": s.next,
                "announced": s.announced,
                "state": info.state,
                "speed": info.speed,
                "seen_s_ago": round(now - info.last_seen, 2) if info.last_seen else None,
            }
        la = self.lookahead
        return {
            "updated": now,
            "scenario": self.scenario.name,
            "session": self.session.name if self.session is not None else None,
            "start": self.start.isoformat(),
            "plant_time_h": sb.time,
            "plant_at": self._iso(sb.time),
            "plant_clock_h": clock,
            "behind_h": None if clock is None else max(0.0, clock - sb.time),
            "units": units,
            "vehicles": vehicles,
            "wip": len(sb.batches),
            "open_orders": sum(1 for o in sb.orders.values() if o.completed is None),
            "counts": {
                "received": self.counts.received,
                "applied": self.counts.applied,
                "duplicates": self.sequencer.duplicates,
                "bad": self.counts.bad,
                "bad_reasons": dict(self.counts.bad_reasons.most_common(10)),
                "dropped": self.counts.dropped,
                "late": self.sequencer.late,
                "lost": self.sequencer.lost,
                "held": self.sequencer.held,
                "replay_requests": self.replay_requests,
            },
            "sync": {
                "status": self.sync.status(drift, gaps, lost_recent, stale),
                "explained": self.sync.explained,
                "drift": drift,
                "gaps": gaps,
                "stale": stale,
            },
            "divergences": {
                "total": self.sync.total,
                "by_reason": dict(self.sync.counts),
                "recent": list(self.recent)[-20:],
            },
            "rate_per_s": self.rate(now),
            "lag": self.lag_summary(),
            "sources": sources,
            "connections": dict(self.connections),
            "forecast": la.latest if la is not None else None,
            "forecast_running": la.busy if la is not None else False,
            "forecast_error": la.errors.summary() if la is not None else None,
            "replans": list(la.replans)[-5:] if la is not None else [],
            "resumed": self.resumed,
        }
