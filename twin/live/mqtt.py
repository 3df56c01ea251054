"""MQTT for the live twin (paho-mqtt 2): the subscriber that feeds the shadow twin, and the
publisher the plant emulator uses. Any MQTT 3.1.1 or 5 broker works (Mosquitto, EMQX,
HiveMQ, the embedded amqtt of ``twin broker``).

Robustness:

- **reconnect with backoff**: paho's network thread reconnects on its own, waiting 0.2 s, then
  twice as long each time up to 10 s; a broker that is down when the twin starts is retried
  the same way;
- **persistent session**: a fixed client id and ``clean_session=False`` (MQTT 5: clean start
  off and a day of session expiry), so a broker that keeps sessions (Mosquitto, EMQX, HiveMQ)
  queues QoS 1 events while the twin is away; subscriptions are renewed on every connect;
- **nothing lost**: QoS 1 both ways; the publisher keeps unacknowledged and unsent events and
  sends them after a reconnect; the twin drops duplicates by event id and asks a source to
  send a gap again (``<root>/<site>/_source/<source>/replay``; the emulator answers);
- **credentials**: ``--mqtt-username`` with the password from ``--mqtt-password-file`` or the
  ``PHARMATWIN_MQTT_PASSWORD`` environment variable (a password in the URL is accepted and
  never shown); TLS with ``mqtts://`` and ``--mqtt-ca``/``--mqtt-cert``/``--mqtt-key``.
  Messages and the status show the broker as :meth:`MqttSettings.redacted`.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from twin.live.events import Namespace

__all__ = [
    "MqttSettings",
    "MqttError",
    "MqttSubscriber",
    "MqttPublisher",
    "PASSWORD_ENV",
]

PASSWORD_ENV = "PHARMATWIN_MQTT_PASSWORD"
MAX_REPLAY_REQUEST = 256


class MqttError(ValueError):
    """A broker address or option that cannot be used (phrased for the user, no secrets)."""


@dataclass(frozen=True)
class MqttSettings:
    """Where the broker is and how to log in (the password is never shown)."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # TLS without checking the broker's host name (tests only)
    version: int = 4  # 4: MQTT 3.1.1, 5: MQTT 5
    keepalive: int = 30

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        password_file: str | Path | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        insecure: bool = False,
        version: int = 4,
    ) -> MqttSettings:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS, port 8883)."""
        try:
            u = urllib.parse.urlsplit(url)
            port_in_url = u.port
        except ValueError:
            raise MqttError(
                f"--mqtt: bad value {_redact_url(url)!r}: expected mqtt://host[:port] or "
                "mqtts://host[:port]"
            ) from None
        if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
            raise MqttError(
                f"--mqtt: bad value {_redact_url(url)!r}: expected mqtt://host[:port] or "
                "mqtts://host[:port] (TLS)"
            )
        if u.path not in ("", "/") or u.query or u.fragment:
            raise MqttError(
                f"--mqtt: bad value {_redact_url(url)!r}: expected no path or query after the "
                "port (the topic root is --topic-root)"
            )
        tls = u.scheme in ("mqtts", "ssl")
        user = username or (urllib.parse.unquote(u.username) if u.username else None)
        secret = password
        if secret is None and password_file is not None:
            try:
                secret = Path(password_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise MqttError(
                    f"--mqtt-password-file: cannot read {password_file} ({exc.strerror})"
                ) from None
        if secret is None and u.password:
            secret = urllib.parse.unquote(u.password)
        if secret is None and user is not None:
            secret = os.environ.get(PASSWORD_ENV)
        if version not in (4, 5):
            raise MqttError(f"--mqtt-version: bad value {version}: expected 3 (3.1.1) or 5")
        for opt, f in (
            ("--mqtt-ca", ca_file),
            ("--mqtt-cert", cert_file),
            ("--mqtt-key", key_file),
        ):
            if f is not None and not Path(f).is_file():
                raise MqttError(f"{opt}: {f}: no such file; expected a PEM file")
        if (ca_file or cert_file) and not tls:
            raise MqttError("--mqtt-ca/--mqtt-cert: TLS options need an mqtts:// broker address")
        return cls(
            u.hostname,
            port_in_url or (8883 if tls else 1883),
            tls,
            user,
            secret,
            ca_file,
            cert_file,
            key_file,
            insecure,
            version,
        )

    def redacted(self) -> str:
        """The address as it may be shown and logged: never the password."""
        user = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def _redact_url(url: str) -> str:
    return urllib.parse.urlsplit(url)._replace(netloc=_netloc(url)).geturl() if "@" in url else url


def _netloc(url: str) -> str:
    loc = urllib.parse.urlsplit(url).netloc
    creds, _, host = loc.rpartition("@")
    return f"{creds.split(':', 1)[0]}:***@{host}"


def _client(settings: MqttSettings, client_id: str, persistent: bool) -> paho.Client:
    v5 = settings.version == 5
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else not persistent,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        reconnect_on_failure=True,
    )
    client.reconnect_delay_set(min_delay=0.2, max_delay=10)  # type: ignore[arg-type]
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)  # unlimited: events wait for the broker, never dropped
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(
            ca_certs=settings.ca_file,
            certfile=settings.cert_file,
            keyfile=settings.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        if settings.insecure:
            client.tls_insecure_set(True)
    return client


def _connect(client: paho.Client, settings: MqttSettings, persistent: bool) -> None:
    kw: dict[str, Any] = {}
    if settings.version == 5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 86_400 if persistent else 0
        kw = {"clean_start": not persistent, "properties": props}
    client.connect_async(settings.host, settings.port, keepalive=settings.keepalive, **kw)
    client.loop_start()


def _reason(rc: Any) -> str:
    text = str(rc)
    return text if len(text) < 80 else text[:77] + "..."


class MqttSubscriber:
    """Feeds a shadow twin from a broker: every event of the site, and the sources'
    heartbeats; asks sources for gaps (see the module docstring)."""

    def __init__(
        self,
        settings: MqttSettings,
        namespace: Namespace,
        twin: Any,
        client_id: str,
        persistent: bool = True,
    ) -> None:
        self.settings, self.ns, self.twin = settings, namespace, twin
        self.client_id = client_id
        self.persistent = persistent
        self.connects = 0
        self._stopping = False
        self.client = _client(settings, client_id, persistent)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        twin.requesters.append(self.request_replay)

    def start(self) -> None:
        self.twin.connection("mqtt", f"connecting to {self.settings.redacted()}")
        _connect(self.client, self.settings, self.persistent)

    def _on_connect(self, client, userdata, flags, rc, properties=None) -> None:  # noqa: ANN001
        if getattr(rc, "is_failure", False):
            self.twin.connection("mqtt", f"refused by {self.settings.redacted()}: {_reason(rc)}")
            return
        self.connects += 1
        client.subscribe([(self.ns.event_filter, 1), (self.ns.status_filter, 1)])
        self.twin.connection("mqtt", f"connected to {self.settings.redacted()}")

    def _on_connect_fail(self, client, userdata) -> None:  # noqa: ANN001
        self.twin.connection("mqtt", f"cannot reach {self.settings.redacted()}; retrying")

    def _on_disconnect(self, client, userdata, flags, rc, properties=None) -> None:  # noqa: ANN001
        if self._stopping:
            self.twin.connection("mqtt", f"closed {self.settings.redacted()}")
            return
        self.twin.connection(
            "mqtt", f"disconnected from {self.settings.redacted()} ({_reason(rc)}); reconnecting"
        )

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        topic = msg.topic
        if topic.endswith("/event"):
            self.twin.submit(msg.payload, "mqtt", topic)
        elif topic.endswith("/status"):
            self.twin.submit_status(msg.payload, "mqtt")

    def request_replay(self, source: str, first: int, last: int) -> None:
        payload = json.dumps({"from": first, "to": last, "by": self.client_id}).encode()
        self.client.publish(self.ns.replay_topic(source), payload, qos=1)

    def stop(self) -> None:
        self._stopping = True
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


class MqttPublisher:
    """Publishes events (QoS 1) and heartbeats (retained) for one source, and answers replay
    requests through ``on_replay(first, last)``."""

    def __init__(
        self,
        settings: MqttSettings,
        namespace: Namespace,
        source: str,
        on_replay: Callable[[int, int], None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.settings, self.ns, self.source = settings, namespace, source
        self.on_replay = on_replay
        self.say = say or (lambda _m: None)
        self.connected = threading.Event()
        self.client = _client(settings, f"pharmatwin-emu-{source}"[:64], persistent=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.published = 0
        self._unacked: set[int] = set()  # message ids not acknowledged yet
        self._early: set[int] = set()  # acknowledged before publish() saw its id
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self._stopping = False

    def start(self, wait: float = 0.0) -> bool:
        """Connect in the background; with ``wait``, wait that long for the first connection."""
        _connect(self.client, self.settings, True)
        return self.connected.wait(wait) if wait > 0 else False

    def _on_connect(self, client, userdata, flags, rc, properties=None) -> None:  # noqa: ANN001
        if getattr(rc, "is_failure", False):
            self.say(f"MQTT: refused by {self.settings.redacted()}: {_reason(rc)}")
            return
        client.subscribe(self.ns.replay_topic(self.source), qos=1)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, rc, properties=None) -> None:  # noqa: ANN001
        self.connected.clear()
        if not self._stopping:
            self.say(f"MQTT: lost {self.settings.redacted()} ({_reason(rc)}); reconnecting")

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        if self.on_replay is None or len(msg.payload) > MAX_REPLAY_REQUEST:
            return
        try:
            d = json.loads(msg.payload)
            first, last = int(d["from"]), int(d["to"])
        except (ValueError, KeyError, TypeError, RecursionError):
            return
        if 0 <= first <= last:
            self.on_replay(first, last)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:  # the acknowledgement may come back before this line
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self._unacked.add(info.mid)
        self.published += 1

    def _on_publish(self, client, userdata, mid, rc=None, properties=None) -> None:  # noqa: ANN001
        with self._lock:
            if mid in self._unacked:
                self._unacked.discard(mid)
            else:
                self._early.add(mid)

    def heartbeat(self, data: dict[str, Any]) -> None:
        payload = json.dumps({"src": self.source, **data}, separators=(",", ":")).encode()
        self.client.publish(self.ns.status_topic(self.source), payload, qos=1, retain=True)

    def pending(self) -> int:
        """Messages not yet acknowledged by the broker (or not yet sent: they wait for it)."""
        with self._lock:
            return len(self._unacked)

    def flush(self, timeout: float) -> bool:
        """Wait until the broker acknowledged everything published (True) or ``timeout``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.pending() == 0:
                return True
            time.sleep(0.02)
        return self.pending() == 0

    def stop(self) -> None:
        self._stopping = True
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
