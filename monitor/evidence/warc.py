"""WARC/1.1 records of captured HTTP exchanges (warcio), in daily gzip'd WARC files.

What is recorded, and how (so that a reader of the WARC knows what the bytes are):

- The response record's payload is the body as monitor's client received it after undoing the
  content coding (gzip/deflate) and the transfer coding (chunked): the HTTP client decodes while
  it streams, to enforce its size cap on the decoded bytes, and keeps no copy of the wire bytes.
  The HTTP header block is the response's headers as received, in their order and spelling, with
  the headers that describe the wire form changed to describe the stored body:
  `Content-Encoding` and `Transfer-Encoding` are dropped and `Content-Length` is the stored
  body's length (added at the end when the response had none). The received values are kept in
  the WARC header as `Monitor-Original-Content-Encoding`, `-Transfer-Encoding` and
  `-Content-Length` (when it differed), and `Monitor-Payload: decoded` says a coding was undone.
  Header values that are not ASCII are %-encoded (RFC 8187) by warcio. `WARC-Payload-Digest` (and the database's sha256) is the
  SHA-256 of that stored body; `WARC-Block-Digest` covers the header block and body.
- The status line is HTTP/1.1 (the client speaks nothing else) with the status as received.
- The request record holds the request line, Host and User-Agent of the final request (after
  redirects); `Monitor-Request: partial` says that the client's other headers (Accept,
  Accept-Encoding, Connection) are not recorded. `WARC-Concurrent-To` ties it to its response.
- The URL first asked for, when redirects led elsewhere, is `Monitor-Requested-URL`; the item
  and source are `Monitor-Item-Id` and `Monitor-Source`.

Each record is its own gzip member, so a range of the file (response and request, which are
written together) is copied byte for byte into an export. Appends hold an exclusive lock on the
file (the service and `monitor poll` may capture at once), and a write that fails (a full disk)
is cut back off the file, so a failure never leaves half a record behind.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import io
import os
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from monitor import __version__

WARC_VERSION = "WARC/1.1"
# Headers that describe the body on the wire, not the body as stored.
_WIRE_HEADERS = ("content-encoding", "transfer-encoding", "content-length")
_GZIP_LEVEL = 6


def warcio_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("warcio")
    except PackageNotFoundError:  # pragma: no cover - installed with monitor
        return "unknown"


SOFTWARE = f"monitor/{__version__} (warcio/{warcio_version()})"


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange as monitor's client saw it."""

    requested_url: str                      # what was asked for
    url: str                                # after redirects
    status: int
    headers: Sequence[tuple[bytes, bytes]]  # the response's headers as received (raw, in order)
    body: bytes                             # decoded (see the module's docstring)
    user_agent: str
    at: datetime                            # when the response arrived (UTC)


@dataclass(frozen=True)
class Records:
    """The gzip'd response and request records of one exchange, ready to append."""

    data: bytes
    record_id: str          # the response record's WARC-Record-ID
    payload_sha256: str     # hex
    warc_date: str
    url: str

    @property
    def sha256(self) -> str:
        """Of `data`: the bytes as they will sit in the file."""
        return hashlib.sha256(self.data).hexdigest()


# warcio is imported on first use (~70 ms): a poll that matches nothing never writes a record.

@functools.cache
def _writer_class():
    from warcio.utils import Digester
    from warcio.warcwriter import WARCWriter

    class Writer(WARCWriter):
        """warcio's writer with SHA-256 block and payload digests (warcio's default is SHA-1)."""

        @staticmethod
        def _create_digester():
            return Digester("sha256")

    return Writer


def _Writer(*args, **kwargs):
    return _writer_class()(*args, **kwargs)


def warc_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


def _records(write) -> bytes:
    """The records `write(writer)` writes, each compressed as a gzip member of its own."""
    out = []
    for record in write(_Writer(None, gzip=False, warc_version=WARC_VERSION)):
        buffer = io.BytesIO()
        writer = _Writer(buffer, gzip=False, warc_version=WARC_VERSION)
        writer.write_record(record)
        out.append(_gzip_member(buffer.getvalue()))
    return b"".join(out)


def exchange_records(exchange: Exchange, extra: dict[str, str] | None = None) -> Records:
    from warcio.statusandheaders import StatusAndHeaders

    date = warc_date(exchange.at)
    length = str(len(exchange.body))
    kept, original = [], {}
    for name, value in ((n.decode("latin-1"), v.decode("latin-1")) for n, v in exchange.headers):
        lowered = name.lower()
        if lowered == "content-length" and "content-length" not in original:
            if value.strip() != length:
                original[lowered] = value
            kept.append((name, length))   # where it stood, with the stored body's length
        elif lowered in _WIRE_HEADERS:
            original[lowered] = value
        else:
            kept.append((name, value))
    if not any(name.lower() == "content-length" for name, _ in kept):
        kept.append(("Content-Length", length))
    try:
        reason = HTTPStatus(exchange.status).phrase
    except ValueError:
        reason = ""
    http_headers = StatusAndHeaders(f"{exchange.status} {reason}".strip(), kept, protocol="HTTP/1.1")
    payload_sha256 = hashlib.sha256(exchange.body).hexdigest()
    record_id = f"<urn:uuid:{uuid.uuid4()}>"
    warc_headers = {"WARC-Type": "response", "WARC-Record-ID": record_id, "WARC-Date": date,
                    "WARC-Target-URI": exchange.url, "Monitor-Software": SOFTWARE}
    if exchange.requested_url != exchange.url:
        warc_headers["Monitor-Requested-URL"] = exchange.requested_url
    if original.get("content-encoding") or original.get("transfer-encoding"):
        warc_headers["Monitor-Payload"] = "decoded"
    for name in _WIRE_HEADERS:
        if name in original:
            warc_headers["Monitor-Original-" + "-".join(part.capitalize() for part in name.split("-"))] = original[name]
    warc_headers.update(extra or {})

    def write(builder):
        response = builder.create_warc_record(exchange.url, "response", payload=io.BytesIO(exchange.body),
                                              length=len(exchange.body), http_headers=http_headers,
                                              warc_headers_dict=dict(warc_headers))
        parts = urlsplit(exchange.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_headers = StatusAndHeaders(f"GET {target} HTTP/1.1",
                                           [("Host", parts.netloc), ("User-Agent", exchange.user_agent)],
                                           is_http_request=True)
        request = builder.create_warc_record(exchange.url, "request", payload=io.BytesIO(b""), length=0,
                                             http_headers=request_headers,
                                             warc_headers_dict={"WARC-Type": "request", "WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>",
                                                                "WARC-Date": date, "WARC-Target-URI": exchange.url,
                                                                "WARC-Concurrent-To": record_id,
                                                                "Monitor-Request": "partial"})
        return [response, request]

    data = _records(write)
    return Records(data, record_id, payload_sha256, date, exchange.url)


def warcinfo_record(filename: str, description: str) -> bytes:
    def write(builder):
        info = {"software": SOFTWARE, "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "description": description}
        return [builder.create_warcinfo_record(filename, info)]

    return _records(write)


# --- files --------------------------------------------------------------------------------------

def daily_name(moment: datetime) -> str:
    return f"monitor-{moment.astimezone(timezone.utc):%Y%m%d}.warc.gz"


@dataclass
class Appended:
    file: str                       # name within the folder
    offsets: list[int] = field(default_factory=list)


@contextmanager
def _locked(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def append(folder: Path, name: str, chunks: Sequence[bytes]) -> Appended:
    """Append `chunks` (each a response and request pair) to folder/name, under an exclusive lock,
    with a warcinfo record first when the file is new; flushed to disk before returning. On any
    error (ENOSPC) the file is cut back to where it was and the error raised."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with _locked(path) as fd:
        start = os.fstat(fd).st_size
        head = b"" if start else warcinfo_record(name, "Captures of matched news articles, made by monitor")
        done = Appended(name)
        position = start + len(head)
        for chunk in chunks:
            done.offsets.append(position)
            position += len(chunk)
        try:
            _write_all(fd, head + b"".join(chunks))
            os.fsync(fd)
        except BaseException:
            try:
                os.ftruncate(fd, start)
                os.fsync(fd)
            except OSError:
                pass
            raise
        return done


def read_range(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


@dataclass(frozen=True)
class Payload:
    record_id: str
    target: str
    payload_digest: str     # as written in the record
    sha256: str             # hex, of the payload as read
    digests_ok: bool | None  # warcio's check of the block and payload digests


def response_payload(data: bytes) -> Payload:
    """The first record of `data` (a capture's bytes): a response; its payload's SHA-256, and
    whether its digests hold. ArchiveLoadFailed (or zlib.error/OSError) when it cannot be read."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    iterator = ArchiveIterator(io.BytesIO(data), check_digests=True)
    for record in iterator:
        if record.rec_type != "response":
            raise ArchiveLoadFailed(f"expected a response record, found {record.rec_type}")
        body = record.content_stream().read()
        return Payload(record.rec_headers.get_header("WARC-Record-ID"),
                       record.rec_headers.get_header("WARC-Target-URI"),
                       record.rec_headers.get_header("WARC-Payload-Digest") or "",
                       hashlib.sha256(body).hexdigest(), record.digest_checker.passed)
    raise ArchiveLoadFailed("no record")


def check_file(path: Path) -> list[str]:
    """Problems found reading every record of a WARC file with its digests checked ([] if none)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    problems = []
    try:
        with open(path, "rb") as handle:
            iterator = ArchiveIterator(handle, check_digests=True)
            for record in iterator:
                stream = record.content_stream()
                while stream.read(1 << 20):
                    pass
                if record.digest_checker.passed is False:
                    problems.append(f"record at offset {iterator.get_record_offset()}: "
                                    + "; ".join(record.digest_checker.problems))
    except (ArchiveLoadFailed, zlib.error, OSError, EOFError, ValueError) as exc:
        problems.append(f"cannot be read: {type(exc).__name__}: {exc}")
    return problems


def copy_ranges(out: io.BufferedWriter, ranges: Iterable[tuple[Path, int, int]]) -> None:
    for path, offset, length in ranges:
        out.write(read_range(path, offset, length))
