"""canonical_url: the quick path for plain links gives what the general parse gives."""

from __future__ import annotations

import re

import pytest

import monitor.urls as urls

HOSTS = ["example.org", "www.example.org", "m.news.example.com", "amp.example.co.uk", "mobile.site.ua", "www.x"]
PATHS = ["", "/", "/a/b/", "/amp/2026/x", "/a//b", "/x.amp.html", "/y.amp", "/news/amp", "/p:q@r!$&'()*+,;=._~-",
         "/2026/11/25/story-1", "/amp"]


def general(url: str) -> str:
    saved, urls._SIMPLE_URL = urls._SIMPLE_URL, re.compile(r"(?!)")
    try:
        return urls.canonical_url.__wrapped__(url)
    finally:
        urls._SIMPLE_URL = saved


PORTS = ["", ":80", ":443", ":8080", ":0080", ":65535", ":65536", ":99999"]


@pytest.mark.parametrize("url", [f"{scheme}://{host}{port}{path}" for scheme in ("http", "https") for host in HOSTS
                                 for port in PORTS for path in PATHS])
def test_quick_path_matches_the_general_one(url):
    assert urls.canonical_url.__wrapped__(url) == general(url)


@pytest.mark.parametrize("url", ["http://[::1/broken", "https://example.org:notaport/a", "javascript:void(0)"])
def test_broken_links_are_compared_as_written(url):
    assert urls.canonical_url(url) == url


# The characters urlsplit and urlunsplit treat specially, and plain ones, to build links from.
_LINK_PARTS = ["h", "t", "p", ":", "/", "//", "?", "#", ";", "[", "]", " ", "\t", "\n", "\x00", "\x7f", "é", "a",
               ".", "..", "%", "@", "=", "&", "\\", "\u00a0", "~", "HTTP", "http://", "https://", "x.org"]


def test_join_url_gives_what_urljoin_gives_for_any_link():
    import random
    from urllib.parse import urljoin

    def joined(join, base, url):
        try:
            return join(base, url)
        except ValueError:
            return ValueError

    rng = random.Random(11)
    for _ in range(40_000):
        url = rng.choice(["http://", "https://", "", "HTTP://", "http:", "//"]) + "".join(
            rng.choice(_LINK_PARTS) for _ in range(rng.randint(0, 8)))
        for base in ("http://b.org/x/y", "https://b.org/x/", "http://b.org", ""):
            assert joined(urls.join_url, base, url) == joined(urljoin, base, url), (base, url)


def test_join_url_hands_a_plain_absolute_link_back_as_written():
    link = "https://news.example.org/2026/12/01/children-returned-1234.html?id=7#top"
    assert urls.join_url("https://news.example.org/feed.xml", link) is link
