"""The story index's MinHash (monitor/dedup.py) is datasketch 2's default, value for value: every
signature stored so far was made by datasketch, and a copy must still find its story after the
switch. datasketch is a test dependency only, to hold the two equal."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from monitor.dedup import NUM_PERM, SEED, minhash, shingles

datasketch = pytest.importorskip("datasketch", reason="datasketch (a test dependency) holds our MinHash to its own")


def _theirs(grams: set[bytes]) -> np.ndarray:
    sketch = datasketch.MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32")
    sketch.update_batch(list(grams))
    return sketch.hashvalues


@pytest.mark.parametrize("size", [1, 2, 12, 300, 5000])
def test_the_minhash_of_random_shingles_is_datasketchs(size):
    draw = random.Random(size)
    grams = {bytes(draw.randrange(256) for _ in range(draw.randrange(1, 40))) for _ in range(size)}
    ours = minhash(grams)
    assert ours.dtype == np.uint32 and ours.shape == (NUM_PERM,)
    assert np.array_equal(ours, _theirs(grams))


def test_the_minhash_of_articles_in_three_scripts_is_datasketchs():
    texts = ["Russia deported 31 Ukrainian children from Kherson to camps in Crimea, officials said on Monday. " * 3,
             "Росія незаконно вивезла 31 дитину з Херсонщини до таборів у Криму, повідомили в понеділок. " * 3,
             "Россия вывезла 31 ребёнка из Херсонской области в лагеря в Крыму, сообщили в понедельник. " * 3]
    for text in texts:
        grams = shingles(text)
        assert np.array_equal(minhash(grams), _theirs(grams)), text[:20]


def test_no_shingles_leave_every_value_at_its_maximum():
    assert np.array_equal(minhash(set()), datasketch.MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32").hashvalues)


def test_grouping_stories_loads_neither_datasketch_nor_scipy():
    code = ("import sys\nfrom monitor.dedup import signature\n"
            "signature('Eleven children deported from Kherson were brought back home this week, ' * 4)\n"
            "print('loaded:', *[m for m in ('datasketch', 'scipy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "loaded:"
