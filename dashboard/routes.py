"""Plain HTTP routes beside the Dash pages: the playback timeline, table downloads and reports.

``GET /timeline?run=ID&rep=R``                  the playback timeline (binary, gzip when accepted)
``GET /export/<table>.<csv|parquet|xlsx>?...``  runs, compare, kpis, events, gantt
``GET /report/run.html?run=ID[&rep=R]``         a self-contained report of a run
``GET /report/compare.html?runs=A,B[&kpis=..]`` a self-contained report of a comparison

A bad request gets 400 (or 404 for an unknown run) with one line of plain text saying what was
wrong; no server path is ever in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask

from dashboard import data, export, report, timeline
from dashboard.comparison import choose_basis
from dashboard.context import public, store_root
from dashboard.playback_data import parse_when
from twin.experiment import DEFAULT_KPIS
from twin.store import Store, StoreError

__all__ = ["blueprint"]

blueprint = flask.Blueprint("pharmatwin", __name__)
MAX_ROWS_AROUND = 100_000


class _BadRequest(ValueError):
    pass


def _plain(text: str, status: int) -> flask.Response:
    return flask.Response(public(text) + "\n", status=status, mimetype="text/plain")


def _guard(view: Callable[..., flask.Response]) -> Callable[..., flask.Response]:
    def wrapped(*args: Any, **kwargs: Any) -> flask.Response:
        try:
            return view(*args, **kwargs)
        except StoreError as exc:
            return _plain(f"run: {exc}", 404)
        except (_BadRequest, ValueError) as exc:
            return _plain(str(exc), 400)

    wrapped.__name__ = view.__name__
    return wrapped


def _arg(name: str, default: str | None = None) -> str:
    value = flask.request.args.get(name, default)
    if value is None or value == "":
        raise _BadRequest(f"{name}: missing; expected ?{name}=... in the URL")
    return value


def _int(name: str, default: int | None = None) -> int:
    raw = flask.request.args.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError:
        raise _BadRequest(f"{name}: bad value {raw!r}: expected a whole number") from None


def _float(name: str) -> float:
    raw = _arg(name)
    try:
        return float(raw)
    except ValueError:
        raise _BadRequest(f"{name}: bad value {raw!r}: expected model hours (a number)") from None


def _runs() -> list[str]:
    runs = [r for r in _arg("runs").split(",") if r]
    if not runs:
        raise _BadRequest("runs: missing; expected ?runs=ID,ID")
    return runs


def _playback() -> data.Playback:
    run = _arg("run")
    info = Store(store_root()).get(run)
    rep = _int("rep", info.replications[0] if info.replications else 0)
    return data.playback(store_root(), info.id, rep)


@blueprint.get("/timeline")
@_guard
def timeline_view() -> flask.Response:
    pb = _playback()
    gz = "gzip" in flask.request.headers.get("Accept-Encoding", "")
    # encoded (and compressed: ~50 ms for a plant-year) once per replication, for every browser
    body = pb.memo(("timeline", gz), lambda: timeline.timeline_bytes(pb, compress=gz))
    resp = flask.Response(body, mimetype="application/octet-stream")
    if gz:
        resp.headers["Content-Encoding"] = "gzip"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.vary.add("Accept-Encoding")
    return resp


def _file(rows: list[dict[str, Any]], name: str, fmt: str) -> flask.Response:
    body = export.encode(rows, fmt, sheet=name)
    resp = flask.Response(body, mimetype=export.FORMATS[fmt])
    resp.headers["Content-Disposition"] = f'attachment; filename="pharmatwin-{name}.{fmt}"'
    return resp


@blueprint.get("/export/<name>.<fmt>")
@_guard
def export_view(name: str, fmt: str) -> flask.Response:
    if fmt not in export.FORMATS:
        raise _BadRequest(f"format: bad value {fmt!r}: expected one of csv, parquet, xlsx")
    root = store_root()
    if name == "runs":
        rows = export.runs_table(root)
    elif name == "compare":
        kpis = [k for k in flask.request.args.get("kpis", "").split(",") if k]
        rows = export.compare_table(root, _runs(), kpis or list(DEFAULT_KPIS))
    elif name == "kpis":
        rows = export.kpis_table(root, _runs())
    elif name == "events":
        pb = _playback()
        before = min(_int("before", 8), MAX_ROWS_AROUND)
        after = min(_int("after", 8), MAX_ROWS_AROUND)
        rows = export.events_table(pb, parse_when(_arg("t"), pb), before, after)
    elif name == "gantt":
        pb = _playback()
        rows = export.gantt_table(pb, _float("lo"), _float("hi"))
    else:
        raise _BadRequest(
            f"table: bad value {name!r}: expected one of runs, compare, kpis, events, gantt"
        )
    return _file(rows, name, fmt)


def _html(text: str, name: str) -> flask.Response:
    resp = flask.Response(text, mimetype="text/html")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}.html"'
    return resp


@blueprint.get("/report/run.html")
@_guard
def run_report_view() -> flask.Response:
    pb = _playback()
    return _html(report.run_report(store_root(), pb.run_id, pb), f"pharmatwin-report-{pb.run_id}")


@blueprint.get("/report/compare.html")
@_guard
def compare_report_view() -> flask.Response:
    root = store_root()
    store = Store(root)
    infos = [store.get(r) for r in _runs()]
    kpis = [k for k in flask.request.args.get("kpis", "").split(",") if k] or list(DEFAULT_KPIS)
    basis = choose_basis(
        {i.id: i.replications for i in infos}, {i.id: i.meta.get("seed") for i in infos}
    )
    shown = {}
    for info in infos[:3]:  # the Gantt of the first replication the comparison uses
        if basis.used.get(info.id):
            shown[info.id] = data.playback(root, info.id, basis.used[info.id][0])
    text = report.compare_report(root, [i.id for i in infos], kpis, shown)
    return _html(text, "pharmatwin-comparison")
