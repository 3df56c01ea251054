"""``twin broker``, ``twin emulate`` and ``twin live`` as a user runs them, as processes: the
broker and the live twin are killed (SIGKILL) and restarted mid-run, and the live twin still
ends with exactly the state of what the emulated plant published, every event in its live log
once; SIGTERM stops them cleanly; bad options are one paragraph and exit code 2, passwords
never echoed. (``twin live --demo`` is run in tests/dashboard/test_live_browser.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twin.live.broker import free_port
from twin.live.session import LiveSession
from twin.scenario import load
from twin.state import load_state, state_from_events

from ..conftest import SCENARIOS

TWIN = [sys.executable, "-m", "twin"]
OSD = str(SCENARIOS / "osd_plant.yaml")


class Procs:
    """Processes started by a test, each in its own process group, all killed at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}-{len(self.procs)}.log", "w")  # noqa: SIM115
        p = subprocess.Popen([*TWIN, *args], stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, cwd=self.folder)  # fmt: skip
        p.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(p)
        return p

    def text(self, p: subprocess.Popen) -> str:
        return Path(p.log_path).read_text()  # type: ignore[attr-defined]

    def wait_for(self, p: subprocess.Popen, needle: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if needle in self.text(p):
                return
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not seen: {self.text(p)[-2000:]}")

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


@pytest.fixture
def procs(tmp_path):
    ps = Procs(tmp_path)
    try:
        yield ps
    finally:
        ps.close()


def status(path: Path) -> dict:
    try:
        return json.loads((path / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def test_broker_and_live_twin_killed_and_restarted_mid_run_lose_nothing(procs, tmp_path):
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    session = LiveSession(tmp_path / "runs", "k")
    broker = procs.start("broker", "broker", "--port", str(port))
    procs.wait_for(broker, "listening", 30)
    live_args = ("live", OSD, "--mqtt", url, "--store", "runs", "--session", "k",
                 "--state-out", "state.json")  # fmt: skip
    live = procs.start("live", *live_args)
    procs.wait_for(live, "following", 30)
    emu = procs.start("emulate", "emulate", OSD, "--seed", "3", "--speed", str(168 * 3600 / 10),
                      "--horizon", "1w", "--mqtt", url, "--out", "emu", "--linger", "120")  # fmt: skip
    procs.wait_for(emu, "emulating", 30)
    time.sleep(2.0)
    os.killpg(broker.pid, signal.SIGKILL)  # the broker dies: sessions, queues, all gone
    time.sleep(1.0)
    broker = procs.start("broker", "broker", "--port", str(port))
    procs.wait_for(broker, "listening", 30)
    time.sleep(2.0)
    os.killpg(live.pid, signal.SIGKILL)  # the live twin dies between two saves
    time.sleep(1.0)
    live = procs.start("live", *live_args)
    procs.wait_for(live, "resuming session k", 30)
    end = time.monotonic() + 90
    while time.monotonic() < end:  # until the twin has everything the finished plant sent
        s = status(session.path)
        src = next(iter(s.get("sources", {}).values()), {})
        if src.get("state") == "done" and src.get("next_seq") == src.get("announced", -2) + 1:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the twin did not catch up: {status(session.path)}")
    live.send_signal(signal.SIGTERM)
    assert live.wait(30) == 0, procs.text(live)
    emu.send_signal(signal.SIGTERM)
    assert emu.wait(30) == 0, procs.text(emu)
    assert "published events saved to emu" in procs.text(emu)

    sc = load(OSD)
    import pyarrow.parquet as pq

    published = pq.read_table(tmp_path / "emu" / "events.parquet")
    ref = state_from_events(sc, published)
    got = load_state(tmp_path / "state.json")
    assert got.time == pytest.approx(ref.time)
    assert {n: u.state for n, u in got.units.items()} == {n: u.state for n, u in ref.units.items()}
    assert set(got.batches) == set(ref.batches)
    assert {k: (o.made, o.released) for k, o in got.orders.items()} == {
        k: (o.made, o.released) for k, o in ref.orders.items()
    }
    log = session.events()
    assert log.num_rows == published.num_rows  # every event once in the live log
    assert log.column("t").to_pylist() == published.column("t").to_pylist()
    final = status(session.path)
    assert final["counts"]["lost"] == 0 and final["divergences"]["total"] == 0
    assert final["resumed"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("live", OSD), "--mqtt/--opcua: nothing to listen to"),
        (("live", OSD, "--mqtt", "http://host"), "--mqtt: bad value 'http://host'"),
        (("live", OSD, "--mqtt", "mqtt://u:S3cret@host/x"), "mqtt://u:***@host/x"),
        (("live", OSD, "--opcua", "opc.tcp://u:S3cret@h:4840"), "--opcua: a user name"),
        (("live", OSD, "--mqtt", "mqtt://h", "--horizon", "-1d"), "--horizon: bad value '-1d'"),
        (("live", OSD, "--mqtt", "mqtt://h", "-n", "0"), "--replications: bad value 0"),
        (("live", OSD, "--mqtt", "mqtt://h", "--replan-when-at-risk"), "give --forecast-every"),
        (("live", OSD, "--mqtt", "mqtt://h", "--site", "a/b"), "--site: bad value 'a/b'"),
        (("live", "--demo", "--mqtt", "mqtt://h"), "--demo: runs its own broker"),
        (("emulate", OSD), "--mqtt/--opcua: nothing to publish to"),
        (("emulate", OSD, "--mqtt", "mqtt://h", "--speed", "0"), "--speed: bad value 0"),
        (("emulate", OSD, "--mqtt", "mqtt://h", "--replay", "x.csv", "--seed", "3"), "--replay"),
        (("broker", "--port", "70000"), "--port: bad value 70,000"),
        (("broker", "--cert", "c.pem"), "--cert/--key: TLS needs both"),
    ],
)
def test_bad_options_are_one_paragraph_and_exit_2(args, message, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from twin.cli import app

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    assert message in text and "Traceback" not in r.output
    assert "S3cret" not in r.output


def test_emulate_replays_recorded_logs_and_plays_variants(tmp_path, monkeypatch):
    """--replay of a run folder and of its OCEL 2.0 export publishes the recorded events (and
    --out keeps exactly them); --variant makes the emulated plant another plant than the
    scenario file."""
    import pyarrow.parquet as pq
    import yaml
    from typer.testing import CliRunner

    from twin.cli import app
    from twin.live.broker import EmbeddedBroker
    from twin.live.rig import slower_steps
    from twin.ocel import export_ocel
    from twin.simulate import simulate, write_run_dir

    monkeypatch.chdir(tmp_path)
    tiny = SCENARIOS / "tiny.yaml"
    sc = load(tiny)
    run = simulate(sc, seed=2)
    write_run_dir(run, tmp_path / "recorded")
    export_ocel(
        run.events, {"start": sc.start, "scenario": sc.name}, tmp_path / "recorded.jsonocel"
    )
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(slower_steps(sc, 1.5)))
    with EmbeddedBroker("127.0.0.1", free_port()) as broker:
        common = ["emulate", str(tiny), "--mqtt", broker.url, "--speed", "1e7", "--linger", "0"]
        for source, out in (("recorded", "a"), ("recorded.jsonocel", "b")):
            r = CliRunner().invoke(app, [*common, "--replay", source, "--out", out])
            assert r.exit_code == 0, r.output
            assert f"{run.events.num_rows:,} of {run.events.num_rows:,} events" in r.output
            got = pq.read_table(tmp_path / out / "events.parquet")
            assert got.column("t").to_pylist() == pytest.approx(run.events.column("t").to_pylist())
            assert got.column("kind").to_pylist() == run.events.column("kind").to_pylist()
        r = CliRunner().invoke(
            app, [*common, "--seed", "2", "--variant", "slow.yaml", "--out", "c"]
        )
        assert r.exit_code == 0, r.output
    slow = pq.read_table(tmp_path / "c" / "events.parquet").to_pylist()
    base = run.events.to_pylist()

    def steps(rows):
        return [r["value"] for r in rows if r["kind"] == "step_end"]

    assert sum(steps(slow)) / len(steps(slow)) > 1.3 * sum(steps(base)) / len(steps(base))


def test_a_session_resumes_unless_fresh_and_fresh_deletes_only_sessions(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from twin.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "live" / "x").mkdir(parents=True)
    (tmp_path / "runs" / "live" / "x" / "checkpoint.json").write_text("{}")
    base = ["live", OSD, "--mqtt", "mqtt://127.0.0.1:1", "--session", "x"]
    r = CliRunner().invoke(app, [*base, "--state", "s.json"])
    assert r.exit_code == 2 and "resumes from its own saved state; add --fresh" in r.output
    r = CliRunner().invoke(app, [*base, "--fresh"])
    assert r.exit_code == 2 and "is not a live session twin wrote" in r.output
    assert (tmp_path / "runs" / "live" / "x" / "checkpoint.json").is_file()
