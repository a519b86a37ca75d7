"""Query language additions: @groups, language fields, French/Italian elisions, and the one-pass
word index (LeafIndex) giving exactly what searching for each word gives."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from monitor.topics import Matcher, TopicSyntaxError, compile_topic, default_topics
from monitor.topics.match import prepare
from monitor.topics.query import And, Or, evaluate, leaves, parse_query

ROOT = Path(__file__).resolve().parents[1]


def hit(query: str, text: str, title: str = "") -> bool:
    return Matcher([compile_topic("t", query)]).classify(title, text).match


GROUPED = """
@KIDS = (child* OR kids)
@MOVED = (taken OR deported)
(@KIDS NEAR/3 @MOVED) AND (russia OR @PLACES)
@PLACES = (mariupol OR kherson)
"""


def test_a_group_stands_for_its_words_wherever_it_is_used_and_defined():
    assert hit(GROUPED, "The children were taken from Kherson.")
    assert hit(GROUPED, "Kids deported to Russia.")
    assert not hit(GROUPED, "The children were taken to school.")
    assert not hit(GROUPED, "Kherson: adults deported.")


def test_groups_may_use_earlier_groups_and_are_one_node_each():
    query = "@A = (apple OR pear)\n@B = (@A OR plum)\n@B AND (@A NEAR/2 tree)"
    assert hit(query, "a pear tree and a plum")
    assert not hit(query, "a plum tree")
    root = parse_query("t", query)
    group_b, near = root.children
    assert isinstance(group_b, Or) and group_b.group == "B"
    assert group_b.children[0] is near.left  # @A is the same node in both places


@pytest.mark.parametrize("query, position, message", [
    ("apple AND @NOPE", 10, "unknown group @NOPE"),
    ("@A = apple\nA", 5, "must be in parentheses"),
    ("@A = (apple)\n@A = (pear)\n@A", 13, "defined twice"),
    ("@A = (apple OR @A)\n@A", 15, "refers to itself"),
    ("@A = (apple OR)\n@A", 14, ""),
    ("@A = (apple)\n", 12, "only @group definitions"),
])
def test_group_errors_name_the_position_in_the_file(query, position, message):
    with pytest.raises(TopicSyntaxError) as err:
        compile_topic("t", query)
    assert err.value.position == position and message in err.value.message, err.value


def test_language_fields_count_words_only_in_that_language():
    query = "et:(last) AND child*"
    estonian = "Venemaa on küüditanud üle 19 000 lapse ja see oli viimane last, mis child ka."
    assert hit(query, estonian)
    assert not hit(query, "The last child of the family was deported, and that is the last word on it.")
    assert hit("cs_sk:(deti OR děti) AND deport*", "Rusko deportovalo deti a to je všetko, čo sa vie.")
    assert not hit("cs_sk:(deti) AND deport*", "Deti deport: the end of the story for the day.")


def test_language_field_errors():
    with pytest.raises(TopicSyntaxError, match="unknown field 'xx'"):
        compile_topic("t", "xx:(apple)")
    with pytest.raises(TopicSyntaxError, match="nested language field"):
        compile_topic("t", "de:(fr:(pomme))")


def test_elided_articles_do_not_hide_the_word():
    assert hit("enfant* AND déport*", "la déportation illégale d'enfants ukrainiens")
    assert hit("ucrain*", "dall'Ucraina sono stati portati via")
    assert not hit("ять", "п'ять дітей")  # a Ukrainian apostrophe is not an elision


def test_the_word_index_finds_exactly_what_searching_each_word_finds():
    """LeafIndex.prefill (one pass over the text's words) against the plain search for each query
    word, on every labelled text and the shipped topic: same match, same hit positions."""
    (topic,) = default_topics()
    assert isinstance(topic.node, (And, Or)) and topic.node.index is not None
    plain = dataclasses.replace(topic.node, index=None)
    texts = []
    for name in ("cases.jsonl", "families.jsonl", "european.jsonl"):
        path = ROOT / "fixtures" / "topics" / name
        texts += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    assert len(texts) > 300
    stem_cache: dict = {}
    for case in texts:
        doc = prepare(case["title"], case["text"], stem_cache).doc
        fast_memo, slow_memo = {}, {}
        fast = evaluate(topic.node, doc, fast_memo)
        slow = evaluate(plain, doc, slow_memo)
        assert fast == slow, case["id"]
        for leaf in leaves(plain):  # every word evaluated the slow way was found the fast way
            if slow_memo.get(leaf):
                assert fast_memo.get(leaf) == slow_memo[leaf], (case["id"], leaf.label)
