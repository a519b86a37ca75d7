"""One story, one entry: exact and near-duplicate copies of an article are grouped into a story.

Exact copies share the hash of their normalized text. Near copies (another byline, a trimmed or
added paragraph, other boilerplate, light edits) are found with MinHash-LSH over word 3-shingles:
the LSH index answers "which recent articles look like this one" without scanning the history,
so checking an article costs the same with 1k or 100k stored. The index holds a sliding window
(7 days by default) and is rebuilt from the signatures kept in SQLite at start.

Shingles alone cannot tell a copy from a *different* report written on the same template: two
agency stories on two separate returns of children share the background paragraph, the
boilerplate and most sentences, and differ only in numbers, places and names. So a candidate is
also checked for facts: a number or a capitalised name that stands in the same three-word context
in both texts but differs ("returned [11] children from", "warrant for [Ivan Petrov] a") marks
different events, and the candidate is rejected. Bylines, datelines and footers rarely share such
a context, so copies with other boilerplate are not affected.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

NUM_PERM = 128
SCHEME = "affine32"  # datasketch 2's default, named so stored signatures stay comparable
SHINGLE = 3
# Estimated Jaccard above which two texts are one story (unless their facts conflict). Copies
# with a changed byline or other boilerplate score 0.65-0.95, a trimmed or added paragraph
# 0.45-0.8, a portal copy with all of those 0.3-0.6; separate reports written on one agency's
# template score up to 0.7 and are kept apart by the fact check, not by this threshold.
THRESHOLD = 0.4
# LSH banding: 42 bands of 3 rows (126 of the 128 values). A pair becomes a candidate with
# probability 1-(1-J^3)^42: 0.29 at J=0.2, 0.94 at J=0.4, 0.996 at J=0.5 (datasketch's choice
# for threshold 0.5, 25x5, gave 0.55 at J=0.5 and so missed half the copies near it).
LSH_BANDS = (42, 3)
# Below this many shingles a text is a headline with a sentence: only exact copies group.
MIN_SHINGLES = 12
DEFAULT_WINDOW = timedelta(days=7)

_WORD = re.compile(r"\w+", re.UNICODE)


def normalized_words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return _WORD.findall(text)


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    words = normalized_words(text)
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + size]).encode() for i in range(len(words) - size + 1)}


@dataclass(frozen=True, eq=False)
class Signature:
    """What an article is compared on: the MinHash of its shingles and its facts in context."""

    minhash: np.ndarray                      # uint64[NUM_PERM]
    facts: bytes = field(default=b"")        # packed by _pack_facts; b"" for none (or an old blob)


def signature(text: str) -> Signature | None:
    """The article's signature, or None when the text is too short to judge (exact copies only)."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    minhash = _new_minhash()
    minhash.update_batch(list(grams))
    return Signature(minhash.hashvalues.copy(), _pack_facts(*facts_in_context(text)))


# --- facts ----------------------------------------------------------------------------------------
# A fact is a run of numbers, or a run of capitalised words that do not start a sentence; it is
# keyed by the three tokens before it and, separately, the three after it. Names are cut to four
# letters so inflection and spelling variants agree (Херсонської/Херсонщина, Russia/Russian), and
# dates and times are dropped first: bylines and datelines differ between copies of one story.

_FACT_TOKEN = re.compile(r"\d+(?:[ ,.\u00a0\u202f]\d{3})+(?!\d)|\w+(?:['’\-]\w+)*", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?…»”\"])\s+|\n+")
_MONTH = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|січ|лют|берез|квіт|трав|черв|лип|серп|верес"
          r"|жовт|листоп|груд|янв|фев|мар|апр|мая|май|июн|июл|авг|сен|окт|ноя|дек)\w*")
_DATE_OR_TIME = re.compile(
    r"\b\d{1,2}:\d{2}(?::\d{2})?\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}\s+" + _MONTH + r"|\b" + _MONTH + r"\s+\d{1,2}\b", re.IGNORECASE)
# Weekdays say when an event happened; English capitalises them, Ukrainian and Russian do not.
_WEEKDAYS = frozenset("""
понеділок понеділка вівторок вівторка середа середу середи четвер четверга п'ятниця п'ятницю п'ятниці
субота суботу суботи неділя неділю неділі понедельник понедельника вторник вторника среда среду
четверг четверга пятница пятницу пятницы суббота субботу субботы воскресенье воскресенья
""".split())
# One country under its abbreviation and its name (Росія/Россия/Russia and РФ): not a different fact.
_ALIASES = {"рф": "рос", "росі": "рос", "росс": "рос", "russ": "рос"}
FACT_CONTEXT = 3
FACT_PREFIX = 4
MAX_FACTS = 512  # (context, fact) pairs kept, smallest hashes first (the same ones in every copy)
_NUMBER_BIT = 1 << 63


def _fact_kind(token: str, position: int) -> str | None:
    if token[0].isdigit():
        return "n"
    if position > 0 and token[0].isupper():
        return "w"
    if token.casefold().replace("’", "'").replace("ʼ", "'") in _WEEKDAYS:
        return "w"
    return None


def _fact_word(token: str, kind: str | None) -> str:
    if kind == "n":
        return re.sub(r"\D", "", token)
    word = token.casefold().replace("ё", "е").replace("’", "'").replace("ʼ", "'")
    if kind is None:
        return word
    return _ALIASES.get(word[:FACT_PREFIX], word[:FACT_PREFIX])


def facts_in_context(text: str) -> tuple[set[tuple[str, str]], set[str]]:
    """({(context, fact)}, {every fact}) of a text; a fact is "n:<digits>" or "w:<name prefixes>"."""
    keyed: set[tuple[str, str]] = set()
    every: set[str] = set()
    text = _DATE_OR_TIME.sub(" ; ", unicodedata.normalize("NFKC", text))
    for sentence in _SENTENCE.split(text):
        for part in sentence.split(";"):
            tokens = _FACT_TOKEN.findall(part)
            kinds = [_fact_kind(token, i) for i, token in enumerate(tokens)]
            words = [_fact_word(token, kind) for token, kind in zip(tokens, kinds)]
            i, n = 0, len(tokens)
            while i < n:
                kind = kinds[i]
                if kind is None:
                    i += 1
                    continue
                j = i
                while j < n and kinds[j] == kind:
                    j += 1
                fact = kind + ":" + " ".join(words[i:j])
                every.add(fact)
                if i >= FACT_CONTEXT:
                    keyed.add(("L " + " ".join(words[i - FACT_CONTEXT:i]), fact))
                if j + FACT_CONTEXT <= n:
                    keyed.add(("R " + " ".join(words[j:j + FACT_CONTEXT]), fact))
                i = j
    return keyed, every


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _fact_hash(fact: str) -> int:
    value = _hash(fact) & ~_NUMBER_BIT
    return value | _NUMBER_BIT if fact.startswith("n:") else value


def _pack_facts(keyed: set[tuple[str, str]], every: set[str]) -> bytes:
    """uint64 count, then (context hash, fact hash) pairs, then the hashes of every name."""
    pairs = sorted((_hash(context), _fact_hash(fact)) for context, fact in keyed)[:MAX_FACTS]
    names = sorted({_fact_hash(fact) for fact in every if fact.startswith("w:")})[:MAX_FACTS]
    if not pairs:
        return b""
    values = [len(pairs)] + [v for pair in pairs for v in pair] + names
    return np.array(values, dtype="<u8").tobytes()


def _unpack_facts(blob: bytes) -> tuple[dict[int, set[int]], set[int]]:
    if not blob:
        return {}, set()
    values = np.frombuffer(blob, dtype="<u8")
    count = int(values[0])
    keyed: dict[int, set[int]] = {}
    pairs = values[1:1 + 2 * count].tolist()
    for context, fact in zip(pairs[::2], pairs[1::2]):
        keyed.setdefault(context, set()).add(fact)
    return keyed, set(values[1 + 2 * count:].tolist())


def facts_conflict(a: bytes, b: bytes) -> bool:
    """True when the two texts report different facts in the same context: another number there,
    or another name that the other text does not mention anywhere (a copy may say РФ for Росія
    once, or an editor may add a name; a different event names other people and places)."""
    if not a or not b:
        return False
    keyed_a, names_a = _unpack_facts(a)
    keyed_b, names_b = _unpack_facts(b)
    for context in keyed_a.keys() & keyed_b.keys():
        facts_a, facts_b = keyed_a[context], keyed_b[context]
        if facts_a & facts_b:
            continue
        if all(fact & _NUMBER_BIT for fact in facts_a | facts_b):
            return True
        if not (facts_a & names_b) and not (facts_b & names_a):
            return True
    return False


@functools.lru_cache(maxsize=1)
def _permutations():
    from datasketch import MinHash  # on first use: it loads scipy (~1 s), which a poll of known items never needs

    return MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME).permutations


def _new_minhash():
    """An empty MinHash with the permutations made once (making them costs 2 ms an article)."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME, permutations=_permutations())


def _minhash(values: np.ndarray):
    from datasketch import LeanMinHash

    # Lean: no permutation tables, just the values the LSH index needs.
    return LeanMinHash(seed=1, hashvalues=values, scheme=SCHEME)


@dataclass(frozen=True)
class Entry:
    item_id: int
    story_id: int
    seen: datetime


class StoryIndex:
    """Recent articles by text: finds the story a new article belongs to, if any."""

    def __init__(self, threshold: float = THRESHOLD, window: timedelta = DEFAULT_WINDOW,
                 history: Callable[[], Iterable[dict]] | None = None):
        """`history` gives the stored rows to start from (load_index); read on first use only, so
        a poll that stores nothing new never reads them."""
        self.threshold = threshold
        self.window = window
        self._history = history
        self._lsh_index = None
        self._signatures: dict[int, np.ndarray] = {}
        self._facts: dict[int, bytes] = {}
        self._members: dict[int, list[int]] = {}   # story id → its items in the window
        self._entries: dict[int, Entry] = {}
        self._by_hash: dict[str, Entry] = {}
        self._order: deque[tuple[datetime, int, str]] = deque()
        self._uncommitted: list[int] | None = None

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    @property
    def _lsh(self):
        if self._lsh_index is None:
            from datasketch import MinHashLSH

            self._lsh_index = MinHashLSH(num_perm=NUM_PERM, params=LSH_BANDS)
        return self._lsh_index

    def _load(self) -> None:
        history, self._history = self._history, None
        for row in history() if history is not None else ():
            self.add(row["id"], row["story_id"] or row["id"], signature_from_bytes(row["signature"]),
                     row["content_hash"], datetime.fromisoformat(row["first_seen"]))

    def find(self, sig: Signature | None, content_hash: str, now: datetime) -> int | None:
        """The story id of an exact or near copy seen within the window, or None."""
        self._load()
        self._expire(now)
        exact = self._by_hash.get(content_hash)
        if exact is not None:
            return exact.story_id
        if sig is None:
            return None
        candidates = list(self._lsh.query(_minhash(sig.minhash)))
        if not candidates:
            return None
        # Score every candidate at once (same-subject articles can be hundreds of candidates),
        # then take the most similar whose story the new article does not contradict.
        matches = np.count_nonzero(np.stack([self._signatures[c] for c in candidates]) == sig.minhash, axis=1)
        rejected: set[int] = set()
        for row in np.argsort(-matches, kind="stable"):
            if matches[row] < self.threshold * NUM_PERM:
                break
            story = self._entries[candidates[row]].story_id
            if story in rejected:
                continue
            # A copy agrees with every copy of its story on the facts; another event contradicts
            # at least one of them (a heavily edited copy alone may not show it).
            if any(facts_conflict(sig.facts, self._facts.get(member, b"")) for member in self._members.get(story, ())):
                rejected.add(story)
                continue
            return story
        return None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Entries added inside the block are forgotten again if it fails: the index holds only
        what the database committed (a rolled-back poll's ids are handed out again)."""
        self._uncommitted = []
        try:
            yield
        except BaseException:
            for item_id in reversed(self._uncommitted):
                self._forget(item_id)
            raise
        finally:
            self._uncommitted = None

    def add(self, item_id: int, story_id: int, sig: Signature | None, content_hash: str, seen: datetime) -> None:
        self._load()
        if item_id in self._entries:
            raise ValueError(f"item {item_id} is already in the story index")
        if self._uncommitted is not None:
            self._uncommitted.append(item_id)
        entry = Entry(item_id, story_id, seen)
        self._entries[item_id] = entry
        self._members.setdefault(story_id, []).append(item_id)
        self._by_hash.setdefault(content_hash, entry)
        if sig is not None:
            self._signatures[item_id] = sig.minhash
            if sig.facts:
                self._facts[item_id] = sig.facts
            self._lsh.insert(item_id, _minhash(sig.minhash))
        self._order.append((seen, item_id, content_hash))

    def _forget(self, item_id: int) -> None:
        """Undo add() of the last item added (transaction() calls it newest first)."""
        entry = self._entries.pop(item_id)
        self._facts.pop(item_id, None)
        members = self._members.get(entry.story_id, [])
        if item_id in members:
            members.remove(item_id)
        if not members:
            self._members.pop(entry.story_id, None)
        if self._signatures.pop(item_id, None) is not None:
            self._lsh.remove(item_id)
        _, last_id, content_hash = self._order.pop()
        assert last_id == item_id, "forget() undoes the newest additions first"
        if self._by_hash.get(content_hash) is entry:
            del self._by_hash[content_hash]

    def _expire(self, now: datetime) -> None:
        cutoff = now - self.window
        while self._order and self._order[0][0] < cutoff:
            _, item_id, content_hash = self._order.popleft()
            expired = self._entries.pop(item_id, None)
            self._facts.pop(item_id, None)
            if expired is not None:
                members = self._members.get(expired.story_id, [])
                if item_id in members:
                    members.remove(item_id)
                if not members:
                    self._members.pop(expired.story_id, None)
            if self._signatures.pop(item_id, None) is not None:
                self._lsh.remove(item_id)
            entry = self._by_hash.get(content_hash)
            if entry is not None and entry.item_id == item_id:
                del self._by_hash[content_hash]


def load_index(store, now: datetime, window: timedelta = DEFAULT_WINDOW) -> StoryIndex:
    """The index of the window's grouped items, from the signatures SQLite keeps (read on first use)."""
    return StoryIndex(window=window, history=lambda: store.recent_signatures(now - window))


def story_assigner(index: StoryIndex, now: datetime):
    """The store's story_for callback: joins an earlier copy's story, and remembers the item."""
    def story_for(item, item_id: int) -> tuple[int | None, bytes | None]:
        sig = signature(dedup_text(item.title, item.summary, item.content))
        story = index.find(sig, item.content_hash, now)
        index.add(item_id, story or item_id, sig, item.content_hash, now)
        return story, signature_bytes(sig) or b""  # b"": grouped, on its exact text alone
    return story_for


def signature_bytes(sig: Signature | None) -> bytes | None:
    """The MinHash values (NUM_PERM little-endian uint64), then the packed facts."""
    return None if sig is None else sig.minhash.astype("<u8").tobytes() + sig.facts


def signature_from_bytes(blob: bytes | None) -> Signature | None:
    """Reads signature_bytes' format; a blob of the MinHash alone (written before facts) has none."""
    if not blob:
        return None
    size = NUM_PERM * 8
    return Signature(np.frombuffer(blob[:size], dtype="<u8").astype(np.uint64), bytes(blob[size:]))


def dedup_text(title: str, summary: str, content: str) -> str:
    """What two copies are compared on: the main text, else title and summary."""
    return content if content else f"{title}\n{summary}"
