"""``twin broker`` and ``twin emulate``: an embedded MQTT broker, and a scenario run (or a
recorded log) played as the plant over MQTT and OPC UA. The library is ``twin.live``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    Seed,
    UserError,
    check_int,
    check_number,
    check_out_dir,
    err,
    out,
    parse_hours,
    user_errors,
)
from twin.cli.live_options import (
    MAX_HORIZON_H,
    MqttCa,
    MqttCert,
    MqttInsecure,
    MqttKey,
    MqttPasswordFile,
    MqttUrl,
    MqttUser,
    MqttVersion,
    OpcUrl,
    Site,
    StopFlag,
    TopicRoot,
    Variants,
    check_opcua,
    check_topic_level,
    mqtt_settings,
    read_scenario,
    say,
)

app = typer.Typer()


# --------------------------------------------------------------------------- twin broker
@app.command()
@user_errors
def broker(
    host: Annotated[
        str, typer.Option(help="Interface (127.0.0.1; 0.0.0.0 opts in to all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 1883,
    users: Annotated[
        Path | None,
        typer.Option("--users", help="user:password lines: clients must log in (else anonymous)."),
    ] = None,
    cert: Annotated[str | None, typer.Option("--cert", help="TLS certificate (PEM).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="TLS private key (PEM).")] = None,
) -> None:
    """An embedded MQTT broker (amqtt) for trials and tests; Ctrl+C stops it."""
    from twin.cli.dash import check_bind
    from twin.live.broker import BrokerError, EmbeddedBroker, read_users, users_file_warning

    check_int("--port", port, 1, 65535)
    if (cert is None) != (key is None):
        raise UserError("--cert/--key: TLS needs both a certificate and its key")
    for opt, f in (("--cert", cert), ("--key", key)):
        if f is not None and not Path(f).is_file():
            raise UserError(f"{opt}: {f}: no such file; expected a PEM file")
    check_bind(host, port)
    try:
        known = read_users(users) if users is not None else None
    except BrokerError as exc:
        raise UserError(str(exc)) from None
    if users is not None and (w := users_file_warning(users)):
        err.print(f"[yellow]warning:[/] --users: {w}", highlight=False)
    b = EmbeddedBroker(host, port, known, cert, key)
    try:
        b.start()
    except BrokerError as exc:
        raise UserError(f"twin broker: {exc}") from None
    who = f"{len(known)} user(s)" if known else "anonymous clients"
    out.print(
        f"MQTT broker (amqtt) listening on {b.url} for {who}; Ctrl+C stops",
        highlight=False,
        soft_wrap=True,
    )
    stop = StopFlag()
    with stop.signals() as ev:
        while not ev.is_set():
            ev.wait(0.5)
    b.stop()
    out.print("broker stopped", highlight=False)


# --------------------------------------------------------------------------- twin emulate
@app.command()
@user_errors
def emulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file of the plant.")],
    seed: Seed = 0,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per wall second (3600: an hour a second).")
    ] = 3600.0,
    mqtt: MqttUrl = None,
    opcua: OpcUrl = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            "--replay",
            help="Play a recorded log (run folder, events.parquet, OCEL 2.0, MES CSV) instead "
            "of simulating.",
        ),
    ] = None,
    variants: Variants = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Keep what was published as a run folder (new or empty)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a previous run in --out.")
    ] = False,
    history: Annotated[
        str,
        typer.Option("--from", help="Publish the plant's history up to this offset at once (3w)."),
    ] = "0h",
    horizon: Annotated[
        str | None,
        typer.Option("--horizon", help="Plant time to emulate (default: the scenario's horizon)."),
    ] = None,
    linger: Annotated[
        float,
        typer.Option(help="Seconds to keep answering replay requests after the last event."),
    ] = 10.0,
    site: Site = None,
    topic_root: TopicRoot = "pharmatwin",
    mqtt_username: MqttUser = None,
    mqtt_password_file: MqttPasswordFile = None,
    mqtt_ca: MqttCa = None,
    mqtt_cert: MqttCert = None,
    mqtt_key: MqttKey = None,
    mqtt_insecure: MqttInsecure = False,
    mqtt_version: MqttVersion = 3,
    opcua_cert: Annotated[
        str | None, typer.Option("--opcua-cert", help="Server certificate (PEM/DER): secure only.")
    ] = None,
    opcua_key: Annotated[str | None, typer.Option("--opcua-key", help="Server key (PEM).")] = None,
    opcua_users: Annotated[
        Path | None,
        typer.Option("--opcua-users", help="user:password lines: OPC UA clients must log in."),
    ] = None,
) -> None:
    """Play a scenario as if it were the plant: every event published as it happens."""
    settings = mqtt_settings(
        mqtt, mqtt_username, mqtt_password_file, mqtt_ca, mqtt_cert, mqtt_key, mqtt_insecure,
        mqtt_version,
    )  # fmt: skip
    check_opcua(opcua)
    if settings is None and opcua is None:
        raise UserError("--mqtt/--opcua: nothing to publish to; give a broker or an endpoint")
    check_number("--speed", speed, 0, 1e7, "simulated seconds per wall second", low_open=True)
    check_number("--linger", linger, 0, 86_400, "seconds")
    from_h = parse_hours("--from", history) or 0.0
    horizon_h = parse_hours("--horizon", horizon, 0.0, 100 * MAX_HORIZON_H, low_open=True)
    check_topic_level("--site", site)
    check_topic_level("--topic-root", topic_root)
    if replay is not None and (variants or seed):
        raise UserError("--replay: plays a recorded log; --seed and --variant are for simulating")
    check_out_dir(out_dir, force)
    opc_users = _read_opcua_users(opcua_users)
    if (opcua_cert is None) != (opcua_key is None):
        raise UserError("--opcua-cert/--opcua-key: a secure endpoint needs both")
    sc = read_scenario(scenario, variants)
    table, start, label = _emulated_events(sc, seed, replay, from_h, horizon_h)
    from twin.live.emulator import Emulator, EmulatorOptions

    options = EmulatorOptions(speed, from_h, linger=linger)
    emu = Emulator(sc, table, start, options, site=site, root=topic_root, say=say)
    transports = _start_transports(emu, settings, opcua, opcua_cert, opcua_key, opc_users, sc, site)
    out.print(
        f"emulating {label}: {len(emu.events):,} events from {start:%Y-%m-%d %H:%M} + "
        f"{emu.events[0].t if emu.events else 0:.1f} h at {speed:g}x as source {emu.source}"
        + (f"; history to {from_h:g} h at once" if from_h else "")
        + "; Ctrl+C stops",
        highlight=False,
        soft_wrap=True,
    )
    stop = StopFlag()
    report = None
    try:
        with stop.signals() as ev:
            runner = threading.Thread(target=lambda: _store(emu, ev), daemon=True)
            runner.start()
            last = 0.0
            while runner.is_alive():
                runner.join(0.5)
                if time.time() - last >= 5.0:
                    last = time.time()
                    _emulator_line(emu)
            report = emu.report  # type: ignore[attr-defined]
    finally:
        for tr in transports:
            if hasattr(tr, "flush"):
                tr.flush(10.0)
            tr.stop()
    _emulator_line(emu)
    if out_dir is not None:
        _write_emulated(emu, sc, seed, out_dir, force)
        out.print(f"published events saved to {out_dir}", highlight=False)
    if report is not None:
        out.print(
            f"{report.published:,} of {report.total:,} events in {report.seconds:.1f} s "
            f"({report.replayed:,} sent again on request)"
            + ("; stopped early" if report.stopped else ""),
            highlight=False,
        )


def _store(emu: Any, stop: threading.Event) -> None:
    emu.report = emu.run(stop)


def _emulator_line(emu: Any) -> None:
    import datetime as dt

    t = emu.plant_clock()
    at = emu.start + dt.timedelta(hours=t)
    out.print(
        f"plant {at:%Y-%m-%d %H:%M} ({t:,.1f} h): {emu.count:,}/{len(emu.events):,} events",
        highlight=False,
    )


def _read_opcua_users(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    if not path.is_file():
        raise UserError(f"--opcua-users: {path}: no such file; expected user:password lines")
    users = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            user, sep, pw = line.partition(":")
            if not sep or not user or not pw:
                raise UserError(f"--opcua-users: {path}: line {n}: expected user:password")
            users[user] = pw
    return users


def _emulated_events(
    sc: Any, seed: int, replay: Path | None, from_h: float, horizon_h: float | None
) -> tuple[Any, Any, str]:
    """(events, calendar start, label): simulated, or read from a recorded log."""
    if replay is not None:
        from twin.logs import read_log

        obs = read_log(replay, start=sc.start)
        table = obs.table
        if horizon_h is not None:
            import pyarrow.compute as pc

            table = table.filter(pc.less_equal(table.column("t"), from_h + horizon_h))
        return table, obs.start, f"the log {replay}"
    from twin.simulate import simulate

    end = from_h + (horizon_h if horizon_h is not None else sc.simulation.horizon)
    sim = sc.simulation.model_copy(update={"horizon": end})
    run = simulate(sc.model_copy(update={"simulation": sim}), seed=seed)
    return run.events, sc.start, f"'{sc.name}' (seed {seed}, {end - from_h:g} h)"


def _start_transports(
    emu: Any,
    settings: Any,
    opcua: str | None,
    cert: str | None,
    key: str | None,
    users: dict[str, str] | None,
    sc: Any,
    site: str | None,
) -> list[Any]:
    started: list[Any] = []
    try:
        if settings is not None:
            from twin.live.mqtt import MqttPublisher

            pub = MqttPublisher(settings, emu.ns, emu.source, say=say)
            emu.attach_mqtt(pub)
            if not pub.start(wait=10.0):
                say(f"MQTT: {settings.redacted()} not reachable yet; events wait for it")
            started.append(pub)
        if opcua is not None:
            from twin.live.opcua import OpcUaError, OpcUaPlantServer

            server = OpcUaPlantServer(opcua, sc, site, cert, key, users)
            try:
                server.start()
            except OpcUaError as exc:
                raise UserError(str(exc)) from None
            emu.attach_opcua(server)
            started.append(server)
            say(f"OPC UA: serving the plant on {opcua}")
    except BaseException:
        for tr in started:
            tr.stop()
        raise
    return started


def _write_emulated(emu: Any, sc: Any, seed: int, out_dir: Path, force: bool) -> None:
    from twin.kpi import compute_kpis
    from twin.simulate import Run, RunDirError, write_run_dir

    table = emu.published()
    kpis = {"scenario": sc.name, "seed": seed, "replication": 0, **compute_kpis(table)}
    run = Run(sc, seed, 0, table, kpis, 0.0, meta={"events": table.num_rows, "source": emu.source,
              "speed": emu.options.speed, "emulated": True})  # fmt: skip
    try:
        write_run_dir(run, out_dir, force=force)
    except RunDirError as exc:
        raise UserError(f"--out {exc}") from None
