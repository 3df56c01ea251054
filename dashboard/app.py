"""The dashboard application: ``create_app(store)`` builds it, ``serve(store, host, port)`` runs it.

Pages live in ``dashboard/pages/`` and register themselves (``dash.register_page``); they find
the run store and the background jobs through the Flask app's config (``context.store_root()``
and ``context.jobs()``), so no page imports this module and nothing is loaded at import time.
Downloads, reports and the playback timeline are plain Flask routes (``dashboard/routes.py``).
plotly.js is the official cartesian bundle served from ``assets/vendor/`` (every trace type
the pages draw, a third of the full bundle's size: ``assets/vendor/README.md``).
Stamped static files are cached by the browser for a year, computed JSON and HTML gzip-compressed
(``_install_travel``).

``serve`` checks the address first (``check_bind``: a port in use, a host that does not resolve
or is not this machine's, a privileged port) and raises :class:`ServeError` with one paragraph
saying what is wrong; then it serves with waitress (a production WSGI server, several threads),
never Flask's development server.
"""

from __future__ import annotations

import errno
import gzip
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

import dash
import flask
from dash import dcc, html

from dashboard import data, ids, routes, security
from dashboard.context import CONFIG_JOBS, CONFIG_SCENARIOS, CONFIG_STORE
from dashboard.jobs import Jobs

__all__ = [
    "create_app",
    "serve",
    "check_bind",
    "ServeError",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_THREADS",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
DEFAULT_THREADS = 8
MIN_GZIP = 2048  # bytes: smaller answers are sent as they are
_YEAR = 365 * 24 * 3600
_COMPRESSED = ("application/json", "text/html")
_PAGES = Path(__file__).resolve().parent / "pages"
_NAV = (("Runs", "/"), ("Playback", "/playback"), ("Compare", "/compare"), ("What-if", "/what-if"),
        ("Live", "/live"), ("Forecast", "/forecast"))  # fmt: skip


class ServeError(ValueError):
    """The dashboard cannot listen where it was asked to (phrased for the user)."""


def _default_scenarios() -> Path:
    here = Path("scenarios")
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "scenarios"


def create_app(
    store_path: str | Path = "runs",
    scenarios_dir: str | Path | None = None,
    allowed_hosts: Iterable[str] | None = security.LOOPBACK_NAMES,
) -> dash.Dash:
    """The multi-page dashboard over the run store at ``store_path`` (created when missing).

    ``scenarios_dir`` holds the base scenarios the what-if page offers (``scenarios/`` of the
    current folder, else the one shipped next to the package). Requests whose Host header is
    not in ``allowed_hosts`` are refused (421); ``None`` turns the check off (behind a reverse
    proxy that checks hosts itself).
    """
    root = Path(store_path).resolve()
    root.mkdir(parents=True, exist_ok=True)
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(_PAGES),
        title="PharmaTwin",
        suppress_callback_exceptions=True,
        update_title=None,
        # plotly.js is assets/vendor/plotly-cartesian-*.min.js (a script of every page, so
        # window.Plotly is there and dcc.Graph never loads the full 4.8 MB bundle dash ships);
        # not eager: eager loading would put that full bundle in every page too
        eager_loading=False,
        serve_locally=True,  # every script from this server: works offline, no CDN
    )
    app.server.config[CONFIG_STORE] = str(root)
    app.server.config[CONFIG_SCENARIOS] = str(Path(scenarios_dir or _default_scenarios()).resolve())
    app.server.config[CONFIG_JOBS] = Jobs(str(root))
    app.server.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024  # uploads arrive base64-encoded
    security.install(
        app.server, None if allowed_hosts is None else {*map(security.hostname_of, allowed_hosts)}
    )
    _install_travel(app.server)
    _version_dcc(app)
    app.server.register_blueprint(routes.blueprint)
    nav = html.Nav(
        [html.Span("PharmaTwin", className="brand")]
        + [dcc.Link(label, href=href, className="nav-link") for label, href in _NAV]
        + [html.Span(f"store: {root.name}", className="store")],
        id=ids.NAV,
    )
    app.layout = html.Div([nav, html.Main(dash.page_container)])

    @app.server.before_request
    def _prefetch_playback() -> None:
        """Opening /playback?run=ID starts reading the run at once, in parallel with the
        browser loading the page's scripts."""
        req = flask.request
        if req.method == "GET" and req.path == "/playback":
            run = req.args.get("run")
            if run is None:
                rows = data.runs_rows(root)
                run = rows[0]["id"] if rows else None
            if run:
                rep = req.args.get("rep", "0")
                data.prefetch(root, run, int(rep) if rep.isdigit() else 0)

    # Take this app's page callbacks now: Dash registers page callbacks globally when it imports
    # the pages, and each app claims them in its first request's before_request hook; running
    # the hooks once here (Flask's public preprocess_request) binds them to this app, not to
    # whichever app of the process serves a request first.
    with app.server.test_request_context("/", headers={"Host": "127.0.0.1"}):
        app.server.preprocess_request()
    return app


_DCC = "_dash-component-suites/dash/dcc/"
_DCC_STAMP = f"v{dash.__version__}/"  # the installed dash fixes every dcc file's content
_VERSIONED = "pharmatwin.versioned"  # WSGI environ key: asked under the installed version


def _version_dcc(app: dash.Dash) -> None:
    """dcc's scripts served under a folder named after the installed dash version.

    dcc loads its parts on first use (``async-graph.js``, ``async-slider.js``,
    ``async-dropdown.js``) from the folder of its main script, under URLs without a stamp
    that Dash answers with an ETag only: every visit asked for each of them again (three round
    trips before the page's graphs, slider and run list could draw). The page names dcc's main
    scripts as ``.../dash/dcc/v<dash version>/...`` instead, so those parts are asked for under
    that folder too; the server strips the folder before Dash sees the path and, when it names
    the installed version, lets the browser keep the file a year (``_install_travel``). Another
    dash version gives other URLs, so nothing stale is ever used; an old page naming another
    version still gets its files, revalidated as before."""
    stamped = f"{app.config.requests_pathname_prefix}{_DCC}{_DCC_STAMP}"
    plain = f"{app.config.requests_pathname_prefix}{_DCC}"
    route = f"{app.config.routes_pathname_prefix}{_DCC}"
    interpolate = app.interpolate_index

    def interpolate_index(**kwargs: str) -> str:
        kwargs["scripts"] = kwargs["scripts"].replace(f'src="{plain}', f'src="{stamped}')
        return interpolate(**kwargs)

    app.interpolate_index = interpolate_index  # type: ignore[method-assign]
    inner = app.server.wsgi_app

    def wsgi_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(route) and path[len(route) : len(route) + 1] == "v":
            folder, sep, rest = path[len(route) :].partition("/")
            if sep and rest and "/" not in rest:
                environ["PATH_INFO"] = route + rest
                environ[_VERSIONED] = folder + "/" == _DCC_STAMP
        return inner(environ, start_response)

    app.server.wsgi_app = wsgi_app  # type: ignore[method-assign]


def _install_travel(server: flask.Flask) -> None:
    """How responses travel: long browser caching for files whose URL changes with their
    content, gzip for the JSON and HTML the server computes.

    ``/assets/<file>?m=<mtime>`` (Dash stamps every asset's URL with its file time) and
    ``/_favicon.ico?v=<dash version>`` never change under one URL: the browser keeps them a year
    and does not ask again on the next visit (Dash does so for its component suites; plotly.js is
    such an asset, ``assets/vendor/``), and so are dcc's files asked for under the installed dash
    version's folder (``_version_dcc``); without the stamp they are answered as before
    (``no-cache``). JSON (page layouts, callback answers) and HTML of ``MIN_GZIP`` bytes or more
    are gzip-compressed (level 1: about a millisecond per 100 KB) when the browser accepts it.
    The playback timeline compresses itself (``routes.timeline_view``); scripts and downloads are
    sent as they are."""

    @server.after_request
    def _travel(resp: flask.Response) -> flask.Response:
        req = flask.request
        if resp.status_code != 200:
            return resp
        stamped = (
            (req.path.startswith("/assets/") and "m" in req.args)
            or (req.path == "/_favicon.ico" and "v" in req.args)
            or req.environ.get(_VERSIONED, False)
        )
        if stamped:
            resp.headers["Cache-Control"] = f"public, max-age={_YEAR}, immutable"
            return resp
        if (
            resp.mimetype in _COMPRESSED
            and not resp.direct_passthrough
            and "Content-Encoding" not in resp.headers
            and "gzip" in req.headers.get("Accept-Encoding", "")
        ):
            body = resp.get_data()
            if len(body) >= MIN_GZIP:
                resp.set_data(gzip.compress(body, compresslevel=1, mtime=0))
                resp.headers["Content-Encoding"] = "gzip"
                resp.vary.add("Accept-Encoding")
        return resp


def check_bind(host: str, port: int) -> tuple[str, int]:
    """Check that the dashboard can listen on ``host:port``: raise :class:`ServeError` with one
    paragraph (what, the bad value, what was expected) if not; return the address to bind."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ServeError(
            f"port: bad value {port!r}: expected a TCP port number from 1 to 65535 "
            f"(the default is {DEFAULT_PORT})"
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(
            f"host: bad value {host!r}: the name does not resolve to an address ({exc}); "
            f"expected an address or name of this machine, e.g. {DEFAULT_HOST} (this machine "
            "only) or 0.0.0.0 (every interface)"
        ) from None
    family, _, _, _, addr = infos[0]
    try:
        _probe(family, addr)
    except OSError as exc:
        raise ServeError(_bind_message(host, port, exc)) from None
    return host, port


def _probe(family: int, addr: tuple) -> None:
    """Bind (without listening) and release: fails as the real server would."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        s.bind(addr)


def _bind_message(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port: bad value {port}: another program (perhaps another dashboard) already "
            f"listens on {host}:{port}; expected a free port: stop the other one, or choose "
            f"another with --port, e.g. --port {port + 1 if port < 65535 else 8050}"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"port: bad value {port}: ports below 1024 are privileged and this user may not "
            f"listen on them; expected a port from 1024 to 65535, e.g. --port {DEFAULT_PORT} "
            "(put a reverse proxy on port 80/443 in front of it)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"host: bad value {host!r}: not an address of this machine; expected one of its "
            f"addresses or names, e.g. {DEFAULT_HOST} (this machine only) or 0.0.0.0 (every "
            "interface)"
        )
    return f"{host}:{port}: cannot listen there ({exc.strerror or exc}); expected a free port"


def serve(
    store: str | Path = "runs",
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    threads: int = DEFAULT_THREADS,
    allowed_hosts: Iterable[str] = (),
) -> None:
    """Serve the dashboard with waitress (never in debug mode; on 127.0.0.1 unless ``host``
    says otherwise). Raises :class:`ServeError` before anything is printed when the address
    cannot be used. ``allowed_hosts``: more Host names to answer to (a reverse proxy's)."""
    from waitress import create_server

    check_bind(host, port)
    app = create_app(store, allowed_hosts=security.host_names(host, allowed_hosts))
    _warm_up()
    try:
        server = create_server(app.server, host=host, port=port, threads=threads, ident="")
    except OSError as exc:  # lost a race for the port since the check
        raise ServeError(_bind_message(host, port, exc)) from None
    where = Path(store).resolve()
    shown = f"[{host}]" if ":" in host else host
    print(
        f"PharmaTwin dashboard running on http://{shown}:{port} (store {where}; waitress, "
        f"{threads} threads); Ctrl+C stops",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _warm_up() -> None:
    """Import what the first page view needs (Parquet reading pulls in pandas, scenarios with
    a layout networkx) before the server listens, so the first playback is not slowed by it."""
    import pyarrow.dataset  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.special  # noqa: F401

    import twin.transport  # noqa: F401
