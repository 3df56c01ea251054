"""``twin live``: the shadow twin following a plant.

- ``twin live SCENARIO --mqtt URL [--opcua URL] --store runs [--forecast-every 1h --horizon 7d
  -n 50] [--replan-when-at-risk] [--state-out state.json]``: the shadow twin;
- ``twin live --demo``: all of it in one process (embedded broker, emulated plant, live twin,
  dashboard); Ctrl-C stops everything.

``twin broker`` and ``twin emulate`` (the plant's side) are in ``twin.cli.emulate``, the
options they share in ``twin.cli.live_options``. The library is ``twin.live``; this module
only reads options, wires the pieces and prints. Re-planning calls the optimizer
(``optimizer.plan_commands``) and the demo the dashboard, imported only when asked for.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    Seed,
    UserError,
    Workers,
    check_int,
    check_number,
    out,
    parse_hours,
    user_errors,
)
from twin.cli.live_options import (
    DEMO_SCENARIO,
    MAX_HORIZON_H,
    MAX_REPLICATIONS,
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
    settings = mqtt_settings(
        mqtt, mqtt_username, mqtt_password_file, mqtt_ca, mqtt_cert, mqtt_key, mqtt_insecure,
        mqtt_version,
    )  # fmt: skip
    check_opcua(opcua)
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
    check_topic_level("--site", site)
    check_topic_level("--topic-root", topic_root)
    if replan and every_h is None:
        raise UserError("--replan-when-at-risk: re-plans after forecasts; give --forecast-every")
    from twin.live.session import LiveSession, session_name

    sc = read_scenario(scenario, variants)
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
                         say=say)  # fmt: skip
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
        lookahead=look, state_out=state_out, say=say,
    )  # fmt: skip
    if twin.resumed:
        say(
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
    say(f"live twin of '{sc.name}' following {where}; session {sess.path}")
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
    pub = MqttPublisher(MqttSettings.from_url(b.url), emu.ns, emu.source, say=say)
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
    stop = StopFlag()
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
