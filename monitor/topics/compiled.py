"""The matcher's evaluator: a query tree turned once into nested closures over sets.

`query.evaluate` walks every node of a topic for every text, and an OR of a long word list asks
the memo for each word. A text holds a few dozen of a topic's thousands of words, so here each OR
intersects its words with the set of words the text has (one C-level operation), a subtree none
of whose words the text holds is skipped whole, and a group (@NAME, one node used in many places)
is evaluated once per text. The answers are `query.evaluate`'s, position for position
(tests/test_topics_compiled.py compares the two on every labelled set).

The query's LeafIndex fills the memo first (its `prefill`): every word and phrase of the query
the text holds is then in it, with its positions, and nothing else can match.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from .query import And, Doc, LeafIndex, Memo, Near, Node, Not, Or, Phrase, Term, evaluate, near_positions

# A node's hits, unsorted (a set or a leaf's list); an empty collection still matches (a NOT);
# None: no match.
Hits = Collection[int] | None
Found = set  # the leaves with positions in this text
Run = Callable[[Memo, Found, dict], Hits]  # (memo, found, per-text cache of shared nodes)

_EMPTY: tuple[int, ...] = ()
_PRUNE_FROM = 8  # leaves under a node before "none of them here" is worth checking first


class Evaluator:
    """`evaluator(doc, memo)`, with a fresh memo, gives what `query.evaluate(root, doc, memo)`
    gives, and fills the memo the same way (the matcher reads its words' positions from it)."""

    def __init__(self, root: Node, index: LeafIndex | None = None):
        """`index`: a LeafIndex over the root's words and others (their positions are then in the
        memo too, read in the same pass); by default the root's own (parse_query gives every
        AND/OR root one)."""
        self.root = root
        self.index = index or getattr(root, "index", None)
        self._run = _Compiler(root).compile(root) if self.index is not None else None

    def __call__(self, doc: Doc, memo: Memo) -> list[int] | None:
        if self._run is None:
            return evaluate(self.root, doc, memo)
        got = self._run(memo, self.index.prefill(doc, memo), {})
        if got is None:
            return None
        return sorted(got) if isinstance(got, set) else list(got)  # a leaf's list is sorted already


class _Compiler:
    def __init__(self, root: Node):
        self.uses: dict[int, int] = {}  # node id → how many parents refer to it
        self._count(root)
        self.made: dict[int, Run] = {}
        self.reach: dict[int, frozenset] = {}

    def _count(self, node: Node) -> None:
        key = id(node)
        self.uses[key] = self.uses.get(key, 0) + 1
        if self.uses[key] > 1 or isinstance(node, (Term, Phrase)):
            return
        for child in _children(node):
            self._count(child)

    def leaves_under(self, node: Node) -> frozenset:
        key = id(node)
        got = self.reach.get(key)
        if got is None:
            if isinstance(node, (Term, Phrase)):
                got = frozenset((node,))
            else:
                got = frozenset().union(*(self.leaves_under(c) for c in _children(node)))
            self.reach[key] = got
        return got

    def compile(self, node: Node) -> Run:
        key = id(node)
        run = self.made.get(key)
        if run is not None:
            return run
        run = self._compile(node)
        under = self.leaves_under(node)
        if not isinstance(node, (Term, Phrase)) and len(under) >= _PRUNE_FROM and _needs_a_word(node):
            run = _pruned(run, under)
        if self.uses.get(key, 0) > 1 and not isinstance(node, (Term, Phrase)):
            run = _cached(run, key)
        self.made[key] = run
        return run

    def _compile(self, node: Node) -> Run:
        if isinstance(node, (Term, Phrase)):
            leaf = node
            return lambda memo, found, cache: memo[leaf] if leaf in found else None
        if isinstance(node, Not):
            child = self.compile(node.child)
            return lambda memo, found, cache: None if child(memo, found, cache) is not None else _EMPTY
        if isinstance(node, Near):
            return _near(self.compile(node.left), self.compile(node.right), node.distance)
        words = frozenset(c for c in node.children if isinstance(c, (Term, Phrase)))
        others = tuple(self.compile(c) for c in node.children if not isinstance(c, (Term, Phrase)))
        return _and(words, others) if isinstance(node, And) else _or(words, others)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Not):
        return (node.child,)
    if isinstance(node, Near):
        return (node.left, node.right)
    if isinstance(node, (And, Or)):
        return node.children
    return ()


def _needs_a_word(node: Node) -> bool:
    """Whether the node can only match a text holding one of its words (a NOT matches without)."""
    if isinstance(node, (Term, Phrase, Near)):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_needs_a_word(c) for c in node.children)
    return all(_needs_a_word(c) for c in node.children)


def _pruned(run: Run, under: frozenset) -> Run:
    def pruned(memo: Memo, found: Found, cache: dict) -> Hits:
        return None if under.isdisjoint(found) else run(memo, found, cache)
    return pruned


def _cached(run: Run, key: int) -> Run:
    def cached(memo: Memo, found: Found, cache: dict) -> Hits:
        got = cache.get(key, cache)  # the dict itself: "not yet evaluated"
        if got is cache:
            got = cache[key] = run(memo, found, cache)
        return got
    return cached


def _and(words: frozenset, others: tuple[Run, ...]) -> Run:
    def both(memo: Memo, found: Found, cache: dict) -> Hits:
        if not words <= found:
            return None
        hits: set[int] = set()
        for word in words:
            hits.update(memo[word])
        for child in others:
            got = child(memo, found, cache)
            if got is None:
                return None
            hits.update(got)
        return hits
    return both


def _or(words: frozenset, others: tuple[Run, ...]) -> Run:
    def either(memo: Memo, found: Found, cache: dict) -> Hits:
        hits: set[int] | None = None
        present = words.intersection(found) if words else ()
        if present:
            hits = set()
            for word in present:
                hits.update(memo[word])
        for child in others:
            got = child(memo, found, cache)
            if got is not None:
                if hits is None:
                    hits = set()
                hits.update(got)
        return hits
    return either


def _near(left: Run, right: Run, distance: int) -> Run:
    def near(memo: Memo, found: Found, cache: dict) -> Hits:
        a = left(memo, found, cache)
        if not a:
            return None
        b = right(memo, found, cache)
        if not b:
            return None
        return near_positions(a if isinstance(a, list) else sorted(a),  # a word's list is sorted
                              b if isinstance(b, list) else sorted(b), distance) or None
    return near
