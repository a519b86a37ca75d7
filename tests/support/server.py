"""A real local HTTP server for tests and benchmarks: routes, recorded requests, streamed bodies.

Written on http.server rather than a framework so a test can send exactly the bytes it wants:
no Content-Length, a slow first byte, a body that never ends, a redirect to itself.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0           # seconds before the status line


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


Route = Reply | Callable[[Request], Reply]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client that drops a kept-alive connection is the client's business; socketserver
        # would print its traceback to sys.stderr, which a CLI test under CliRunner reads as the
        # command's own output.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """`with LocalServer() as server: server.route("/feed", Reply(body=...)); server.url("/feed")`"""

    def __init__(self, host: str = "127.0.0.1"):
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                request = Request("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
                with outer._lock:
                    outer.requests.append(request)
                    route = outer.routes.get(self.path) or outer.routes.get(self.path.split("?")[0])
                if route is None:
                    reply = Reply(404, b"not found", {"Content-Type": "text/plain"})
                else:
                    reply = route(request) if callable(route) else route
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up (a cap or a timeout did its job)

            def _send(self, reply: Reply):
                self.send_response(reply.status)
                headers = {k.lower(): v for k, v in reply.headers.items()}
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if isinstance(reply.body, (bytes, bytearray)):
                    if "content-length" not in headers:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                else:  # streamed: no length, the connection closes at the end
                    self.send_header("Connection", "close")
                    self.close_connection = True
                    self.end_headers()
                    for chunk in reply.body:
                        self.wfile.write(chunk)

            def log_message(self, *args):
                pass

        self._server = _QuietServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def route(self, path: str, reply: Route) -> str:
        self.routes[path] = reply
        return self.url(path)

    def url(self, path: str = "/") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    """A port nothing listens on (for 'connection refused')."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
