"""`monitor export json|csv|atom|wacz`: matched stories with their evidence, for case files.

One story per entry (its lead: the earliest-published matched copy), with every capture of every
matched copy of it. JSON: `{"stories": [...], "custody": [...]}`. CSV: a row per story, a story's
captures joined by " | " in each capture column (capture_url, captured_at, sha256, ...); cells
that a spreadsheet would run as a formula (starting with = + - @) get a leading '. Atom: an entry per story, its captures as
`ev:capture` elements (and as text in the entry's content). WACZ (py-wacz, so `wacz validate`
accepts it): the selected captures' WARC records copied byte for byte into one WARC file, a page
per capture in pages.jsonl, and in logs/ the custody log (custody.jsonl), the stories as in the
JSON export (stories.json) and a SHA-256 manifest of those files (manifest-sha256.txt).

Each export is an event of the custody log, with the SHA-256 of the file written.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor import __version__
from monitor.clock import utc_iso
from monitor.captures import Capture, EvidenceState
from monitor.evidence.warc import warcinfo_record
from monitor.store import Store

FORMATS = ("json", "csv", "atom", "wacz")
ATOM = "http://www.w3.org/2005/Atom"
EVIDENCE_NS = "https://github.com/monitor-project/monitor/ns/evidence"
WACZ_WARC = "monitor-export.warc.gz"
CAPTURE_FIELDS = ("url", "captured_at", "sha256", "warc_file", "warc_record_id", "http_status", "status",
                  "last_checked")
# A story's captures, one per " | "-separated part of each capture_* column.
CSV_FIELDS = ("id", "title", "url", "source", "published", "first_seen", "lang", "topics", "snippet", "also",
              "evidence_status", "captures", "capture_url") + CAPTURE_FIELDS[1:]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class ExportError(Exception):
    pass


@dataclass(frozen=True)
class Selection:
    since: datetime | None = None
    until: datetime | None = None
    topic: str | None = None
    source: str | None = None

    def describe(self) -> str:
        parts = [f"{name} {utc_iso(value) if isinstance(value, datetime) else value}"
                 for name, value in (("since", self.since), ("until", self.until), ("topic", self.topic),
                                     ("source", self.source)) if value is not None]
        return ", ".join(parts) or "everything"


@dataclass(frozen=True)
class Exported:
    path: Path
    kind: str
    stories: int
    captures: int
    sha256: str


def _iso(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment is not None else None


def _entry(capture: Capture, latest: bool, state: EvidenceState | None) -> dict:
    status = capture.status
    if state is not None and state.gone_at is not None:
        status = "gone"
    elif not latest and status in ("captured", "live"):
        status = "changed"
    return {"item_id": capture.item_id, "url": capture.url, "captured_at": _iso(capture.captured_at),
            "sha256": capture.sha256, "warc_file": capture.warc_file, "warc_record_id": capture.warc_record_id,
            "http_status": capture.http_status, "status": status, "last_checked": _iso(capture.last_checked),
            "reason": capture.reason}


def stories(store: Store, selection: Selection) -> tuple[list[dict], list[Capture]]:
    """The selected stories as export dicts, and every capture they list."""
    leads = store.story_leads(since=selection.since, until=selection.until, topic=selection.topic,
                              source=selection.source)
    members = store.story_items(leads)
    ids = [row["id"] for rows in members.values() for row in rows]
    captures = store.captures(ids)
    states = store.evidence_states(ids)
    first_seen = {row["id"]: row["first_seen"] for rows in members.values() for row in rows}
    out, listed = [], []
    for story in store.stories(leads):
        evidence = []
        for row in members.get(story.item_id, []):
            item_captures = captures.get(row["id"], [])
            for n, capture in enumerate(item_captures):
                evidence.append(_entry(capture, n == len(item_captures) - 1, states.get(row["id"])))
                listed.append(capture)
        state = states.get(story.item_id)
        out.append({
            "id": story.item_id, "title": story.title, "url": story.url, "source": story.source,
            "published": _iso(story.published), "first_seen": first_seen.get(story.item_id), "lang": story.lang,
            "topics": story.topics, "snippet": story.snippet, "also": story.also,
            "evidence_status": state.describe() if state is not None else "pending (not captured yet)",
            "evidence": evidence,
        })
    return out, listed


def _custody(store: Store, story_dicts: list[dict]) -> list[dict]:
    ids = {entry["item_id"] for story in story_dicts for entry in story["evidence"]} | {s["id"] for s in story_dicts}
    return store.custody_events(ids)


def render_json(story_dicts: list[dict], custody: list[dict], selection: Selection, at: datetime) -> str:
    document = {"generated_at": utc_iso(at), "generator": f"monitor/{__version__}", "selection": selection.describe(),
                "stories": story_dicts, "custody": custody}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def render_csv(story_dicts: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for story in story_dicts:
        row = [story["id"], story["title"], story["url"], story["source"], story["published"], story["first_seen"],
               story["lang"], "; ".join(story["topics"]), story["snippet"],
               " ".join(also["url"] for also in story["also"]), story["evidence_status"], len(story["evidence"])]
        row += [" | ".join("" if entry[name] is None else str(entry[name]) for entry in story["evidence"])
                for name in CAPTURE_FIELDS]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def render_atom(story_dicts: list[dict], selection: Selection, at: datetime) -> str:
    ET.register_namespace("", ATOM)
    ET.register_namespace("ev", EVIDENCE_NS)

    def sub(parent, tag, text=None, ns=ATOM, **attrs):
        node = ET.SubElement(parent, f"{{{ns}}}{tag}", {k: str(v) for k, v in attrs.items() if v is not None})
        if text is not None:
            node.text = str(text)
        return node

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"urn:uuid:{uuid.uuid4()}")
    sub(feed, "title", f"monitor evidence export ({selection.describe()})")
    sub(feed, "updated", utc_iso(at))
    sub(feed, "generator", "monitor", version=__version__, uri="https://github.com/monitor-project/monitor")
    for story in story_dicts:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, story['url'])}")
        sub(entry, "title", story["title"])
        sub(entry, "link", href=story["url"], rel="alternate")
        checked = [e["last_checked"] for e in story["evidence"] if e["last_checked"]]
        sub(entry, "updated", max(checked + [story["first_seen"] or utc_iso(at)]))
        if story["published"]:
            sub(entry, "published", story["published"])
        author = sub(entry, "author")
        sub(author, "name", story["source"])
        for topic in story["topics"]:
            sub(entry, "category", term=topic)
        for also in story["also"]:
            sub(entry, "link", href=also["url"], rel="related", title=also["source"])
        sub(entry, "summary", story["snippet"], type="text")
        lines = [f"Evidence: {story['evidence_status']}"]
        for capture in story["evidence"]:
            sub(entry, "capture", ns=EVIDENCE_NS, **{name: capture[name] for name in CAPTURE_FIELDS})
            lines.append(f"{capture['captured_at']} {capture['status']} {capture['url']} sha256 {capture['sha256']} "
                         f"({capture['warc_file']} {capture['warc_record_id']}, HTTP {capture['http_status']})")
        sub(entry, "content", "\n".join(lines), type="text")
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_wacz(out: Path, story_dicts: list[dict], captures: list[Capture], custody: list[dict], folder: Path,
               selection: Selection, at: datetime, redactor: Callable[[str], str]) -> None:
    from wacz.main import main as wacz_main  # py-wacz: only this export needs it

    with tempfile.TemporaryDirectory(prefix="monitor-wacz-") as tmp:
        work = Path(tmp)
        # The records as they sit in monitor's WARC files, byte for byte, after a warcinfo of their own.
        warc = work / WACZ_WARC
        ordered = sorted({c.id: c for c in captures}.values(), key=lambda c: (c.warc_file, c.warc_offset))
        with open(warc, "wb") as handle:
            handle.write(warcinfo_record(WACZ_WARC, f"monitor evidence export ({selection.describe()}): the "
                                                    f"records below are copied unchanged from "
                                                    f"{', '.join(sorted({c.warc_file for c in ordered})) or 'none'}"))
            for capture in ordered:
                path = folder / capture.warc_file
                with open(path, "rb") as source:
                    source.seek(capture.warc_offset)
                    data = source.read(capture.warc_length)
                if hashlib.sha256(data).hexdigest() != capture.record_sha256:
                    raise ExportError(f"{path}: the records of capture {capture.id} ({capture.url}) differ from those "
                                      f"written; run monitor evidence verify")
                handle.write(data)
        title = {s["id"]: s["title"] for s in story_dicts}
        item_title = {e["item_id"]: title[s["id"]] for s in story_dicts for e in s["evidence"]}
        pages = work / "pages.jsonl"
        seen = set()
        lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "monitor evidence export"})]
        for capture in ordered:
            key = (capture.url, capture.captured_at)
            if key in seen:
                continue
            seen.add(key)
            lines.append(json.dumps({"url": capture.url, "ts": capture.captured_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "title": redactor(item_title.get(capture.item_id, capture.url))},
                                    ensure_ascii=False))
        pages.write_text("\n".join(lines) + "\n", encoding="utf-8")
        logs = work / "logs"
        logs.mkdir()
        (logs / "custody.jsonl").write_text(
            "".join(json.dumps(event, ensure_ascii=False) + "\n" for event in custody), encoding="utf-8")
        (logs / "stories.json").write_text(redactor(render_json(story_dicts, custody, selection, at)), encoding="utf-8")
        manifest = [f"{_sha256_file(warc)}  archive/{WACZ_WARC}"]
        manifest += [f"{_sha256_file(logs / name)}  logs/{name}" for name in ("custody.jsonl", "stories.json")]
        (logs / "manifest-sha256.txt").write_text("\n".join(manifest) + "\n", encoding="utf-8")
        target = work / "out.wacz"
        args = ["create", "-o", str(target), "-p", str(pages), "-l", str(logs), "--title", "monitor evidence export",
                "--desc", f"Captures of matched news articles ({selection.describe()}), made by monitor {__version__}",
                str(warc)]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = wacz_main(args)
        if code != 0 or not target.is_file():
            raise ExportError(f"py-wacz could not build the WACZ: {printed.getvalue().strip()[-500:]}")
        shutil.move(target, out)


def export(store: Store, folder: Path, kind: str, out: Path, selection: Selection, at: datetime, *,
           redactor: Callable[[str], str] = lambda text: text) -> Exported:
    """Write the export; record it in the custody log (with the file's SHA-256)."""
    if kind not in FORMATS:
        raise ExportError(f"unknown export format {kind!r} (one of {', '.join(FORMATS)})")
    story_dicts, captures = stories(store, selection)
    custody = _custody(store, story_dicts)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "wacz":
        write_wacz(out, story_dicts, captures, custody, folder, selection, at, redactor)
    else:
        text = {"json": lambda: render_json(story_dicts, custody, selection, at),
                "csv": lambda: render_csv(story_dicts),
                "atom": lambda: render_atom(story_dicts, selection, at)}[kind]()
        temp = out.with_name(f".{out.name}.tmp")
        temp.write_text(redactor(text), encoding="utf-8", newline="")
        os.replace(temp, out)
    sha = _sha256_file(out)
    with store.transaction():
        store.log_event(at, "export", sha256=sha,
                        detail=f"{kind} to {out}: {len(story_dicts)} stories, {len(captures)} captures "
                               f"({selection.describe()})")
    return Exported(out, kind, len(story_dicts), len(captures), sha)
