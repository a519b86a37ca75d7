"""Query language: each operator, fields, morphology in queries, syntax errors."""

import pytest

from monitor.topics import Matcher, TopicSyntaxError, compile_topic


def hit(query: str, text: str, title: str = "") -> bool:
    return Matcher([compile_topic("t", query)]).classify(title, text).match


@pytest.mark.parametrize(
    "query, text, expected",
    [
        ("apple AND pear", "an apple and a pear", True),
        ("apple AND pear", "an apple only", False),
        ("apple OR pear", "a pear only", True),
        ("apple OR pear", "a plum only", False),
        ("apple NOT pear", "an apple only", True),
        ("apple AND NOT pear", "an apple and a pear", False),
        ("apple -pear", "an apple and a pear", False),
        ("apple pear", "a pear, an apple", True),  # juxtaposition = AND
        ("apple pear", "an apple", False),
        ("(apple OR plum) AND (pear OR fig)", "a plum and a fig", True),
        ("(apple OR plum) AND (pear OR fig)", "a plum and a kiwi", False),
    ],
)
def test_boolean_operators(query, text, expected):
    assert hit(query, text) is expected


def test_exact_phrase_needs_adjacent_words_in_order():
    assert hit('"forcibly transferred"', "they were forcibly transferred")
    assert not hit('"forcibly transferred"', "transferred, forcibly")
    assert not hit('"forcibly transferred"', "forcibly and quietly transferred")


def test_prefix_wildcard():
    assert hit("депорт*", "Депортація триває")
    assert hit("депорт*", "депортованих дітей")
    assert not hit("депорт*", "рапорт")


def test_wildcard_inside_phrase():
    assert hit('"russian famil*"', "placed with Russian families")


@pytest.mark.parametrize(
    "query, text, expected",
    [
        ('"children deported"~3', "children were quickly being deported", True),  # 3 between
        ('"children deported"~2', "children were quickly being deported", False),
        ('"children deported"~3', "deported were the children", True),  # any order
        ("children NEAR/3 deported", "children were quickly being deported", True),
        ("children NEAR/2 deported", "children were quickly being deported", False),
        ("(kids OR children) NEAR/1 (taken OR deported)", "children taken away", True),
    ],
)
def test_proximity(query, text, expected):
    assert hit(query, text) is expected


def test_near_does_not_cross_from_title_into_text():
    assert not hit("children NEAR/5 deported", "deported", title="children")


def test_title_field():
    assert hit("title:deport*", "nothing here", title="Deportation case")
    assert not hit("title:deport*", "deportation in the text only", title="Unrelated")
    assert hit("title:(deport* OR abduct*) AND child*", "about children", title="Abducted")


def test_inflected_forms_in_query_words():
    # A dictionary form matches inflected text forms (Ukrainian, Russian, English).
    assert hit("дитина", "вивезли дітей")
    assert hit("дитина", "допомогу дітям")
    assert hit("ребенок", "вывезли детей")
    assert hit("ребёнок", "судьба ребёнка")  # ё in query, е or ё in text alike
    assert hit("вывезти", "вывезенных в Россию")
    assert hit("россия", "из России")
    assert hit('"до росія"', "потрапили до Росії")
    assert hit("deportation", "deportations continue")
    assert not hit("дитина", "дитячий")  # a different lexeme: use дит* for both


def test_hyphenated_query_word_is_a_phrase():
    assert hit("Lvova-Belova", "Maria Lvova-Belova said")
    assert hit("Lvova-Belova", "Lvova Belova said")


@pytest.mark.parametrize(
    "query, position, message",
    [
        ("children AND (deport* OR abduct*", 13, "unbalanced parenthesis"),
        ("children) AND deport*", 8, "unbalanced parenthesis"),
        ('children AND "deported', 13, "unterminated phrase"),
        ("children AND OR deport*", 13, "unexpected"),
        ("author:x AND y", 0, "unknown field"),
        ("de*port", 0, "wildcards are only supported at the end"),
        ("a AND b NEAR/3 c", 0, "parentheses"),
        ("a NEAR b", 2, "NEAR needs a distance"),
        ("children~2", 0, "unsupported syntax"),
    ],
)
def test_syntax_errors_name_topic_and_position(query, position, message):
    with pytest.raises(TopicSyntaxError) as err:
        compile_topic("my-topic", query)
    assert err.value.topic == "my-topic"
    assert err.value.position == position
    assert message in err.value.message
    assert str(err.value).startswith(f"topic 'my-topic': syntax error at position {position}: ")


def test_syntax_error_message_format():
    with pytest.raises(TopicSyntaxError) as err:
        compile_topic("x", "deport* AND (child*")
    assert str(err.value) == "topic 'x': syntax error at position 12: unbalanced parenthesis"


def test_exclude_error_names_the_exclude():
    with pytest.raises(TopicSyntaxError) as err:
        compile_topic("x", "a", exclude="(b")
    assert err.value.topic == "x (exclude)"


def test_languages_and_exclude_options():
    t = compile_topic("t", "deport* OR депорт*", languages=["uk"], exclude="immigra*")
    m = Matcher([t])
    assert m.classify("", "Депортація триває, вона відбувається щодня").match
    assert not m.classify("", "The deportation of the family").match  # en: not in languages
    t = compile_topic("t", "deport*", exclude="immigra*")
    assert not Matcher([t]).classify("", "immigration deportation").match
