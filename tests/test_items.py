"""Item: the record every stage passes on."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from monitor.items import Item


def test_the_content_hash_travels_with_the_item_from_the_worker_that_made_it():
    item = Item(url="https://example.org/a", title="Children returned", summary="Eleven  children\nwere returned.")
    assert item.content_hash.encode() in pickle.dumps(item)  # sent along, not computed again on arrival
    assert pickle.loads(pickle.dumps(item)).content_hash == item.content_hash


def test_the_content_hash_follows_the_text():
    item = Item(url="https://example.org/a", title="Children returned", summary="Eleven children were returned.")
    assert replace(item, lang="en").content_hash == item.content_hash
    assert replace(item, summary="Eleven CHILDREN   were returned.").content_hash == item.content_hash  # case, spaces
    assert replace(item, summary="Twelve children were returned.").content_hash != item.content_hash
    assert replace(item, content="The full article.").content_hash != item.content_hash
    assert item == replace(item) and "content_hash" not in repr(item)


def test_an_items_link_key_comes_with_it_from_the_process_that_made_it(monkeypatch):
    # A feed's items are made in a document worker: the poll's own process, which stores every
    # one of them, must not normalize each link again.
    import monitor.items

    item = pickle.loads(pickle.dumps(Item(url="HTTPS://WWW.Example.org/a/?utm_source=x", title="T")))
    monkeypatch.setattr(monitor.items, "canonical_url", lambda url: pytest.fail("normalized again"))
    assert item.url_key("S") == item.key("S") == "https://example.org/a"


def test_a_matched_item_takes_its_language_without_hashing_its_text_again(monkeypatch):
    # The poll's own process gives each matched item the language its match found: the text and
    # link are the same, so their hash and key come along as the worker computed them.
    import monitor.items
    from monitor.pipeline import _matched
    from monitor.topics import Classification

    item = pickle.loads(pickle.dumps(Item(url="https://example.org/a", title="Діти", summary="Депортовані діти.")))
    monkeypatch.setattr(monitor.items, "_text_hash", lambda text: pytest.fail("hashed again"))
    monkeypatch.setattr(monitor.items, "canonical_url", lambda url: pytest.fail("normalized again"))
    classified, matches = _matched({"k": item}, [Classification(True, ["t"], "uk", ["діти"], "**Діти**")])
    assert classified["k"].lang == "uk" and list(matches) == ["k"]
    assert classified["k"].content_hash == item.content_hash and classified["k"].link_key == item.link_key
    monkeypatch.undo()
    assert classified["k"] == replace(item, lang="uk") and item.lang == ""  # the original is left as it was
