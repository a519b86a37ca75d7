"""The web interface over HTTP: `monitor web` started as a user starts it (a subprocess on a free
port), over a database filled by a real `monitor poll` of the local news site (fixtures/site/).
Every test runs twice: on a SQLite file, and on a PostgreSQL database (tests/support/backends.py)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from monitor.cli import cli
from tests.support.backends import Backend, module_backend  # noqa: F401  (fixture)
from tests.support.postgres import postgres_server  # noqa: F401  (fixture)
from tests.support.server import LocalServer, Reply
from tests.support.webserver import WebProcess

SITE = Path(__file__).resolve().parent.parent / "fixtures" / "site"
EXPECTED = json.loads((SITE / "expected.json").read_text("utf-8"))
FEED = {"Content-Type": "application/xml; charset=utf-8"}
OUTLETS = [
    ("Northern Ledger", "ledger-rss2.xml", "en"),
    ("Вісник Півдня", "visnyk-atom.xml", "uk"),
    ("Северная правда", "pravda-rss1.xml", "ru"),
    ("Coastal Herald", "herald-atom.xml", "en"),
]
ATOM = "{http://www.w3.org/2005/Atom}"
# A wire service republishing the Ledger's Kherson story word for word, later: a copy of that story.
WIRE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire Service</title><link>https://wire.example/</link><description>t</description>
<item><title>Russia deported 12 Ukrainian children from occupied Kherson</title>
<link>https://wire.example/stories/kherson-orphanage</link><pubDate>Tue, 24 Nov 2026 08:30:00 +0000</pubDate>
<description>Officials say twelve children were taken from an orphanage in occupied Kherson and moved to a camp in
Russia.</description></item>
</channel></rss>"""


def config_text(urls: dict[str, str], database: str, extra_settings: str = "") -> str:
    sources = "\n".join(f'  - {{name: "{name}", type: rss, url: "{urls[name]}", tags: [{lang}]}}'
                        for name, _, lang in OUTLETS + [("Wire Service", "", "en")])
    return f"""# The web tests' configuration: its comments must survive a source added from the web.
settings:
  database: {database}
  timezone: Europe/Kyiv
  fetch: {{retries: 0}}
  evidence: {{enabled: false}}
{extra_settings}
sources:
  # the local site's outlets
{sources}

# digests: the default (daily, to files)
"""


@dataclass
class Site:
    folder: Path
    server: LocalServer
    backend: Backend
    polled: Backend  # the database as the polls left it, which nothing else opens: what copies start from

    @property
    def config(self) -> Path:
        return self.folder / "sources.yaml"

    def copy(self, to: Path) -> Site:
        """Another folder with the same configuration and database (for tests that change them)."""
        shutil.copytree(self.folder, to, dirs_exist_ok=True)
        backend = self.polled.copy(to)
        if backend.url:
            config = to / "sources.yaml"
            config.write_text(config.read_text("utf-8").replace(self.backend.url, backend.url), "utf-8")
        return Site(to, self.server, backend, self.polled)


def serve_site(server: LocalServer) -> dict[str, str]:
    return {"Wire Service": server.route("/wire.xml", Reply(body=WIRE, headers=FEED))} | {name: server.route(f"/feeds/{fixture.split('-')[0]}.xml", Reply(body=(SITE / fixture).read_bytes(),
                                                                          headers=FEED))
            for name, fixture, _ in OUTLETS}


def monitor(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def site(module_backend, tmp_path_factory):
    folder = module_backend.folder
    with LocalServer() as server:
        (folder / "sources.yaml").write_text(config_text(serve_site(server), module_backend.database), encoding="utf-8")
        # The Herald links to the Ledger's Kherson article (same URL): the row is the Ledger's when it
        # comes first; the item counts per source below assume that order, so the Ledger goes first.
        first = monitor("--config", str(folder / "sources.yaml"), "poll", "--source", "Northern Ledger")
        others = [arg for name, _, _ in OUTLETS[1:] + [("Wire Service", "", "")] for arg in ("--source", name)]
        polled = monitor("--config", str(folder / "sources.yaml"), "poll", *others)
        assert "0 failing" in first and "0 failing" in polled
        yield Site(folder, server, module_backend, module_backend.copy(tmp_path_factory.mktemp("polled")))


@pytest.fixture(scope="module")
def web(site):
    with WebProcess(site.config) as process:
        yield process


@pytest.fixture
def own_site(site, tmp_path):
    """A copy of the polled site that a test may change (labels, sources.yaml)."""
    return site.copy(tmp_path / "site")


def matched_story_ids(site: Site) -> set[int]:
    return {row["story_id"] for row in site.backend.rows(
        "SELECT DISTINCT i.story_id FROM items i JOIN matches m ON m.item_id = i.id")}


def on_topic_paths() -> set[str]:
    return {suffix.rsplit("ledger.example", 1)[-1] for _, f, _ in OUTLETS for suffix in EXPECTED[f]["on_topic"]}


def off_topic_paths() -> set[str]:
    return {suffix for _, f, _ in OUTLETS for suffix in EXPECTED[f]["off_topic"]}


def story_links(html: str) -> list[str]:
    """The outbound links of the listed stories (their headline's ↗ link)."""
    return re.findall(r'<a class="out" href="([^"]+)"', html)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


# --- stories ------------------------------------------------------------------------------------

def test_the_story_list_holds_every_on_topic_story_and_no_off_topic_one(web):
    response = httpx.get(web.url("/"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    links = story_links(response.text)
    for path in on_topic_paths():
        assert sum(1 for link in links if link.split("?")[0].endswith(path)) == 1, (path, links)
    for path in off_topic_paths():
        assert not any(link.split("?")[0].endswith(path) for link in links), path
    assert f"{len(on_topic_paths())} stories" in response.text
    # Each story shows its source, date, language and topic; a copy is under "also reported by".
    assert "Вісник Півдня" in response.text and "Ukrainian" in response.text and "deported-children" in response.text
    assert "Also reported by:" in response.text


def test_a_title_carrying_a_script_element_is_shown_as_text(web):
    html = httpx.get(web.url("/")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Children deported from Berdiansk" in html
    assert "<script" not in html.lower()
    story = next(s for s in httpx.get(web.url("/api/stories")).json()["stories"] if "Berdiansk" in s["title"])
    page = httpx.get(web.url(f"/stories/{story['id']}")).text
    assert "&lt;script&gt;" in page and "<script" not in page.lower()


def test_search_narrows_the_list_in_any_script_case_and_diacritics(web):
    everything = story_links(httpx.get(web.url("/")).text)
    found = story_links(httpx.get(web.url("/"), params={"q": "Berdiansk"}).text)
    assert found and len(found) < len(everything)
    assert all("berdiansk" in link for link in found)
    assert story_links(httpx.get(web.url("/"), params={"q": "BERDIANSK"}).text) == found  # case folded
    assert story_links(httpx.get(web.url("/"), params={"q": "Berdiánsk"}).text) == found  # diacritics folded
    ukrainian = story_links(httpx.get(web.url("/"), params={"q": "ДІТЕЙ"}).text)  # Cyrillic, case folded
    assert ukrainian and all("visnyk" in link or "povernuly" in link or "ditei" in link for link in ukrainian)
    assert story_links(httpx.get(web.url("/"), params={"q": "мелітоп* OR мелитопол*"}).text)
    nothing = httpx.get(web.url("/"), params={"q": 'zzzunknownword "unbalanced'})
    assert nothing.status_code == 200 and story_links(nothing.text) == [] and "0 stories" in nothing.text


def test_search_takes_phrases_or_and_exclusions(web):
    def found(q: str) -> set[str]:
        response = httpx.get(web.url("/api/stories"), params={"q": q})
        assert response.status_code == 200, response.text
        return {story["url"] for story in response.json()["stories"]}

    everything = found("")
    berdiansk = found("Berdiansk")
    assert len(berdiansk) == 1 and len(everything) > 2
    assert found('"deported from Berdiansk"') == berdiansk and found('"Berdiansk from deported"') == set()
    assert found("-Berdiansk") == everything - berdiansk  # a minus alone: all but those
    assert found('Berdiansk -"deported from"') == set()
    melitopol = found("Мелитопол*")
    assert melitopol and found("Berdiansk OR Мелитопол*") == berdiansk | melitopol
    assert found("Berdiansk OR Мелитопол* -Russia") == melitopol - found("Russia")  # the exclusion applies to both


def test_filters_by_language_source_topic_and_date(web):
    russian = httpx.get(web.url("/api/stories"), params={"lang": "ru"}).json()["stories"]
    assert russian and {s["lang"] for s in russian} == {"ru"}
    herald = httpx.get(web.url("/api/stories"), params={"source": "Coastal Herald"}).json()["stories"]
    assert herald and {s["source"] for s in herald} == {"Coastal Herald"}
    assert httpx.get(web.url("/api/stories"), params={"topic": "no-such-topic"}).json()["stories"] == []
    assert len(httpx.get(web.url("/api/stories"), params={"topic": "deported-children"}).json()["stories"]) == \
        len(on_topic_paths())
    dates = sorted(s["published"][:10] for s in httpx.get(web.url("/api/stories")).json()["stories"])
    since = httpx.get(web.url("/api/stories"), params={"since": dates[-1]}).json()["stories"]
    assert since and all(s["published"][:10] >= dates[-1] for s in since)
    page = httpx.get(web.url("/"), params={"since": dates[0], "until": dates[0]}).text
    assert story_links(page) and len(story_links(page)) <= len(dates)
    assert httpx.get(web.url("/"), params={"since": "March"}).status_code == 400
    assert httpx.get(web.url("/api/stories"), params={"label": "maybe"}).status_code == 400


def test_pages_of_the_list(own_site):
    text = own_site.config.read_text("utf-8").replace("settings:\n", "settings:\n  web: {page_size: 2}\n", 1)
    own_site.config.write_text(text, "utf-8")
    with WebProcess(own_site.config) as web:
        pages, seen, url = 0, [], web.url("/")
        while url:
            html = httpx.get(url).text
            links = story_links(html)
            assert 1 <= len(links) <= 2
            seen += links
            pages += 1
            older = re.search(r'<a rel="next" href="([^"]+)"', html)
            url = web.url(older.group(1).replace("&amp;", "&")) if older else None
    assert len(seen) == len(set(seen)) == len(on_topic_paths())
    assert pages == -(-len(on_topic_paths()) // 2)


def test_story_page_shows_text_terms_and_copies(web, site):
    stories = httpx.get(web.url("/api/stories")).json()["stories"]
    copied = next(s for s in stories if s["also"])
    page = httpx.get(web.url(f"/stories/{copied['id']}"))
    assert page.status_code == 200
    assert "Why it matched" in page.text and "<code>" in page.text  # the matched terms
    assert "Main text" in page.text and f"Copies ({1 + len(copied['also'])})" in page.text
    for other in copied["also"]:
        assert other["source"] in page.text
    detail = httpx.get(web.url(f"/api/stories/{copied['id']}")).json()
    assert detail["id"] == copied["id"] and detail["text"] and detail["matches"][0]["terms"]
    assert len(detail["copies"]) == 1 + len(copied["also"])
    assert httpx.get(web.url("/stories/999999")).status_code == 404
    assert httpx.get(web.url("/api/stories/999999")).status_code == 404


def test_api_lists_every_matched_story_once_and_pages_by_cursor(web, site):
    listed = httpx.get(web.url("/api/stories")).json()
    assert set(listed) == {"stories", "next"} and listed["next"] is None
    ids = [s["id"] for s in listed["stories"]]
    assert set(ids) == matched_story_ids(site) and len(ids) == len(set(ids))
    for story in listed["stories"]:
        assert set(story) >= {"id", "title", "url", "source", "published", "lang", "topics", "snippet", "also", "label"}
        assert story["label"] is None
    published = [s["published"] for s in listed["stories"]]
    assert published == sorted(published, reverse=True)  # newest first
    walked, cursor = [], None
    while True:
        page = httpx.get(web.url("/api/stories"), params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        walked += [s["id"] for s in page["stories"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert walked == ids
    assert httpx.get(web.url("/api/stories"), params={"cursor": "bogus"}).status_code == 400
    assert httpx.get(web.url("/api/stories"), params={"limit": 0}).status_code == 400


def test_atom_feed_has_one_entry_per_story(web, site):
    response = httpx.get(web.url("/feed.atom"))
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == len(matched_story_ids(site))
    assert len({e.find(f"{ATOM}id").text for e in entries}) == len(entries)
    for entry in entries:
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http")
        assert entry.find(f"{ATOM}category").get("term") == "deported-children"
    assert any(e.find(f"{ATOM}title").text.startswith("<script>") for e in entries)  # text, escaped as XML
    assert b"<script>" not in response.content
    topic = ET.fromstring(httpx.get(web.url("/feed.atom"), params={"topic": "none"}).content)
    assert topic.findall(f"{ATOM}entry") == []


# --- sources and digests ------------------------------------------------------------------------

def test_sources_page_and_api_show_health_counts_and_redacted_errors(own_site, tmp_path):
    text = own_site.config.read_text("utf-8").replace(
        "  # the local site's outlets\n",
        "  # the local site's outlets\n"
        '  - {name: "Private", type: rss, url: "' + own_site.server.url("/private") + '?token=${WEB_TOKEN}"}\n', 1)
    own_site.config.write_text(text, "utf-8")
    own_site.server.route("/private", Reply(500, b"no", {"Content-Type": "text/plain"}))
    env = {"WEB_TOKEN": "s3cr3t-token-value"}
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(own_site.config), "poll", "--source",
                             "Private"], capture_output=True, text=True, env={**os.environ, **env},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    with WebProcess(own_site.config, env=env) as web:
        page = httpx.get(web.url("/sources")).text
        api = httpx.get(web.url("/api/sources")).json()["sources"]
    assert "s3cr3t-token-value" not in page and "s3cr3t-token-value" not in json.dumps(api)
    private = next(s for s in api if s["name"] == "Private")
    assert private["status"] == "failing" and "500" in private["error"] and "${WEB_TOKEN}" in private["url"]
    ledger = next(s for s in api if s["name"] == "Northern Ledger")
    assert ledger["status"] == "ok" and ledger["items"] == 4 and ledger["matches"] == 2 and ledger["last_ok"]
    assert "failing" in page and "Northern Ledger" in page


def test_adding_a_source_from_the_web_appends_it_to_sources_yaml_with_comments_kept(own_site):
    own_site.server.route("/new/feed.xml", Reply(body=(SITE / "ledger-rss2-later.xml").read_bytes(), headers=FEED))
    before = own_site.config.read_text("utf-8")
    with WebProcess(own_site.config) as web, httpx.Client(base_url=web.url("")) as client:
        token = csrf_from(client.get("/sources").text)
        url = own_site.server.url("/new/feed.xml")
        assert client.post("/sources", data={"url": url, "action": "add"}).status_code == 403  # no token
        preview = client.post("/sources", data={"url": url, "name": "New Outlet", "action": "preview",
                                                 "csrf_token": token})
        assert preview.status_code == 200 and "name: New Outlet" in preview.text and "type: rss" in preview.text
        assert own_site.config.read_text("utf-8") == before  # a preview writes nothing
        added = client.post("/sources", data={"url": url, "name": "New Outlet", "action": "add", "csrf_token": token})
        assert added.status_code == 303 and added.headers["location"].startswith("/sources?added=New")
        after = own_site.config.read_text("utf-8")
        assert after.startswith(before.rstrip("\n").rsplit("\n# digests", 1)[0])  # every line before kept
        assert "# digests: the default (daily, to files)" in after and "# the local site's outlets" in after
        assert "name: New Outlet" in after
        listed = client.get("/sources").text
        assert "New Outlet" in listed  # sources.yaml is read again when it changes
        again = client.post("/sources", data={"url": url, "action": "add", "csrf_token": token})
        assert again.status_code == 409 and "already configured" in again.text
        bad = client.post("/sources", data={"url": "ftp://example.org/", "action": "add", "csrf_token": token})
        assert bad.status_code == 400
    monitor("--config", str(own_site.config), "check")


def test_digests_page_previews_the_next_digest_and_lists_past_deliveries(own_site):
    with WebProcess(own_site.config) as web:
        before = httpx.get(web.url("/digests")).text
        assert "daily" in before and f"Next digest to files: {len(on_topic_paths())} stories" in before
        assert "No digest or alert has been sent yet." in before
        monitor("--config", str(own_site.config), "digest", "--now")
        after = httpx.get(web.url("/digests")).text
    assert "Next digest to files: 0 stories" in after
    assert re.search(r"<td>files</td>\s*<td class=\"num\">%d</td>\s*<td><span class=\"status\">delivered" %
                     len(on_topic_paths()), after), after


def test_a_story_shows_its_evidence_and_each_capture_downloads_as_stored(own_site):
    stories = []
    with WebProcess(own_site.config) as web:
        stories = httpx.get(web.url("/api/stories")).json()["stories"]
    story = stories[0]
    folder = own_site.folder / "data" / "evidence"
    folder.mkdir(parents=True)
    records = b"\x1f\x8b" + bytes(range(256)) * 4  # stands in for the gzip'd response and request records
    (folder / "monitor-20261124.warc.gz").write_bytes(b"x" * 100 + records + b"y" * 50)
    own_site.backend.execute("INSERT INTO evidence (item_id, state, captured_at) VALUES (?, 'captured', ?)",
                             [story["id"], "2026-11-24T12:00:00+00:00"])
    own_site.backend.execute("""INSERT INTO captures (id, item_id, reason, requested_url, url, captured_at, http_status,
                                    sha256, warc_file, warc_record_id, warc_offset, warc_length, record_sha256)
                                VALUES (7, ?, 'match', ?, ?, '2026-11-24T12:00:00+00:00', 200, ?,
                                        'monitor-20261124.warc.gz', '<urn:uuid:1>', 100, ?, 'abc')""",
                             [story["id"], story["url"], story["url"], "ab" * 32, len(records)])
    with WebProcess(own_site.config) as web:
        listed = {s["id"]: s for s in httpx.get(web.url("/api/stories")).json()["stories"]}
        assert listed[story["id"]]["evidence"] == "captured"
        page = httpx.get(web.url(f"/stories/{story['id']}")).text
        assert 'href="/captures/7"' in page and "ab" * 32 in page
        download = httpx.get(web.url("/captures/7"))
        assert download.status_code == 200 and download.content == records
        assert download.headers["content-type"] == "application/warc"
        assert 'filename="monitor-capture-7.warc.gz"' in download.headers["content-disposition"]
        assert httpx.get(web.url("/captures/8")).status_code == 404
        detail = httpx.get(web.url(f"/api/stories/{story['id']}")).json()
        assert detail["copies"][0]["captures"][0]["sha256"] == "ab" * 32


# --- triage -------------------------------------------------------------------------------------

def test_a_label_post_without_the_csrf_token_is_refused(web):
    story = httpx.get(web.url("/api/stories")).json()["stories"][0]
    with httpx.Client(base_url=web.url("")) as client:
        client.get(f"/stories/{story['id']}")  # the cookie, but no token in the post
        refused = client.post(f"/stories/{story['id']}/label", data={"label": "not_relevant"})
        assert refused.status_code == 403
        forged = client.post(f"/stories/{story['id']}/label", data={"label": "not_relevant", "csrf_token": "x" * 43})
        assert forged.status_code == 403
    other = httpx.post(web.url(f"/stories/{story['id']}/label"),  # a token from another browser's cookie
                       data={"label": "not_relevant", "csrf_token": csrf_from(httpx.get(web.url("/")).text)})
    assert other.status_code == 403
    assert story["id"] in [s["id"] for s in httpx.get(web.url("/api/stories")).json()["stories"]]


def test_a_story_marked_not_relevant_leaves_the_list_the_api_and_the_feed(own_site):
    with WebProcess(own_site.config) as web, httpx.Client(base_url=web.url("")) as client:
        stories = client.get("/api/stories").json()["stories"]
        story = stories[0]
        page = client.get(f"/stories/{story['id']}").text
        if "this monitor does not have yet" in page:
            pytest.skip("no label store in this checkout (monitor/labels.py): triage cannot be stored")
        saved = client.post(f"/stories/{story['id']}/label", data={
            "label": "not_relevant", "note": "an adult deportation", "csrf_token": csrf_from(page)})
        assert saved.status_code == 303
        assert story["id"] not in [s["id"] for s in client.get("/api/stories").json()["stories"]]
        assert f"/stories/{story['id']}\"" not in client.get("/").text
        assert len(ET.fromstring(client.get("/feed.atom").content).findall(f"{ATOM}entry")) == len(stories) - 1
        assert f"Next digest to files: {len(stories) - 1} stories" in client.get("/digests").text  # the label store's rule
        hidden = client.get("/api/stories", params={"label": "not_relevant"}).json()["stories"]
        assert [s["id"] for s in hidden] == [story["id"]] and hidden[0]["label"] == "not_relevant"
        assert client.get(f"/api/stories/{story['id']}").json()["label_note"] == "an adult deportation"
        shown = client.get(f"/stories/{story['id']}").text
        assert "an adult deportation" in shown and "not relevant" in shown
        relevant = client.post(f"/stories/{story['id']}/label", data={"label": "relevant", "csrf_token": csrf_from(shown)})
        assert relevant.status_code == 303
        assert story["id"] in [s["id"] for s in client.get("/api/stories").json()["stories"]]


def test_labels_from_monitor_label_and_from_the_web_are_one_story_label(own_site):
    config = str(own_site.config)
    with WebProcess(own_site.config) as web, httpx.Client(base_url=web.url("")) as client:
        story = next(s for s in client.get("/api/stories").json()["stories"] if s["also"])
        copies = client.get(f"/api/stories/{story['id']}").json()["copies"]
        wire = next(c for c in copies if c["source"] == "Wire Service")
        monitor("--config", config, "label", str(wire["id"]), "not_relevant", "--note", "syndicated")
        assert story["id"] not in [s["id"] for s in client.get("/api/stories").json()["stories"]]
        page = client.get(f"/stories/{story['id']}").text
        assert "syndicated" in page and "monitor label" in page
        # Relevant from the web: the story's lead carries it, the copy's contrary label goes.
        saved = client.post(f"/stories/{story['id']}/label", data={"label": "relevant", "csrf_token": csrf_from(page)})
        assert saved.status_code == 303
        listed = {s["id"]: s for s in client.get("/api/stories").json()["stories"]}
        assert listed[story["id"]]["label"] == "relevant"
        cleared = client.post(f"/stories/{story['id']}/label", data={"label": "clear", "csrf_token": csrf_from(page)})
        assert cleared.status_code == 303
        assert {s["id"]: s for s in client.get("/api/stories").json()["stories"]}[story["id"]]["label"] is None
    labelled = monitor("--config", config, "labels", "list")
    assert "syndicated" not in labelled and "relevant" not in labelled.split("\n", 2)[-1]


# --- security -----------------------------------------------------------------------------------

def test_every_response_carries_the_security_headers(web):
    for path in ("/", "/sources", "/digests", "/api/stories", "/feed.atom", "/static/style.css", "/nowhere"):
        response = httpx.get(web.url(path))
        assert response.headers["content-security-policy"].startswith("default-src 'self'"), path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "server" not in response.headers
    cookie = httpx.get(web.url("/")).headers["set-cookie"]
    assert "monitor_csrf=" in cookie and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_outbound_links_are_http_only_and_carry_noopener(web):
    html = httpx.get(web.url("/")).text
    for anchor in re.findall(r'<a [^>]*target="_blank"[^>]*>', html):
        assert 'rel="noopener noreferrer"' in anchor, anchor
        assert re.search(r'href="https?://', anchor), anchor


def test_without_a_password_only_loopback_host_names_are_answered(web):
    port = web.base.rsplit(":", 1)[1]
    assert httpx.get(web.url("/"), headers={"Host": f"localhost:{port}"}).status_code == 200
    rebound = httpx.get(web.url("/api/stories"), headers={"Host": f"attacker.example:{port}"})
    assert rebound.status_code == 400 and "stories" not in rebound.text


def test_a_non_loopback_address_without_a_password_exits_2(site, monkeypatch):
    monkeypatch.delenv("MONITOR_WEB_PASSWORD", raising=False)
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(site.config), "web", "--host",
                             "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "MONITOR_WEB_PASSWORD"})
    assert result.returncode == 2
    assert "MONITOR_WEB_PASSWORD" in result.stderr and "0.0.0.0" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_sigterm_stops_monitor_web_with_exit_0(site):
    web = WebProcess(site.config)
    with web:
        assert httpx.get(web.url("/healthz")).text == "ok"
    assert web.process.returncode == 0, web.output
    assert web.output.startswith("monitor web: serving http://127.0.0.1:") and "Traceback" not in web.output
    assert f"(database {site.backend.url or site.backend.sqlite_path})" in web.output  # the backend it serves


def test_with_a_password_every_page_asks_for_a_login(own_site):
    env = {"MONITOR_WEB_PASSWORD": "correct horse battery"}
    with WebProcess(own_site.config, env=env) as web, httpx.Client(base_url=web.url("")) as client:
        assert client.get("/healthz").status_code == 200
        gate = client.get("/sources")
        assert gate.status_code == 303 and gate.headers["location"] == "/login?next=%2Fsources"
        assert client.get("/api/stories").status_code == 401
        assert client.get("/feed.atom").status_code == 401
        login = client.get("/login")
        token = csrf_from(login.text)
        assert client.post("/login", data={"password": "correct horse battery"}).status_code == 403  # no token
        wrong = client.post("/login", data={"password": "wrong", "csrf_token": token, "next": "/sources"})
        assert wrong.status_code == 401 and "not the password" in wrong.text
        assert "monitor_session" not in client.cookies
        right = client.post("/login", data={"password": "correct horse battery", "csrf_token": token,
                                            "next": "/sources"})
        assert right.status_code == 303 and right.headers["location"] == "/sources"
        cookie = right.headers["set-cookie"].lower()
        assert "monitor_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie.replace("samesite", "")
        behind_tls = httpx.post(web.url("/login"), headers={"X-Forwarded-Proto": "https"},  # a local TLS proxy
                                data={"password": "correct horse battery", "csrf_token": token},
                                cookies={"monitor_csrf": client.cookies["monitor_csrf"]})
        assert "; secure" in behind_tls.headers["set-cookie"].lower()
        assert client.get("/sources").status_code == 200
        assert client.get("/api/stories").json()["stories"]
        # Another address once logged in? The Host check is the password's job now.
        assert client.get("/", headers={"Host": "monitor.example"}).status_code == 200
        # API clients and feed readers: HTTP Basic with the password, for reading only.
        basic = "Basic " + base64.b64encode(b"reader:correct horse battery").decode()
        assert httpx.get(web.url("/feed.atom"), headers={"Authorization": basic}).status_code == 200
        bad = "Basic " + base64.b64encode(b"reader:nope").decode()
        assert httpx.get(web.url("/api/stories"), headers={"Authorization": bad}).status_code == 401
        assert httpx.get(web.url("/"), headers={"Authorization": basic}).status_code == 303  # pages: log in
        forged = httpx.get(web.url("/"), cookies={"monitor_session": "1700000000.abc.def"})
        assert forged.status_code == 303
        logout = client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
        assert logout.status_code == 303
        assert client.get("/").status_code == 303


def test_a_non_loopback_address_with_a_password_is_served(own_site):
    with WebProcess(own_site.config, "--host", "0.0.0.0", env={"MONITOR_WEB_PASSWORD": "pw-for-test"}) as web:
        port = web.base.rsplit(":", 1)[1]
        assert httpx.get(f"http://127.0.0.1:{port}/login").status_code == 200


# --- layout -------------------------------------------------------------------------------------

def test_the_web_is_a_top_room_nothing_below_imports_it():
    from tests.test_architecture import import_graph

    graph = import_graph()
    allowed = {"monitor.commands.web": None, "monitor.service": {"monitor.web.server"},
               "monitor.postgres.worker": {"monitor.web.server"}}  # `monitor run` on PostgreSQL, as service
    for name, targets in graph.items():
        if name.startswith("monitor.web"):
            continue
        web = {t for t in targets if t == "monitor.web" or t.startswith("monitor.web.")}
        if web:
            assert name in allowed, (name, web)
            assert allowed[name] is None or web <= allowed[name], (name, web)
    # settings.web is read without Starlette: its model imports only the shared option helpers.
    assert graph["monitor.options.web"] <= {"monitor.options"}
