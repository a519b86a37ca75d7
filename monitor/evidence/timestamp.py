"""RFC 3161 trusted timestamps: a time-stamping authority signs the SHA-256 of a finished day's
WARC file, and the reply (a TimeStampResp, DER) is kept beside it as `FILE.tsr`.

Anyone can check one with OpenSSL and the authority's certificate:

    openssl ts -verify -in monitor-20261125.warc.gz.tsr -data monitor-20261125.warc.gz -CAfile tsa-ca.pem

monitor itself checks, when it asks and in `monitor evidence verify`, that the token names the
file's current hash (the signature is checked by whoever trusts the authority: OpenSSL above).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import httpx
from asn1crypto import algos, tsp

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_GRANTED = {"granted", "granted_with_mods"}


class TimestampError(Exception):
    pass


@dataclass(frozen=True)
class Token:
    reply: bytes           # the TimeStampResp as received (DER): what is stored
    digest: bytes          # the hash it names
    gen_time: datetime
    authority: str


def request(digest: bytes, nonce: int) -> bytes:
    """A DER TimeStampReq for a SHA-256 digest, asking for the authority's certificate."""
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                            "hashed_message": digest},
        "nonce": nonce,
        "cert_req": True,
    }).dump()


def read_reply(reply: bytes, digest: bytes | None = None, nonce: int | None = None) -> Token:
    """The token of a TimeStampResp; TimestampError when it was refused, is malformed, or names
    another hash or nonce than asked for."""
    try:
        parsed = tsp.TimeStampResp.load(reply)
        status = parsed["status"]["status"].native
        if status not in _GRANTED:
            text = parsed["status"]["status_string"].native if parsed["status"]["status_string"] else None
            raise TimestampError(f"the authority refused: {status}" + (f" ({'; '.join(text)})" if text else ""))
        token = parsed["time_stamp_token"]
        info = token["content"]["encap_content_info"]["content"].parsed
        algorithm = info["message_imprint"]["hash_algorithm"]["algorithm"].native
        named = info["message_imprint"]["hashed_message"].native
        gen_time = info["gen_time"].native
        tsa = None
        if info["tsa"]:
            name = info["tsa"].chosen
            tsa = name.human_friendly if hasattr(name, "human_friendly") else name.native
    except TimestampError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError on bad input
        raise TimestampError(f"not a usable RFC 3161 reply: {type(exc).__name__}: {exc}") from None
    if algorithm != "sha256":
        raise TimestampError(f"the token names a {algorithm} hash, not sha256")
    if digest is not None and named != digest:
        raise TimestampError("the token names another hash than the file's")
    if nonce is not None and info["nonce"].native != nonce:
        raise TimestampError("the reply's nonce is not the request's")
    return Token(reply, named, gen_time, str(tsa) if tsa else "")


async def timestamp(url: str, digest: bytes, *, client: httpx.AsyncClient | None = None,
                    timeout: float = 30.0) -> Token:
    """Ask the authority at `url` to timestamp `digest` (SHA-256)."""
    nonce = secrets.randbits(63)
    own = client is None
    client = client or httpx.AsyncClient(timeout=timeout, trust_env=False)
    try:
        response = await client.post(url, content=request(digest, nonce), headers={"Content-Type": QUERY_TYPE})
    except httpx.HTTPError as exc:
        raise TimestampError(f"cannot reach the time-stamping authority {url}: {type(exc).__name__}: {exc}") from None
    finally:
        if own:
            await client.aclose()
    if response.status_code != 200:
        raise TimestampError(f"the time-stamping authority {url} answered HTTP {response.status_code}")
    return read_reply(response.content, digest, nonce)


def file_sha256(path) -> tuple[bytes, int]:
    """(SHA-256 digest, size) of a file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.digest(), size
