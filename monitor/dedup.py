"""One story, one entry: exact and near-duplicate copies of an article are grouped into a story.

Exact copies share the hash of their normalized text. Near copies (another byline, a trimmed or
added paragraph, other boilerplate, light edits) are found with MinHash-LSH over word 3-shingles:
the LSH bands answer "which recent articles look like this one" without scanning the history,
so checking an article costs the same with 1k or 100k stored. The index covers a sliding window
(7 days by default) and lives in SQLite beside the items: each grouped item's band keys are rows
of story_bands, written with the item, and every check queries the window's rows it needs, so
nothing is rebuilt at start and memory does not grow with what is stored (an in-memory index of
the same kind serves code without a store).

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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import filterfalse, groupby
from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: a poll that stores nothing new never loads it
    import numpy as np

NUM_PERM = 128
# The MinHash is datasketch 2's default ("affine32", seed 1), value for value: stored signatures
# were made by it, and tests/test_dedup_minhash.py holds the two equal. Computed here because
# datasketch loads scipy (~0.5 s and ~55 MB in every process that groups stories) for its LSH,
# which this module does not use.
SEED = 1
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
# MinHashes the story index over a store keeps in memory (1 KB each): a week of matched articles.
REMEMBERED_MINHASHES = 20_000

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


def signature(text: str, title: str = "") -> Signature | None:
    """The article's signature, or None when the text is too short to judge (exact copies only).
    The numbers and names of `title` are also facts of one context of their own, the headline:
    two headlines that share none of them, and do not name each other's places and people
    anywhere, report two events however alike their texts are."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    keyed, every = facts_in_context(text)
    if title:
        keyed |= {(TITLE_CONTEXT, fact) for fact in facts_in_context(title)[1] if fact not in _EVERY_STORY}
    return Signature(minhash(grams), _pack_facts(keyed, every))


# --- facts ----------------------------------------------------------------------------------------
# A fact is a run of numbers, or a run of capitalised words that do not start a sentence; it is
# keyed by the three tokens before it and, separately, the three after it. Names are cut to four
# letters so inflection and spelling variants agree (Херсонської/Херсонщина, Russia/Russian), and
# dates and times are dropped first: bylines and datelines differ between copies of one story.

_FACT_TOKEN = re.compile(r"\d+(?:[ ,.\u00a0\u202f]\d{3})+(?!\d)|\w++(?:['’\-]\w++)*+", re.UNICODE)
# (?=\s) first: the lookbehind is then tried only before a space, not at every character.
_SENTENCE = re.compile(r"(?=\s)(?:(?<=[.!?…»”\"])\s+|\n+)")
_MONTH = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|січ|лют|берез|квіт|трав|черв|лип|серп|верес"
          r"|жовт|листоп|груд|янв|фев|мар|апр|мая|май|июн|июл|авг|сен|окт|ноя|дек)\w*")
# Every form starts a word; a month name is tried only on a word followed by a number (the
# case-insensitive test of forty prefixes at each word was a third of the time facts took).
_DATE_OR_TIME = re.compile(
    r"\b(?:\d{1,2}:\d{2}(?::\d{2})?\b|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\d{4}-\d{2}-\d{2}\b"
    r"|\d{1,2}\s+" + _MONTH + r"|(?=\w+\s+\d)" + _MONTH + r"\s+\d{1,2}\b)", re.IGNORECASE)
# Weekdays say when an event happened; English capitalises them, Ukrainian and Russian do not.
_WEEKDAYS = frozenset("""
понеділок понеділка вівторок вівторка середа середу середи четвер четверга п'ятниця п'ятницю п'ятниці
субота суботу суботи неділя неділю неділі понедельник понедельника вторник вторника среда среду
четверг четверга пятница пятницу пятницы суббота субботу субботы воскресенье воскресенья
""".split())
# One country under its abbreviation and its name (Росія/Россия/Russia and РФ): not a different fact.
_ALIASES = {"рф": "рос", "росі": "рос", "росс": "рос", "russ": "рос"}
FACT_CONTEXT = 3
TITLE_CONTEXT = "T"  # the context of a headline's facts (signature's title)
# Names in nearly every headline of the topic: sharing them says nothing of being one story.
_EVERY_STORY = frozenset({"w:рос", "w:ukra", "w:укра"})
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
            if not any(kinds):
                continue  # no fact here: its words are no fact's context
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


_TITLE_HASH = _hash(TITLE_CONTEXT)


def _fact_hash(fact: str) -> int:
    value = _hash(fact) & ~_NUMBER_BIT
    return value | _NUMBER_BIT if fact.startswith("n:") else value


def _pack_facts(keyed: set[tuple[str, str]], every: set[str]) -> bytes:
    """uint64 count, then (context hash, fact hash) pairs, sorted (conflicts_with reads each
    context's facts together), then the hashes of every name."""
    import numpy as np

    pairs = sorted((_hash(context), _fact_hash(fact)) for context, fact in keyed)[:MAX_FACTS]
    names = sorted({_fact_hash(fact) for fact in every if fact.startswith("w:")})[:MAX_FACTS]
    if not pairs:
        return b""
    values = [len(pairs)] + [v for pair in pairs for v in pair] + names
    return np.array(values, dtype="<u8").tobytes()


Facts = tuple[dict[int, set[int]], set[int]]  # facts unpacked: {context hash: fact hashes}, name hashes


def _unpack_facts(blob: bytes) -> Facts:
    import numpy as np

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
    """True when the two texts report different facts in the same context: another number there
    (or, in the headline, other figures and none in common), or another name that the other text
    does not mention anywhere (a copy may say РФ for Росія
    once, or an editor may add a name; a different event names other people and places)."""
    if not a or not b:
        return False
    return conflicts_with(_unpack_facts(a), b)


def conflicts_with(mine: Facts, other: bytes) -> bool:
    """facts_conflict(a, other), given a's facts unpacked: StoryIndex.find unpacks a new report's
    facts once and holds them against every candidate's. Of the candidate's facts only those in
    a context the report has are read into sets (with many same-subject reports in the window a
    report meets dozens of candidates, and unpacking both sides each time was most of find's cost)."""
    import numpy as np

    keyed_a, names_a = mine
    if not keyed_a or not other:
        return False
    values = np.frombuffer(other, dtype="<u8")
    count = int(values[0])
    pairs = values[1:1 + 2 * count].tolist()
    names_b: set[int] | None = None  # the candidate's names, read when a context needs them
    # The pairs are sorted by context: each context's facts come together, and the first
    # conflict ends the reading (most candidates on a busy subject report another event).
    for context, group in groupby(zip(pairs[::2], pairs[1::2]), key=itemgetter(0)):
        facts_a = keyed_a.get(context)
        if facts_a is None:
            continue
        facts_b = {fact for _, fact in group}
        if context != _TITLE_HASH:
            if facts_a & facts_b:
                continue
            if all(fact & _NUMBER_BIT for fact in facts_a | facts_b):
                return True
        if names_b is None:
            names_b = set(values[1 + 2 * count:].tolist())
        if context == _TITLE_HASH:
            if _headlines_conflict(facts_a, facts_b, names_a, names_b):
                return True
        elif not (facts_a & names_b) and not (facts_b & names_a):
            return True
    return False


def _headlines_conflict(facts_a: set[int], facts_b: set[int], names_a: set[int], names_b: set[int]) -> bool:
    """Two headlines of other events: figures on both, none shared ("38 children back" is not "9
    deported"); or else nothing shared, names on both, and neither text naming the other's. One
    headline with a figure and the other with a name only says nothing."""
    figures_a = {f for f in facts_a if f & _NUMBER_BIT}
    figures_b = {f for f in facts_b if f & _NUMBER_BIT}
    if figures_a and figures_b and not figures_a & figures_b:
        return True
    if facts_a & facts_b:
        return False  # a figure or a name in common: one event, told two ways
    places_a, places_b = facts_a - figures_a, facts_b - figures_b
    return bool(places_a and places_b and not places_a & names_b and not places_b & names_a)


@functools.lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """NUM_PERM affine maps h → a·h + b (mod 2^32), a odd so each is a bijection: (a, b) as uint32,
    drawn from numpy's legacy generator seeded with SEED, as datasketch draws them."""
    import numpy as np

    draw = np.random.RandomState(SEED)
    a = draw.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = draw.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, a bijection that spreads the input hashes before the maps."""
    import numpy as np

    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash(grams: Iterable[bytes]) -> np.ndarray:
    """The MinHash of a set of shingles: for each map, the least image of their 32-bit hashes (the
    first four bytes of SHA-1, little-endian); uint32[NUM_PERM], all 2^32-1 for no shingles."""
    import numpy as np

    hashes = np.frombuffer(b"".join(hashlib.sha1(gram).digest()[:4] for gram in grams), dtype="<u4")
    if not len(hashes):
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)
    a, b = _permutations()
    with np.errstate(over="ignore"):  # the products wrap: that is the arithmetic mod 2^32
        images = _fmix32(hashes.astype(np.uint32)).reshape(-1, 1) * a + b
    return images.min(axis=0)


# --- LSH bands ------------------------------------------------------------------------------------
# A band is LSH_BANDS[1] consecutive MinHash values; two signatures are candidates when one of their
# bands is equal. Each band is one key: a 63-bit hash of (band number, its values), non-negative so
# SQLite keeps it as a plain INTEGER. The keys are stored (story_bands, migration v10): a change to
# this formula, NUM_PERM or LSH_BANDS needs a migration that rewrites them.

_MASK63 = (1 << 63) - 1
_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
_BAND_SEED = 0x9E3779B97F4A7C15
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, elementwise: a bijection of uint64 (array arithmetic wraps)."""
    import numpy as np

    x = (x ^ (x >> np.uint64(30))) * np.uint64(_MIX[0])
    x = (x ^ (x >> np.uint64(27))) * np.uint64(_MIX[1])
    return x ^ (x >> np.uint64(31))


def band_key_matrix(minhashes: np.ndarray) -> np.ndarray:
    """The band keys of n MinHashes (uint64[n, NUM_PERM]), as int64[n, bands]."""
    import numpy as np

    bands, rows = LSH_BANDS
    values = np.ascontiguousarray(minhashes, dtype=np.uint64)[:, :bands * rows].reshape(-1, bands, rows)
    keys = np.broadcast_to(_mix(np.arange(bands, dtype=np.uint64) + np.uint64(_BAND_SEED)), values.shape[:2])
    for column in range(rows):
        keys = _mix(keys ^ values[:, :, column])
    return (keys & np.uint64(_MASK63)).astype(np.int64)


def band_keys(minhash: np.ndarray) -> list[int]:
    """The band keys of one MinHash, band by band."""
    import numpy as np

    return list(_band_keys_of(np.ascontiguousarray(minhash, dtype="<u8").tobytes()))


@functools.lru_cache(maxsize=64)
def _band_keys_of(minhash: bytes) -> tuple[int, ...]:
    """Kept for the few MinHashes just seen: a poll looks a new article's bands up (StoryIndex.find)
    and then stores them (band_rows), and each costs ~50 us of array arithmetic."""
    import numpy as np

    return tuple(band_key_matrix(np.frombuffer(minhash, dtype="<u8").reshape(1, -1))[0].tolist())


def seen_second(moment: datetime) -> int:
    """A moment as story_bands keeps it: whole Unix seconds, like first_seen's text (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(seconds=1)


def band_rows(item_id: int, blob: bytes | None, seen: datetime) -> list[tuple[int, int, int]]:
    """story_bands rows (band key, seen second, item id) of an item stored with this signature blob;
    none without a MinHash (b"": a text too short for one, grouped with its exact copies only)."""
    if not blob or len(blob) < NUM_PERM * 8:
        return []
    second = seen_second(seen)
    return [(key, second, item_id) for key in _band_keys_of(bytes(blob[:NUM_PERM * 8]))]


# --- the index ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    item_id: int
    story_id: int
    seen: datetime


class StoryIndex:
    """Recent articles by text: finds the story a new article belongs to, if any.

    Kept in one of two places, judged one way (find). Over a store (load_index) the index is the
    database: an article's band keys are rows of story_bands, written by Store.add_items in the
    transaction that stores the item (right after story_for returns, before the next item is
    judged), and find() asks SQLite for the window's items sharing a band with the new article,
    its exact copy by content_hash and the members of a candidate's story. Nothing is held in
    memory or read at start, however much is stored, and a rolled-back poll leaves nothing behind.
    Without a store (tests, bench.dedup) the same is kept in memory, filled by add()."""

    def __init__(self, threshold: float = THRESHOLD, window: timedelta = DEFAULT_WINDOW, *,
                 store=None, now: datetime | None = None):
        """`store`: a Store to query (see load_index); `now`: the moment len() counts the window
        back from, until find() is given one."""
        self.threshold = threshold
        self.window = window
        self._items: _MemoryItems | _StoredItems = _StoredItems(store) if store is not None else _MemoryItems()
        self._now = now
        self._uncommitted: list[int] | None = None

    def __len__(self) -> int:
        """How many grouped items the window holds (in memory: those not expired yet)."""
        return self._items.count(None if self._now is None else self._now - self.window)

    def find(self, sig: Signature | None, content_hash: str, now: datetime) -> int | None:
        """The story id of an exact or near copy seen within the window, or None."""
        import numpy as np

        self._now = now
        cutoff = now - self.window
        self._items.expire(cutoff)
        exact = self._items.exact(content_hash, cutoff)
        if exact is not None:
            return exact
        if sig is None:
            return None
        stories, minhashes, own_facts = self._items.candidates(band_keys(sig.minhash), cutoff)
        if not stories:
            return None
        # Score every candidate at once (same-subject articles can be hundreds of candidates),
        # then take the most similar whose story the new article does not contradict (candidates
        # come oldest first: the oldest of equally similar ones wins).
        matches = np.count_nonzero(minhashes == sig.minhash, axis=1)
        mine = _unpack_facts(sig.facts)
        rejected: set[int] = set()
        for row in np.argsort(-matches, kind="stable"):
            if matches[row] < self.threshold * NUM_PERM:
                break
            story = stories[row]
            if story in rejected:
                continue
            # A copy agrees with every copy of its story on the facts; another event contradicts
            # at least one of them (a heavily edited copy alone may not show it). The candidate is
            # one of those copies: when its own facts conflict, the others need not be read.
            if conflicts_with(mine, own_facts[row]) or \
                    any(conflicts_with(mine, facts) for facts in self._items.story_facts(story, cutoff)):
                rejected.add(story)
                continue
            return story
        return None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Entries added inside the block are forgotten again if it fails: the index holds only
        what the database committed (a rolled-back poll's ids are handed out again). Over a store
        the rollback itself does it: the bands were rows of the same transaction."""
        self._uncommitted = []
        try:
            yield
        except BaseException:
            for item_id in reversed(self._uncommitted):
                self._items.forget(item_id)
            raise
        finally:
            self._uncommitted = None

    def add(self, item_id: int, story_id: int, sig: Signature | None, content_hash: str, seen: datetime) -> None:
        """Remember an item (story_assigner calls it for each item judged). Over a store there is
        nothing to remember: Store.add_items writes the item's row and bands."""
        self._items.add(item_id, story_id, sig, content_hash, seen)
        if self._uncommitted is not None:
            self._uncommitted.append(item_id)


class _MemoryItems:
    """The index in dicts: a band key's items, each item's entry, signature and facts, each story's
    members, the items of each text hash; expired oldest first."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        self.signatures: dict[int, np.ndarray] = {}
        self.facts: dict[int, bytes] = {}
        self.members: dict[int, list[int]] = {}   # story id → its items in the window
        self.by_hash: dict[str, deque[Entry]] = {}  # text hash → its items, oldest first
        self.bands: dict[int, set[int]] = {}      # band key → the items with that band
        self.order: deque[tuple[datetime, int, str]] = deque()

    def count(self, cutoff: datetime | None) -> int:
        return len(self.entries)

    def exact(self, content_hash: str, cutoff: datetime) -> int | None:
        holders = self.by_hash.get(content_hash)
        return holders[0].story_id if holders else None   # the oldest, as Store.grouped_copy

    def candidates(self, keys: list[int], cutoff: datetime) -> tuple[list[int], np.ndarray, list[bytes]]:
        """The stories, MinHashes and packed facts of the items sharing one of these band keys,
        oldest first."""
        import numpy as np

        found: set[int] = set()
        for key in keys:
            found.update(self.bands.get(key, ()))
        ids = sorted(found)
        if not ids:
            return [], np.empty((0, NUM_PERM), dtype=np.uint64), []
        return ([self.entries[i].story_id for i in ids], np.stack([self.signatures[i] for i in ids]),
                [self.facts.get(i, b"") for i in ids])

    def story_facts(self, story: int, cutoff: datetime) -> Iterator[bytes]:
        return (self.facts.get(member, b"") for member in self.members.get(story, ()))

    def add(self, item_id: int, story_id: int, sig: Signature | None, content_hash: str, seen: datetime) -> None:
        if item_id in self.entries:
            raise ValueError(f"item {item_id} is already in the story index")
        entry = Entry(item_id, story_id, seen)
        self.entries[item_id] = entry
        self.members.setdefault(story_id, []).append(item_id)
        self.by_hash.setdefault(content_hash, deque()).append(entry)
        if sig is not None:
            self.signatures[item_id] = sig.minhash
            if sig.facts:
                self.facts[item_id] = sig.facts
            for key in band_keys(sig.minhash):
                self.bands.setdefault(key, set()).add(item_id)
        self.order.append((seen, item_id, content_hash))

    def forget(self, item_id: int) -> None:
        """Undo add() of the last item added (transaction() calls it newest first)."""
        _, last_id, content_hash = self.order.pop()
        assert last_id == item_id, "forget() undoes the newest additions first"
        self._drop(item_id, content_hash)

    def expire(self, cutoff: datetime) -> None:
        while self.order and self.order[0][0] < cutoff:
            _, item_id, content_hash = self.order.popleft()
            self._drop(item_id, content_hash)

    def _drop(self, item_id: int, content_hash: str) -> None:
        entry = self.entries.pop(item_id, None)
        self.facts.pop(item_id, None)
        if entry is not None:
            members = self.members.get(entry.story_id, [])
            if item_id in members:
                members.remove(item_id)
            if not members:
                self.members.pop(entry.story_id, None)
        minhash = self.signatures.pop(item_id, None)
        if minhash is not None:
            for key in band_keys(minhash):
                holders = self.bands[key]
                holders.discard(item_id)
                if not holders:
                    del self.bands[key]
        holders = self.by_hash.get(content_hash)
        if holders:  # an expired item is the oldest of its hash, a forgotten one the newest
            if holders[0].item_id == item_id:
                holders.popleft()
            elif holders[-1].item_id == item_id:
                holders.pop()
            if not holders:
                del self.by_hash[content_hash]


class _Column(Sequence):
    """One column of the kept signatures (stories or facts) at some of its rows, read on demand."""

    def __init__(self, values: list, rows: list[int]) -> None:
        self.values, self.rows = values, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.values[self.rows[index]]


class _StoredItems:
    """The index as the store's queries (Store.grouped_copy, band_members, story_facts): each
    reads the window's rows it needs, by band key, text hash or story, never the whole window.

    The signatures of the candidates (MinHash and facts) are kept once read (or written by this
    process): articles on one subject share bands with hundreds of earlier ones, and reading all
    their signatures again for each new article was most of what storing a matched item cost. An
    item's story and signature do not change once stored; after any failed transaction of the
    store (its rows and ids may be gone) every signature is read again. A store without that
    count (PostgreSQL, whose other workers write too) is asked for the candidates' signatures
    each time."""

    def __init__(self, store) -> None:
        self.store = store
        self._failures = getattr(store, "failed_transactions", None)
        # The signatures kept, as columns: row of each item id, the MinHashes as one matrix (a
        # report's candidates are gathered from it in one copy), their stories and facts.
        self._row: dict[int, int] = {}
        self._matrix: np.ndarray | None = None  # made by _keep, and grown
        self._stories: list[int] = []
        self._facts: list[bytes] = []

    def count(self, cutoff: datetime | None) -> int:
        return self.store.grouped_count(cutoff)

    def exact(self, content_hash: str, cutoff: datetime) -> int | None:
        return self.store.grouped_copy(content_hash, cutoff)

    def candidates(self, keys: list[int], cutoff: datetime) -> tuple[Sequence[int], np.ndarray, Sequence[bytes]]:
        import numpy as np

        if self._failures is None:
            rows = self.store.band_candidates(keys, cutoff)
            if not rows:
                return [], np.empty((0, NUM_PERM), dtype=np.uint64), []
            stories, minhashes, facts = zip(*rows)
            return stories, np.frombuffer(b"".join(minhashes), dtype="<u8").reshape(-1, NUM_PERM), facts
        # A report on a busy subject has a thousand candidates and more: each is looked up once
        # (its row), its MinHash gathered with the others in one copy, and its story and facts
        # read only for the few that find() examines.
        rows = self._rows(self.store.band_members(keys, cutoff))
        if not rows:
            return [], np.empty((0, NUM_PERM), dtype=np.uint64), []
        return _Column(self._stories, rows), self._matrix[rows], _Column(self._facts, rows)

    def _rows(self, ids: list[int]) -> list[int]:
        """The rows of these items' signatures, those not kept yet read from the store first."""
        row = self._current()
        missing = list(filterfalse(row.__contains__, ids))
        if missing:
            if len(row) + len(missing) > REMEMBERED_MINHASHES:
                self._forget_all()
                missing = ids  # those kept until now are read again too: each is a candidate
            for item_id, story, minhash, facts in self.store.grouped_signatures(missing):
                self._keep(item_id, story, minhash, facts)
        try:
            return list(map(row.__getitem__, ids))
        except KeyError:  # an id with no signature (none is written with bands; kept safe)
            return [row[item_id] for item_id in ids if item_id in row]

    def _keep(self, item_id: int, story: int, minhash: bytes | np.ndarray, facts: bytes) -> None:
        import numpy as np

        at = len(self._stories)
        if self._matrix is None or at == len(self._matrix):  # room for twice as many
            grown = np.empty((max(1024, 2 * at), NUM_PERM), dtype=np.uint64)
            if self._matrix is not None:
                grown[:at] = self._matrix[:at]
            self._matrix = grown
        self._matrix[at] = np.frombuffer(minhash, dtype="<u8") if isinstance(minhash, bytes) else minhash
        self._stories.append(story)
        self._facts.append(facts)
        self._row[item_id] = at

    def _forget_all(self) -> None:
        self._row.clear()
        self._stories.clear()
        self._facts.clear()  # the matrix is kept: its rows are written over

    def _current(self) -> dict[int, int]:
        failures = self.store.failed_transactions
        if failures != self._failures:
            self._forget_all()
            self._failures = failures
        return self._row

    def story_facts(self, story: int, cutoff: datetime) -> Iterable[bytes]:
        return self.store.story_facts(story, cutoff)

    def add(self, item_id: int, story_id: int, sig: Signature | None, content_hash: str, seen: datetime) -> None:
        # Store.add_items writes the row and its bands
        if sig is not None and self._failures is not None and len(self._current()) < REMEMBERED_MINHASHES:
            self._keep(item_id, story_id, sig.minhash, sig.facts)

    def forget(self, item_id: int) -> None:
        self._row.pop(item_id, None)  # the transaction's rollback removed the row and its bands

    def expire(self, cutoff: datetime) -> None:
        pass  # every query reads the window only


def load_index(store, now: datetime, window: timedelta = DEFAULT_WINDOW) -> StoryIndex:
    """The story index over what `store` keeps (its items' signatures and story_bands): nothing is
    read here, and each find() reads only the rows it needs, so starting costs the same however
    much is stored. `now` is only what len() counts back from."""
    return StoryIndex(window=window, store=store, now=now)


def item_signature(title: str, summary: str, content: str) -> bytes:
    """An item's signature as stored (b"" for a text too short to have one). A poll computes it
    in its document workers, beside the topic match (monitor/pipeline.py)."""
    return signature_bytes(signature(dedup_text(title, summary, content), title)) or b""


def story_assigner(index: StoryIndex, now: datetime, signed: dict[tuple[str, str, str], bytes] | None = None):
    """The store's story_for callback: joins an earlier copy's story, and remembers the item.
    `signed`: item_signature() of items already signed, by (title, summary, content)."""
    def story_for(item, item_id: int) -> tuple[int | None, bytes | None]:
        blob = signed.get((item.title, item.summary, item.content)) if signed else None
        if blob is None:
            sig = signature(dedup_text(item.title, item.summary, item.content), item.title)
            blob = signature_bytes(sig) or b""  # b"": grouped, on its exact text alone
        else:
            sig = signature_from_bytes(blob)
        story = index.find(sig, item.content_hash, now)
        index.add(item_id, story or item_id, sig, item.content_hash, now)
        return story, blob
    return story_for


def signature_bytes(sig: Signature | None) -> bytes | None:
    """The MinHash values (NUM_PERM little-endian uint64), then the packed facts."""
    return None if sig is None else sig.minhash.astype("<u8").tobytes() + sig.facts


def signature_from_bytes(blob: bytes | None) -> Signature | None:
    """Reads signature_bytes' format; a blob of the MinHash alone (written before facts) has none."""
    import numpy as np

    if not blob:
        return None
    size = NUM_PERM * 8
    return Signature(np.frombuffer(blob[:size], dtype="<u8").astype(np.uint64), bytes(blob[size:]))


def dedup_text(title: str, summary: str, content: str) -> str:
    """What two copies are compared on: the title with the main text, else with the summary. The
    title's facts count: two reports written on one template ("Ukraine brings back 38 children
    from Mariupol", "... 9 children from Skadovsk") may share every sentence of their text."""
    return f"{title}\n{content or summary}"
