"""Getting started (issue 15): `monitor init [DIR]` writes a commented starter sources.yaml that
checks, `monitor schema` prints a JSON Schema of sources.yaml generated from the configuration's
models, and the shipped sources.yaml and the starter both validate against it (jsonschema)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import cli
from monitor.commands.init import starter_text
from monitor.commands.schema import SCHEMA_FILE, config_schema
from monitor.config import Settings, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_LINE = "# yaml-language-server: $schema=sources.schema.json"


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch):
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


# --- monitor init ------------------------------------------------------------------------------

def test_init_then_check_exits_0_on_a_fresh_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = invoke("init")
    assert made.exit_code == 0, made.output
    assert "wrote sources.yaml" in made.stdout and "monitor check" in made.stdout
    assert (tmp_path / "sources.yaml").read_text("utf-8").splitlines()[0] == SCHEMA_LINE
    assert json.loads((tmp_path / SCHEMA_FILE).read_text("utf-8"))["title"] == "monitor sources.yaml"
    checked = invoke("check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith("sources.yaml: OK, 8 sources")


def test_init_writes_into_a_directory_it_creates_and_says_how_to_use_it(tmp_path):
    target = tmp_path / "etc" / "monitor"
    made = invoke("init", str(target))
    assert made.exit_code == 0, made.output
    assert f"monitor --config {target / 'sources.yaml'} check" in made.stdout
    assert invoke("--config", str(target / "sources.yaml"), "check").exit_code == 0
    assert (target / SCHEMA_FILE).is_file()


def test_init_refuses_to_replace_a_file_unless_forced(tmp_path):
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n  - {name: Mine, type: rss, url: 'https://mine.example/'}\n", encoding="utf-8")
    refused = invoke("init", str(tmp_path))
    assert refused.exit_code == 2 and "already exists" in refused.stderr and "--force" in refused.stderr
    assert "Mine" in config.read_text("utf-8")
    forced = invoke("init", str(tmp_path), "--force")
    assert forced.exit_code == 0 and config.read_text("utf-8") == starter_text()


def test_init_follows_the_global_config_option(tmp_path):
    target = tmp_path / "other.yaml"
    assert invoke("--config", str(target), "init").exit_code == 0
    assert target.read_text("utf-8") == starter_text()


@pytest.mark.parametrize("args, hint", [
    (["check"], "'monitor init' writes a commented starter sources.yaml in this folder"),
    (["poll"], "'monitor init' writes a commented starter sources.yaml in this folder"),
    (["--config", "elsewhere.yaml", "sources", "list"], "'monitor --config elsewhere.yaml init' writes"),
])
def test_without_a_configuration_commands_say_how_to_get_one(tmp_path, monkeypatch, args, hint):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and "file not found" in lines[0]
    assert lines[1].startswith("hint: ") and hint in lines[1]


def test_the_starter_documents_alerts_channels_secrets_and_logging():
    text = starter_text()
    assert text.startswith(SCHEMA_LINE + "\n")
    assert "# alerts:" in text and "#   - name: urgent" in text and "#     channels: [telegram]" in text
    assert "${SMTP_PASSWORD}" in text and "# log_file:" in text and "monitor sources add" in text
    # What it leaves commented out is valid too: the telegram channel and the alert, uncommented,
    # load (the variables unset: the channel is unavailable, the rest works).
    lines = []
    for line in text.splitlines():
        if line.startswith(("  # telegram:", "  #   type: apprise", "  #   urls: [\"tgram")):
            line = line.replace("  # ", "  ", 1).replace("  #   ", "    ", 1) if "telegram:" in line \
                else line.replace("  #   ", "    ", 1)
        elif line.startswith(("# alerts:", "#   - name: urgent", "#     channels:", "#     tags:")):
            line = line[2:]
        lines.append(line)
    config = parse_config("\n".join(lines), Path("sources.yaml"), strict=False)
    assert [alert.name for alert in config.alerts] == ["urgent"] and config.alerts[0].channels == ["telegram"]
    assert "telegram" in config.unavailable_channels


# --- monitor schema ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def schema() -> dict:
    return config_schema()


def test_schema_command_prints_a_valid_draft_2020_12_schema(tmp_path):
    printed = invoke("schema")
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.stdout)
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    out = tmp_path / "s.json"
    assert invoke("schema", "--out", str(out)).exit_code == 0
    assert json.loads(out.read_text("utf-8")) == document


def test_shipped_sources_yaml_validates_against_the_schema(schema):
    shipped = ROOT / "sources.yaml"
    data = yaml.safe_load(shipped.read_text("utf-8"))
    errors = [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert errors == []
    load_config(shipped)  # and monitor agrees


def test_the_starter_validates_against_the_schema(schema):
    data = yaml.safe_load(starter_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []


@pytest.mark.parametrize("document, where", [
    ({"sources": [{"name": "A", "type": "rss", "url": "https://a.example/", "intervall": "5m"}]}, "sources"),
    ({"sources": [{"name": "A", "type": "rsss", "url": "https://a.example/"}]}, "sources"),
    ({"sources": [{"name": "A", "type": "rss", "url": "https://a.example/", "interval": True}]}, "sources"),
    ({"sources": [{"name": "A", "type": "rss", "url": "https://a.example/", "interval": "15 minutes"}]}, "sources"),
    ({"settings": {"fetch": {"retries": -1}}, "sources": [{"name": "A", "type": "rss", "url": "https://a/"}]},
     "settings"),
    ({"sources": [{"name": "A", "type": "rss", "url": "https://a/"}], "channels": {"m": {"type": "email"}}},
     "channels"),
    ({"sources": [{"name": "A", "type": "rss", "url": "https://a/"}], "source": []}, ""),
    ({"settings": {}}, ""),
])
def test_the_schema_catches_what_the_loader_refuses(schema, document, where):
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert errors, document
    assert any((list(e.absolute_path)[:1] or [""])[0] == where for e in errors), [e.message for e in errors]


def test_every_key_has_a_type_or_choices_and_a_description(schema):
    missing = []
    for name, definition in schema["$defs"].items():
        for key, prop in definition.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{name}.{key}")
            assert {"type", "anyOf", "enum", "$ref", "const", "allOf", "items"} & set(prop), f"{name}.{key}"
    assert missing == []
    for key, prop in schema["properties"].items():
        assert prop.get("description"), key


def test_the_schema_holds_every_key_of_the_models_with_their_defaults(schema):
    settings = schema["$defs"]["Settings"]["properties"]
    assert set(settings) == set(Settings.model_fields)
    assert settings["timezone"]["default"] == "Europe/Kyiv"
    assert settings["document_timeout"]["default"] == "20s"  # durations as sources.yaml writes them
    assert settings["log_max_mb"]["default"] == 10.0 and settings["log_keep"]["default"] == 5
    source = schema["$defs"]["SourceConfig"]["properties"]
    assert source["interval"]["default"] == "30m" and "15m" in source["interval"]["description"]
    assert source["fetch_article"]["enum"] == ["auto", "always", "never"]
    assert source["type"]["enum"] == ["page", "rss", "sitemap", "telegram"]
    email = schema["$defs"]["EmailChannelConfig"]
    assert "from" in email["properties"] and {"host", "from", "to"} <= set(email["required"])
    kinds = [entry["properties"]["type"]["const"] for entry in schema["properties"]["sources"]["items"]["oneOf"]]
    assert kinds == ["page", "rss", "sitemap", "telegram"]
