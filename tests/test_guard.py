"""SSRF guard: discovered links to loopback, private, link-local and other non-public hosts are refused."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from monitor.article import complete_items
from monitor.fetch import FetchError
from monitor.guard import BlockedURL, URLGuard, guard_for
from monitor.items import SourceState
from monitor.sources.rss import RssSource
from tests.conftest import rss_source
from tests.support.server import Reply


def check(url: str, resolver=None) -> str | None:
    """None when the guard lets the URL through, else its reason."""
    guard = URLGuard(resolver) if resolver else URLGuard()
    try:
        asyncio.run(guard(url))
    except BlockedURL as exc:
        return exc.reason
    return None


def fake_dns(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:8080/admin", "loopback"),
    ("http://127.9.9.9/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/router", "private"),
    ("http://[fd00::1]/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://224.0.0.251/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://100.64.0.1/", "non-global"),
])
def test_non_public_addresses_are_refused(url, reason):
    assert reason in (check(url) or "")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://files.example/x", "gopher://x.example/",
                                 "javascript:alert(1)", "http:///nohost", "http://[::1/broken"])
def test_only_http_urls_with_a_host_pass(url):
    assert check(url) is not None


def test_names_are_resolved_and_every_address_checked():
    dns = fake_dns({"news.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.0.0.7"],
                    "rebind.example": ["::ffff:169.254.169.254"]})
    assert check("https://news.example/story", dns) is None
    assert "10.0.0.7" in check("https://mixed.example/", dns)  # one private answer is enough to refuse
    assert "link-local" in check("http://rebind.example/", dns)
    assert "cannot resolve" in check("http://nowhere.example/", dns)


def test_localhost_and_numeric_forms_resolve_to_loopback():
    # Real resolver: the names and odd spellings that end at 127.0.0.1.
    assert "loopback" in check("http://localhost:8000/")
    assert "loopback" in check("http://2130706433/")         # decimal 127.0.0.1
    assert "loopback" in check("http://0x7f.0.0.1/")


def test_public_literal_passes():
    assert check("http://93.184.216.34/") is None


def test_allow_private_means_no_guard():
    assert guard_for(True) is None
    assert isinstance(guard_for(False), URLGuard)


def test_fetcher_checks_the_first_url_before_any_request(server, make_fetcher):
    server.route("/robots.txt", Reply(body=b"User-agent: *\nAllow: /\n"))
    server.route("/secret", Reply(body=b"secret"))

    async def refuse(url: str) -> None:
        raise BlockedURL(f"refused {url}")

    async def go():
        async with make_fetcher() as fetcher:
            await fetcher.get(server.url("/secret"), guard=refuse)

    with pytest.raises(FetchError, match="refused"):
        asyncio.run(go())
    assert server.requests == []  # not even robots.txt


def test_fetcher_checks_every_redirect_hop(server, make_fetcher):
    # A public-looking link that redirects to the machine itself is refused at the hop.
    secret = server.route("/secret", Reply(body=b"secret"))
    server.route("/start", Reply(302, headers={"Location": secret.replace("127.0.0.1", "localhost")}))
    seen: list[str] = []
    real = URLGuard()

    async def guard(url: str) -> None:
        seen.append(url)
        if url.endswith("/start"):
            return  # stands in for a public host: the test server can only live on loopback
        await real(url)

    async def go():
        async with make_fetcher(respect_robots=False) as fetcher:
            await fetcher.get(server.url("/start"), guard=guard)

    with pytest.raises(BlockedURL, match="loopback"):
        asyncio.run(go())
    assert [r.path for r in server.requests] == ["/start"]
    assert server.requests_for("/secret") == []
    assert seen == [server.url("/start"), secret.replace("127.0.0.1", "localhost")]


def test_feed_linking_to_private_hosts_causes_no_request(server, make_fetcher, caplog):
    """Acceptance: a configured feed on 127.0.0.1 is read; the links in it are never fetched."""
    port = server.url("/").split(":")[2].split("/")[0]
    server.route("/private/one", Reply(body=b"<html><body><p>internal</p></body></html>"))
    server.route("/private/two", Reply(body=b"<html><body><p>internal</p></body></html>"))
    links = [f"http://127.0.0.1:{port}/private/one", "http://169.254.169.254/latest/meta-data/iam/",
             "file:///etc/passwd", f"http://localhost:{port}/private/two"]
    entries = "".join(f"<item><title>Item {n}</title><link>{link}</link><guid>item-{n}</guid>"
                      f"<description>Short teaser {n}.</description></item>" for n, link in enumerate(links))
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'
    server.route("/feed.xml", Reply(body=feed.encode(), headers={"Content-Type": "application/rss+xml"}))
    source = rss_source("Feed", server.url("/feed.xml"), fetch_article="always", allow_private=False)

    async def go():
        async with make_fetcher() as fetcher:
            collected = await RssSource().collect(source, fetcher, SourceState("Feed"))
            return collected.items, await complete_items(collected.items, source, fetcher)

    with caplog.at_level(logging.WARNING, logger="monitor.article"):
        items, completed = asyncio.run(go())
    assert len(items) == 4 and completed == items  # every item kept, none changed
    assert server.requests_for("/private/one") == [] and server.requests_for("/private/two") == []
    assert {r.path for r in server.requests} <= {"/feed.xml", "/robots.txt"}
    refused = [r.getMessage() for r in caplog.records if "not fetching a discovered link" in r.getMessage()]
    assert len(refused) == 3  # the file:// link never became a URL at all
    assert any("169.254.169.254" in m and "link-local" in m for m in refused)
    assert any("localhost" in m and "loopback" in m for m in refused)
