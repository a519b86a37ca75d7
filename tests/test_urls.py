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
