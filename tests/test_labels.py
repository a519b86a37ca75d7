"""The user's labels through the real CLI (click's runner on monitor.cli.cli) and a real SQLite
file: `monitor label`, `monitor labels list|export`, a story labelled not relevant left out of
digests, and the export read back by `monitor classify --eval`."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.migrations import MIGRATIONS
from monitor.store import Store
from tests.support.digests import add_story, make_config

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


@pytest.fixture
def setup(tmp_path):
    """A configuration with a file digest, and a database holding three matched stories."""
    config = make_config(tmp_path, f"""
        channels:
          files: {{type: file, path: {tmp_path / 'out'}}}
        digests:
          - {{name: daily, channels: [files]}}
    """)
    store = Store(config.database_path)
    ids = {
        "camp": add_story(store, "Ledger", "Teenagers from Kherson kept in a Crimean camp for months",
                          url="https://ledger.example/camp", at=T0 - timedelta(hours=2),
                          summary="The occupation administration took the boys and girls to Crimea."),
        "holiday": add_story(store, "Ledger", "Charity takes sick children to the Italian seaside",
                             url="https://ledger.example/holiday", at=T0 - timedelta(hours=1),
                             summary="One girl's family fled occupied Melitopol last year."),
        "return": add_story(store, "Вісник", "Додому повернули ще шістьох дітей, вивезених до Росії",
                            url="https://visnyk.example/return", at=T0, lang="uk",
                            summary="Діти повернулися з Росії за посередництва Катару."),
    }
    store.close()
    return str(tmp_path / "sources.yaml"), config.database_path, ids


def invoke(config_path: str, *args: str):
    return CliRunner().invoke(cli, ["--config", config_path, *args], catch_exceptions=False)


def preview(config_path: str) -> str:
    result = invoke(config_path, "digest", "daily", "--preview")
    assert result.exit_code == 0, result.output
    return result.stdout


def test_label_is_stored_with_note_time_and_origin(setup):
    config_path, db, ids = setup
    result = invoke(config_path, "label", str(ids["camp"]), "relevant", "--note", "classic camp story")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"item {ids['camp']}: relevant"
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT item_id, label, note, labelled_by, labelled_at FROM labels").fetchone()
    assert row[:4] == (ids["camp"], "relevant", "classic camp story", "cli")
    assert abs(datetime.fromisoformat(row[4].replace("Z", "+00:00")) - datetime.now(UTC)) < timedelta(minutes=5)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_new_label_replaces_the_old_one(setup):
    config_path, db, ids = setup
    assert invoke(config_path, "label", str(ids["return"]), "not_relevant").exit_code == 0
    assert invoke(config_path, "label", str(ids["return"]), "relevant", "--note", "misclicked").exit_code == 0
    rows = sqlite3.connect(db).execute("SELECT label, note FROM labels").fetchall()
    assert rows == [("relevant", "misclicked")]


def test_unknown_item_and_unknown_label_are_usage_errors(setup):
    config_path, db, ids = setup
    missing = invoke(config_path, "label", "999", "relevant")
    assert missing.exit_code == 2 and "no item 999" in missing.output
    bad = invoke(config_path, "label", str(ids["camp"]), "maybe")
    assert bad.exit_code == 2 and "relevant" in bad.output
    assert sqlite3.connect(db).execute("SELECT count(*) FROM labels").fetchone()[0] == 0


def test_a_story_labelled_not_relevant_never_reaches_a_digest(setup):
    config_path, db, ids = setup
    before = preview(config_path)
    assert "Italian seaside" in before and "Crimean camp" in before
    result = invoke(config_path, "label", str(ids["holiday"]), "not_relevant", "--note", "passing mention")
    assert result.exit_code == 0 and "left out of digests" in result.stdout
    after = preview(config_path)
    assert "Italian seaside" not in after and "Crimean camp" in after and "шістьох дітей" in after
    # Sent for real: the file digest has the other two stories, and the labelled one stays out
    # of later digests as well.
    sent = invoke(config_path, "digest", "daily", "--now")
    assert sent.exit_code == 0, sent.output
    with _store(db) as store:
        delivered = {row[0] for row in store.db.execute("SELECT item_id FROM deliveries")}
        assert delivered == {ids["camp"], ids["return"]}
        assert store.unclaimed_item_ids("daily", "files") == []


def test_a_copy_of_a_story_labelled_not_relevant_is_left_out_too(setup, tmp_path):
    config_path, db, ids = setup
    store = Store(db)
    store.db.execute("UPDATE items SET story_id = ? WHERE id = ?", [ids["holiday"], ids["camp"]])  # one story
    store.close()
    assert invoke(config_path, "label", str(ids["holiday"]), "not_relevant").exit_code == 0
    after = preview(config_path)
    assert "Crimean camp" not in after and "Italian seaside" not in after and "шістьох дітей" in after


def test_labels_list_and_export_in_classify_input_format(setup, tmp_path):
    config_path, db, ids = setup
    invoke(config_path, "label", str(ids["camp"]), "relevant")
    invoke(config_path, "label", str(ids["holiday"]), "not_relevant", "--note", "passing mention")
    listing = invoke(config_path, "labels", "list")
    assert listing.exit_code == 0
    assert "passing mention" in listing.stdout and "not_relevant" in listing.stdout
    out = tmp_path / "labels.jsonl"
    result = invoke(config_path, "labels", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(l["id"], l["label"]) for l in lines] == [(ids["camp"], 1), (ids["holiday"], 0)]
    assert lines[1]["note"] == "passing mention" and lines[1]["labelled_by"] == "cli"
    assert {"id", "title", "text", "label", "lang"} <= set(lines[0])
    assert lines[0]["title"].startswith("Teenagers from Kherson") and "Crimea" in lines[0]["text"]
    # The same lines on stdout, and classify reads them back as its own input.
    stdout = invoke(config_path, "labels", "export")
    assert [json.loads(l) for l in stdout.stdout.splitlines()] == lines
    classified = invoke(config_path, "classify", str(out))
    assert [json.loads(l)["id"] for l in classified.stdout.splitlines()] == [ids["camp"], ids["holiday"]]


def test_exported_labels_are_a_regression_set_for_classify_eval(setup, tmp_path):
    config_path, db, ids = setup
    for item, label in (("camp", "relevant"), ("holiday", "not_relevant"), ("return", "relevant")):
        assert invoke(config_path, "label", str(ids[item]), label).exit_code == 0
    out = tmp_path / "labels.jsonl"
    invoke(config_path, "labels", "export", "--out", str(out))
    report = invoke(config_path, "classify", "--eval", str(out))
    assert report.exit_code == 0, report.output
    rows = {line.split()[0]: line.split() for line in report.stdout.splitlines()}
    assert rows["all"][1:5] == ["3", "2", "0", "0"]  # n tp fp fn: the shipped topic agrees
    assert rows["en"][1] == "2" and rows["uk"][1] == "1"
    assert "errors: 0" in report.stdout


def test_export_of_an_empty_store_and_a_read_only_database(setup, tmp_path):
    config_path, db, ids = setup
    assert invoke(config_path, "labels", "export").stdout == ""
    invoke(config_path, "label", str(ids["camp"]), "relevant")
    db.chmod(0o444)
    try:
        result = invoke(config_path, "labels", "export")  # reads only: works on a read-only file
        assert result.exit_code == 0 and json.loads(result.stdout)["id"] == ids["camp"]
    finally:
        db.chmod(0o644)


class _store:
    def __init__(self, path):
        self.store = Store(path)

    def __enter__(self) -> Store:
        return self.store

    def __exit__(self, *exc) -> None:
        self.store.close()


def test_a_database_that_cannot_be_used_ends_label_with_one_line_and_exit_3(setup):
    config_path, db, ids = setup
    db.write_bytes(b"this is not a database at all" * 100)
    for args in (["label", str(ids["camp"]), "relevant"], ["labels", "export"], ["labels", "list"]):
        result = CliRunner().invoke(cli, ["--config", config_path, *args])
        assert result.exit_code == 3, (args, result.output)
        assert result.output.count("\n") == 1 and str(db) in result.output
