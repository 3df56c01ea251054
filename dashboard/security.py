"""Serving safely: the Host header is checked against the names the server answers to (so a
web page elsewhere cannot reach a dashboard on 127.0.0.1 through DNS rebinding), and responses
forbid framing (clickjacking) and MIME sniffing.

With ``allowed_hosts=None`` no Host check is made: for a dashboard mounted behind a reverse
proxy that checks hosts itself (``create_app(...).server`` in another WSGI server).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import flask

__all__ = ["LOOPBACK_NAMES", "install", "host_names", "hostname_of"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARDS = ("0.0.0.0", "::", "")


def hostname_of(header: str) -> str:
    """The host name of a Host header, without port or IPv6 brackets, lower case."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def host_names(bind_host: str, extra: Iterable[str] = ()) -> set[str]:
    """The names the server at ``bind_host`` answers to: the loopback names, the bound host
    and, when it listens on every interface, this machine's names and addresses; plus
    ``extra`` (e.g. the name a reverse proxy forwards)."""
    names = {*LOOPBACK_NAMES, hostname_of(bind_host), *(hostname_of(e) for e in extra)}
    if bind_host in _WILDCARDS or _is_unspecified(bind_host):
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name.lower())
            try:
                for info in socket.getaddrinfo(name, None):
                    names.add(str(info[4][0]).lower())
            except OSError:
                pass
    names.discard("")
    return names


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def install(server: flask.Flask, allowed: set[str] | None) -> None:
    """Add the Host check (unless ``allowed`` is None) and the security headers to ``server``."""

    @server.before_request
    def _check_host() -> flask.Response | None:
        if allowed is None:
            return None
        host = hostname_of(flask.request.host or "")
        if host in allowed:
            return None
        return flask.Response(
            f"Host: bad value {host!r}: not a name this dashboard answers to (a guard against "
            f"DNS rebinding); expected one of: {', '.join(sorted(allowed))}\n",
            status=421,
            mimetype="text/plain",
        )

    @server.after_request
    def _headers(resp: flask.Response) -> flask.Response:
        resp.headers["X-Frame-Options"] = "DENY"
        csp = resp.headers.get("Content-Security-Policy")
        resp.headers["Content-Security-Policy"] = (
            f"{csp}; frame-ancestors 'none'" if csp else "frame-ancestors 'none'"
        )
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        return resp
