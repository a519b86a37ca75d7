"""RFC 3161 timestamps of finished days' WARC files, against a local authority: OpenSSL's
`ts -reply` behind a small HTTP server. The tokens are checked with `openssl ts -verify`."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.evidence.capture import Evidence
from monitor.options.evidence import EvidenceSettings
from monitor.evidence.verify import verify
from monitor.items import Item, Match
from tests.conftest import fixture_bytes, rss_source
from tests.support.server import Reply

HTML = {"Content-Type": "text/html; charset=utf-8"}
TSA_CONFIG = """[ tsa ]
default_tsa = local
[ local ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.crt
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class Authority:
    """A time-stamping authority on 127.0.0.1: each POSTed query answered by `openssl ts -reply`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.up = True
        self.queries = 0
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", folder / "tsa.key",
                        "-out", folder / "tsa.crt", "-subj", "/CN=monitor test TSA", "-days", "2",
                        "-addext", "extendedKeyUsage=critical,timeStamping",
                        "-addext", "keyUsage=critical,digitalSignature"], check=True, capture_output=True)
        (folder / "serial").write_text("01\n")
        (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                query = self.rfile.read(int(self.headers["Content-Length"]))
                outer.queries += 1
                if not outer.up or self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                (folder / "query.tsq").write_bytes(query)
                subprocess.run(["openssl", "ts", "-reply", "-config", folder / "tsa.cnf", "-queryfile",
                                folder / "query.tsq", "-out", folder / "reply.tsr"], check=True, capture_output=True)
                reply = (folder / "reply.tsr").read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tsa"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def authority(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path / "tsa"
    folder.mkdir()
    with Authority(folder) as tsa:
        yield tsa


class Clock:
    def __init__(self, when: datetime):
        self.when = when

    def __call__(self) -> datetime:
        return self.when


def test_a_finished_day_is_timestamped_and_the_token_verifies_with_openssl(tmp_path, server, store, make_fetcher,
                                                                            authority):
    server.route("/a", Reply(body=fixture_bytes("articles/en-children-returned.html"), headers=HTML))
    day = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    clock = Clock(day)
    [stored] = store.add_items("Site", [Item(url=server.url("/a"), title="Children returned")], day,
                               {Item(url=server.url("/a"), title="").key("Site"): [Match("t", ["deport"], "x")]})
    folder = tmp_path / "evidence"
    settings = EvidenceSettings(dir=str(folder), timestamp_url=authority.url)
    sources = {"Site": rss_source("Site", server.url("/feed"), allow_private=True)}
    authority.up = False

    async def run(step):
        async with make_fetcher() as fetcher:
            keeper = Evidence(settings, folder, store, fetcher, sources=sources, now=clock)
            return await step(keeper)

    asyncio.run(run(lambda keeper: keeper.capture([stored.id])))
    warc = folder / "monitor-20261124.warc.gz"
    assert warc.is_file()
    assert asyncio.run(run(lambda keeper: keeper.seal())).sealed == []  # the day is not over yet

    clock.when = day + timedelta(hours=15)  # 01:00 the next day: the file is finished
    report = asyncio.run(run(lambda keeper: keeper.seal()))
    assert report.sealed == [warc.name] and report.timestamped == [] and "HTTP 503" in report.problems[0]
    [row] = store.warc_files()
    assert row["sha256"] and row["token_file"] is None and "503" in row["timestamp_error"]

    authority.up = True  # the next run tries the timestamp again, of the hash sealed before
    report = asyncio.run(run(lambda keeper: keeper.seal()))
    assert report.timestamped == [warc.name]
    token = warc.with_name(warc.name + ".tsr")
    assert token.is_file()
    checked = subprocess.run(["openssl", "ts", "-verify", "-in", token, "-data", warc, "-CAfile",
                              authority.folder / "tsa.crt"], capture_output=True, text=True)
    assert "Verification: OK" in checked.stdout, checked.stdout + checked.stderr
    assert asyncio.run(run(lambda keeper: keeper.seal())).timestamped == []  # once is enough
    events = [e["event"] for e in store.custody_events()]
    assert events == ["capture", "timestamp_failed", "timestamp"]
    assert verify(store, folder).ok

    with open(warc, "ab") as handle:  # anything added to a sealed file breaks its seal
        handle.write(b"\0")
    result = verify(store, folder)
    assert not result.ok and any("changed since it was sealed" in p for p in result.problems)
    assert result.bad_files == {warc.name}
