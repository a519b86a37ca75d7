"""Guarded fetches: robots.txt behind the guard, and connections only to the addresses it approved.

Every server here listens on 127.0.0.1. A name under .test stands for an internet host: the guard's
resolver (or the patched system resolver) maps it to 127.0.0.1, and the guard's `allow` pairs let
exactly that name at exactly that address pass as public. Any other loopback URL is refused as it
would be in production.
"""

from __future__ import annotations

import asyncio
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from urllib.parse import urlsplit

import httpx
import pytest

from monitor.fetch import FetchError
from monitor.guard import BlockedURL, URLGuard
from monitor.pinning import PinnedTransport, pinned
from tests.support.server import LocalServer, Reply


def port_of(server: LocalServer) -> int:
    return urlsplit(server.url("/")).port


def fake_dns(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


class SystemDNS:
    """Stands in for the system resolver (socket.getaddrinfo, which asyncio and anyio call) for
    names under .test: each lookup takes the next answer of the name's list, the last one repeats.
    Every .test lookup is recorded; other names go to the real resolver."""

    def __init__(self, real):
        self.real = real
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if not (isinstance(name, str) and name.endswith(".test")):
            return self.real(host, port, family, type, proto, flags)
        self.lookups.append(name)
        answers = self.answers.get(name)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]


@pytest.fixture
def system_dns(monkeypatch):
    dns = SystemDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


@pytest.fixture
def internal():
    """A second local server: the loopback target that must never be requested."""
    with LocalServer() as srv:
        srv.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /\n"))
        srv.route("/admin", Reply(body=b"internal"))
        yield srv


def recording(guard):
    seen: list[str] = []

    async def check(url: str):
        seen.append(url)
        return await guard(url)
    return check, seen


# --- the guard's answer -------------------------------------------------------------------------

def test_guard_returns_the_addresses_it_checked_and_allow_pairs_are_exact():
    dns = fake_dns({"news.test": ["127.0.0.1"], "two.test": ["93.184.216.34", "93.184.216.34", "2606:2800::1"],
                    "moved.test": ["127.0.0.2"]})
    guard = URLGuard(dns, allow=[("news.test", "127.0.0.1"), ("moved.test", "127.0.0.1")])
    assert asyncio.run(guard("http://news.test:8080/a")) == ["127.0.0.1"]
    assert asyncio.run(guard("https://two.test/")) == ["93.184.216.34", "2606:2800::1"]
    assert asyncio.run(guard("http://93.184.216.34/")) == ["93.184.216.34"]
    with pytest.raises(BlockedURL, match="loopback"):
        asyncio.run(guard("http://127.0.0.1:8080/a"))  # the address itself, as a literal, is refused
    with pytest.raises(BlockedURL, match="loopback"):
        asyncio.run(guard("http://moved.test/"))       # the name at another address is refused


# --- (a) a guarded fetch connects to the approved address, by name ------------------------------

def test_guarded_fetch_connects_to_the_approved_address_keeping_the_host_name(server, make_fetcher, system_dns):
    server.route("/robots.txt", Reply(body=b"User-agent: *\nAllow: /\n"))
    server.route("/article", Reply(body=b"<html>story</html>"))
    port = port_of(server)
    guard, seen = recording(URLGuard(fake_dns({"news.test": ["127.0.0.1"]}), allow=[("news.test", "127.0.0.1")]))

    async def go():
        async with make_fetcher() as fetcher:
            return await fetcher.get(f"http://news.test:{port}/article", guard=guard)

    response = asyncio.run(go())
    assert response.body == b"<html>story</html>"
    assert response.url == f"http://news.test:{port}/article"
    assert [r.path for r in server.requests] == ["/robots.txt", "/article"]
    assert {r.headers["host"] for r in server.requests} == {f"news.test:{port}"}
    assert seen == [f"http://news.test:{port}/article", f"http://news.test:{port}/robots.txt"]
    assert system_dns.lookups == []  # connected to the guard's address; the name was not looked up again


def test_a_guard_that_approves_no_address_connects_nowhere(server, make_fetcher):
    server.route("/article", Reply(body=b"story"))

    async def nothing(url: str) -> list[str]:
        return []

    async def go():
        async with make_fetcher(respect_robots=False) as fetcher:
            await fetcher.get(server.url("/article"), guard=nothing)

    with pytest.raises(FetchError, match="cannot connect"):
        asyncio.run(go())
    assert server.requests == []


# --- (b) robots.txt and its redirects are behind the guard ---------------------------------------

@pytest.mark.parametrize("target", ["literal", "name", "second-hop"])
def test_robots_txt_redirecting_to_loopback_is_never_requested(server, internal, make_fetcher, system_dns, target):
    port, inside = port_of(server), port_of(internal)
    loopback = {"literal": f"http://127.0.0.1:{inside}/admin",
                "name": f"http://intranet.test:{inside}/admin",      # a name that resolves to loopback
                "second-hop": f"http://127.0.0.1:{inside}/admin"}[target]
    if target == "second-hop":  # robots.txt -> same host -> loopback: every hop is checked
        server.route("/robots.txt", Reply(302, headers={"Location": "/robots-moved.txt"}))
        server.route("/robots-moved.txt", Reply(301, headers={"Location": loopback}))
    else:
        server.route("/robots.txt", Reply(302, headers={"Location": loopback}))
    server.route("/article", Reply(body=b"story"))
    # Through the system resolver, so that without the guard on robots.txt the fetch reaches the
    # article host's robots.txt and follows its redirect (the fault as reported).
    system_dns.answers.update({"news.test": ["127.0.0.1"], "intranet.test": ["127.0.0.1"]})
    guard, seen = recording(URLGuard(allow=[("news.test", "127.0.0.1")]))

    async def go():
        async with make_fetcher() as fetcher:
            return await fetcher.get(f"http://news.test:{port}/article", guard=guard)

    response = asyncio.run(go())
    assert internal.requests == []  # the loopback server was never hit
    assert response.body == b"story"  # a refused robots.txt counts as none; the page itself was checked
    assert seen[-1] == loopback and seen[1] == f"http://news.test:{port}/robots.txt"
    assert server.requests[-1].path == "/article"


def test_a_blocked_robots_txt_is_asked_for_once_per_host(server, internal, make_fetcher, system_dns):
    port = port_of(server)
    server.route("/robots.txt", Reply(302, headers={"Location": internal.url("/admin")}))
    server.route("/one", Reply(body=b"1"))
    server.route("/two", Reply(body=b"2"))
    system_dns.answers["news.test"] = ["127.0.0.1"]
    guard = URLGuard(allow=[("news.test", "127.0.0.1")])

    async def go():
        async with make_fetcher() as fetcher:
            for path in ("/one", "/two"):
                await fetcher.get(f"http://news.test:{port}{path}", guard=guard)

    asyncio.run(go())
    assert [r.path for r in server.requests] == ["/robots.txt", "/one", "/two"]
    assert internal.requests == []


def test_configured_source_robots_txt_is_fetched_without_the_guard(server, internal, make_fetcher):
    # A source's own URL is trusted as configured, and so is its robots.txt with its redirects.
    server.route("/robots.txt", Reply(302, headers={"Location": internal.url("/robots.txt")}))
    server.route("/feed.xml", Reply(body=b"<rss/>"))

    async def go():
        async with make_fetcher() as fetcher:
            await fetcher.get(server.url("/feed.xml"))

    with pytest.raises(FetchError, match="disallowed by"):  # the redirected robots.txt says Disallow: /
        asyncio.run(go())
    assert [r.path for r in internal.requests] == ["/robots.txt"]
    assert server.requests_for("/feed.xml") == []


# --- (c) DNS rebinding: the connection goes where the guard looked --------------------------------

def test_rebinding_answer_after_the_check_is_never_connected_to(server, make_fetcher, system_dns):
    """The resolver answers the approved address to the guard, then loopback (127.0.0.2) to anyone
    asking again. Before the fix httpx asked again and connected there."""
    server.route("/article", Reply(body=b"story"))
    port = port_of(server)
    system_dns.answers["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    guard = URLGuard(allow=[("rebind.test", "127.0.0.1")])  # the real resolver path: socket.getaddrinfo

    async def go():
        async with make_fetcher(respect_robots=False) as fetcher:
            return await fetcher.get(f"http://rebind.test:{port}/article", guard=guard)

    response = asyncio.run(go())
    assert response.body == b"story"
    assert system_dns.lookups == ["rebind.test"]  # the guard's lookup, and no other
    assert [(r.path, r.headers["host"]) for r in server.requests] == [("/article", f"rebind.test:{port}")]


def test_rebinding_between_page_and_robots_txt_refuses_robots_txt_only(server, make_fetcher, system_dns):
    # Second answer (for robots.txt) is loopback: refused there, the page goes to the first answer.
    server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /\n"))
    server.route("/article", Reply(body=b"story"))
    port = port_of(server)
    system_dns.answers["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    guard = URLGuard(allow=[("rebind.test", "127.0.0.1")])

    async def go():
        async with make_fetcher() as fetcher:
            return await fetcher.get(f"http://rebind.test:{port}/article", guard=guard)

    assert asyncio.run(go()).body == b"story"
    assert [r.path for r in server.requests] == ["/article"]
    assert system_dns.lookups == ["rebind.test", "rebind.test"]


# --- TLS: SNI and the certificate check stay on the name ----------------------------------------

def _make_certificates(folder) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for news.test signed by it (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not found: cannot make a test certificate")
    ca_key, ca, key, csr, cert, ext = (str(folder / n) for n in
                                       ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem", "ext.cnf"))
    (folder / "ext.cnf").write_text("subjectAltName=DNS:news.test\nbasicConstraints=critical,CA:FALSE\n"
                                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=monitor test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=news.test")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    return ca, cert, key


@pytest.fixture
def tls_server(tmp_path):
    ca, cert, key = _make_certificates(tmp_path)
    names: list[str | None] = []
    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secure")

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.handle_error = lambda request, address: None  # the refused handshake of the mismatch case
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], ssl.create_default_context(cafile=ca), names, hosts
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_pinned_https_sends_sni_and_checks_the_certificate_for_the_host_name(tls_server):
    port, trust, names, hosts = tls_server

    async def go(host: str) -> httpx.Response:
        transport = PinnedTransport(limits=httpx.Limits(max_connections=2), verify=trust)
        async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=5) as client:
            with pinned(["127.0.0.1"]):
                return await client.get(f"https://{host}:{port}/")

    response = asyncio.run(go("news.test"))  # no resolver knows news.test: only the pin reaches it
    assert response.status_code == 200 and response.content == b"secure"
    assert names == ["news.test"] and hosts == [f"news.test:{port}"]
    with pytest.raises(httpx.ConnectError, match="certificate"):
        asyncio.run(go("other.test"))  # same address, a name the certificate does not cover
    assert names[-1] == "other.test" and len(hosts) == 1
