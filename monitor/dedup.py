"""One story, one entry: exact and near-duplicate copies of an article are grouped into a story.

Exact copies share the hash of their normalized text. Near copies (another byline, a trimmed or
added paragraph, other boilerplate, light edits) are found with MinHash-LSH over word 3-shingles:
the LSH index answers "which recent articles look like this one" without scanning the history,
so checking an article costs the same with 1k or 100k stored. The index holds a sliding window
(7 days by default) and is rebuilt from the signatures kept in SQLite at start.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

NUM_PERM = 128
SCHEME = "affine32"  # datasketch 2's default, named so stored signatures stay comparable
SHINGLE = 3
# Estimated Jaccard above which two texts are one story. Copies with a changed byline or a
# trimmed paragraph score 0.6–0.95; separate reports of one subject rarely pass 0.2.
THRESHOLD = 0.5
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


def signature(text: str) -> np.ndarray | None:
    """MinHash signature (uint64 array), or None when the text is too short to judge."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    minhash = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME)
    minhash.update_batch(list(grams))
    return minhash.hashvalues.copy()


def _minhash(values: np.ndarray) -> LeanMinHash:
    # Lean: no permutation tables, just the values the LSH index needs.
    return LeanMinHash(seed=1, hashvalues=values, scheme=SCHEME)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


@dataclass(frozen=True)
class Entry:
    item_id: int
    story_id: int
    seen: datetime


class StoryIndex:
    """Recent articles by text: finds the story a new article belongs to, if any."""

    def __init__(self, threshold: float = THRESHOLD, window: timedelta = DEFAULT_WINDOW):
        self.threshold = threshold
        self.window = window
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._signatures: dict[int, np.ndarray] = {}
        self._entries: dict[int, Entry] = {}
        self._by_hash: dict[str, Entry] = {}
        self._order: deque[tuple[datetime, int, str]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, sig: np.ndarray | None, content_hash: str, now: datetime) -> int | None:
        """The story id of an exact or near copy seen within the window, or None."""
        self._expire(now)
        exact = self._by_hash.get(content_hash)
        if exact is not None:
            return exact.story_id
        if sig is None:
            return None
        best, best_score = None, self.threshold
        for item_id in self._lsh.query(_minhash(sig)):
            score = _jaccard(sig, self._signatures[item_id])
            if score >= best_score:
                best, best_score = self._entries[item_id].story_id, score
        return best

    def add(self, item_id: int, story_id: int, sig: np.ndarray | None, content_hash: str, seen: datetime) -> None:
        entry = Entry(item_id, story_id, seen)
        self._entries[item_id] = entry
        self._by_hash.setdefault(content_hash, entry)
        if sig is not None:
            self._signatures[item_id] = sig
            self._lsh.insert(item_id, _minhash(sig))
        self._order.append((seen, item_id, content_hash))

    def _expire(self, now: datetime) -> None:
        cutoff = now - self.window
        while self._order and self._order[0][0] < cutoff:
            _, item_id, content_hash = self._order.popleft()
            self._entries.pop(item_id, None)
            if self._signatures.pop(item_id, None) is not None:
                self._lsh.remove(item_id)
            entry = self._by_hash.get(content_hash)
            if entry is not None and entry.item_id == item_id:
                del self._by_hash[content_hash]


def load_index(store, now: datetime, window: timedelta = DEFAULT_WINDOW) -> StoryIndex:
    """Rebuild the index from the signatures SQLite keeps for the window's items."""
    index = StoryIndex(window=window)
    for row in store.recent_signatures(now - window):
        index.add(row["id"], row["story_id"] or row["id"], signature_from_bytes(row["signature"]),
                  row["content_hash"], datetime.fromisoformat(row["first_seen"]))
    return index


def story_assigner(index: StoryIndex, now: datetime):
    """The store's story_for callback: joins an earlier copy's story, and remembers the item."""
    def story_for(item, item_id: int) -> tuple[int | None, bytes | None]:
        sig = signature(dedup_text(item.title, item.summary, item.content))
        story = index.find(sig, item.content_hash, now)
        index.add(item_id, story or item_id, sig, item.content_hash, now)
        return story, signature_bytes(sig)
    return story_for


def signature_bytes(sig: np.ndarray | None) -> bytes | None:
    return None if sig is None else sig.astype("<u8").tobytes()


def signature_from_bytes(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype="<u8").astype(np.uint64)


def dedup_text(title: str, summary: str, content: str) -> str:
    """What two copies are compared on: the main text, else title and summary."""
    return content if content else f"{title}\n{summary}"
