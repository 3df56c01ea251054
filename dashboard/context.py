"""What a page needs from the running app, read from the Flask config of the current request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import flask

if TYPE_CHECKING:
    from dashboard.jobs import Jobs

CONFIG_STORE = "PHARMATWIN_STORE"
CONFIG_SCENARIOS = "PHARMATWIN_SCENARIOS"
CONFIG_JOBS = "PHARMATWIN_JOBS"


def store_root() -> str:
    return flask.current_app.config[CONFIG_STORE]


def scenarios_dir() -> Path:
    return Path(flask.current_app.config[CONFIG_SCENARIOS])


def jobs() -> Jobs:
    return flask.current_app.config[CONFIG_JOBS]


def store_name() -> str:
    """The store as the browser may see it: its folder's name, never the server's path."""
    return Path(store_root()).name


def public(text: str) -> str:
    """A message with the server's absolute paths (store, scenarios folder) replaced by their
    names, fit to send to the browser."""
    for path, name in (
        (store_root(), f"store {store_name()}"),
        (str(scenarios_dir()), "scenarios"),
    ):
        text = text.replace(f"in {path}", f"in {name}").replace(path, name)
    return text
