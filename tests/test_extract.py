"""Main-text extraction: the article only (no navigation, sidebars, related links, comments, footers),
with its metadata; and the `monitor extract` command."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from selectolax.lexbor import LexborHTMLParser

from monitor.commands.context import Context
from monitor.commands.extract import extract as extract_command
from monitor.extract import extract, parse_date
from tests.conftest import FIXTURES, fixture_bytes
from tests.support.server import Reply

ARTICLES = sorted((FIXTURES / "articles").glob("*.html"))


def link_texts(html: bytes) -> list[str]:
    """Every link text of four words or more on the page: none is part of any fixture's main text."""
    tree = LexborHTMLParser(html.decode("utf-8"))
    texts = (" ".join(a.text(deep=True).split()) for a in tree.css("a"))
    return [t for t in texts if len(t.split()) >= 4]


def comment_texts(html: bytes) -> list[str]:
    tree = LexborHTMLParser(html.decode("utf-8"))
    return [" ".join(n.text(deep=True).split()) for n in tree.css(".comment p, .comment-item p, .b-discuss .msg")]


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.name)
def test_main_text_has_no_links_comments_or_footer(path):
    html = path.read_bytes()
    page = extract(html, "https://site.example/story")
    assert page.words >= 90
    for text in link_texts(html) + comment_texts(html):
        assert text not in page.text, f"{text!r} leaked into the main text"
    for chrome in ("©", "Most read", "Найпопулярніше", "Самое читаемое", "Коментарі", "Обсуждение",
                   "Share on Facebook", "Subscribe", "Теги"):
        assert chrome not in page.text


@pytest.mark.parametrize("name, title, date, author, lang, canonical, first_words", [
    ("en-children-returned.html", "Eleven children brought home after months in Russian camps",
     "2026-11-24T07:30:00+00:00", "Marta Hollis", "en",
     "https://site.example/ukraine/2026/11/24/eleven-children-brought-home",  # relative: against the page URL
     "Eleven Ukrainian children who had been deported to Russia"),
    ("uk-children-returned.html", "Із Росії повернули ще шістьох депортованих дітей",
     "2026-11-24T09:30:00+02:00", "Ірина Коваль", "uk", "https://visti.example/news/2026/11/24/povernuly-ditey",
     "До України повернули ще шістьох дітей"),
    ("ru-children-camps.html", "Вывезенных из Херсонской области детей держат в лагерях под Москвой",
     "2026-11-23", "Анна Белова", "ru", "https://pravo.example/news/2026-11-23/vyvezennye-deti",
     "Не менее сорока украинских детей"),
    ("ru-theatre-premiere.html", "В драмтеатре показали премьеру по пьесе Островского",
     "2026-11-22", "Олег Сомов", "ru", "", "Областной драматический театр открыл сезон"),
])
def test_metadata(name, title, date, author, lang, canonical, first_words):
    page = extract(fixture_bytes(f"articles/{name}"), "https://site.example/story")
    assert page.title == title
    assert page.date is not None and page.date.isoformat().startswith(date)
    assert page.author == author
    assert page.lang == lang
    assert page.canonical == canonical
    assert first_words in page.text


def test_read_also_lines_inside_the_body_are_dropped_but_ordinary_sentences_stay():
    body = ("<html><body><article><h1>Budget</h1>"
            + "<p>The council approved the budget after a long debate about roads and schools.</p>" * 4
            + '<p>Read also: <a href="/x">Children deported to Russia from occupied Kherson</a></p>'
            + "<p><strong>ЧИТАЙТЕ ТАКОЖ:</strong></p><p><a href='/y'>Росія депортувала ще 30 дітей</a></p>"
            + "<p>Related costs rose by a tenth, the council said, and were met from reserves.</p>"
            + "</article></body></html>")
    page = extract(body)
    assert "deported" not in page.text and "депортувала" not in page.text and "ЧИТАЙТЕ" not in page.text
    assert "Related costs rose by a tenth" in page.text


def test_wrongly_declared_charset_is_decoded_right():
    html = fixture_bytes("articles/ru-children-camps.html").decode("utf-8")
    html = html.replace("charset=utf-8", "charset=windows-1251")
    page = extract(html.encode("windows-1251"), "https://pravo.example/x", "text/html; charset=utf-8")
    assert "Не менее сорока украинских детей" in page.text
    assert page.title.startswith("Вывезенных")


def test_text_language_beats_a_template_declaration():
    html = fixture_bytes("articles/uk-children-returned.html").replace(b'<html lang="uk">', b'<html lang="ru">')
    assert extract(html).lang == "uk"
    no_lang = fixture_bytes("articles/en-bridge-reopens.html").replace(b' lang="en"', b"")
    assert extract(no_lang).lang == "en"


@pytest.mark.parametrize("body", [b"", b"   ", b"\x00\x01\x02", b"<html></html>",
                                  b"<html><head><title>Empty</title></head><body></body></html>"])
def test_pages_without_an_article_give_empty_text(body):
    page = extract(body, "https://x.example/")
    assert page.text == ""


@pytest.mark.parametrize("text, expected", [
    ("2026-11-24T07:30:00Z", datetime(2026, 11, 24, 7, 30, tzinfo=timezone.utc)),
    ("2026-11-24", datetime(2026, 11, 24, tzinfo=timezone.utc)),
    ("Tue, 24 Nov 2026 06:05:00 GMT", datetime(2026, 11, 24, 6, 5, tzinfo=timezone.utc)),
    ("24 листопада 2026, 09:30", datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)),
    ("23 ноября 2026, 18:45", datetime(2026, 11, 23, 18, 45, tzinfo=timezone.utc)),
    ("05.11.2026 10:15", datetime(2026, 11, 5, 10, 15, tzinfo=timezone.utc)),
    ("24 Nov 2026", datetime(2026, 11, 24, tzinfo=timezone.utc)),
    ("", None), ("no date here", None),
])
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_benchmark_corpus_f1():
    """Acceptance: token-level F1 ≥ 0.95 on the article-extraction benchmark (bench/extraction.py)."""
    from tests.conftest import corpus

    folder = corpus("article-extraction-benchmark")
    from bench.extraction import score

    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pairs = []
    for page_id, expected in truth.items():
        body = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes())
        pairs.append((expected["articleBody"], extract(body, expected.get("url", "")).text))
    precision, recall, f1, _ = score(pairs)
    assert f1 >= 0.95, f"F1 {f1:.3f} (P {precision:.3f}, R {recall:.3f})"


# --- monitor extract ---------------------------------------------------------------------------

def run_extract(tmp_path, *args):
    context = Context(str(tmp_path / "absent.yaml"), "text", 0)
    return CliRunner().invoke(extract_command, list(args), obj=context)


def test_extract_command_prints_title_date_language_and_text(tmp_path):
    result = run_extract(tmp_path, str(FIXTURES / "articles/uk-children-returned.html"))
    assert result.exit_code == 0, result.output
    assert "title:     Із Росії повернули ще шістьох депортованих дітей" in result.output
    assert "date:      2026-11-24T09:30:00+02:00" in result.output
    assert "lang:      uk" in result.output
    assert "До України повернули ще шістьох дітей" in result.output
    assert "Найпопулярніше" not in result.output


def test_extract_command_json_for_files_gzip_and_urls(tmp_path, server):
    html = fixture_bytes("articles/en-children-returned.html")
    url = server.route("/story", Reply(body=html, headers={"Content-Type": "text/html; charset=utf-8"}))
    packed = tmp_path / "page.html.gz"
    packed.write_bytes(gzip.compress(fixture_bytes("articles/ru-theatre-premiere.html")))
    result = run_extract(tmp_path, "--json", url, str(packed))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) for line in lines] == [{"input", "title", "date", "lang", "text"}] * 2
    assert lines[0]["input"] == url and lines[0]["lang"] == "en" and lines[0]["date"] == "2026-11-24T07:30:00+00:00"
    assert lines[1]["title"].startswith("В драмтеатре") and re.search(r"Островского", lines[1]["text"])


def test_extract_command_reports_unreadable_inputs_and_exits_1(tmp_path, server):
    result = run_extract(tmp_path, "--json", str(tmp_path / "missing.html"), server.url("/gone"))
    assert result.exit_code == 1
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["input"] for o in objects] == [str(tmp_path / "missing.html"), server.url("/gone")]
    assert "No such file" in objects[0]["error"] and "404" in objects[1]["error"]
    assert objects[0]["text"] is None
