"""``twin live``, ``twin emulate`` and ``twin broker``: the twin following a plant.

- ``twin broker [--port 1883]``: an embedded MQTT broker (amqtt) for trials and tests;
- ``twin emulate SCENARIO --mqtt URL [--opcua URL] [--speed 3600] [--replay LOG]
  [--variant V.yaml] [--out DIR]``: a scenario run (or a recorded log) played as the plant;
- ``twin live SCENARIO --mqtt URL [--opcua URL] --store runs [--forecast-every 1h --horizon 7d
  -n 50] [--replan-when-at-risk] [--state-out state.json]``: the shadow twin;
- ``twin live --demo``: all of it in one process (embedded broker, emulated plant, live twin,
  dashboard); Ctrl-C stops everything.

The library is ``twin.live``; this module only reads options, wires the pieces and prints.
Re-planning calls the optimizer (``optimizer.plan_commands``), imported only when asked for.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    Seed,
    UserError,
    Workers,
    check_int,
    check_number,
    err,
    out,
    parse_hours,
    user_errors,
)

app = typer.Typer()

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


def _mqtt_settings(
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


def _check_opcua(url: str | None, option: str = "--opcua") -> None:
    if url is None:
        return
    from twin.live.opcua import OpcUaError, check_endpoint

    try:
        check_endpoint(url, option)
    except OpcUaError as exc:
        raise UserError(str(exc)) from None


def _check_topic_level(option: str, value: str | None) -> None:
    if value is not None and (not value or len(value) > 100 or any(c in value for c in "/#+\x00")):
        raise UserError(
            f"{option}: bad value {value!r}: expected 1 to 100 characters without / # +"
        )


def _scenario(path: Path, variants: list[Path] | None) -> Any:
    from twin.scenario import load

    if not variants:
        return load(path)
    from twin.variants import resolve

    return resolve(path, variants).scenario


class _Stop:
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


def _say(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True, markup=False)


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
    stop = _Stop()
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
    settings = _mqtt_settings(
        mqtt, mqtt_username, mqtt_password_file, mqtt_ca, mqtt_cert, mqtt_key, mqtt_insecure,
        mqtt_version,
    )  # fmt: skip
    _check_opcua(opcua)
    if settings is None and opcua is None:
        raise UserError("--mqtt/--opcua: nothing to publish to; give a broker or an endpoint")
    check_number("--speed", speed, 0, 1e7, "simulated seconds per wall second", low_open=True)
    check_number("--linger", linger, 0, 86_400, "seconds")
    from_h = parse_hours("--from", history) or 0.0
    horizon_h = parse_hours("--horizon", horizon, 0.0, 100 * MAX_HORIZON_H, low_open=True)
    _check_topic_level("--site", site)
    _check_topic_level("--topic-root", topic_root)
    if replay is not None and (variants or seed):
        raise UserError("--replay: plays a recorded log; --seed and --variant are for simulating")
    if force and out_dir is None:
        raise UserError("--force: replaces a previous run output in --out; give --out DIR")
    if out_dir is not None:
        from twin.simulate import RunDirError, check_run_dir

        try:
            check_run_dir(out_dir, force)
        except RunDirError as exc:
            raise UserError(f"--out {exc}") from None
    opc_users = _read_opcua_users(opcua_users)
    if (opcua_cert is None) != (opcua_key is None):
        raise UserError("--opcua-cert/--opcua-key: a secure endpoint needs both")
    sc = _scenario(scenario, variants)
    table, start, label = _emulated_events(sc, seed, replay, from_h, horizon_h)
    from twin.live.emulator import Emulator, EmulatorOptions

    options = EmulatorOptions(speed, from_h, linger=linger)
    emu = Emulator(sc, table, start, options, site=site, root=topic_root, say=_say)
    transports = _start_transports(emu, settings, opcua, opcua_cert, opcua_key, opc_users, sc, site)
    out.print(
        f"emulating {label}: {len(emu.events):,} events from {start:%Y-%m-%d %H:%M} + "
        f"{emu.events[0].t if emu.events else 0:.1f} h at {speed:g}x as source {emu.source}"
        + (f"; history to {from_h:g} h at once" if from_h else "")
        + "; Ctrl+C stops",
        highlight=False,
        soft_wrap=True,
    )
    stop = _Stop()
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

            pub = MqttPublisher(settings, emu.ns, emu.source, say=_say)
            emu.attach_mqtt(pub)
            if not pub.start(wait=10.0):
                _say(f"MQTT: {settings.redacted()} not reachable yet; events wait for it")
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
            _say(f"OPC UA: serving the plant on {opcua}")
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


# --------------------------------------------------------------------------- twin live
@app.command()
@user_errors
def live(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario YAML file of the plant (the model it holds).")
    ] = None,
    mqtt: MqttUrl = None,
    opcua: OpcUrl = None,
    opcua_mode: Annotated[
        str,
        typer.Option("--opcua-mode", help="events (the plant's event stream) or variables "
                     "(unit states of a SCADA)."),
    ] = "events",
    store_dir: Annotated[
        Path, typer.Option("--store", help="Run store: the session goes to <store>/live/<name>.")
    ] = Path("runs"),
    session: Annotated[
        str | None,
        typer.Option("--session", help="Session name (default <scenario>-live); a session "
                     "resumes from its last saved state."),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start the session again instead of resuming it.")
    ] = False,
    state_file: Annotated[
        Path | None,
        typer.Option("--state", help="Start from this plant state (e.g. from `twin state`)."),
    ] = None,
    state_out: Annotated[
        Path | None,
        typer.Option("--state-out", help="Write the plant state here every few seconds and "
                     "on exit."),
    ] = None,
    forecast_every: Annotated[
        str | None,
        typer.Option("--forecast-every", help="Forecast from the current state every this "
                     "much plant time (e.g. 1h)."),
    ] = None,
    horizon: Annotated[str, typer.Option("--horizon", help="Forecast horizon.")] = "7d",
    replications: Annotated[
        int, typer.Option("--replications", "-n", help="Replications per forecast.")
    ] = 50,
    seed: Seed = 0,
    workers: Workers = None,
    replan: Annotated[
        bool,
        typer.Option("--replan-when-at-risk", help="Call the APS from the current state when "
                     "an order's on-time probability falls below --risk-threshold."),
    ] = False,
    threshold: Annotated[
        float, typer.Option("--risk-threshold", help="On-time probability below which an "
                            "order is at risk.")
    ] = 0.8,
    replan_time_limit: Annotated[
        float, typer.Option("--replan-time-limit", help="Seconds per re-planning solve.")
    ] = 10.0,
    variants: Variants = None,
    site: Site = None,
    topic_root: TopicRoot = "pharmatwin",
    mqtt_username: MqttUser = None,
    mqtt_password_file: MqttPasswordFile = None,
    mqtt_ca: MqttCa = None,
    mqtt_cert: MqttCert = None,
    mqtt_key: MqttKey = None,
    mqtt_insecure: MqttInsecure = False,
    mqtt_version: MqttVersion = 3,
    opcua_security: Annotated[
        str | None,
        typer.Option("--opcua-security", help="Policy,Mode,cert,key[,server_cert], e.g. "
                     "Basic256Sha256,SignAndEncrypt,cert.pem,key.pem."),
    ] = None,
    opcua_username: Annotated[
        str | None, typer.Option("--opcua-username", help="OPC UA user name.")
    ] = None,
    opcua_password_file: Annotated[
        Path | None,
        typer.Option("--opcua-password-file", help="File holding the OPC UA password (else "
                     "$PHARMATWIN_OPCUA_PASSWORD)."),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Embedded broker + emulated plant + live twin + dashboard "
                     "in one process."),
    ] = False,
    demo_speed: Annotated[
        float, typer.Option("--demo-speed", help="Speed of the demo's emulated plant.")
    ] = 600.0,
    demo_slower: Annotated[
        float,
        typer.Option("--demo-slower", help="Make the demo's plant this many times slower than "
                     "the model (1.3: steps take 30% longer; divergences show)."),
    ] = 1.0,
    dash_port: Annotated[
        int, typer.Option("--dash-port", help="Dashboard port of --demo (0: no dashboard).")
    ] = 8050,
    run_for: Annotated[
        float | None,
        typer.Option("--for", help="Stop after this many wall seconds (default: until Ctrl+C)."),
    ] = None,
) -> None:  # fmt: skip
    """Follow the plant: subscribe, keep the plant state current, flag divergences, forecast."""
    if demo:
        if mqtt is not None or opcua is not None:
            raise UserError("--demo: runs its own broker and plant; leave out --mqtt/--opcua")
        check_number("--demo-speed", demo_speed, 0, 1e6, low_open=True)
        check_number("--demo-slower", demo_slower, 0.2, 5.0)
        check_int("--dash-port", dash_port, 0, 65535)
        if scenario is None:
            scenario = _shipped(DEMO_SCENARIO)
        if forecast_every is None:
            forecast_every = "8h"
            if replications == 50:
                replications = 20
    elif scenario is None:
        raise UserError("SCENARIO: missing argument; see `twin live --help` (or try --demo)")
    settings = _mqtt_settings(
        mqtt, mqtt_username, mqtt_password_file, mqtt_ca, mqtt_cert, mqtt_key, mqtt_insecure,
        mqtt_version,
    )  # fmt: skip
    _check_opcua(opcua)
    if not demo and settings is None and opcua is None:
        raise UserError("--mqtt/--opcua: nothing to listen to; give a broker or an endpoint "
                        "(or try --demo)")  # fmt: skip
    if opcua_mode not in ("events", "variables"):
        raise UserError(f"--opcua-mode: bad value {opcua_mode!r}: expected events or variables")
    every_h = parse_hours("--forecast-every", forecast_every, 0.0, MAX_HORIZON_H, low_open=True)
    horizon_h = parse_hours("--horizon", horizon, 0.0, MAX_HORIZON_H, low_open=True) or 168.0
    check_int("--replications", replications, 1, MAX_REPLICATIONS)
    check_number("--risk-threshold", threshold, 0, 1, low_open=True)
    check_number("--replan-time-limit", replan_time_limit, 0, 600, "seconds", low_open=True)
    check_number("--for", run_for, 0, 1e9, "seconds", low_open=True)
    check_int("--workers", workers, 1, 256)
    _check_topic_level("--site", site)
    _check_topic_level("--topic-root", topic_root)
    if replan and every_h is None:
        raise UserError("--replan-when-at-risk: re-plans after forecasts; give --forecast-every")
    from twin.live.session import LiveSession, session_name

    sc = _scenario(scenario, variants)
    name = session or session_name(f"{'demo-' if demo else ''}{sc.name}-live")
    try:
        sess = LiveSession(store_dir, name)
    except ValueError as exc:
        raise UserError(f"--{exc}") from None
    if fresh and sess.path.exists():
        _remove_session(sess)
    elif state_file is not None and (sess.path / "checkpoint.json").is_file():
        raise UserError(
            f"--state: the session {name} resumes from its own saved state; add --fresh to "
            "start it again from this state (or choose another --session)"
        )
    if state_out is not None:
        from twin.cli.files import check_output_file

        check_output_file("--state-out", state_out, False, _is_state_file, "a plant-state file")
    start_state = _start_state(state_file, sc)
    opc = _opcua_settings(opcua, opcua_security, opcua_username, opcua_password_file,
                          opcua_mode, site)  # fmt: skip
    replanner = _replanner(replan_time_limit, seed) if replan else None
    with contextlib.ExitStack() as stack:
        demo_url, start_plant = None, None
        if demo:
            demo_url, start_plant = _start_demo(stack, sc, demo_speed, demo_slower, topic_root,
                                                site)  # fmt: skip
            from twin.live.mqtt import MqttSettings

            settings = MqttSettings.from_url(demo_url)
        executor = None
        if every_h is not None:
            from twin.executors import make_executor

            executor = stack.enter_context(make_executor(workers))
        twin, adapters = _start_twin(
            sc, sess, start_state, state_out, every_h, horizon_h, replications, seed, executor,
            replanner, threshold, settings, opc, topic_root, site, store_dir, demo,
        )  # fmt: skip
        stack.callback(lambda: [a.stop() for a in adapters])
        if demo:
            end = time.monotonic() + 10.0  # the plant starts once the twin listens
            while time.monotonic() < end and not twin.connections.get("mqtt", "").startswith(
                "connected"
            ):
                time.sleep(0.05)
            time.sleep(0.3)  # (its subscription reaches the broker)
            start_plant()
        if demo:
            url = _start_dashboard(stack, store_dir, dash_port, name) if dash_port else "off"
            slow = f", {demo_slower:g}x slower than the model" if demo_slower != 1 else ""
            out.print(
                f"PharmaTwin live demo: broker {demo_url}, plant emulator '{sc.name}' at "
                f"{demo_speed:g}x{slow}, live twin session {name}, dashboard {url}; Ctrl+C "
                "stops everything",
                highlight=False,
                soft_wrap=True,
            )
        _follow(twin, run_for)
    _summary(twin, sess)


def _remove_session(sess: Any) -> None:
    """Delete a session folder ``twin live`` wrote (``--fresh``), and nothing else."""
    import json
    import shutil

    try:
        info = json.loads((sess.path / "session.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or info.get("kind") != "pharmatwin live session":
        raise UserError(
            f"--fresh: {sess.path} is not a live session twin wrote; twin does not delete it"
        )
    shutil.rmtree(sess.path)


def _shipped(name: str) -> Path:
    here = Path("scenarios") / name
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[2] / "scenarios" / name


def _is_state_file(path: Path) -> bool:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == "pharmatwin.plant-state"


def _start_state(path: Path | None, sc: Any) -> Any:
    if path is None:
        return None
    from twin.state import load_state

    st = load_state(path)
    if st.scenario != sc.name:
        raise UserError(
            f"--state {path}: a state of '{st.scenario}'; expected a state of '{sc.name}'"
        )
    return st


def _opcua_settings(
    url: str | None,
    security: str | None,
    username: str | None,
    password_file: Path | None,
    mode: str,
    site: str | None,
) -> Any:
    if url is None:
        if security or username or password_file:
            raise UserError("--opcua-*: OPC UA options without --opcua URL")
        return None
    import os

    from twin.live.opcua import PASSWORD_ENV, OpcUaSettings

    password = None
    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"--opcua-password-file: cannot read it ({exc.strerror})") from None
    elif username is not None:
        password = os.environ.get(PASSWORD_ENV)
    if security is not None and len(security.split(",")) < 4:
        raise UserError(
            "--opcua-security: bad value: expected Policy,Mode,cert,key[,server_cert], e.g. "
            "Basic256Sha256,SignAndEncrypt,cert.pem,key.pem"
        )
    return OpcUaSettings(url, security, username, password, mode, site)


def _replanner(time_limit: float, seed: int) -> Any:
    """The re-planning callback: the APS from the live state, and what the new plan changes
    for the orders at risk (a forecast that follows it)."""
    try:
        from optimizer.plan_commands import plan_from_state
    except ImportError:
        raise UserError(
            "--replan-when-at-risk: this installation's optimizer cannot plan from a plant "
            "state (optimizer.plan_commands.plan_from_state); update pharmatwin"
        ) from None
    from twin.live.replan import replan_callback

    return replan_callback(plan_from_state, time_limit, seed)


def _start_twin(
    sc: Any,
    sess: Any,
    start_state: Any,
    state_out: Path | None,
    every_h: float | None,
    horizon_h: float,
    replications: int,
    seed: int,
    executor: Any,
    replanner: Any,
    threshold: float,
    settings: Any,
    opc: Any,
    topic_root: str,
    site: str | None,
    store_dir: Path,
    demo: bool,
) -> tuple[Any, list[Any]]:
    from twin.live.events import Namespace
    from twin.live.lookahead import Lookahead
    from twin.live.shadow import ShadowOptions, ShadowTwin

    look = None
    if every_h is not None:
        look = Lookahead(sc, horizon_h, replications, seed, executor, replanner, threshold,
                         say=_say)  # fmt: skip
    meta = {
        "mqtt": settings.redacted() if settings is not None else None,
        "opcua": opc.shown() if opc is not None else None,
        "forecast_every_h": every_h,
        "horizon_h": horizon_h,
        "replications": replications,
        "demo": demo,
    }
    sess.create(sc, meta)
    twin = ShadowTwin(
        sc, sess, state=start_state, options=ShadowOptions(forecast_every_h=every_h),
        lookahead=look, state_out=state_out, say=_say,
    )  # fmt: skip
    if twin.resumed:
        _say(
            f"resuming session {sess.name} from its saved state at "
            f"{twin.builder.time:,.2f} h ({twin.counts.applied:,} events applied before)"
        )
    ns = Namespace.of(sc, topic_root, site)
    adapters: list[Any] = []
    if settings is not None:
        from twin.live.mqtt import MqttSubscriber

        sub = MqttSubscriber(settings, ns, twin, f"pharmatwin-live-{sess.name}"[:64])
        sub.start()
        adapters.append(sub)
    if opc is not None:
        from twin.live.opcua import OpcUaSubscriber

        client = OpcUaSubscriber(opc, sc, twin)
        client.start()
        adapters.append(client)
    where = " and ".join(
        x for x in (settings.redacted() if settings else None, opc.shown() if opc else None) if x
    )
    _say(f"live twin of '{sc.name}' following {where}; session {sess.path}")
    return twin, adapters


def _start_demo(
    stack: contextlib.ExitStack, sc: Any, speed: float, slower: float, root: str, site: str | None
) -> tuple[str, Any]:
    """The demo's embedded broker and emulated plant (threads of this process): three weeks of
    history published at once, then twelve weeks played at ``speed``; with ``slower`` the
    plant's steps take that many times as long as the model says. Returns the broker's
    address and the function that starts the plant (once the twin listens)."""
    from twin.live.broker import BrokerError, EmbeddedBroker, free_port
    from twin.live.emulator import Emulator, EmulatorOptions
    from twin.live.mqtt import MqttPublisher, MqttSettings
    from twin.simulate import simulate

    port = 1883
    try:
        b = EmbeddedBroker("127.0.0.1", port).start()
    except BrokerError:
        port = free_port()
        b = EmbeddedBroker("127.0.0.1", port).start()
    stack.callback(b.stop)
    history = 21 * 24.0
    plant = sc
    if slower != 1.0:
        from twin.live.rig import slower_steps
        from twin.scenario import load_dict
        from twin.variants import deep_merge

        plant = load_dict(deep_merge(sc.to_dict(), slower_steps(sc, slower)), "<demo plant>")
    sim = plant.simulation.model_copy(update={"horizon": history + 12 * 168.0})
    run = simulate(plant.model_copy(update={"simulation": sim}), seed=3)
    options = EmulatorOptions(speed, history, linger=1e9)
    emu = Emulator(sc, run.events, options=options, site=site, root=root)
    pub = MqttPublisher(MqttSettings.from_url(b.url), emu.ns, emu.source, say=_say)
    emu.attach_mqtt(pub)
    pub.start(wait=10.0)
    stop = threading.Event()
    runner = threading.Thread(target=emu.run, args=(stop,), name="emulator", daemon=True)

    def halt() -> None:
        stop.set()
        if runner.is_alive():
            runner.join(5)
        pub.stop()

    stack.callback(halt)
    return b.url, runner.start


def _start_dashboard(stack: contextlib.ExitStack, store: Path, port: int, session: str) -> str:
    from waitress import create_server

    from dashboard.app import ServeError, check_bind, create_app

    host = "127.0.0.1"
    try:
        check_bind(host, port)
    except ServeError:
        from twin.live.broker import free_port

        port = free_port()
    app = create_app(store)
    server = create_server(app.server, host=host, port=port, threads=4, ident="")
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    stack.callback(server.close)
    return f"http://{host}:{port}/live?session={session}"


def _follow(twin: Any, run_for: float | None) -> None:
    stop = _Stop()
    end = None if run_for is None else time.time() + run_for
    last = time.time()
    with stop.signals() as ev:
        worker = threading.Thread(
            target=twin.run, args=(ev, lambda: end is not None and time.time() >= end),
            name="shadow-twin", daemon=True,
        )  # fmt: skip
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            if time.time() - last >= 5.0:
                last = time.time()
                _status_line(twin.status())
        ev.set()


def _status_line(s: dict[str, Any]) -> None:
    lag = s["lag"]
    p95 = f"{lag['p95_s'] * 1000:.0f} ms" if lag["p95_s"] is not None else "-"
    conn = "; ".join(f"{k}: {v}" for k, v in s["connections"].items())
    explained = s["sync"]["explained"]
    out.print(
        f"{s['plant_at']}  {s['counts']['applied']:,} events  {s['rate_per_s']:,.0f}/s  "
        f"lag p95 {p95}  {s['sync']['status']}"
        + (f" ({explained:.1%} explained)" if explained is not None else "")
        + f"  divergences {s['divergences']['total']:,}  bad {s['counts']['bad']:,}  [{conn}]",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


def _summary(twin: Any, sess: Any) -> None:
    s = twin.status()
    _status_line(s)
    fe = s.get("forecast_error") or {}
    if fe.get("n"):
        out.print(
            f"forecast error over {fe['n']:,} completions: bias {fe['bias_h']:+.1f} h, "
            f"MAE {fe['mae_h']:.1f} h, {fe['coverage']:.0%} within p10-p90",
            highlight=False,
        )
    out.print(f"session saved in {sess.path}", highlight=False, soft_wrap=True)
