"""Serving safely: the app factory, the Host check, headers, no server paths, the bind check,
the layout drawing (no browser; the live server is covered by the browser tests)."""

from __future__ import annotations

import errno
import inspect
import re
import socket

import pytest

from dashboard import app as dash_app
from dashboard.app import DEFAULT_HOST, ServeError, check_bind, create_app, serve
from dashboard.security import host_names, hostname_of
from tests.dashboard.conftest import REPO
from twin.scenario import load


def test_app_factory_and_safe_defaults(tiny_store):
    root, runs = tiny_store
    app = create_app(root)
    client = app.server.test_client()
    for path in ("/", "/playback", "/compare", "/what-if", f"/playback?run={runs['base']}"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    other = create_app(root).server.test_client()  # a second app has its own callbacks
    other.get("/")
    deps = client.get("/_dash-dependencies").json
    assert len(other.get("/_dash-dependencies").json) == len(deps) > 10
    sig = inspect.signature(serve)
    assert sig.parameters["host"].default == DEFAULT_HOST == "127.0.0.1"
    assert "debug=True" not in inspect.getsource(dash_app)
    assert "_setup_server" not in inspect.getsource(dash_app)  # no private Dash API
    assert app.server.config["MAX_CONTENT_LENGTH"] == 4 * 1024 * 1024


def test_no_server_paths_reach_the_browser(tiny_store):
    root, runs = tiny_store
    client = create_app(root).server.test_client()
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert str(root) not in layout and f"store: {root.name}" in layout
    missing = client.get("/export/gantt.csv?run=nope&lo=0&hi=1")
    assert missing.status_code == 404 and str(root) not in missing.get_data(as_text=True)
    assert "no such run in store" in missing.get_data(as_text=True)
    bad = client.get(f"/export/events.csv?run={runs['base']}&t=soon")
    assert bad.status_code == 400 and "time: bad value 'soon'" in bad.get_data(as_text=True)


def test_stamped_files_are_cached_and_computed_answers_compressed(tiny_store):
    """A second visit asks nothing again for assets whose URL carries their file time; the
    page's layout and callback answers travel gzip-compressed when the browser accepts it."""
    import gzip
    import json

    root, runs = tiny_store
    client = create_app(root).server.test_client()
    page = client.get("/playback").get_data(as_text=True)
    stamped = re.findall(r'(?:src|href)="(/assets/[^"]+\?m=[^"]+|/_favicon.ico\?v=[^"]+)"', page)
    assert any(u.startswith("/assets/playback.js?m=") for u in stamped), stamped
    for url in stamped:
        resp = client.get(url)
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
    assert client.get("/assets/playback.js").headers["Cache-Control"] == "no-cache"  # no stamp
    search = f"?run={runs['base']}"
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/playback"},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"], "state": [],
    }  # fmt: skip
    plain = client.post("/_dash-update-component", json=body)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    packed = client.post("/_dash-update-component", json=body, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 3
    assert f'"run": "{runs["base"]}"' in json.dumps(json.loads(plain.data))  # the page itself
    tiny = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})  # small: as it is
    assert len(tiny.data) < 2048 and "Content-Encoding" not in tiny.headers
    # the timeline is encoded once per replication and compressed by itself, never twice
    from dashboard import data, timeline

    url = f"/timeline?run={runs['base']}&rep=0"
    first = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert first.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(first.data) == client.get(url).data
    pb = data.playback(root, runs["base"], 0)
    assert pb.memo(("timeline", True), lambda: b"") == first.data  # kept, not encoded again
    assert timeline.decode(client.get(url).data)[0]["run"] == runs["base"]


def test_dcc_parts_are_cached_under_the_dash_version(tiny_store):
    """dcc's parts loaded on first use (graph, slider, dropdown) are asked for from the folder
    of dcc's main script, which the page names after the installed dash version: the browser
    keeps them a year, and another dash version asks for other URLs."""
    import dash

    root, _ = tiny_store
    client = create_app(root).server.test_client()
    page = client.get("/playback").get_data(as_text=True)
    folder = f"/_dash-component-suites/dash/dcc/v{dash.__version__}/"
    scripts = re.findall(r'src="(/_dash-component-suites/dash/dcc/[^"]+)"', page)
    assert scripts and all(u.startswith(folder) for u in scripts), scripts
    year = "public, max-age=31536000, immutable"
    for url in scripts + [folder + f"async-{part}.js" for part in ("graph", "slider", "dropdown")]:
        resp = client.get(url)
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == year, url
    plain = client.get("/_dash-component-suites/dash/dcc/async-graph.js")
    assert plain.data == client.get(folder + "async-graph.js").data
    assert "immutable" not in plain.headers.get("Cache-Control", "") and plain.headers["ETag"]
    other = client.get("/_dash-component-suites/dash/dcc/v0.0.1/async-graph.js")  # an old page
    assert other.status_code == 200 and "immutable" not in other.headers.get("Cache-Control", "")
    assert client.get(folder + "no-such-part.js").status_code != 200


def test_playback_page_is_built_once_per_view_until_the_run_is_stored_again(tiny_store, tmp_path):
    """A second visit to the same view is sent the page built for the first; another cursor
    time gets its own, and storing the replication again drops them all."""
    import os
    import shutil

    root, runs = tiny_store
    store = tmp_path / "store"
    shutil.copytree(root, store)
    app = create_app(store)
    import dash

    layout = next(p["layout"] for p in dash.page_registry.values() if p["path"] == "/playback")
    with app.server.test_request_context("/", headers={"Host": "127.0.0.1"}):
        first = layout(run=runs["base"])
        assert layout(run=runs["base"]) is first
        later = layout(run=runs["base"], t="30h")
        assert later is not first and "2026-01-06 12:00" in str(later)
        assert layout(run=runs["base"], rep="1") is not first
        events = store / runs["base"] / "rep-0000" / "events.parquet"
        stamp = events.stat().st_mtime + 5
        os.utime(events, (stamp, stamp))  # the replication stored again
        again = layout(run=runs["base"])
        assert again is not first and str(again) == str(first)


def test_host_header_is_checked(tiny_store):
    root, _ = tiny_store
    client = create_app(root).server.test_client()
    for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050", "LOCALHOST"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    resp = client.get("/", headers={"Host": "attacker.example:8050"})
    assert resp.status_code == 421
    assert "Host: bad value 'attacker.example'" in resp.get_data(as_text=True)
    proxied = create_app(root, allowed_hosts=["twin.plant.example"]).server.test_client()
    assert proxied.get("/", headers={"Host": "twin.plant.example"}).status_code == 200
    assert proxied.get("/", headers={"Host": "127.0.0.1"}).status_code == 421
    open_app = create_app(root, allowed_hosts=None).server.test_client()
    assert open_app.get("/", headers={"Host": "anything.example"}).status_code == 200
    assert hostname_of("[::1]:80") == "::1" and hostname_of("Example.COM.:8050") == "example.com"
    assert "localhost" in host_names("127.0.0.1") and socket.gethostname().lower() in host_names(
        "0.0.0.0"
    )


def test_check_bind_explains_what_is_wrong(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=rf"port: bad value {port}: another program"):
            check_bind("127.0.0.1", port)
    with pytest.raises(ServeError, match=r"host: bad value 'no-such-host.invalid': the name does"):
        check_bind("no-such-host.invalid", 8050)
    with pytest.raises(ServeError, match=r"port: bad value 70000: expected a TCP port number"):
        check_bind("127.0.0.1", 70000)
    with pytest.raises(ServeError, match=r"host: bad value '192.0.2.1': not an address"):
        check_bind("192.0.2.1", 8050)  # TEST-NET-1: never this machine's

    def denied(family, addr):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(dash_app, "_probe", denied)  # as root every port is allowed
    with pytest.raises(ServeError, match=r"port: bad value 80: ports below 1024 are privileged"):
        check_bind("127.0.0.1", 80)
    assert issubclass(ServeError, ValueError)
    msg = str(pytest.raises(ServeError, check_bind, "127.0.0.1", 80).value)
    assert "\n" not in msg  # one paragraph


def test_layout_html_works_offline_without_share_buttons(tmp_path):
    from dashboard.layout_html import write_layout_html

    out = write_layout_html(load(REPO / "scenarios" / "osd_plant.yaml"), tmp_path / "l.html")
    text = out.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", text)  # plotly.js is inside the file
    assert len(text) > 1_000_000 and "Plotly.newPlot" in text
    assert '"displaylogo": false' in text and '"showSendToCloud": false' in text
    assert "osd_plant: layout (metres)" in text and "x (metres)" in text
    with pytest.raises(ValueError, match="expected a layout to draw"):
        write_layout_html(load(REPO / "scenarios" / "tiny.yaml"), tmp_path / "t.html")
