"""What ``twin live``, ``twin emulate`` and ``twin broker`` share: the MQTT / OPC UA option
types and their checks, the scenario with its variants, bounds, a Ctrl-C stop flag."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    UserError,
    err,
)

DEMO_SCENARIO = "osd_plant.yaml"
MAX_HORIZON_H = 8_760.0
MAX_REPLICATIONS = 10_000

# --------------------------------------------------------------------------- shared options
MqttUrl = Annotated[
    str | None,
    typer.Option("--mqtt", help="MQTT broker: mqtt://host[:port] or mqtts://host[:port] (TLS)."),
]
MqttUser = Annotated[str | None, typer.Option("--mqtt-username", help="MQTT user name.")]
MqttPasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--mqtt-password-file",
        help="File holding the MQTT password (else $PHARMATWIN_MQTT_PASSWORD).",
    ),
]
MqttCa = Annotated[str | None, typer.Option("--mqtt-ca", help="CA certificate (PEM) for TLS.")]
MqttCert = Annotated[
    str | None, typer.Option("--mqtt-cert", help="Client certificate (PEM) for TLS.")
]
MqttKey = Annotated[str | None, typer.Option("--mqtt-key", help="Client key (PEM) for TLS.")]
MqttInsecure = Annotated[
    bool,
    typer.Option("--mqtt-insecure", help="TLS without checking the broker's name (tests only)."),
]
MqttVersion = Annotated[int, typer.Option("--mqtt-version", help="MQTT protocol: 3 (3.1.1) or 5.")]
OpcUrl = Annotated[
    str | None, typer.Option("--opcua", help="OPC UA endpoint: opc.tcp://host:port.")
]
Site = Annotated[
    str | None, typer.Option("--site", help="Site level of the topics (default: scenario name).")
]
TopicRoot = Annotated[str, typer.Option("--topic-root", help="First level of every topic.")]
Variants = Annotated[
    list[Path] | None,
    typer.Option("--variant", help="Variant file patching the scenario (repeatable)."),
]


def mqtt_settings(
    url: str | None,
    username: str | None,
    password_file: Path | None,
    ca: str | None,
    cert: str | None,
    key: str | None,
    insecure: bool,
    version: int,
) -> Any:
    if url is None:
        if any((username, password_file, ca, cert, key, insecure)):
            raise UserError("--mqtt-*: MQTT options without --mqtt URL")
        return None
    from twin.live.mqtt import MqttError, MqttSettings

    if version not in (3, 4, 5):
        raise UserError(f"--mqtt-version: bad value {version}: expected 3 (3.1.1) or 5")
    try:
        return MqttSettings.from_url(
            url,
            username=username,
            password_file=password_file,
            ca_file=ca,
            cert_file=cert,
            key_file=key,
            insecure=insecure,
            version=5 if version == 5 else 4,
        )
    except MqttError as exc:
        raise UserError(str(exc)) from None


def check_opcua(url: str | None, option: str = "--opcua") -> None:
    if url is None:
        return
    from twin.live.opcua import OpcUaError, check_endpoint

    try:
        check_endpoint(url, option)
    except OpcUaError as exc:
        raise UserError(str(exc)) from None


def check_topic_level(option: str, value: str | None) -> None:
    if value is not None and (not value or len(value) > 100 or any(c in value for c in "/#+\x00")):
        raise UserError(
            f"{option}: bad value {value!r}: expected 1 to 100 characters without / # +"
        )


def read_scenario(path: Path, variants: list[Path] | None) -> Any:
    from twin.scenario import load

    if not variants:
        return load(path)
    from twin.variants import resolve

    return resolve(path, variants).scenario


class StopFlag:
    """A stop flag set by Ctrl-C (SIGINT) or SIGTERM, for the time of a ``with`` block."""

    def __init__(self) -> None:
        self.event = threading.Event()

    @contextlib.contextmanager
    def signals(self) -> Iterator[threading.Event]:
        def handler(signum: int, frame: Any) -> None:
            self.event.set()

        old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, handler)
        try:
            yield self.event
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)


def say(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True, markup=False)
