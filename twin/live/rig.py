"""An emulated plant, an embedded broker and a live twin in one process: what the tests, the
benchmark and ``twin live --demo`` wire together, in one place.

``with LiveRig(scenario, events, speed=...) as rig: rig.wait()`` starts a broker on a free
loopback port (unless ``mqtt=False``), an OPC UA server if asked, the emulator playing the
events, and a shadow twin subscribed to them; ``wait`` returns once the twin has applied every
event the emulator announced and the emulator said it is done. Everything started is stopped
on exit, also when the block fails. ``sample_every`` makes a sampler thread read the twin's
unit states as it goes (``rig.samples``: plant time and states, one consistent reading each),
to compare with what the plant did at those instants (:func:`agreement`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from twin.live.broker import EmbeddedBroker, free_port
from twin.live.emulator import Emulator, EmulatorOptions
from twin.live.events import Namespace
from twin.live.shadow import ShadowOptions, ShadowTwin
from twin.scenario import Scenario

__all__ = ["LiveRig", "Agreement", "agreement", "unit_states_at", "slower_steps"]

_TIME_KEYS = ("low", "mode", "high", "mean", "sd", "value")


def slower_steps(scenario: Scenario, factor: float) -> dict[str, Any]:
    """A variant patch making every recipe step ``factor`` times as long (all of a step's
    duration parameters scaled): the "real plant" of a demo or test that differs from the
    model the live twin holds. Merge it into the scenario file's data, or write it as YAML and
    pass it to ``twin emulate --variant``."""
    data = scenario.to_dict()
    patch: dict[str, Any] = {}
    for pid, prod in data["products"].items():
        recipe = []
        for step in prod["recipe"]:
            d = dict(step["duration"])
            for k in _TIME_KEYS:
                if isinstance(d.get(k), int | float):
                    d[k] = d[k] * factor
            if isinstance(d.get("values"), list):
                d["values"] = [v * factor for v in d["values"]]
            recipe.append({**step, "duration": d})
        patch[pid] = {"recipe": recipe}
    return {"products": patch}


def unit_states_at(table: pa.Table, times: list[float]) -> list[dict[str, str]]:
    """The state of every unit at each of ``times`` (ascending), from ``state`` events: the
    last state event at or before the instant (all events of that instant included)."""
    kinds = table.column("kind").to_pylist()
    ts = table.column("t").to_pylist()
    units = table.column("unit").to_pylist()
    states = table.column("state").to_pylist()
    current: dict[str, str] = {}
    out = []
    i, n = 0, table.num_rows
    for at in times:
        while i < n and ts[i] <= at + 1e-9:
            if kinds[i] == "state" and units[i] is not None and states[i] is not None:
                current[units[i]] = states[i]
            elif kinds[i] == "unit_added" and units[i] is not None:
                current.setdefault(units[i], "idle")
            i += 1
        out.append(dict(current))
    return out


@dataclass(frozen=True)
class Agreement:
    """How the twin's sampled unit states compare with the plant's at the same instants.

    ``pairs``: every (instant, unit) sampled, and the share equal; ``instants``: samples where
    every unit was equal; ``settled``: the samples taken when the twin had applied every event
    of its instant (between two instants of the plant; a sample taken while the rest of an
    instant's events were still on their way is not settled), and the share of those where
    every unit was equal."""

    pairs: int
    pair_share: float
    instants: int
    instant_share: float
    settled: int
    settled_share: float


def agreement(samples: list[tuple[float, int, dict[str, str]]], table: pa.Table) -> Agreement:
    """Compare the twin's samples (``ShadowTwin.unit_states``) with the plant's log (units the
    plant has not mentioned yet are idle in both)."""
    if not samples:
        return Agreement(0, 0.0, 0, 0.0, 0, 0.0)
    samples = sorted(samples, key=lambda s: (s[0], s[1]))
    truth = unit_states_at(table, [t for t, _, _ in samples])
    ts = table.column("t").to_pylist()
    pairs = same = whole = settled = settled_same = 0
    for (t, applied, twin_states), plant in zip(samples, truth, strict=True):
        equal = 0
        for unit, state in twin_states.items():
            equal += plant.get(unit, "idle") == state
        pairs += len(twin_states)
        same += equal
        all_equal = equal == len(twin_states)
        whole += all_equal
        if applied >= len(ts) or ts[applied] > t + 1e-9:
            settled += 1
            settled_same += all_equal
    n = len(samples)
    return Agreement(
        pairs, same / pairs if pairs else 0.0, n, whole / n, settled,
        settled_same / settled if settled else 0.0,
    )  # fmt: skip


@dataclass
class LiveRig:
    """See the module docstring."""

    scenario: Scenario
    events: pa.Table
    speed: float = 3600.0
    from_h: float = 0.0
    mqtt: bool = True
    opcua: bool = False
    opcua_mode: str = "events"
    users: Mapping[str, tuple[bytes, bytes]] | None = None
    credentials: tuple[str, str] | None = None  # (user, password) of both clients
    session: Any = None
    options: ShadowOptions = field(default_factory=ShadowOptions)
    lookahead: Any = None
    sample_every: float | None = None
    linger: float = 30.0
    port: int | None = None

    def __post_init__(self) -> None:
        self.broker: EmbeddedBroker | None = None
        self.emulator: Emulator | None = None
        self.twin: ShadowTwin | None = None
        self.samples: list[tuple[float, int, dict[str, str]]] = []
        self._stops: list[Any] = []
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []
        self.opcua_server: Any = None
        self.url = ""

    # ------------------------------------------------------------------ start and stop
    def __enter__(self) -> LiveRig:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LiveRig:
        from twin.live.mqtt import MqttPublisher, MqttSettings, MqttSubscriber

        sc = self.scenario
        ns = Namespace.of(sc)
        self.emulator = Emulator(
            sc, self.events, options=EmulatorOptions(self.speed, self.from_h, linger=self.linger)
        )
        self.twin = ShadowTwin(
            sc, self.session, options=self.options, lookahead=self.lookahead, say=lambda _m: None
        )
        user, password = self.credentials or (None, None)
        if self.mqtt:
            self.port = self.port or free_port()
            self.broker = EmbeddedBroker("127.0.0.1", self.port, self.users).start()
            self._stops.append(self.broker.stop)
            self.url = self.broker.url
            settings = MqttSettings.from_url(self.url, username=user, password=password)
            pub = MqttPublisher(settings, ns, self.emulator.source)
            self.emulator.attach_mqtt(pub)
            pub.start(wait=10.0)
            self._stops.append(pub.stop)
            sub = MqttSubscriber(settings, ns, self.twin, "pharmatwin-live-rig")
            sub.start()
            self._stops.append(sub.stop)
            self.subscriber = sub
        if self.opcua:
            from twin.live.opcua import OpcUaPlantServer, OpcUaSettings, OpcUaSubscriber

            endpoint = f"opc.tcp://127.0.0.1:{free_port()}/pharmatwin"
            self.opcua_server = OpcUaPlantServer(endpoint, sc).start()
            self._stops.append(self.opcua_server.stop)
            self.emulator.attach_opcua(self.opcua_server)
            client = OpcUaSubscriber(OpcUaSettings(endpoint, mode=self.opcua_mode), sc, self.twin)
            client.start()
            self._stops.append(client.stop)
            self._wait_connected("opcua", 20.0)
        if self.mqtt:
            self._wait_connected("mqtt", 10.0)
        self._thread(self.twin.run, self._halt)
        self._thread(self.emulator.run, self._halt)
        if self.sample_every:
            self._thread(self._sample)
        return self

    def _wait_connected(self, name: str, timeout: float) -> None:
        assert self.twin is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.twin.connections.get(name, "").startswith("connected"):
                return
            time.sleep(0.05)
        raise TimeoutError(f"the live twin did not connect over {name} within {timeout:g} s")

    def _thread(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _sample(self) -> None:
        assert self.twin is not None and self.sample_every
        while not self._halt.wait(self.sample_every):
            self.samples.append(self.twin.unit_states())

    def wait(self, timeout: float) -> bool:
        """Until the twin applied everything the finished emulator announced (True), or
        ``timeout`` seconds."""
        assert self.twin is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.twin.lock:
                if self.twin.caught_up(finished=True):
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._halt.set()
        for t in self._threads:
            t.join(15)
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):  # one failure must not keep the others up
                stop()
        self._stops.clear()
