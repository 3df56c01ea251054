"""The dashboard application: ``create_app(store)`` builds it, ``serve(store, host, port)`` runs it.

Pages live in ``dashboard/pages/`` and register themselves (``dash.register_page``); they find
the run store and the background jobs through the Flask app's config (``context.store_root()``
and ``context.jobs()``), so no page imports this module and nothing is loaded at import time.
"""

from __future__ import annotations

from pathlib import Path

import dash
import flask
from dash import dcc, html

from dashboard import data, ids
from dashboard.context import CONFIG_JOBS, CONFIG_SCENARIOS, CONFIG_STORE
from dashboard.jobs import Jobs

__all__ = ["create_app", "serve", "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
_PAGES = Path(__file__).resolve().parent / "pages"
_NAV = (("Runs", "/"), ("Playback", "/playback"), ("Compare", "/compare"), ("What-if", "/what-if"))


def _default_scenarios() -> Path:
    here = Path("scenarios")
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "scenarios"


def create_app(
    store_path: str | Path = "runs", scenarios_dir: str | Path | None = None
) -> dash.Dash:
    """The multi-page dashboard over the run store at ``store_path`` (created when missing).

    ``scenarios_dir`` holds the base scenarios the what-if page offers (``scenarios/`` of the
    current folder, else the one shipped next to the package).
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
        eager_loading=True,  # fetch plotly.js while the first page's data is prepared
    )
    app.server.config[CONFIG_STORE] = str(root)
    app.server.config[CONFIG_SCENARIOS] = str(Path(scenarios_dir or _default_scenarios()).resolve())
    app.server.config[CONFIG_JOBS] = Jobs(str(root))
    app.server.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024  # uploads arrive base64-encoded
    nav = html.Nav(
        [html.Span("PharmaTwin", className="brand")]
        + [dcc.Link(label, href=href, className="nav-link") for label, href in _NAV]
        + [html.Span(f"store: {root}", className="store")],
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

    # Take this app's page callbacks now: they are registered globally when Dash imports the
    # pages, and would otherwise go to whichever app of the process serves a request first.
    app._setup_server()
    return app


def serve(store: str | Path = "runs", host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the dashboard (never in debug mode; on 127.0.0.1 unless ``host`` says otherwise)."""
    app = create_app(store)
    _warm_up()
    where = Path(store).resolve()
    print(f"PharmaTwin dashboard on http://{host}:{port} (store {where}); Ctrl+C stops")
    app.run(host=host, port=port, debug=False)


def _warm_up() -> None:
    """Import what the first page view needs (Parquet reading pulls in pandas, scenarios with
    a layout networkx) before the server listens, so the first playback is not slowed by it."""
    import pyarrow.dataset  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.special  # noqa: F401

    import twin.transport  # noqa: F401
