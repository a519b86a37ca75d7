"""`monitor classify --explain` and `monitor classify --eval`, through the real CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from monitor.cli import cli

LINES = [
    {"id": "uk", "title": "Діти", "text": "Окупанти депортували дітей з Херсона до Криму."},
    {"id": "shelling", "title": "Strike on Odesa",
     "text": "Two children were injured in a Russian missile strike on Odesa, officials said."},
    {"id": "ice", "title": "Ukrainian family faces deportation",
     "text": "Immigration officers detained a Ukrainian mother, and her children may be deported from the US."},
    {"id": "return", "title": "Reunited", "text": "Eleven children came home from Russia after mediation by Qatar."},
]


def run(tmp_path, *args: str, stdin: str | None = None, config: str | None = None):
    path = config or str(tmp_path / "absent.yaml")  # no sources.yaml: the shipped topics
    return CliRunner().invoke(cli, ["--config", path, "classify", *args], input=stdin, catch_exceptions=False)


def jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def test_explain_names_the_clause_that_matched_and_its_terms(tmp_path):
    result = run(tmp_path, "--explain", "-", stdin=jsonl(LINES))
    assert result.exit_code == 0, result.output
    out = {o["id"]: o for o in map(json.loads, result.stdout.splitlines())}
    (uk,) = out["uk"]["explain"]
    assert uk["topic"] == "deported-children" and uk["match"] is True
    clauses = {c["clause"].split(".")[0]: c for c in uk["clauses"]}
    assert "1" in clauses and clauses["1"]["clause"].startswith("1. Unambiguous words for the crime")
    assert {"депорт*", "діт*"} <= set(clauses["1"]["terms"])
    # the classify fields are all still there
    assert {"id", "match", "topics", "lang", "terms", "snippet", "explain"} == set(out["uk"])
    (ret,) = out["return"]["explain"]
    assert any(c["clause"].startswith("3. Children returned") for c in ret["clauses"])


def test_explain_a_non_match_gives_the_nearest_clause_and_what_it_lacked(tmp_path):
    result = run(tmp_path, "--explain", "-", stdin=jsonl(LINES))
    out = {o["id"]: o for o in map(json.loads, result.stdout.splitlines())}
    (shelling,) = out["shelling"]["explain"]
    assert shelling["match"] is False and out["shelling"]["match"] is False
    nearest = shelling["nearest"]
    assert nearest["clause"] and nearest["lacked"]
    assert "children" not in json.dumps(nearest["lacked"])  # it had the child word; it lacked the rest
    assert any(t.startswith("child") for t in nearest["terms"])
    (ice,) = out["ice"]["explain"]
    assert ice["match"] is False and "immigra*" in ice["excluded_by"]


def test_explain_keeps_lines_aligned_and_reports_bad_lines(tmp_path):
    result = run(tmp_path, "--explain", "-", stdin=jsonl(LINES[:1]) + "not json\n\n" + jsonl(LINES[1:2]))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["uk", None, "shelling"]
    assert "error" in lines[1] and "explain" not in lines[1]


def test_explain_names_clauses_of_a_configured_topic_by_number(tmp_path):
    config = tmp_path / "sources.yaml"
    config.write_text("""
settings: {database: data/t.db}
sources:
  - {name: Ledger, type: rss, url: "http://127.0.0.1:9/feed"}
topics:
  bridges:
    query: '(bridge AND closed) OR (ferry AND cancelled)'
""", encoding="utf-8")
    result = run(tmp_path, "--explain", "--topic", "bridges", "-", config=str(config),
                 stdin=jsonl([{"id": 1, "title": "", "text": "The ferry was cancelled."},
                              {"id": 2, "title": "", "text": "The bridge is open."}]))
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line)["explain"][0] for line in result.stdout.splitlines())
    assert first["match"] and first["clauses"][0]["clause"] == "clause 2"
    assert sorted(first["clauses"][0]["terms"]) == ["cancelled", "ferry"]
    assert not second["match"] and second["nearest"]["clause"] == "clause 1"
    assert second["nearest"]["lacked"] == ["closed"]


EVAL = [
    {"id": "a", "lang": "uk", "label": 1, "title": "Діти", "text": "Окупанти депортували дітей з Херсона до Криму."},
    {"id": "b", "lang": "en", "label": "relevant", "title": "Back home",
     "text": "Eleven children came home from Russia after mediation by Qatar."},
    {"id": "c", "lang": "en", "label": "not_relevant", "title": "Strike",
     "text": "Two children were injured in a Russian missile strike on Odesa."},
    {"id": "d", "lang": "en", "label": 1, "title": "Quiet day", "text": "Nothing happened in the city council."},
    {"id": "e", "lang": "de", "label": 0, "title": "Abschiebung",
     "text": "Die Ausländerbehörde hat eine Familie mit drei Kindern nach Serbien abgeschoben."},
    {"id": "f", "title": "no label here", "text": "Children deported from occupied Kherson to Russia."},
]


def test_eval_prints_precision_recall_f1_per_language_and_the_errors(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text(jsonl(EVAL) + "{broken\n", encoding="utf-8")
    result = run(tmp_path, "--eval", str(path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["language", "n", "tp", "fp", "fn", "precision", "recall", "F1"]
    rows = {line.split()[0]: line.split() for line in lines[1:6]}
    assert rows["en"][1:] == ["3", "1", "0", "1", "1.000", "0.500", "0.667"]
    assert rows["uk"][1:5] == ["1", "1", "0", "0"]
    assert rows["de"][1:5] == ["1", "0", "0", "0"] and rows["de"][5] == "—"
    assert rows["all"][1:] == ["5", "2", "0", "1", "1.000", "0.667", "0.800"]
    assert "1 line(s) without a label were left out" in result.stdout
    assert "skipped line 7:" in result.stdout
    assert "errors: 1" in result.stdout
    error = result.stdout.split("errors: 1", 1)[1]
    assert "d  [en]  missed (labelled relevant): Quiet day" in error
    assert "nearest deported-children /" in error and "lacked" in error


@pytest.mark.parametrize("label", ["maybe", 2])
def test_eval_reports_unknown_labels(tmp_path, label):
    result = run(tmp_path, "--eval", "-", stdin=jsonl([{"id": 1, "label": label, "title": "", "text": "x"}]))
    assert result.exit_code == 0 and "unknown label" in result.stdout
