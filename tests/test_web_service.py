"""`settings.web.listen`: `monitor run` serves the web interface in its own event loop, and a source
added from the web (or by hand) is polled without a restart."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from datetime import timedelta

import httpx

import monitor.service
from monitor.config import load_config
from monitor.fetch import Fetcher
from monitor.pipeline import Pipeline
from monitor.service import Service
from monitor.store import Store
from tests.conftest import FAST, fixture_bytes
from tests.support.server import Reply, free_port

RSS = {"Content-Type": "application/rss+xml"}


def write_config(tmp_path, listen: str, sources: list[tuple[str, str]]) -> str:
    lines = ["# kept: a comment at the top", "settings:", f"  database: {tmp_path / 'monitor.db'}",
             "  fetch: {retries: 0, read_timeout: 2s}", "  evidence: {enabled: false}", f"  web: {{listen: '{listen}'}}",
             "sources:"]
    for name, url in sources:
        lines += [f"  - name: {name}", "    type: rss", f"    url: {url}", "    interval: 1h"]
    path = tmp_path / "sources.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_the_service_serves_the_web_and_polls_a_source_added_from_it(server, tmp_path, monkeypatch):
    monkeypatch.setattr(monitor.service, "SOURCES_RELOAD_SECONDS", 0.3)
    server.route("/first.xml", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    server.route("/second.xml", Reply(body=fixture_bytes("feeds/uk-atom.xml"), headers=RSS))
    port = free_port()
    config = load_config(write_config(tmp_path, f"127.0.0.1:{port}", [("First", server.url("/first.xml"))]))
    seen: dict[str, object] = {}

    async def polled(path: str, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if any(r.path == path for r in server.requests):
                return True
            await asyncio.sleep(0.1)
        return False

    async def go():
        store = Store(config.database_path)
        async with Fetcher(FAST.model_copy(update={"read_timeout": timedelta(seconds=5)}), "t") as fetcher:
            service = Service(config, Pipeline(fetcher=fetcher, store=store))
            running = asyncio.create_task(service.run())
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    for _ in range(100):
                        try:
                            page = await client.get("/sources")
                            break
                        except httpx.ConnectError:
                            await asyncio.sleep(0.1)
                    assert page.status_code == 200 and "First" in page.text
                    assert await polled("/first.xml", 10)
                    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                    added = await client.post("/sources", data={"url": server.url("/second.xml"), "name": "Second",
                                                                 "action": "add", "csrf_token": token})
                    seen["added"] = added.status_code
                    # Discovery fetched the feed once; the service's poll stores its items.
                    deadline = time.monotonic() + 10
                    while not store.count_items("Second") and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                    seen["second_polled"] = store.count_items("Second") > 0
                    seen["stories"] = (await client.get("/api/stories")).status_code
            finally:
                service.stop()
                await running
        store.close()

    asyncio.run(go())
    assert seen["added"] == 303
    assert seen["second_polled"], "the service did not poll the source added from the web"
    assert seen["stories"] == 200
    assert "# kept: a comment at the top" in (tmp_path / "sources.yaml").read_text("utf-8")
    # The interface stopped with the service: nothing listens on its port any more.
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        raise AssertionError("the web interface outlived the service")
    except httpx.ConnectError:
        pass


def test_sources_removed_or_broken_in_sources_yaml_while_running(server, tmp_path, monkeypatch):
    monkeypatch.setattr(monitor.service, "SOURCES_RELOAD_SECONDS", 0.2)
    server.route("/a.xml", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    server.route("/b.xml", Reply(body=fixture_bytes("feeds/uk-atom.xml"), headers=RSS))
    path = write_config(tmp_path, f"127.0.0.1:{free_port()}", [("A", server.url("/a.xml")), ("B", server.url("/b.xml"))])
    text = open(path, encoding="utf-8").read().replace("  web: {listen:", "  # web: {listen:")
    open(path, "w", encoding="utf-8").write(text)
    config = load_config(path)
    jobs: dict[str, list[str]] = {}

    async def go():
        store = Store(config.database_path)
        async with Fetcher(FAST, "t") as fetcher:
            service = Service(config, Pipeline(fetcher=fetcher, store=store))
            running = asyncio.create_task(service.run())
            await asyncio.sleep(1)
            jobs["start"] = sorted(j.id for j in service.scheduler.get_jobs() if j.id.startswith("source:"))
            broken = text.replace("sources:", "sources:\n  - name: C\n    type: nope\n    url: x")
            open(path, "w", encoding="utf-8").write(broken)
            await asyncio.sleep(1)
            jobs["broken"] = sorted(j.id for j in service.scheduler.get_jobs() if j.id.startswith("source:"))
            without_b = text.split("  - name: B")[0]
            open(path, "w", encoding="utf-8").write(without_b)
            await asyncio.sleep(1)
            jobs["removed"] = sorted(j.id for j in service.scheduler.get_jobs() if j.id.startswith("source:"))
            service.stop()
            await running
        store.close()

    asyncio.run(go())
    assert jobs["start"] == ["source:A", "source:B"]
    assert jobs["broken"] == ["source:A", "source:B"]  # a file that does not validate changes nothing
    assert jobs["removed"] == ["source:A"]


def test_run_with_a_non_loopback_listen_and_no_password_exits_2(tmp_path, server):
    server.route("/a.xml", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    path = write_config(tmp_path, f"0.0.0.0:{free_port()}", [("A", server.url("/a.xml"))])
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_WEB_PASSWORD"}
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", path, "run"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    assert "MONITOR_WEB_PASSWORD" in result.stderr and "Traceback" not in result.stderr
    assert not any(r.path == "/a.xml" for r in server.requests)  # refused before anything ran


def test_settings_web_listen_is_checked_with_the_configuration(tmp_path):
    from monitor.config import ConfigError

    path = write_config(tmp_path, "127.0.0.1:99999", [("A", "https://example.org/feed")])
    try:
        load_config(path)
        raise AssertionError("a port out of range was accepted")
    except ConfigError as exc:
        assert "web" in str(exc) and "port" in str(exc)


def test_the_listening_socket_says_tcp_so_each_connection_turns_nagle_off():
    """asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; with Nagle on, every
    keep-alive response waited ~40 ms for the ACK of its headers (bench.web found it)."""
    import socket

    from monitor.web.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        client = socket.create_connection(sock.getsockname()[:2])
        sock.setblocking(True)
        accepted, _ = sock.accept()
        assert accepted.proto == socket.IPPROTO_TCP
        accepted.close()
        client.close()
    finally:
        sock.close()
