"""Benchmark: the playback page of a plant-year run in headless Chromium.

Simulates one replication of ``scenarios/osd_plant.yaml`` into a temporary run store (or uses
``--store``/``--run``), serves the dashboard on 127.0.0.1 and measures with Playwright driving
``/usr/bin/chromium``:

- fully cold load: ``/playback?run=ID`` in a fresh browser (the dashboard's scripts, plotly.js
  among them, downloaded and compiled) from a fresh server (the run read and pre-aggregated on
  this request), until the plant, Gantt and curve figures are drawn;
- cold load: the same from another fresh server with the browser's cache warm (a big run opened
  for the first time);
- warm load: the same page again (aggregation cached);
- slider moves: a click on the time slider until the clock, figures and panels show the new
  time (two animation frames after the update), and the same for typing an hour and for
  "next breakdown".

Prints the figures and writes ``benchmarks/results/dashboard.json``. Targets: cold load < 3 s,
slider move < 300 ms.

    .venv/bin/python benchmarks/bench_dashboard.py [--moves 20] [--store DIR --run ID]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
DRAWN = """() => ['pb-layout', 'pb-gantt', 'pb-series'].every(id => {
    const g = document.querySelector('#' + id + ' .js-plotly-plot');
    return g && g._fullLayout && g.querySelector('.main-svg');
})"""


def make_run(store: Path, scenario: str, seed: int) -> tuple[str, int, float]:
    from twin.experiment import run_experiment
    from twin.store import Store
    from twin.variants import resolve

    t = time.perf_counter()
    (res,) = run_experiment([resolve(scenario)], seed=seed, replications=1, store=Store(store))
    events = Store(store).meta(res.run_id, 0)["events"]
    return res.run_id, events, time.perf_counter() - t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(store: Path, port: int) -> subprocess.Popen:
    code = f"from dashboard.app import serve; serve({str(store)!r}, '127.0.0.1', {port})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the dashboard server did not start")


def stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "median_ms": round(1000 * statistics.median(xs), 1),
        "p90_ms": round(1000 * xs[int(0.9 * (len(xs) - 1))], 1),
        "max_ms": round(1000 * xs[-1], 1),
        "n": len(xs),
    }


def measure(store: Path, run_id: str, moves: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    out: dict[str, object] = {}
    procs: list[subprocess.Popen] = []

    def fresh_server() -> str:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        port = free_port()
        procs.append(start(store, port))
        return f"http://127.0.0.1:{port}/playback?run={run_id}"

    def load(page, url: str) -> float:
        t = time.perf_counter()
        page.goto(url)
        page.wait_for_function(DRAWN)
        page.evaluate(FRAMES)
        return round(time.perf_counter() - t, 3)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            # everything cold: a fresh browser (scripts, plotly.js among them, downloaded and
            # compiled) and a fresh server (the run read and aggregated on this request)
            out["fully_cold_load_s"] = load(page, fresh_server())
            # a fresh server, the browser's cache warm: opening a big run for the first time
            out["cold_load_s"] = load(page, fresh_server())
            # again: aggregation cached
            url = fresh_server()
            load(page, url)
            out["warm_load_s"] = load(page, url)
            _moves(page, moves, out)
        finally:
            browser.close()
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    return out


def _moves(page, moves: int, out: dict[str, object]) -> None:
    """Cursor moves on the open playback page: slider clicks, typed hours, next breakdown."""
    clock = page.locator("#pb-clock")
    slider = page.locator("#pb-slider")
    box = slider.bounding_box()
    assert box is not None

    def timed(action) -> float:
        """Seconds from the action until the server's answer is drawn: the clock shows the
        new time and the clientside callback has restyled the plant (pb-drawn), plus two
        animation frames."""
        before = clock.inner_text()
        drawn = page.locator("#pb-drawn").inner_text()
        t = time.perf_counter()
        action()
        page.wait_for_function(
            "([c, d]) => document.getElementById('pb-clock').innerText !== c"
            " && document.getElementById('pb-drawn').innerText !== d",
            arg=[before, drawn],
        )
        page.evaluate(FRAMES)
        return time.perf_counter() - t

    xs = []
    for k in range(moves):
        f = 0.05 + 0.9 * ((k * 0.37) % 1.0)
        xs.append(timed(lambda f=f: page.mouse.click(box["x"] + f * box["width"],
                                                      box["y"] + box["height"] / 2)))  # fmt: skip
    out["slider_move"] = stats(xs)
    xs = []
    for k in range(moves):
        hour = 500 + 397 * k

        def typed(hour=hour) -> None:
            page.locator("#pb-time").fill(str(hour))
            page.locator("#pb-time").press("Enter")

        xs.append(timed(typed))
    out["typed_hour"] = stats(xs)
    page.locator("#pb-time").fill("0")
    page.locator("#pb-time").press("Enter")
    page.wait_for_function("() => document.getElementById('pb-clock').innerText.includes('06:00')")
    xs = [timed(lambda: page.locator("#pb-next").click()) for _ in range(moves)]
    out["next_breakdown"] = stats(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "osd_plant.yaml"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--store", help="an existing run store (with --run)")
    ap.add_argument("--run", help="the run id to play back (in --store)")
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dashboard.json"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.store and args.run:
            store, run_id = Path(args.store), args.run
            from twin.store import Store

            events = Store(store).meta(run_id, 0)["events"]
            sim_s = None
        else:
            store = Path(tmp) / "runs"
            run_id, events, sim_s = make_run(store, args.scenario, args.seed)
        res = measure(store, run_id, args.moves)
    report = {
        "scenario": Path(args.scenario).name if not args.run else None,
        "run": run_id,
        "events": events,
        "simulate_s": None if sim_s is None else round(sim_s, 2),
        **res,
        "targets": {"cold_load_s": 3.0, "slider_move_ms": 300},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    }
    print(json.dumps(report, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
