"""``twin dash``: the web dashboard over a run store."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import UserError, user_errors

app = typer.Typer()


def check_bind(host: str, port: int) -> None:
    """UserError unless this process could listen on ``host:port`` now: the host resolves to
    an address of this machine and the port is free (and allowed)."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port: bad value {port}: expected a TCP port number from 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(
            f"--host: bad value {host!r}: the name does not resolve to an address ({exc}); "
            "expected an address or name of this machine, e.g. 127.0.0.1 (this machine only) "
            "or 0.0.0.0 (every interface)"
        ) from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            s.bind(addr)
        except PermissionError:
            raise UserError(
                f"--port: bad value {port}: binding to it is not permitted here (ports below "
                "1024 need privileges); expected a port from 1024 to 65535, e.g. 8050"
            ) from None
        except OSError as exc:
            import errno

            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"--port: bad value {port}: already in use on {host} (another dashboard or "
                    "server is listening there); expected a free port, e.g. --port "
                    f"{port + 1 if port < 65535 else 8050}"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UserError(
                    f"--host: bad value {host!r}: not an address of this machine; expected one "
                    "of its addresses, e.g. 127.0.0.1 or 0.0.0.0"
                ) from None
            raise UserError(f"--host {host} --port {port}: cannot listen there ({exc})") from None


@app.command()
@user_errors
def dash(
    store_dir: Annotated[
        Path, typer.Option("--store", help="Run store to serve (created when missing).")
    ] = Path("runs"),
    host: Annotated[
        str, typer.Option(help="Interface to listen on (127.0.0.1; 0.0.0.0 opts in to all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8050,
) -> None:
    """Serve the dashboard over a run store (play back, compare, launch what-ifs)."""
    if store_dir.exists() and not store_dir.is_dir():
        raise UserError(f"--store {store_dir}: a file is there; expected a run store folder")
    from twin.store import Store

    Store(store_dir).check_writable()
    check_bind(host, port)  # at once, with the options' names, before the dashboard's imports
    from dashboard.app import ServeError, serve

    try:
        serve(store_dir, host, port)  # checks the address again, and raises before printing
    except ServeError as exc:
        raise UserError(f"twin dash: {exc}") from None
