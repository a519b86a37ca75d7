"""Signatures are stored: a copy polled next week is compared with the signature its story's first
report got this week, perhaps by an older version of monitor. If the way a signature is computed
changed (the words, the shingles, the MinHash, the facts and their contexts), every copy of a story
stored before the change would look like a new story, and its report would be sent again. These
digests hold the computation still, byte for byte; a deliberate change needs a migration that
recomputes the stored signatures, and new digests here."""

from __future__ import annotations

import hashlib

import pytest

from monitor.dedup import facts_in_context, item_signature

# Written for this test: a number, a date and a time, names mid-sentence and at a sentence's start,
# an apostrophe, ё, a non-breaking space and a ligature (NFKC), Latin and Cyrillic, a semicolon.
TEXTS = [
    ("Ukraine brings back 38 children from Mariupol",
     "Ukraine brought back 38 children from Mariupol on 12 March, the Ombudsman Dmytro Lubinets said at "
     "14:30 on Monday. Bring Kids Back UA says 19,546 children were deported to Russia since 2022; only "
     "1,200 have come home. The children were held in a camp near Yevpatoria run by the regional "
     "government, and their parents travelled through Poland and Belarus to fetch them."),
    ("Росія вивезла 46 дітей з Олешок",
     "Окупанти вивезли 46 дітей з Олешок до Ростовської області 3 вересня, повідомив Офіс Генпрокурора. "
     "За даними платформи «Діти війни», з 2022 року депортовано 19 546 дітей; повернуто лише 1 200. "
     "Діти перебували в таборі «Ласточка» під Євпаторією, куди їх відправили на «оздоровлення». "
     "Мати Артема Ковальчука з'ясувала, де він, лише через місяць у п'ятницю."),
    ("Из Херсонской области вывезли 15 детей",
     "Российские власти вывезли 15 детей из Херсонской области в Краснодарский край 21.09.2023, "
     "сообщил Уполномоченный Мария Львова-Белова. Детей поселили в лагере «Ёлочка»; по словам "
     "родителей, связи с ними нет уже две недели. Международный уголовный суд выдал ордер на арест "
     "Путина и Львовой-Беловой в марте 2023 года."),
    ("Eﬁve minors taken to Crimea",  # a ligature NFKC unfolds
     "Five minors from Nova\u00a0Kakhovka were taken to occupied Crimea for so-called re-education, "
     "the Regional Centre for Human Rights said. They were given Russian passports at 09:15 in "
     "Simferopol, the centre's report of 2024-05-17 says, and two of them, aged 14 and 16, were "
     "placed with a foster family in the Moscow region under the name Ivanov."),
    ("A headline only", "Too short to sign."),
]

EXPECTED = [  # (the first 16 hex digits of the blob's SHA-256, its bytes, the text's keyed facts)
    ("58f7b8e3c2e74950", 1384, 15),
    ("2dcead66d70d5d60", 1336, 13),
    ("0a22b9361a1db278", 1320, 11),
    ("7e0bb18192a32a9b", 1384, 16),
    ("e3b0c44298fc1c14", 0, 0),  # too short: no signature (exact copies only)
]


@pytest.mark.parametrize("k", range(len(TEXTS)))
def test_a_signature_is_computed_as_stored_ones_were(k):
    title, text = TEXTS[k]
    blob = item_signature(title, "", text)
    digest, size, contexts = EXPECTED[k]
    assert (hashlib.sha256(blob).hexdigest()[:16], len(blob), len(facts_in_context(text)[0])) == (digest, size, contexts)
