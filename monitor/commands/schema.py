"""`monitor schema`: a JSON Schema of sources.yaml, generated from the configuration's own models.

Every key, with its type, its default and a description. The description of a key is, in this
order: the model field's own `description`, the entry of DESCRIPTIONS below, or the comment the
model's source code puts on the field's line (or on the lines just above it). Editors read the
schema through the first line of a starter file (`# yaml-language-server: $schema=…`, written by
`monitor init`) for completion, hover help and checking as you type.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
import typing
from datetime import timedelta
from typing import Any

import click
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

SCHEMA_FILE = "sources.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
DURATION_PATTERN = r"^\s*[-+]?\d+(\.\d+)?\s*[smhd]\s*$"
DURATION_HELP = "A duration: 90s, 15m, 2h or 1d, or a number of seconds."

# Descriptions for keys whose model says too little of them in its code. "Model.key", or "key"
# for a key of that name in every model.
DESCRIPTIONS = {
    # settings
    "Settings.database": "The SQLite file, relative to this file's folder unless absolute (default data/monitor.db).",
    "Settings.timezone": "IANA time zone name; digests are scheduled and dated in it (e.g. Europe/Kyiv).",
    "Settings.user_agent": "The User-Agent of every request monitor makes.",
    "Settings.contact": "Your address, appended to the User-Agent so site owners can reach you.",
    "Settings.fetch": "Limits of the one HTTP client: timeouts, body size, concurrency, retries, robots.txt.",
    "Settings.evidence": "Evidence capture of every matched article: WARC files, rechecks, RFC 3161 timestamps.",
    "Settings.web": "The web interface `monitor run` serves (listen: 127.0.0.1:8080), off by default.",
    "Settings.document_timeout": "Longest a feed, page or article may take to read; past it the document is "
                                 "abandoned and its source fails with that reason.",
    "Settings.log_file": "The service's log file (monitor run), beside stderr; relative to this file's folder "
                         "unless absolute. Rotated at log_max_mb.",
    "Settings.log_max_mb": "Size in MB at which settings.log_file is rotated.",
    "Settings.log_keep": "How many rotated log files are kept (.1 the newest).",
    "FetchSettings.connect_timeout": "Longest wait for a connection.",
    "FetchSettings.read_timeout": "Longest wait for the next bytes of a response.",
    "FetchSettings.total_timeout": "Longest a whole request may take, redirects and retries included.",
    "FetchSettings.max_body_mb": "Larger responses (also after decompression) are refused.",
    "FetchSettings.max_redirects": "Redirects followed per request.",
    "FetchSettings.concurrency": "Requests in flight in all.",
    "FetchSettings.per_host_concurrency": "Requests in flight to one host.",
    "FetchSettings.retries": "Retries of timeouts, connection errors, 408, 429 and 5xx answers only.",
    "FetchSettings.backoff": "First retry delay; it doubles with each retry, with jitter.",
    "FetchSettings.respect_robots": "Honour robots.txt (a source may set respect_robots: false).",
    "EvidenceSettings.enabled": "Capture every matched article as evidence.",
    "EvidenceSettings.dir": "Folder of the captures, relative to this file's folder unless absolute.",
    "EvidenceSettings.recheck": "How long after the first capture each recheck of the page is due, e.g. [1d, 7d, 30d].",
    "EvidenceSettings.timestamp_url": "An RFC 3161 time-stamping authority; each day's WARC file is timestamped "
                                      "once the day is over (not set: no timestamps).",
    "WebSettings.listen": "HOST:PORT the web interface listens on, e.g. 127.0.0.1:8080 (not set: no web "
                          "interface). An address other than loopback needs MONITOR_WEB_PASSWORD set.",
    "WebSettings.page_size": "Items per page of the web interface.",
    # sources
    "SourceConfig.name": "Unique name of the source; shown in digests and `monitor sources list`.",
    "SourceConfig.type": "How the source is read: rss (RSS/Atom), page (a listing page), sitemap, telegram.",
    "SourceConfig.url": "The feed, page, sitemap or https://t.me/s/CHANNEL address.",
    "SourceConfig.interval": "How often to poll it (default 30m).",
    "SourceConfig.tags": "Free labels; digests and alerts can be limited to sources with some of them.",
    "SourceConfig.fetch_article": "auto: fetch the article page when the item has no full text; always; never.",
    "SourceConfig.allow_private": "true only for a source on your own network (private, loopback addresses).",
    "SourceConfig.respect_robots": "Honour robots.txt for this source (not set: settings.fetch.respect_robots).",
    "SourceConfig.enabled": "false keeps the entry but stops polling it.",
    "SourceConfig.notify_updates": "true: an edited article at a known URL is reported again.",
    "PageOptions.max_items": "Article links taken from the page per poll.",
    # topics, digests, alerts
    "TopicConfig.query": "Lucene-style query: AND OR NOT ( ) \"phrase\" prefix* \"a b\"~N  A NEAR/N B  title:word.",
    "TopicConfig.languages": "Only articles in these languages (en, uk, ru).",
    "TopicConfig.exclude": "A query; articles that match it are dropped.",
    "DigestConfig.name": "The digest's name, shown in its heading and file names.",
    "DigestConfig.schedule": "When it is sent: cron (minute hour day month weekday) in settings.timezone.",
    "DigestConfig.channels": "Channels it goes to (not set: every channel).",
    "DigestConfig.topics": "Only stories of these topics (not set: every topic).",
    "DigestConfig.tags": "Only stories from sources with any of these tags (not set: every source).",
    "DigestConfig.send_empty": "true: send a digest saying nothing new matched, too.",
    "AlertConfig.name": "The alert's name.",
    "AlertConfig.channels": "Channels each newly matched story is sent to at once (not set: every channel).",
    "AlertConfig.topics": "Only stories of these topics (not set: every topic).",
    "AlertConfig.tags": "Only stories from sources with any of these tags (not set: every source).",
    # channels
    "ChannelConfig.type": "file, email, apprise or webhook.",
    "FileChannelConfig.path": "Folder of the digest files, relative to this file's folder unless absolute.",
    "EmailChannelConfig.host": "SMTP server.",
    "EmailChannelConfig.port": "SMTP port (587 for starttls, 465 for ssl).",
    "EmailChannelConfig.security": "starttls, ssl or none.",
    "EmailChannelConfig.username": "SMTP user name, if the server wants one.",
    "EmailChannelConfig.password": "SMTP password: write ${SMTP_PASSWORD} and set it in the environment.",
    "EmailChannelConfig.from": "The From address, e.g. \"Monitor <monitor@example.org>\".",
    "EmailChannelConfig.to": "Recipients.",
    "EmailChannelConfig.timeout": "Seconds to wait for the SMTP server.",
    "AppriseChannelConfig.urls": "Apprise URLs (slack://, discord://, tgram://, msteams://, matrix://, ntfy://…); "
                                 "tokens from the environment as ${VAR}.",
    "WebhookChannelConfig.url": "Where each digest is POSTed as JSON.",
    "WebhookChannelConfig.headers": "Extra request headers, e.g. {Authorization: \"Bearer ${TOKEN}\"}.",
    "WebhookChannelConfig.timeout": "Seconds to wait for the receiver.",
}

SECTIONS = {
    "settings": "Database, time zone, HTTP limits, logging and the other settings of the whole monitor.",
    "sources": "What to watch: feeds, listing pages, news sitemaps and public Telegram channels.",
    "topics": "Your own topics, or overrides of the shipped one (deported-children), by name.",
    "channels": "Where digests and alerts go, by name (none: .html/.md/.json files in ./digests/).",
    "digests": "Scheduled digests of the stories that matched since the last one reached a channel.",
    "alerts": "Immediate messages, one per newly matched story, to some channels.",
}


class _Generator(GenerateJsonSchema):
    """Durations are written `15m` in sources.yaml, not as ISO 8601 (`PT15M`), and so are their defaults."""

    def timedelta_schema(self, schema) -> dict[str, Any]:
        return {"type": ["string", "number"], "pattern": DURATION_PATTERN, "exclusiveMinimum": 0,
                "description": DURATION_HELP}

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return duration_text(dft)
        if isinstance(dft, list) and dft and all(isinstance(d, timedelta) for d in dft):
            return [duration_text(d) for d in dft]
        return super().encode_default(dft)


def duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _models_in(model: type[BaseModel], found: dict[str, type[BaseModel]]) -> None:
    """`model` and every model its fields hold (settings.fetch, settings.evidence, …), by name."""
    if model.__name__ in found:
        return
    found[model.__name__] = model
    for info in model.model_fields.values():
        for inner in _types_in(info.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                _models_in(inner, found)


def _types_in(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation] + [t for arg in args for t in _types_in(arg)]


def _trailing_comment(line: str) -> str:
    """The `# comment` ending a line of code, outside its string literals ("" if none)."""
    quote = None
    for index, ch in enumerate(line):
        if quote:
            if ch == quote and line[index - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[index + 1:].strip()
    return ""


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """What a model's source says of each of its own fields: the comment on the field's line, else
    the comment lines right above it."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in source.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        field = re.match(r"^    ([A-Za-z_]\w*)\s*:(?!=)", line)
        if field and field.group(1) in model.__annotations__:
            text = _trailing_comment(line) or " ".join(above)
            if text:
                comments[field.group(1)] = text
        above = []
    return comments


def _describe(model: type[BaseModel], definition: dict) -> None:
    """A description on every key of one model's definition."""
    comments: dict[str, str] = {}
    for klass in reversed(model.__mro__):  # a subclass's own comment wins over its base's
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            comments.update(field_comments(klass))
    names = {info.alias or name: name for name, info in model.model_fields.items()}
    for key, prop in definition.get("properties", {}).items():
        name = names.get(key, key)
        info = model.model_fields.get(name)
        text = (info.description if info is not None else None) or _table(model, key) or comments.get(name)
        prop.pop("title", None)
        if text:
            # A type's own help (durations) follows the key's.
            own = prop.get("description")
            prop["description"] = f"{text} {own}" if own and own not in text else text
        if info is not None and name != key:
            prop.setdefault("description", key)


def _table(model: type[BaseModel], key: str) -> str | None:
    for klass in model.__mro__:
        text = DESCRIPTIONS.get(f"{getattr(klass, '__name__', '')}.{key}")
        if text:
            return text
    return DESCRIPTIONS.get(key)


def config_schema() -> dict:
    """The JSON Schema (draft 2020-12) of sources.yaml."""
    from monitor.config import AlertConfig, DigestConfig, Settings, TopicConfig
    from monitor.notify import channel_types
    from monitor.sources import source_types

    sources, channels = source_types(), channel_types()
    roots: list[type[BaseModel]] = [Settings, TopicConfig, DigestConfig, AlertConfig]
    roots += [sources[name].options for name in sources.names()]
    roots += [channels[name].options for name in channels.names()]
    models: dict[str, type[BaseModel]] = {}
    for model in roots:
        _models_in(model, models)
    refs, top = models_json_schema([(m, "validation") for m in models.values()], schema_generator=_Generator,
                                   ref_template="#/$defs/{model}")
    defs = top.get("$defs", {})
    ref_of = {model: refs[(model, "validation")] for model in models.values()}   # model → {"$ref": …}
    for model, ref in ref_of.items():
        _describe(model, defs[ref["$ref"].rsplit("/", 1)[-1]])

    def of_type(registry, noun: str) -> list[dict]:
        return [{"title": f"{name} {noun}", "allOf": [ref_of[registry[name].options]],
                 "properties": {"type": {"const": name}}, "required": ["type"]} for name in registry.names()]

    for registry in (sources, channels):  # `type:` lists the kinds it may name
        for name in registry.names():
            definition = defs[ref_of[registry[name].options]["$ref"].rsplit("/", 1)[-1]]
            definition.get("properties", {}).get("type", {})["enum"] = registry.names()

    properties = {
        "settings": {"anyOf": [ref_of[Settings], {"type": "null"}]},
        "sources": {"type": "array", "minItems": 1, "items": {"oneOf": of_type(sources, "source")}},
        "topics": {"anyOf": [{"type": "object", "additionalProperties": {"anyOf": [
            {"type": "string", "description": DESCRIPTIONS["TopicConfig.query"]}, ref_of[TopicConfig]]}},
            {"type": "null"}]},
        "channels": {"anyOf": [{"type": "object", "additionalProperties": {"oneOf": of_type(channels, "channel")}},
                               {"type": "null"}]},
        "digests": {"anyOf": [{"type": "array", "items": ref_of[DigestConfig]}, {"type": "null"}]},
        "alerts": {"anyOf": [{"type": "array", "items": ref_of[AlertConfig]}, {"type": "null"}]},
    }
    for key, text in SECTIONS.items():
        properties[key]["description"] = text
    return {
        "$schema": DRAFT,
        "title": "monitor sources.yaml",
        "description": "Configuration of monitor: sources, topics, channels, digests and alerts. "
                       "Values may be ${ENV_VAR} or ${ENV_VAR:-default}.",
        "type": "object",
        "additionalProperties": False,
        "required": ["sources"],
        "properties": properties,
        "$defs": defs,
    }


def schema_text() -> str:
    return json.dumps(config_schema(), ensure_ascii=False, indent=2) + "\n"


@click.command("schema")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help=f"Write the schema to FILE (e.g. {SCHEMA_FILE}) instead of stdout.")
def schema(out: str | None) -> None:
    """Print the JSON Schema of sources.yaml (every key, its type, default and description).

    Editors use it for completion and checking: the first line of a starter file written by
    'monitor init' points the YAML language server at sources.schema.json beside it.
    """
    text = schema_text()
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"schema written to {out}", err=True)
    else:
        click.echo(text, nl=False)
