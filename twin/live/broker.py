"""An embedded MQTT broker (amqtt, pure Python) for trials, demos and tests: ``twin broker``
and ``twin live --demo``. A plant runs its own broker (Mosquitto, EMQX, HiveMQ); this one
needs nothing installed.

:class:`EmbeddedBroker` runs amqtt on its own event loop in a thread of this process. It
listens on 127.0.0.1 unless told otherwise, allows anonymous clients unless a users file is
given (``user:password`` lines; the passwords are kept only as salted hashes in memory), and
can listen with TLS (a certificate and key). amqtt keeps sessions in memory only: a persistent
session of a client that logged in (not an anonymous one) is queued while the client is away,
and everything is forgotten when the broker stops (the live twin then asks the emulator for
what it missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedBroker", "BrokerError", "free_port", "read_users", "PasswordAuthPlugin"]

MAX_USERS_FILE = 1 << 20


class BrokerError(RuntimeError):
    """The broker cannot start as asked (phrased for the user)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000)


def read_users(path: str | Path) -> dict[str, tuple[bytes, bytes]]:
    """``user:password`` lines (``#`` comments) as user -> (salt, hash)."""
    p = Path(path)
    if not p.is_file():
        raise BrokerError(f"--users: {p}: no such file; expected user:password lines")
    if p.stat().st_size > MAX_USERS_FILE:
        raise BrokerError(f"--users: {p}: larger than {MAX_USERS_FILE:,} bytes")
    users = {}
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise BrokerError(f"--users: {p}: line {n}: expected user:password")
        salt = secrets.token_bytes(16)
        users[user] = (salt, _hash(password, salt))
    if not users:
        raise BrokerError(f"--users: {p}: no users; expected user:password lines")
    return users


try:  # the plugin base class of amqtt (imported lazily by the broker through its dotted path)
    from amqtt.plugins.base import BaseAuthPlugin
except ImportError:  # pragma: no cover - amqtt is a dependency
    BaseAuthPlugin = object  # type: ignore[assignment,misc]


class PasswordAuthPlugin(BaseAuthPlugin):  # type: ignore[misc,valid-type]
    """amqtt authentication: a client must give a user and password of the users file."""

    @dataclass
    class Config:
        users: Mapping[str, tuple[bytes, bytes]] = field(default_factory=dict)

    async def authenticate(self, *, session: Any) -> bool:
        user, password = session.username, session.password
        known = self.config.users.get(user) if user else None
        if known is None or password is None:
            return False
        salt, digest = known
        pw = password.decode() if isinstance(password, bytes) else str(password)
        ok = hmac.compare_digest(_hash(pw, salt), digest)
        if ok:
            session.is_anonymous = False
        return ok


class EmbeddedBroker:
    """An amqtt broker in a thread (see the module docstring). Use as a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        users: Mapping[str, tuple[bytes, bytes]] | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.users = users
        self.certfile, self.keyfile = certfile, keyfile
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.certfile else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    def config(self) -> dict[str, Any]:
        listener: dict[str, Any] = {"type": "tcp", "bind": f"{self.host}:{self.port}"}
        if self.certfile:
            listener.update({"ssl": True, "certfile": self.certfile, "keyfile": self.keyfile})
        plugins: dict[str, Any] = {}
        if self.users:
            plugins["twin.live.broker.PasswordAuthPlugin"] = {"users": dict(self.users)}
        else:
            plugins["amqtt.plugins.authentication.AnonymousAuthPlugin"] = {"allow_anonymous": True}
        return {"listeners": {"default": listener}, "plugins": plugins}

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        """Start listening; raises :class:`BrokerError` if it cannot (port in use ...)."""
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._thread = threading.Thread(target=self._main, name="mqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BrokerError(f"the MQTT broker did not start within {timeout:g} s")
        if self._error is not None:
            raise BrokerError(
                f"the MQTT broker cannot listen on {self.host}:{self.port}: {self._error}"
            ) from None
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:  # the client handlers amqtt leaves running are cancelled and awaited
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        from amqtt.broker import Broker

        self._stop = asyncio.Event()
        try:
            self._broker = Broker(self.config())
            await self._broker.start()
        except BaseException as exc:  # the cause, for start() to report
            self._error = exc.__cause__ or exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        with contextlib.suppress(Exception):  # stopping: nothing left to do on a failure
            await asyncio.wait_for(self._broker.shutdown(), 10)
        # amqtt closes its listeners last, after every session: when that failed or timed out
        # the port stayed bound (a restarted broker found it in use), so close them regardless
        for server in getattr(self._broker, "_servers", {}).values():
            inst = getattr(server, "instance", None)
            if inst is not None:
                inst.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(inst.wait_closed(), 2)

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already stopped
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def users_file_warning(path: str | Path) -> str | None:
    """A warning when a users file can be read by others (it holds passwords)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if mode & 0o077:
        return f"{path} can be read by other users of this machine (chmod 600 it)"
    return None
