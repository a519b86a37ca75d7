"""`settings.web` of sources.yaml: where `monitor run` serves the web interface (monitor/web/)."""

from __future__ import annotations

import ipaddress

from pydantic import field_validator

from monitor.options import Strict

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def split_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:8080', '[::1]:8080', 'localhost:8080', ':8080' (loopback) or '8080' → (host, port)."""
    text = str(value).strip()
    if text.isdigit():
        host, port_text = "", text
    elif text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"expected [IPv6]:PORT, got {value!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8080, got {value!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port must be a number from 1 to 65535, got {port_text!r}")
    host = host or DEFAULT_HOST
    if ":" in host:
        ipaddress.IPv6Address(host)  # ValueError: not an address
    return host, int(port_text)


class WebSettings(Strict):
    """`listen: 127.0.0.1:8080` makes `monitor run` serve the web interface in the same process
    (None: it does not). An address other than loopback needs MONITOR_WEB_PASSWORD set."""

    listen: str | None = None
    page_size: int = 50

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @field_validator("page_size")
    @classmethod
    def _page_size(cls, value: int) -> int:
        if not 1 <= value <= 500:
            raise ValueError("must be from 1 to 500")
        return value
