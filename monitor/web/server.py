"""Serving the web interface with uvicorn: `monitor web` on its own, or inside `monitor run`'s event
loop (`settings.web.listen`), where the service handles the signals and stops the server itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

import uvicorn

from monitor.config import Config
from monitor.store import Store
from monitor.web.security import listen_problem, password_from_env

log = logging.getLogger(__name__)


class WebRefused(Exception):
    """The interface may not listen where it was asked to (a non-loopback address, no password)."""


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the signals to its host (the service stops it with `stop()`)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield

    def stop(self) -> None:
        self.should_exit = True


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port; `address()` tells which)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP,
    # and with Nagle on, each keep-alive response's body waited ~40 ms for the headers' ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def checked_password(host: str) -> str | None:
    """MONITOR_WEB_PASSWORD, or None; WebRefused when `host` is not loopback and there is none."""
    password = password_from_env()
    problem = listen_problem(host, password)
    if problem:
        raise WebRefused(problem)
    return password


def make_server(config: Config, host: str, *, embedded: bool, store: Store | None = None,
                open_store: Callable[[str], Store] = Store, access_log: bool = False) -> uvicorn.Server:
    from monitor.web.app import create_app

    app = create_app(config, password=checked_password(host), store=store, open_store=open_store)
    # X-Forwarded-Proto/For are believed from a proxy on this machine only (uvicorn's default
    # forwarded_allow_ips): behind a local TLS proxy the session cookie is marked Secure.
    settings = uvicorn.Config(app, lifespan="off", log_config=None, access_log=access_log, server_header=False,
                              proxy_headers=True, timeout_graceful_shutdown=5)
    return (EmbeddedServer if embedded else uvicorn.Server)(settings)


def close_app(server: uvicorn.Server) -> None:
    web = getattr(getattr(server.config.app, "state", None), "web", None)
    if web is not None:
        web.close()


class EmbeddedWeb:
    """The interface inside `monitor run` (settings.web.listen): the address is checked and bound
    when the service starts, before it does anything else; `start()` serves it in the running event
    loop; `stop()` closes it (connections in progress get a few seconds)."""

    def __init__(self, config: Config, listen: str, open_store: Callable[[str], Store] = Store):
        from monitor.options.web import split_listen

        host, port = split_listen(listen)
        self.server = make_server(config, host, embedded=True, open_store=open_store)
        try:
            self.sock = bind(host, port)
        except OSError as exc:
            close_app(self.server)
            raise WebRefused(f"the web interface cannot listen on {listen}: {exc.strerror or exc}") from exc
        self.task: asyncio.Task | None = None

    @classmethod
    def configured(cls, config: Config) -> EmbeddedWeb | None:
        listen = config.settings.web.listen
        return cls(config, listen) if listen else None

    @property
    def url(self) -> str:
        return address(self.sock)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[self.sock]), name="web")
        log.info("web interface at %s", self.url)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, timeout=10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                log.warning("web interface: did not stop within 10 s; cancelled")
            except Exception:
                log.exception("web interface failed")
        self.sock.close()
        close_app(self.server)
