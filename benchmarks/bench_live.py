"""The live twin: how many events it takes in, how late its state is, how long a look-ahead
takes, and what a plant that drifts from the model looks like before and after calibration.

1. Ingestion without a network: the payloads of eight weeks of osd_plant handed to the shadow
   twin as fast as it takes them (decode, de-duplicate, order, check, fold). Goal >= 2,000/s.
2. Ingestion over MQTT: ``twin broker`` and ``twin emulate`` as their own processes, the
   emulator publishing the same weeks at once; the twin here subscribes. Events per second
   from the first event applied to the last.
3. Event-to-state lag at about 200 events/s over MQTT (the emulator paced to that rate): from
   the source publishing an event to the plant state holding it, p50 / p95 / max. Goal p95
   <= 1 s.
4. OPC UA: the same kind of burst through the emulator's OPC UA server and the asyncua client.
5. A 7-day, 50-replication forecast from the live state of osd_plant (after four weeks), on a
   local process pool and in one process.
6. A plant 1.3 times slower than the model: divergences, step drift and the error of its
   forecasts (7 days, 40 replications, every other day of weeks 6-7, scored against what the
   plant then did) for the live twin holding the model, then holding the model fitted
   (``twin.fit``) on five weeks of the live log: every quantity the fit could estimate, or
   only the step durations the divergences pointed at; a faithful plant for reference.

    python benchmarks/bench_live.py [--quick]

Prints a table and writes benchmarks/results/live.json (with the load average of the machine
before and after, since the machine is shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.live.broker import free_port  # noqa: E402
from twin.live.emulator import events_of  # noqa: E402
from twin.live.events import Namespace, encode_event  # noqa: E402
from twin.live.shadow import ShadowOptions, ShadowTwin  # noqa: E402
from twin.scenario import load  # noqa: E402
from twin.simulate import simulate  # noqa: E402

OSD = ROOT / "scenarios" / "osd_plant.yaml"
TWIN = [sys.executable, "-m", "twin"]
WEEK = 168.0
REPLICATIONS_SCORED = 40  # forecasts scored against outcomes: enough for p10/p90 to mean it


def plant(weeks: float, seed: int = 3):
    sc = load(OSD)
    sim = sc.simulation.model_copy(update={"horizon": weeks * WEEK})
    return sc, simulate(sc.model_copy(update={"simulation": sim}), seed=seed).events


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


# --------------------------------------------------------------------------- 1
def ingest_direct(weeks: float) -> dict:
    sc, table = plant(weeks)
    payloads = [
        encode_event(e, f"b:{i}", sc.start, "b", i, time.time())
        for i, e in enumerate(events_of(table))
    ]
    twin = ShadowTwin(sc, say=lambda _m: None)
    t0 = time.perf_counter()
    for p in payloads:
        twin.submit(p)
    while twin.step(0) or twin.sequencer.held or not twin.inbox.empty():
        pass
    seconds = time.perf_counter() - t0
    assert twin.counts.applied == len(payloads)
    return {"events": len(payloads), "seconds": seconds, "per_s": len(payloads) / seconds}


# --------------------------------------------------------------------------- 2, 3
class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.dir = Path(tempfile.mkdtemp(prefix="bench_live."))

    def start(self, *args: str, wait_for: str, timeout: float = 60) -> subprocess.Popen:
        log = self.dir / f"p{len(self.procs)}.log"
        p = subprocess.Popen([*TWIN, *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                             cwd=self.dir, start_new_session=True)  # fmt: skip
        self.procs.append(p)
        end = time.monotonic() + timeout
        while wait_for not in log.read_text():
            if p.poll() is not None or time.monotonic() > end:
                raise RuntimeError(log.read_text()[-2000:])
            time.sleep(0.05)
        return p

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def over_mqtt(weeks: float, speed: float | None, from_h: float) -> dict:
    """The twin here, the broker and the emulator as processes. ``speed=None``: everything
    at once (the history); else paced after ``from_h``."""
    from twin.live.mqtt import MqttSettings, MqttSubscriber

    sc = load(OSD)
    procs = Processes()
    try:
        port = free_port()
        procs.start("broker", "--port", str(port), wait_for="listening")
        url = f"mqtt://127.0.0.1:{port}"
        twin = ShadowTwin(sc, options=ShadowOptions(keep_lags=True), say=lambda _m: None)
        sub = MqttSubscriber(MqttSettings.from_url(url), Namespace.of(sc), twin, "bench-live")
        sub.start()
        end = time.monotonic() + 10
        while not twin.connections.get("mqtt", "").startswith("connected"):
            assert time.monotonic() < end
            twin.step(0.05)
        if speed is None:  # all of it as history: published at once
            history, horizon = weeks * WEEK, 0.01
        else:
            history, horizon = from_h, weeks * WEEK - from_h
        args = ["emulate", str(OSD), "--seed", "3", "--mqtt", url, "--horizon", f"{horizon}h",
                "--from", f"{history}h", "--speed", str(speed or 1e6), "--linger", "60"]  # fmt: skip
        procs.start(*args, wait_for="emulating")
        n_hist = sum(1 for e in events_of(plant(weeks)[1]) if e.t <= history)
        first = last = None
        caught = None  # when the twin had applied the whole history
        deadline = time.monotonic() + 600
        n0 = 0
        while time.monotonic() < deadline:
            got = twin.step(0.05)
            if got and first is None:
                first, n0 = time.perf_counter(), twin.counts.applied - got
            if got:
                last = time.perf_counter()
            if caught is None and twin.counts.applied >= n_hist:
                caught = time.time()
            if twin.caught_up(finished=True):
                break
        lags, sent = list(twin.lags), list(twin.sent)
        applied = twin.counts.applied
        sub.stop()
    finally:
        procs.close()
    out = {"events": applied, "lost": twin.sequencer.lost, "duplicates": twin.sequencer.duplicates}
    if first is not None and last is not None and last > first:
        out["seconds"] = last - first
        out["per_s"] = (applied - n0) / (last - first)
    if speed is not None:
        n_live = applied - n_hist
        # the live events sent once the twin had the history (not queued behind its burst)
        live = [lag for lag, at in zip(lags[-n_live:], sent[-n_live:], strict=True)
                if caught is not None and at >= caught]  # fmt: skip
        out.update(
            live_events=n_live,
            measured=len(live),
            rate_per_s=n_live / (((weeks * WEEK) - from_h) * 3600 / speed),
            lag_p50_s=pct(live, 50),
            lag_p95_s=pct(live, 95),
            lag_max_s=max(live) if live else float("nan"),
        )
    return out


# --------------------------------------------------------------------------- 4
def over_opcua(weeks: float) -> dict:
    from twin.live.rig import LiveRig

    sc, table = plant(weeks)
    t0 = time.perf_counter()
    with LiveRig(sc, table, speed=1e6, from_h=weeks * WEEK, mqtt=False, opcua=True,
                 linger=1.0) as rig:  # fmt: skip
        start = time.perf_counter()
        ok = rig.wait(600)
        seconds = time.perf_counter() - start
        applied = rig.twin.counts.applied
    return {"events": applied, "caught_up": ok, "seconds": seconds, "per_s": applied / seconds,
            "with_setup_s": time.perf_counter() - t0}  # fmt: skip


# --------------------------------------------------------------------------- 5
def forecast_refresh(replications: int, horizon_h: float) -> dict:
    from twin.executors import InProcess, LocalPool
    from twin.forecast import forecast

    sc, table = plant(4)
    twin = ShadowTwin(sc, say=lambda _m: None)
    for i, e in enumerate(events_of(table)):
        twin.submit(encode_event(e, f"b:{i}", sc.start, "b", i))
    while twin.step(0) or twin.sequencer.held:
        pass
    state = twin.builder.state()
    out = {"state_at_h": state.time, "replications": replications, "horizon_h": horizon_h}
    with LocalPool(None) as pool:
        forecast(sc, state, 24.0, 2, seed=0, executor=pool)  # workers up and warm
        t0 = time.perf_counter()
        fc = forecast(sc, state, horizon_h, replications, seed=1, executor=pool)
        out["pool_s"] = time.perf_counter() - t0
        out["pool_workers"] = pool.workers
    t0 = time.perf_counter()
    forecast(sc, state, horizon_h, max(2, replications // 5), seed=1, executor=InProcess())
    out["one_process_s_per_replication"] = (time.perf_counter() - t0) / max(2, replications // 5)
    out["orders"] = len(fc.orders)
    return out


# --------------------------------------------------------------------------- 6
def drift_and_fit() -> dict:
    import pyarrow.compute as pc

    from twin.fit import fit_log, write_variant
    from twin.live.lookahead import Lookahead
    from twin.live.rig import slower_steps
    from twin.scenario import load_dict
    from twin.variants import deep_merge, resolve

    model = load(OSD)
    slow = load_dict(deep_merge(model.to_dict(), slower_steps(model, 1.3)), "slow plant")

    def log_of(sc):
        sim = sc.simulation.model_copy(update={"horizon": 8 * WEEK})
        return simulate(sc.model_copy(update={"simulation": sim}), seed=5).events

    from twin.executors import LocalPool

    pool = LocalPool(None)

    def follow(sc, table):
        look = Lookahead(sc, WEEK, REPLICATIONS_SCORED, seed=1, executor=pool)
        twin = ShadowTwin(sc, lookahead=look, say=lambda _m: None)
        marks = [5 * WEEK + 24 * k for k in range(0, 14, 2)]
        for i, e in enumerate(events_of(table)):
            if marks and e.t > marks[0]:
                marks.pop(0)
                while twin.step(0) or twin.sequencer.held:
                    pass
                twin.forecast_now()
                look.wait(300)
            twin.submit(encode_event(e, f"p:{i}", sc.start, "p", i))
        while twin.step(0) or twin.sequencer.held:
            pass
        look.close()
        s = twin.status()
        fe = s["forecast_error"]
        return {"divergences": s["divergences"]["by_reason"], "drift": s["sync"]["drift"],
                "sync": s["sync"]["status"], "forecast_bias_h": fe["bias_h"],
                "forecast_mae_h": fe["mae_h"], "forecast_coverage": fe["coverage"],
                "scored": fe["n"]}  # fmt: skip

    out = {"faithful plant": follow(model, log_of(model))}
    table = log_of(slow)
    out["slower plant, model"] = follow(model, table)
    live = table.filter(pc.less_equal(table.column("t"), 5 * WEEK))
    result = fit_log(str(OSD), live, bootstrap=0)
    folder = Path(tempfile.mkdtemp())
    variant = write_variant(result, folder / "fitted.yaml")
    out["slower plant, all fitted"] = follow(resolve(OSD, [variant]).scenario, table)
    only = dataclasses.replace(result, quantities=tuple(
        q if q.kind == "step" else dataclasses.replace(q, written=None) for q in result.quantities
    ))  # fmt: skip
    variant = write_variant(only, folder / "steps.yaml")
    out["slower plant, steps fitted"] = follow(resolve(OSD, [variant]).scenario, table)
    pool.close()
    return out


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = ap.parse_args()
    weeks = 2 if args.quick else 8
    results: dict = {"load_before": os.getloadavg(), "cores": os.cpu_count()}
    t0 = time.perf_counter()
    results["ingest_direct"] = r1 = ingest_direct(weeks)
    print(f"1. direct ingestion: {r1['events']:,} events in {r1['seconds']:.2f} s = "
          f"{r1['per_s']:,.0f}/s (goal >= 2,000/s)", flush=True)  # fmt: skip
    results["ingest_mqtt"] = r2 = over_mqtt(weeks, None, 0.0)
    print(f"2. over MQTT (broker and emulator as processes): {r2['events']:,} events, "
          f"{r2.get('per_s', float('nan')):,.0f}/s, lost {r2['lost']}", flush=True)  # fmt: skip
    # about 200 events/s: the speed at which the played weeks' events come 200 a second
    span = 0.25 if args.quick else 1.0
    _, table = plant(2 + span)
    n_live = int((table.column("t").to_numpy() > 2 * WEEK).sum())
    speed = 200 * span * WEEK * 3600 / n_live
    results["lag_mqtt_200"] = r3 = over_mqtt(2 + span, speed, 2 * WEEK)
    print(f"3. lag at {r3['rate_per_s']:.0f} events/s over MQTT ({r3['measured']:,} events): "
          f"p50 {r3['lag_p50_s'] * 1000:.0f} ms, p95 {r3['lag_p95_s'] * 1000:.0f} ms, max "
          f"{r3['lag_max_s'] * 1000:.0f} ms (goal p95 <= 1 s)", flush=True)  # fmt: skip
    results["ingest_opcua"] = r4 = over_opcua(1 if args.quick else 2)
    print(f"4. OPC UA events: {r4['events']:,} in {r4['seconds']:.1f} s = {r4['per_s']:,.0f}/s",
          flush=True)  # fmt: skip
    n = 10 if args.quick else 50
    results["forecast"] = r5 = forecast_refresh(n, WEEK)
    print(f"5. forecast from the live state: 7 days x {n} replications in {r5['pool_s']:.1f} s on "
          f"{r5['pool_workers']} workers ({r5['one_process_s_per_replication']:.2f} s per "
          "replication in one process)", flush=True)  # fmt: skip
    if not args.quick:
        results["drift_and_fit"] = r6 = drift_and_fit()
        print("6. a plant 1.3x slower than the model:")
        for name, r in r6.items():
            print(f"   {name:32s} drift {r['drift']:.2f}, divergences {sum(r['divergences'].values()):4d}"
                  f" ({r['sync']}), forecast bias {r['forecast_bias_h']:+.1f} h, MAE "
                  f"{r['forecast_mae_h']:.1f} h, p10-p90 coverage {r['forecast_coverage']:.0%} "
                  f"(n={r['scored']})", flush=True)  # fmt: skip
    results["load_after"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - t0
    out = ROOT / "benchmarks" / "results" / "live.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float))
    print(
        f"load average before {results['load_before']}, after {results['load_after']}; "
        f"{results['seconds']:.0f} s; written to {out.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
