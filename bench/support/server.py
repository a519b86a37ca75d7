"""A small asyncio HTTP/1.1 server for the benches, run in a thread or in a subprocess.

An *app* is any object with `handle(request)`. It returns the whole response as bytes (answered
at once: the fast path the feed benches use), or an awaitable, for answers that wait or that act
after answering (the crash bench's receiver answers 200 and then kills the service). An awaitable
may write its answer early with `request.reply(data)`, and may return the bytes instead.
Connections are kept alive; requests on one connection are answered in order.

Two ways to run an app:

  ServerThread(app)            in this process, on its own event loop in a daemon thread; the
                               app's state is shared with the bench (the crash bench's live site).
  SiteProcess("mod:factory", **kwargs)
                               in a subprocess (`python -m bench.support.server`), so that on a
                               small machine the server does not share the GIL with the bench;
                               factory(base="http://127.0.0.1:PORT", **kwargs) returns (app,
                               info); info is sent back as JSON.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import select
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATUS_TEXT = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 response; a 304 carries no Content-Length (and no body)."""
    head = [f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Status')}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if status != 304:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (b"" if status == 304 else body)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]          # names in lower case
    body: bytes = b""
    _write: object = field(default=None, repr=False)
    replied: bool = False

    def reply(self, data: bytes) -> None:
        """Write the answer now (once); later replies are ignored."""
        if not self.replied:
            self.replied = True
            self._write(data)


class _Connection(asyncio.Protocol):
    def __init__(self, app, stats: dict | None):
        self.app = app
        self.stats = stats
        self.buffer = b""
        self.busy = False
        self.closed = False
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.stats is not None:
            self.stats["connections"] = self.stats.get("connections", 0) + 1

    def connection_lost(self, exc) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    def _next(self) -> None:
        while not self.busy and not self.closed:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return  # the body is still coming
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            parts = lines[0].split(" ")
            request = Request(parts[0], parts[1] if len(parts) > 1 else "/", headers, body, self._write)
            answer = self.app.handle(request)
            if inspect.isawaitable(answer):
                self.busy = True
                asyncio.ensure_future(self._finish(request, answer))
                return
            request.reply(answer)
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                return

    async def _finish(self, request: Request, answer) -> None:
        try:
            data = await answer
        except Exception as exc:  # a bench's hook failed: answer 500 and say why on stderr
            print(f"bench server: {request.method} {request.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            data = response(500, b"error", {"Content-Type": "text/plain"})
        if data is not None:
            request.reply(data)
        elif not request.replied:
            request.reply(response(500, b"no answer", {"Content-Type": "text/plain"}))
        self.busy = False
        self._next()


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _listen(app, sock: socket.socket):
    stats = getattr(app, "stats", None)
    return await asyncio.get_running_loop().create_server(lambda: _Connection(app, stats), sock=sock, backlog=1024)


class ServerThread:
    """`server = ServerThread(app); server.base` → "http://127.0.0.1:PORT"; `server.close()`."""

    def __init__(self, app):
        self.app = app
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(_listen(app, _socket()))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True, name=f"bench-server-{type(app).__name__}")
        self.thread.start()
        ready.wait(10)
        self.port = self.server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class SiteProcess:
    """An app served by a subprocess: `with SiteProcess("bench.poll:site", feeds=200) as site: site.base`."""

    def __init__(self, factory: str, start_timeout: float = 600.0, **kwargs):
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.support.server", factory, json.dumps(kwargs)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], start_timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.close()
            raise RuntimeError(f"the site server ({factory}) did not start within {start_timeout:.0f} s")
        hello = json.loads(line)
        self.port = hello["port"]
        self.info = hello["info"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.pid = self.proc.pid

    def url(self, path: str) -> str:
        return self.base + path

    def stats(self) -> dict:
        with urllib.request.urlopen(self.base + "/__stats", timeout=30) as answer:
            return json.loads(answer.read())

    def reset(self) -> None:
        urllib.request.urlopen(self.base + "/__reset", timeout=30).read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> SiteProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(factory: str, kwargs: dict) -> None:
    module, _, name = factory.partition(":")
    sock = _socket()
    port = sock.getsockname()[1]
    app, info = getattr(importlib.import_module(module), name)(base=f"http://127.0.0.1:{port}", **kwargs)

    async def main() -> None:
        server = await _listen(app, sock)
        sys.stdout.write(json.dumps({"port": port, "info": info}) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        async with server:
            await stop

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bench.support.server MODULE:FACTORY JSON_KWARGS")
    _serve(sys.argv[1], json.loads(sys.argv[2]))
