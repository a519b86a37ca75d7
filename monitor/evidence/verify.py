"""`monitor evidence verify`: every capture re-hashed against the database, every WARC file read whole.

For each capture: its bytes in its WARC file (response and request records, as written) must have
the SHA-256 the database recorded, its response record must be the one recorded (WARC-Record-ID)
and its payload must hash to the recorded sha256, with the record's own block and payload digests
holding. Then each WARC file is read from start to end (warcinfo and every record, digests
checked), so a change to bytes no capture points at is found too; a sealed file (its day is over)
must still have the SHA-256 and size it was sealed with, and its RFC 3161 token, if any, must name
that hash. The custody log's ids must run without a gap (an event deleted despite the triggers).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from warcio.exceptions import ArchiveLoadFailed

from monitor.evidence import timestamp as rfc3161
from monitor.evidence.warc import check_file, read_range, response_payload
from monitor.store import Store


@dataclass
class Verification:
    captures: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)   # each names the file (and capture)
    bad_files: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, file: str, text: str) -> None:
        self.bad_files.add(file)
        self.problems.append(text)


def verify(store: Store, folder: Path) -> Verification:
    result = Verification()
    for item_captures in store.captures().values():
        for capture in item_captures:
            result.captures += 1
            path = folder / capture.warc_file
            where = f"{path} (capture {capture.id} of item {capture.item_id}, {capture.url}, offset {capture.warc_offset})"
            if not path.is_file():
                result.problem(capture.warc_file, f"{where}: the WARC file is missing")
                continue
            data = read_range(path, capture.warc_offset, capture.warc_length)
            if len(data) != capture.warc_length:
                result.problem(capture.warc_file, f"{where}: the file ends before the capture does "
                                                  f"({len(data)} of {capture.warc_length} bytes)")
                continue
            if hashlib.sha256(data).hexdigest() != capture.record_sha256:
                result.problem(capture.warc_file, f"{where}: the records' bytes differ from those written "
                                                  f"(sha256 {hashlib.sha256(data).hexdigest()}, recorded "
                                                  f"{capture.record_sha256})")
            try:
                payload = response_payload(data)
            except (ArchiveLoadFailed, zlib.error, OSError, EOFError, ValueError) as exc:
                result.problem(capture.warc_file, f"{where}: the response record cannot be read: "
                                                  f"{type(exc).__name__}: {exc}")
                continue
            if payload.record_id != capture.warc_record_id:
                result.problem(capture.warc_file, f"{where}: record {payload.record_id}, not the recorded "
                                                  f"{capture.warc_record_id}")
            if payload.sha256 != capture.sha256:
                result.problem(capture.warc_file, f"{where}: payload sha256 {payload.sha256}, recorded {capture.sha256}")
            if payload.digests_ok is False:
                result.problem(capture.warc_file, f"{where}: the record's WARC digests do not hold")
    for row in store.warc_files():
        name = row["name"]
        path = folder / name
        result.files += 1
        if not path.is_file():
            result.problem(name, f"{path}: the WARC file is missing")
            continue
        for problem in check_file(path):
            result.problem(name, f"{path}: {problem}")
        if row["sha256"] is not None:
            digest, size = rfc3161.file_sha256(path)
            if digest.hex() != row["sha256"] or size != row["size"]:
                result.problem(name, f"{path}: changed since it was sealed on {row['sealed_at']} (sha256 "
                                     f"{digest.hex()}, {size} bytes; sealed {row['sha256']}, {row['size']} bytes)")
            if row["token_file"]:
                token_path = path.with_name(row["token_file"])
                try:
                    rfc3161.read_reply(token_path.read_bytes(), bytes.fromhex(row["sha256"]))
                except (OSError, rfc3161.TimestampError) as exc:
                    result.problem(name, f"{token_path}: the timestamp token does not hold: {exc}")
    ids = [row["id"] for row in store.custody_events()]
    if ids and ids != list(range(ids[0], ids[0] + len(ids))):
        missing = sorted(set(range(ids[0], ids[-1] + 1)) - set(ids))
        result.problems.append(f"custody log: events {missing[:10]} are missing (the log is append-only)")
    return result
