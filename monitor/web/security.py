"""Who may use the web interface, and what protects each request.

- Loopback by default. Any other address only with MONITOR_WEB_PASSWORD set (else the command
  exits 2). With a password, every page but the login form needs a session: a cookie signed with a
  key made when the server starts (HttpOnly, SameSite=Lax, Secure over https; a restart logs
  everyone out). The password is compared in constant time; each wrong one costs a second.
- Without a password (loopback only), a request must name a loopback host in its Host header: a
  web page elsewhere cannot reach the interface by pointing its own name at 127.0.0.1 (DNS rebinding).
- Every POST carries a CSRF token, the form field `csrf_token`: an HMAC of a random cookie
  (`monitor_csrf`, HttpOnly, SameSite=Strict) under the server's key; without it, 403.
- Every response: Content-Security-Policy `default-src 'self'` (no inline script or style, no
  framing), nosniff, no referrer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
import time

PASSWORD_ENV = "MONITOR_WEB_PASSWORD"
SESSION_COOKIE = "monitor_session"
CSRF_COOKIE = "monitor_csrf"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 7 * 86400
FAILED_LOGIN_DELAY = 1.0

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (a name that is not an address is not loopback)."""
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def password_from_env() -> str | None:
    value = os.environ.get(PASSWORD_ENV)
    return value if value else None


def listen_problem(host: str, password: str | None) -> str | None:
    """Why the interface may not listen on `host` (None: it may)."""
    if is_loopback(host) or password:
        return None
    return (f"the web interface would listen on {host}, which is not a loopback address, without a password: "
            f"set {PASSWORD_ENV} (everyone who can reach it logs in with it), or listen on 127.0.0.1")


def host_of(header: str) -> str:
    """The host of a Host header ('127.0.0.1:8080', '[::1]:8080', 'localhost')."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class Keys:
    """The server's secret for sessions and CSRF tokens, made at start (never stored)."""

    def __init__(self, password: str | None, secret: bytes | None = None):
        self.password = password
        self._secret = secret or secrets.token_bytes(32)

    @property
    def login_required(self) -> bool:
        return self.password is not None

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def password_matches(self, given: str) -> bool:
        if self.password is None:
            return False
        # Both sides hashed first: the comparison takes the same time whatever their lengths.
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                                   hashlib.sha256(self.password.encode()).digest())

    def new_session(self, now: float | None = None) -> str:
        issued = str(int(now if now is not None else time.time()))
        nonce = secrets.token_urlsafe(12)
        return f"{issued}.{nonce}.{self._mac('session', issued + '.' + nonce)}"

    def session_valid(self, value: str | None, now: float | None = None) -> bool:
        if not value or value.count(".") != 2:
            return False
        issued, nonce, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("session", issued + "." + nonce)):
            return False
        age = (now if now is not None else time.time()) - int(issued) if issued.isdigit() else -1
        return 0 <= age <= SESSION_SECONDS

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, cookie: str) -> str:
        return self._mac("csrf", cookie)

    def csrf_valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return hmac.compare_digest(self.csrf_token(cookie), token)

    def basic_auth_valid(self, header: str | None) -> bool:
        """`Authorization: Basic …` with any user name and the password (API clients, feed readers)."""
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return self.password_matches(decoded.partition(":")[2])
