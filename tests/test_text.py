"""Feed HTML → text: the quick path for simple markup agrees with the HTML parser."""

from __future__ import annotations

import gzip
import random
import re

import feedparser
import pytest

from monitor.markup import MAX_DEPTH, bounded
from monitor.text import html_to_text, html_to_text_parsed
from tests.conftest import CORPORA, FIXTURES
from tests.support.hang import finishes_within

CASES = [
    ("<p>Eleven <b>children</b> returned.</p><p>Second &amp; last.</p>", "Eleven children returned.\n\nSecond & last."),
    ('Read <a href="https://x.example/?a=1&amp;b=2" title="x > y">more</a>', "Read more"),
    ("a < b and c > d", "a < b and c > d"),
    ("line one<br>line two<br/>three", "line one\n\nline two\n\nthree"),
    ("safe<script>alert(1)</script> text", "safe text"),
    ("<!-- hidden --><p>shown</p>", "shown"),
    ("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"),  # text about markup stays text
    ("Діти&nbsp;повернулися <i>додому</i>", "Діти повернулися додому"),
]


@pytest.mark.parametrize("fragment, text", CASES)
def test_html_to_text(fragment, text):
    assert html_to_text(fragment) == text
    assert html_to_text_parsed(fragment) == text


def test_quick_path_agrees_with_the_parser_on_every_feed_fragment():
    files = [p for root in (FIXTURES, CORPORA / "feedparser-tests", CORPORA / "real-feeds") if root.is_dir()
             for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".rss", ".atom")]
    fragments = []
    for path in files:
        parsed = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
        for entry in parsed.entries:
            fragments += [entry.get(k) for k in ("title", "summary") if entry.get(k)]
            fragments += [c.get("value") for c in entry.get("content") or [] if c.get("value")]
    assert fragments
    differ = [f for f in fragments if html_to_text(f) != html_to_text_parsed(f)]
    assert not differ, differ[:3]


# --- hostile markup: linear time on any input (issue 10.2) ----------------------------------------

def _open_tag_with_spaces(count: int) -> tuple[str, str]:
    fragment = "Eleven children returned <a" + " " * count
    return html_to_text(fragment), html_to_text_parsed(fragment)


def test_an_open_tag_and_30000_spaces():
    # The tag pattern backtracked quadratically: 16,000 spaces took 7 s.
    quick, parsed = finishes_within(15, _open_tag_with_spaces, 30_000)
    assert quick == parsed == "Eleven children returned"


def _nested_fragment(count: int) -> str:
    return html_to_text("<!-- lead --><p>" + "<div>" * count + "Eleven children returned." + "</div>" * count)


def test_a_fragment_of_100000_nested_divs():
    # An HTML parser's scope checks walk the stack of open elements: 40,000 nested took 7 s.
    assert finishes_within(15, _nested_fragment, 100_000) == "Eleven children returned."


HOSTILE = {  # markup an HTML5 tree builder (lexbor) reads in quadratic time (or memory), and how much
    "nested divs": lambda n: "<div>" * n + "x",                                        # 40,000: 7 s
    "divs in spans closed early": lambda n: "<span><div></span>" * n,                  # 20,000: 4 s
    "options of one select": lambda n: "<select>" + "<option selected>x</option>" * n,  # 20,000: 5 s
    "attributes of one tag": lambda n: "<p " + " ".join(f"a{i}=1" for i in range(n)) + ">x",  # 20,000: 1 s
    "formatting left open": lambda n: "".join(f"<p><b id={i}>x</p>" for i in range(n)),  # 2,500: 4 s; 5,000: 4 GB
}
SIZES = {"nested divs": 100_000, "divs in spans closed early": 50_000, "options of one select": 50_000,
         "attributes of one tag": 100_000, "formatting left open": 5_000}


def _parse_hostile(name: str) -> tuple[int, int, bool]:
    """(deepest element, elements, whether only tags were taken out) of the page as parsed."""
    from monitor.markup import bounded
    from monitor.text import parse_html
    page = "<html><body>" + HOSTILE[name](SIZES[name]) + "</body></html>"
    tree = parse_html(page.encode())
    depth = {}
    for node in tree.root.traverse(include_text=False):
        depth[node.mem_id] = depth.get(node.parent.mem_id, 0) + 1 if node.parent is not None else 1
    def untagged(markup):
        return re.sub(r"<[^>]*>", "", markup)
    return max(depth.values()), len(depth), untagged(bounded(page)) == untagged(page)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_markup_parses_in_linear_time(name):
    deepest, elements, text_kept = finishes_within(15, _parse_hostile, name)
    assert deepest <= MAX_DEPTH + 4  # html, body and the implied elements of a table
    assert text_kept  # tags are taken out past the limits, never text


def test_ordinary_pages_are_parsed_as_they_are():
    """bounded() changes nothing on real pages: the fixtures, and the extraction corpus where present."""
    from monitor import encoding
    pages = [p for root in (FIXTURES, CORPORA / "article-extraction-benchmark") if root.is_dir()
             for p in root.rglob("*") if p.name.endswith((".html", ".htm", ".html.gz"))]
    assert pages
    for path in pages:
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        decoded = encoding.decode(data, "text/html")
        text = decoded.text if decoded is not None else data.decode("utf-8", errors="replace")
        assert bounded(text) is text, path


SLOPPY = [  # valid or common markup, repeated: the model of the tree builder must not pile it up
    "<table><tr><td>a<td>b<tr><td>c</table>",            # end tags left out, as HTML allows
    "<table><tbody><tr><th>a<td><div>b</div></table>",
    "<div><form><input></div></form>",                    # a form closed after its parent
    "<ul><li>a<li><a href=/x>b</a><li>c</ul>",
    "<dl><dt>a<dd>b<dt>c</dl>",
    "<select><option>a<option selected>b<optgroup label=g><option>c</select>",
    "<p><b>bold to the end of the paragraph</p>",        # re-created, three alike at most
    "<p><font color=#333333 face=Arial>old style</p>",
    "<li><a href='/story'>a link left open<li>",
    "<button>a<button>b",
    "<h2>title<h3>sub</h3>",
    "<svg><g><path d='M0 0'/><circle r=1 /></g></svg>",
    "<p>one<p>two<div>three</div>",
    "<ruby>a<rt>b<rt>c</ruby>",
]


@pytest.mark.parametrize("pattern", SLOPPY)
def test_sloppy_but_ordinary_markup_is_left_alone(pattern):
    page = "<html><body>" + pattern * 2_000 + "</body></html>"
    assert bounded(page) is page


def test_random_tag_soup_stays_within_the_limits():
    """Tags of every kind in random order, start tags mostly: whatever lexbor builds of the bounded
    markup nests no deeper than the limit (and the few elements the tree builder adds itself)."""
    from monitor.text import parse_html
    names = ("div span p li ul ol dl dt dd table tr td th tbody caption colgroup col a b i font nobr em select "
             "option optgroup form button h1 section svg g math mi foreignObject desc title template object "
             "marquee ruby rt noscript br img hr label center blockquote pre body annotation-xml").split()
    rng = random.Random(2026)
    for _ in range(40):
        weights = [rng.random() ** 3 for _ in names]
        parts = []
        for _ in range(5_000):  # unbounded, some of these nest 338 deep
            name, kind = rng.choices(names, weights)[0], rng.random()
            if kind < 0.8:
                parts.append(f"<{name}{f' id={rng.randrange(50)}' if rng.random() < 0.3 else ''}"
                             f"{'/' if rng.random() < 0.05 else ''}>")
            else:
                parts.append(f"</{name}>" if kind < 0.94 else "x")
        tree = parse_html(("<html><body>" + "".join(parts)).encode())
        depth: dict[int, int] = {}
        for node in tree.root.traverse(include_text=False):
            depth[node.mem_id] = depth.get(node.parent.mem_id, 0) + 1 if node.parent is not None else 1
        assert max(depth.values()) <= MAX_DEPTH + 12


def test_spaces_fold_as_every_run_to_one_space():
    """The folding regex skips lone spaces (for speed): text still comes out as if every run of
    spaces, tabs and no-break spaces had become one space."""
    from monitor.text import _tidy

    def reference(text):
        text = re.sub(r"[ \t\r\f\v\u00a0]+", " ", text)
        if "\n" not in text:
            return text.strip()
        return re.sub(r"\n\s*\n+", "\n\n", re.sub(r" *\n *", "\n", text)).strip()

    rng = random.Random(5)
    parts = [" ", "  ", "\t", "\u00a0", "a", "б", "\n", "\r", "\f", "\v", "x y", "\n\n"]
    for _ in range(20_000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 12)))
        assert _tidy(text) == reference(text), repr(text)


@pytest.mark.parametrize("tag", ["SCRIPT", "Style", "noScript", "TEMPLATE", "iFrame", "OBJECT"])
def test_invisible_elements_are_found_in_any_case(tag):
    fragment = f"<p>Visible</p><{tag}>hidden()</{tag}><p>Also visible</p>"
    assert "hidden" not in html_to_text(fragment) and "Also visible" in html_to_text(fragment)
