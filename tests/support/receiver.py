"""A local HTTP receiver for webhook and Apprise deliveries: records every POST, answers from a script.

    with Receiver() as hook:
        hook.script = [500, 500]          # the next two POSTs get 500, then 200 again
        ...
        hook.accepted                      # the POSTs it answered 2xx, in order
        hook.delay = 3                     # every POST takes 3 s (recorded on arrival, answered after)

It can also be created on a port before it listens (`Receiver(port=free_port())`, then `start()`),
to test a receiver that is down at delivery time and comes up later. Used by tests and by
bench/crash.py (only 127.0.0.1).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]   # lower-case names
    body: bytes
    status: int               # what the receiver answered

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class Receiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, default_status: int = 200):
        self.host = host
        self.port = port
        self.default_status = default_status
        self.script: list[int] = []       # statuses for the next POSTs, consumed in order
        self.posts: list[Post] = []
        self.on_post = None               # optional callback(Post) after the answer is sent
        self.delay = 0.0                  # seconds each POST takes before it is answered (a slow receiver)
        self.hold = None                  # optional callback(Post) run before answering: may block (a gate)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    status = outer.script.pop(0) if outer.script else outer.default_status
                    post = Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    outer.posts.append(post)
                if outer.delay:
                    time.sleep(outer.delay)
                if outer.hold is not None:
                    outer.hold(post)
                reply = b'{"ok": true}' if 200 <= status < 300 else b'{"ok": false}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if outer.on_post is not None:
                    outer.on_post(post)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- reading --------------------------------------------------------------------------------

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def accepted(self) -> list[Post]:
        with self._lock:
            return [p for p in self.posts if p.accepted]

    def all_posts(self) -> list[Post]:
        with self._lock:
            return list(self.posts)


class SmtpInbox:
    """An aiosmtpd handler that keeps what it accepted: `with SmtpInbox.serving() as (inbox, port)`."""

    def __init__(self, answer: str = "250 Message accepted for delivery"):
        self.answer = answer
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.answer.startswith("250"):
            self.envelopes.append(envelope)
        return self.answer

    def messages(self):
        import email
        from email import policy

        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]

    @classmethod
    def serving(cls):
        from contextlib import contextmanager

        from aiosmtpd.controller import Controller

        from tests.support.server import free_port

        @contextmanager
        def run():
            inbox = cls()
            controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
            controller.start()
            try:
                yield inbox, controller.port
            finally:
                controller.stop()
        return run()
