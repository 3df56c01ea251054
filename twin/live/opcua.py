"""OPC UA for the live twin (asyncua): the plant's information model, the server the emulator
runs, and the client that feeds the shadow twin.

Information model (namespace ``urn:pharmatwin:<site>``)::

    Objects/
      <site>                  the plant; notifier of PlantEventType events; method Replay
        SourceId, LastSeq, PlantTime, Speed, RunState     the source's heartbeat
        <area>/               a room (ISA-95 area), or the equipment class of units without one
          <unit>/             one object per unit:
            State             PackML state name (Idle, Starting, Execute, Suspended, Held, ...)
            StateCode         PackML state number (4 Idle, 6 Execute, ...)
            Mode              PackML unit mode (Production, Clean, Maintenance)
            TwinState         the twin's state name (idle, processing, cleaning, ...)
            Batch, Order, Product, Step     what the unit holds
            Alarm, AlarmText  true while the unit is down

Every event of the log is also a ``PlantEventType`` event (a subtype of BaseEventType) emitted
by the plant object, carrying ``Payload`` (the JSON payload of ``twin.live.events``) and typed
fields for SCADA and historians (``Kind``, ``Unit``, ``Batch``, ``Order``, ``Product``,
``Step``, ``TwinState``, ``Value``, ``Seq``). The client subscribes to those events (with a
queue, so none is coalesced) and feeds the payloads to the shadow twin; gaps are asked for
with the plant's ``Replay(first, last)`` method.

A SCADA server that has no event stream but exposes units with State/Mode (or TwinState)
variables is followed in ``variables`` mode: each change of a unit's state becomes a ``state``
event (``twin.live.events.FROM_PACKML`` maps PackML to the twin's states), time-stamped with
the variable's source timestamp; orders, batches and QC then need the MQTT feed too.

Security: the server offers ``None`` on loopback unless given a certificate and key, then
Basic256Sha256 Sign and SignAndEncrypt only; with ``users`` it asks for a user name and
password. The client takes asyncua's security string (``Basic256Sha256,SignAndEncrypt,
cert.pem,key.pem[,server_cert.pem]``) and a user name, the password from a file or
``PHARMATWIN_OPCUA_PASSWORD``. Passwords are never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twin.live.events import FROM_PACKML, PACKML, PACKML_CODES, Namespace
from twin.scenario import Scenario
from twin.state import Event

__all__ = [
    "OpcUaPlantServer",
    "OpcUaSubscriber",
    "OpcUaSettings",
    "OpcUaError",
    "PASSWORD_ENV",
    "EVENT_FIELDS",
]

PASSWORD_ENV = "PHARMATWIN_OPCUA_PASSWORD"
EVENT_FIELDS = (
    ("Payload", "String"),
    ("Kind", "String"),
    ("Unit", "String"),
    ("Batch", "Int32"),
    ("Order", "String"),
    ("Product", "String"),
    ("Step", "Int32"),
    ("TwinState", "String"),
    ("Value", "Double"),
    ("Seq", "Int64"),
)
UNIT_VARIABLES = (
    ("State", "String", "Idle"),
    ("StateCode", "Int32", 4),
    ("Mode", "String", "Production"),
    ("TwinState", "String", "idle"),
    ("Batch", "String", ""),
    ("Order", "String", ""),
    ("Product", "String", ""),
    ("Step", "Int32", -1),
    ("Alarm", "Boolean", False),
    ("AlarmText", "String", ""),
)
_QUEUE = 100_000  # events queued per monitored item on the server for a slow client


class OpcUaError(ValueError):
    """An OPC UA address or option that cannot be used (phrased for the user)."""


def _quiet() -> None:
    for name in ("asyncua", "asyncua.server", "asyncua.client", "asyncua.common"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def check_endpoint(url: str, option: str = "--opcua") -> str:
    u = urllib.parse.urlsplit(url)
    if u.scheme != "opc.tcp" or not u.hostname:
        raise OpcUaError(f"{option}: bad value {url!r}: expected opc.tcp://host:port")
    try:
        u.port  # noqa: B018 - parses it
    except ValueError:
        raise OpcUaError(f"{option}: bad value {url!r}: the port is not a number") from None
    if u.username or u.password:
        raise OpcUaError(
            f"{option}: a user name in the address; expected --opcua-username and the password "
            f"in a file or {PASSWORD_ENV}"
        )
    return url


@dataclass(frozen=True)
class OpcUaSettings:
    """How the client connects (the password is never shown)."""

    endpoint: str
    security: str | None = None  # asyncua security string
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mode: str = "events"  # events | variables
    site: str | None = None

    def shown(self) -> str:
        return self.endpoint + (f" as {self.username}" if self.username else "")


class _Loop:
    """An asyncio loop in a thread, for code that calls it from plain threads."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def call(self, coro: Any, timeout: float | None = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# --------------------------------------------------------------------------- server
class OpcUaPlantServer:
    """The plant as an OPC UA server (see the module docstring): ``publish`` each event."""

    def __init__(
        self,
        endpoint: str,
        scenario: Scenario,
        site: str | None = None,
        certificate: str | None = None,
        private_key: str | None = None,
        users: Mapping[str, str] | None = None,
        on_replay: Callable[[int, int], None] | None = None,
    ) -> None:
        self.endpoint = check_endpoint(endpoint)
        self.scenario = scenario
        self.ns = Namespace.of(scenario, site=site)
        self.certificate, self.private_key = certificate, private_key
        self.users = dict(users or {})
        self.on_replay = on_replay
        self._loop: _Loop | None = None
        self._server: Any = None
        self._queue: asyncio.Queue | None = None
        self._worker: Any = None
        self.units: dict[str, dict[str, Any]] = {}
        self.published = 0

    def start(self, timeout: float = 30.0) -> OpcUaPlantServer:
        _quiet()
        self._loop = _Loop("opcua-server")
        try:
            self._loop.call(self._start(), timeout)
        except Exception as exc:
            self._loop.stop()
            raise OpcUaError(f"--opcua: cannot serve on {self.endpoint}: {exc}") from None
        return self

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server(user_manager=_Users(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"PharmaTwin plant {self.ns.site}")
        if self.certificate and self.private_key:
            await server.load_certificate(self.certificate)
            await server.load_private_key(self.private_key)
            uri = await _certificate_uri(self.certificate)
            if uri:  # the server's application URI must be its certificate's
                await server.set_application_uri(uri)
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                ]
            )
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(f"urn:pharmatwin:{self.ns.site}")
        etype = await server.create_custom_event_type(
            idx,
            "PlantEventType",
            ua.ObjectIds.BaseEventType,
            [(name, getattr(ua.VariantType, t)) for name, t in EVENT_FIELDS],
        )
        objects = server.get_objects_node()
        plant = await objects.add_object(idx, self.ns.site)
        hb = {}
        for name, vtype, value in (
            ("SourceId", ua.VariantType.String, ""),
            ("LastSeq", ua.VariantType.Int64, -1),
            ("PlantTime", ua.VariantType.Double, 0.0),
            ("Speed", ua.VariantType.Double, 0.0),
            ("RunState", ua.VariantType.String, "starting"),
        ):
            hb[name] = await plant.add_variable(idx, name, ua.Variant(value, vtype))
        self._heartbeat = hb

        async def replay(parent: Any, first: Any, last: Any) -> list:
            if self.on_replay is not None:
                a, b = int(first.Value), int(last.Value)
                if 0 <= a <= b:
                    self.on_replay(a, b)
            return []

        await plant.add_method(
            idx, "Replay", replay, [ua.VariantType.Int64, ua.VariantType.Int64], []
        )
        areas: dict[str, Any] = {}
        epoch = self.scenario.start.astimezone(dt.UTC)
        for unit, area in (self.ns.areas or {}).items():
            if area not in areas:
                areas[area] = await plant.add_object(idx, area)
            obj = await areas[area].add_object(idx, unit)
            variables = {}
            for name, vtype, value in UNIT_VARIABLES:
                variant = ua.Variant(value, getattr(ua.VariantType, vtype))
                node = await obj.add_variable(idx, name, variant)
                # the initial value holds since the plant's start (not since the server's)
                await node.write_value(ua.DataValue(variant, SourceTimestamp=epoch))
                variables[name] = node
            self.units[unit] = variables
        self._gen = await server.get_event_generator(etype, plant)
        await server.start()
        self._server = server
        self._queue = asyncio.Queue()
        self._worker = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        from asyncua import ua

        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if item[0] == "heartbeat":
                for name, value in item[1].items():
                    node = self._heartbeat.get(name)
                    if node is not None:
                        await node.write_value(value, _VT[name])
                continue
            _, e, payload, seq, when = item
            ev = self._gen.event
            ev.Payload = payload
            ev.Kind = e.kind
            ev.Unit = e.unit or ""
            ev.Batch = e.batch
            ev.Order = e.order or ""
            ev.Product = e.product or ""
            ev.Step = e.step
            ev.TwinState = e.state or ""
            ev.Value = e.value if math.isfinite(e.value) else 0.0
            ev.Seq = ua.Variant(seq, ua.VariantType.Int64)
            await self._gen.trigger(time_attr=when, message=f"{e.kind} {e.unit or ''}".strip())
            if e.unit in self.units and e.kind in ("state", "step_start", "step_end"):
                await self._unit(e, when)

    async def _unit(self, e: Event, when: dt.datetime) -> None:
        from asyncua import ua

        v = self.units[e.unit or ""]

        async def put(name: str, value: Any, vtype: str) -> None:
            dv = ua.DataValue(
                ua.Variant(value, getattr(ua.VariantType, vtype)),
                SourceTimestamp=when,
                ServerTimestamp=dt.datetime.now(dt.UTC),
            )
            await v[name].write_value(dv)

        if e.kind == "state" and e.state:
            packml, mode = PACKML.get(e.state, ("Idle", "Production"))
            await put("Mode", mode, "String")
            await put("State", packml, "String")
            await put("StateCode", PACKML_CODES[packml], "Int32")
            await put("Alarm", e.state == "down", "Boolean")
            await put("AlarmText", "breakdown" if e.state == "down" else "", "String")
            await put("Batch", str(e.batch) if e.batch >= 0 else "", "String")
            await put("TwinState", e.state, "String")  # last: a client reads the others with it
        elif e.kind == "step_start":
            await put("Order", e.order or "", "String")
            await put("Product", e.product or "", "String")
            await put("Step", e.step, "Int32")
        elif e.kind == "step_end":
            await put("Step", -1, "Int32")

    def publish(self, e: Event, payload: bytes, seq: int, start: dt.datetime) -> None:
        """Queue one event (any thread): its PlantEventType event and the unit's variables."""
        if self._loop is None or self._queue is None:
            return
        when = (start + dt.timedelta(hours=e.t)).astimezone(dt.UTC)
        item = ("event", e, payload.decode(), seq, when)
        self._loop.loop.call_soon_threadsafe(self._queue.put_nowait, item)
        self.published += 1

    def heartbeat(self, source: str, seq: int, t: float, speed: float, state: str) -> None:
        if self._loop is None or self._queue is None:
            return
        item = ("heartbeat", {"SourceId": source, "LastSeq": seq, "PlantTime": t,
                              "Speed": speed, "RunState": state})  # fmt: skip
        self._loop.loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def pending(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            if self._queue is not None:
                self._loop.loop.call_soon_threadsafe(self._queue.put_nowait, None)
            if self._server is not None:
                self._loop.call(self._server.stop(), 15)
        except Exception:  # stopping: the loop goes anyway
            pass
        finally:
            self._loop.stop()


async def _certificate_uri(path: str) -> str | None:
    """The application URI in a certificate's subject alternative names, if any."""
    from asyncua.crypto import uacrypto
    from cryptography import x509

    cert = await uacrypto.load_certificate(path)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


_VT_NAMES = {"SourceId": "String", "LastSeq": "Int64", "PlantTime": "Double",
             "Speed": "Double", "RunState": "String"}  # fmt: skip


class _VTypes(dict):
    def __missing__(self, key: str) -> Any:
        from asyncua import ua

        return getattr(ua.VariantType, _VT_NAMES[key])


_VT = _VTypes()


class _Users:
    """asyncua user manager: the users' passwords (compared in constant time)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)

    def get_user(
        self, iserver: Any, username: Any = None, password: Any = None, certificate: Any = None
    ) -> Any:
        import hmac

        from asyncua.crypto.permission_rules import User, UserRole

        known = self.users.get(username or "")
        if known is None or password is None:
            return None
        if not hmac.compare_digest(str(password).encode(), known.encode()):
            return None
        return User(role=UserRole.User, name=username)


# --------------------------------------------------------------------------- client
class OpcUaSubscriber:
    """Feeds a shadow twin from an OPC UA server (see the module docstring); reconnects with
    backoff (0.5 s doubling to 10 s) and subscribes again after each connect."""

    def __init__(self, settings: OpcUaSettings, scenario: Scenario, twin: Any) -> None:
        check_endpoint(settings.endpoint)
        if settings.mode not in ("events", "variables"):
            raise OpcUaError(
                f"--opcua-mode: bad value {settings.mode!r}: expected events or variables"
            )
        self.settings = settings
        self.scenario = scenario
        self.ns = Namespace.of(scenario, site=settings.site)
        self.twin = twin
        self.start_dt = scenario.start
        self._loop: _Loop | None = None
        self._task: Any = None
        self._client: Any = None
        self._plant: Any = None
        self._replay_node: Any = None
        self.connects = 0
        self._stop = threading.Event()
        twin.requesters.append(self.request_replay)

    def start(self) -> None:
        _quiet()
        self._loop = _Loop("opcua-client")
        self._task = self._loop.submit(self._run())

    async def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                await self._session()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.twin.connection(
                    "opcua", f"lost {self.settings.shown()} ({type(exc).__name__}); reconnecting"
                )
            if self._stop.is_set():
                return
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)

    async def _session(self) -> None:
        from asyncua import Client

        s = self.settings
        client = Client(s.endpoint, timeout=10)
        if s.security:
            uri = await _certificate_uri(s.security.split(",")[2])
            if uri:  # the client's application URI must be its certificate's
                client.application_uri = uri
            await client.set_security_string(s.security)
        if s.username:
            client.set_user(s.username)
            if s.password is not None:
                client.set_password(s.password)
        self.twin.connection("opcua", f"connecting to {s.shown()}")
        async with client:
            self._client = client
            idx = await client.get_namespace_index(f"urn:pharmatwin:{self.ns.site}")
            plant = await client.nodes.objects.get_child(f"{idx}:{self.ns.site}")
            self._plant = plant
            self._replay_node = await plant.get_child(f"{idx}:Replay")
            handler = _Handler(self)
            sub = await client.create_subscription(50, handler)
            if s.mode == "events":
                etype = await client.nodes.base_event_type.get_child(f"{idx}:PlantEventType")
                await sub.subscribe_events(plant, etype, queuesize=_QUEUE)
            else:
                await self._subscribe_variables(sub, plant, idx, handler)
            beats = [await plant.get_child(f"{idx}:{n}") for n in _VT_NAMES]
            handler.beats = {b.nodeid: n for b, n in zip(beats, _VT_NAMES, strict=True)}
            await sub.subscribe_data_change(beats, queuesize=4)
            self.connects += 1
            self.twin.connection("opcua", f"connected to {s.shown()} ({s.mode})")
            while not self._stop.is_set():
                await asyncio.sleep(1.0)
                await client.check_connection()
        self._client = None

    async def _subscribe_variables(self, sub: Any, plant: Any, idx: int, handler: _Handler) -> None:
        nodes = []
        for area in await plant.get_children():
            for unit in await area.get_children():
                name = (await unit.read_browse_name()).Name
                if name not in (self.ns.areas or {}):
                    continue
                var = None
                for child in await unit.get_children():
                    if (await child.read_browse_name()).Name == "TwinState":
                        var = child
                if var is not None:
                    handler.units[var.nodeid] = name
                    nodes.append(var)
        if nodes:
            await sub.subscribe_data_change(nodes, queuesize=1000)

    def request_replay(self, source: str, first: int, last: int) -> None:
        if self._loop is None or self._client is None or self._replay_node is None:
            return
        from asyncua import ua

        async def call() -> None:
            with contextlib.suppress(Exception):  # no Replay, or a lost connection: later
                await self._plant.call_method(
                    self._replay_node,
                    ua.Variant(first, ua.VariantType.Int64),
                    ua.Variant(last, ua.VariantType.Int64),
                )

        self._loop.submit(call())

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            if self._task is not None:
                self._task.cancel()
            time.sleep(0.05)
            self._loop.stop()


class _Handler:
    """asyncua subscription callbacks: events, unit states, the heartbeat."""

    def __init__(self, sub: OpcUaSubscriber) -> None:
        self.sub = sub
        self.units: dict[Any, str] = {}
        self.beats: dict[Any, str] = {}
        self.beat: dict[str, Any] = {}

    def event_notification(self, event: Any) -> None:
        payload = getattr(event, "Payload", None)
        if isinstance(payload, str):
            self.sub.twin.submit(payload.encode(), "opcua")

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        name = self.beats.get(node.nodeid)
        if name is not None:
            self.beat[name] = val
            if self.beat.get("SourceId") and "LastSeq" in self.beat:
                events = self.sub.settings.mode == "events"  # (variables: no sequence)
                status = {
                    "src": self.beat["SourceId"],
                    "seq": int(self.beat["LastSeq"]) if events else -1,
                    "t": self.beat.get("PlantTime"),
                    "speed": self.beat.get("Speed"),
                    "state": self.beat.get("RunState", "running"),
                }
                self.sub.twin.submit_status(json.dumps(status).encode(), "opcua")
            return
        unit = self.units.get(node.nodeid)
        if unit is None or not isinstance(val, str) or not val:
            return
        state = val if val in PACKML else FROM_PACKML.get((val, "Production"))
        if state is None:
            return
        dv = data.monitored_item.Value
        when = dv.SourceTimestamp or dt.datetime.now(dt.UTC)
        local = when.astimezone().replace(tzinfo=None) if when.tzinfo else when
        payload = {
            "id": f"opcua:{unit}:{when.isoformat()}:{state}",
            "ts": local.isoformat(),
            "kind": "state",
            "unit": unit,
            "state": state,
        }
        self.sub.twin.submit(json.dumps(payload).encode(), "opcua")
