"""Normalization rules and language detection."""

import pytest

from monitor.topics import Matcher, compile_topic, detect_language
from monitor.topics.normalize import fold_mixed_script, normalize_word, tokenize


def test_nfkc_and_casefold():
    assert tokenize("ＤＥＰＯＲＴＡＴＩＯＮ ﬁle") == ["deportation", "file"]
    assert normalize_word("ДЕПОРТАЦІЯ") == "депортація"


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u02bc", "`"])
def test_ukrainian_apostrophes(apostrophe):
    assert tokenize(f"дев{apostrophe}ять сім{apostrophe}ї") == ["дев'ять", "сім'ї"]


def test_soft_hyphen_and_zero_width_characters():
    assert tokenize("депор\u00adтація ді\u200bтей\u200d") == ["депортація", "дітей"]


def test_yo_folds_to_ye():
    assert tokenize("ребёнок Ребёнка") == ["ребенок", "ребенка"]


def test_mixed_latin_cyrillic_word_folds_to_dominant_script():
    assert fold_mixed_script("дeпортaция") == "депортация"  # Latin e, a in Cyrillic word
    assert fold_mixed_script("dероrtation") == "deportation"  # Cyrillic е, о, р in Latin word
    assert tokenize("ДEПОРТАЦІЯ") == ["депортація"]  # Latin capital E
    assert fold_mixed_script("Київ") == "Київ"


def test_html_entities_and_tags():
    assert tokenize("children&#x27;s &amp; <b>deport&shy;ed</b>") == ["children's", "deported"]


def test_normalization_applies_when_matching():
    m = Matcher([compile_topic("t", '"депортація дітей" AND ребёнок')])
    assert m.classify("", "ДЕПОР\u00adТAЦІЯ ДІТЕЙ; судьба ребенка").match


@pytest.mark.parametrize(
    "title, text, lang",
    [
        ("Children taken", "The children were taken to Russia in 2022.", "en"),
        ("Діти", "Їх вивезли до Росії, повідомила влада області.", "uk"),
        ("Дети", "Их вывезли в Россию, сообщили в ведомстве, это подтвердил источник.", "ru"),
        ("", "", "und"),
        ("", "Die Kinder wurden nach Russland gebracht, und das ist nicht neu", "de"),
        ("Rates", "Inflation slowed.", "en"),
        ("", "Według rzecznika dzieci zostały wywiezione do Rosji, a część z nich trafiła do rodzin.", "pl"),
        ("", "Les enfants ont été emmenés en Russie, selon les autorités de la ville.", "fr"),
        ("", "I bambini sono stati portati in Russia dai territori occupati, secondo Kiev.", "it"),
        ("", "Los niños fueron llevados a Rusia, según el defensor del pueblo.", "es"),
        ("", "As crianças foram levadas para a Rússia, segundo as autoridades.", "pt"),
        ("", "Děti byly podle úřadů odvezeny do Ruska a jejich rodiny o nich nevědí.", "cs"),
        ("", "Deti boli podľa úradov odvezené do Ruska a ich rodiny o nich nevedia.", "sk"),
        ("", "Copiii au fost duși în Rusia, potrivit autorităților, și nu s-au mai întors.", "ro"),
        ("", "De kinderen zijn volgens de autoriteiten naar Rusland gebracht en niet teruggekeerd.", "nl"),
        ("", "Vaikai buvo išvežti į Rusiją, teigia Ukrainos ombudsmenas, ir jų tėvai nežino kur.", "lt"),
        ("", "Bērni tika aizvesti uz Krieviju, un viņu vecāki nezina, kur viņi ir.", "lv"),
        ("", "Lapsed viidi Venemaale ja nende vanemad ei tea, kus nad on.", "et"),
        ("", "Lapset vietiin Venäjälle, ja heidän vanhempansa eivät tiedä, missä he ovat.", "fi"),
    ],
)
def test_language_detection(title, text, lang):
    assert detect_language(title, text) == lang


def test_tokens_are_those_of_the_plain_greedy_pattern():
    """TOKEN_RE is possessive for speed: it must find exactly the words the plain pattern finds."""
    import random
    import re

    from monitor.topics.normalize import APOSTROPHES, TOKEN_RE

    plain = re.compile(r"\w+(?:[" + re.escape(APOSTROPHES) + r"]\w+)*")
    rng = random.Random(2)
    parts = ["a", "б", "ї", "7", "_", " ", "-", ".", "\n", *APOSTROPHES, "п'ять", "it's"]
    for _ in range(20_000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 14)))
        assert TOKEN_RE.findall(text) == plain.findall(text), repr(text)
