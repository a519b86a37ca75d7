"""Compiled topics cached on disk (monitor/topics/cache.py): a second process reads the shipped
topic back instead of compiling it, decides every labelled case the same, and any cache it
cannot trust or use is a miss, never an error or a stale topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.topics import TopicSyntaxError, compile_topic
from monitor.topics import cache as topics_cache
from monitor.topics.cache import CACHE_ENV

ROOT = Path(__file__).resolve().parent.parent
CASES = [json.loads(line) for name in ("cases.jsonl", "holdout.jsonl")
         for line in (ROOT / "fixtures" / "topics" / name).read_text(encoding="utf-8").splitlines() if line.strip()]

# A fresh process: compiles (or reads) the shipped topics, classifies every labelled case, and
# says whether it had to load pymorphy3 (only compiling a Cyrillic query word needs it).
_CLASSIFY = """
import json, sys
from monitor.topics import build_matcher
cases = json.load(sys.stdin)
matcher = build_matcher()
out = [[c.match, c.topics, c.terms, c.snippet] for c in (matcher.classify(t["title"], t["text"]) for t in cases)]
print(json.dumps({"pymorphy3": "pymorphy3" in sys.modules, "decisions": out}))
"""


def _run(cache: str) -> dict:
    env = {**os.environ, CACHE_ENV: cache}
    done = subprocess.run([sys.executable, "-c", _CLASSIFY], input=json.dumps(CASES), capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300, check=True)
    return json.loads(done.stdout)


def _entries(folder: Path) -> list[Path]:
    return sorted((folder / "topics").glob("*.pickle"))


@pytest.fixture(scope="module")
def compiled():
    """Every labelled case decided by topics compiled from their files (the cache off)."""
    return _run("off")


def test_a_second_process_reads_the_topics_back_and_decides_every_case_the_same(tmp_path, compiled):
    assert len(CASES) > 100 and compiled["pymorphy3"]
    first = _run(str(tmp_path))
    assert first["pymorphy3"] and _entries(tmp_path)
    second = _run(str(tmp_path))
    assert not second["pymorphy3"]  # read back: nothing compiled
    assert second["decisions"] == first["decisions"] == compiled["decisions"]


def test_a_damaged_entry_is_compiled_again_and_rewritten(tmp_path, compiled):
    _run(str(tmp_path))
    for entry in _entries(tmp_path):
        entry.write_bytes(b"not a pickle")
    again = _run(str(tmp_path))
    assert again["pymorphy3"] and again["decisions"] == compiled["decisions"]
    assert all(entry.read_bytes() != b"not a pickle" for entry in _entries(tmp_path))


def test_a_folder_others_may_write_to_is_not_read(tmp_path, compiled):
    _run(str(tmp_path))
    (tmp_path / "topics").chmod(0o777)  # anyone could have put an entry there: unpickling it would run it
    shared = _run(str(tmp_path))
    assert shared["pymorphy3"] and shared["decisions"] == compiled["decisions"]


def test_a_cache_that_cannot_be_written_changes_nothing(tmp_path, compiled):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder would have to be inside this file")
    assert _run(str(blocker))["decisions"] == compiled["decisions"]


def test_off_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    compile_topic("t", "children AND deported")
    assert not list(tmp_path.rglob("*.pickle"))


def test_another_query_or_option_is_another_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    plain = compile_topic("t", "children AND deported")
    assert repr(compile_topic("t", "children AND deported").terms) == repr(plain.terms)  # read back
    other = compile_topic("t", "children AND abducted")
    excluded = compile_topic("t", "children AND deported", exclude="immigration")
    languages = compile_topic("t", "children AND deported", languages=["en"])
    assert other.query == "children AND abducted" and "abducted" in repr(other.terms)
    assert excluded.exclude is not None and plain.exclude is None
    assert languages.languages == ("en",) and plain.languages is None
    assert len(_entries(tmp_path)) == 4


def test_a_syntax_error_is_raised_every_time_and_kept_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    for _ in range(2):
        with pytest.raises(TopicSyntaxError):
            compile_topic("broken", "children AND (deported")
    assert not _entries(tmp_path)


def test_the_oldest_entries_go_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(topics_cache, "KEEP", 3)
    for n in range(5):
        compile_topic("t", f"children AND deported{n}")
        newest = max(_entries(tmp_path), key=lambda entry: entry.stat().st_mtime_ns)
    assert len(_entries(tmp_path)) == 3 and newest in _entries(tmp_path)


def test_two_processes_filling_one_cache_at_once_both_decide_the_same(tmp_path, compiled):
    env = {**os.environ, CACHE_ENV: str(tmp_path)}
    runs = [subprocess.Popen([sys.executable, "-c", _CLASSIFY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env, cwd=ROOT) for _ in range(2)]
    outputs = [run.communicate(json.dumps(CASES), timeout=300)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert [json.loads(out)["decisions"] for out in outputs] == [compiled["decisions"]] * 2
    assert not _run(str(tmp_path))["pymorphy3"]  # what they left is whole and read back
    assert not list((tmp_path / "topics").glob(".*.tmp"))
