"""Who is logged in: the signed session cookie, the idle timeout and the CSRF check.

The cookie carries a random token and its HMAC under the console's key
(``state.console_tables.ConsoleKey``); the store keeps only the token's
SHA-256. So a forged or altered cookie is refused before the store is asked,
a copy of the store opens no session, and logging out (or a new password)
ends the session on the server, not just in the browser.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (another
site's form posts arrive without it) and ``Secure`` when the console is served
over HTTPS (as a TLS reverse proxy forwards it) or ``[console] secure_cookie``
says so. Every state-changing request must also carry the session's CSRF
token, as the form field ``csrf`` or the ``X-CSRF-Token`` header (htmx sends
it with every request); without it the answer is 403 and nothing happens.

The login form is posted before there is a session: it carries a token bound
to a short-lived ``ks_login`` cookie (double submit, signed the same way).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from state.console_tables import ConsoleSession, ConsoleTables

SESSION_COOKIE = "ks_session"
LOGIN_COOKIE = "ks_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/console"


@dataclass(frozen=True)
class Current:
    """The logged-in admin of one request."""

    user: str
    csrf: str
    token: str


class Sessions:
    """Opens, finds and ends console sessions; signs and checks cookies."""

    def __init__(
        self, tables: ConsoleTables, *, idle: dt.timedelta, secure_cookie: bool = False
    ) -> None:
        self.tables = tables
        self.idle = idle
        self.secure_cookie = secure_cookie
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = self.tables.signing_key()
        return self._key

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def _signed(self, purpose: str, value: str) -> str:
        return f"{value}.{self._sign(purpose, value)}"

    def _unsigned(self, purpose: str, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        value, _sep, mac = cookie.rpartition(".")
        return value if hmac.compare_digest(mac, self._sign(purpose, value)) else None

    def secure(self, request: Request) -> bool:
        return self.secure_cookie or request.url.scheme == "https"

    def _set(self, response: Response, request: Request, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
            path=COOKIE_PATH,
        )

    # -- sessions ---------------------------------------------------------------------------
    def current(self, request: Request, now: dt.datetime) -> Current | None:
        """The session of this request, or None (no cookie, forged, ended or idle too long)."""
        token = self._unsigned("session", request.cookies.get(SESSION_COOKIE))
        if token is None:
            return None
        row: ConsoleSession | None = self.tables.session(token)
        if row is None:
            return None
        if now - row.last_seen_at > self.idle:
            self.tables.end_session(token)
            return None
        self.tables.touch(token, now)
        return Current(user=row.user, csrf=row.csrf, token=token)

    def open(self, request: Request, response: Response, user: str, now: dt.datetime) -> None:
        token, _row = self.tables.open_session(user, now)
        self.tables.prune_sessions(now - self.idle)
        self._set(response, request, SESSION_COOKIE, self._signed("session", token))
        response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)

    def end(self, response: Response, current: Current) -> None:
        self.tables.end_session(current.token)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)

    # -- CSRF -------------------------------------------------------------------------------
    @staticmethod
    def csrf_ok(current: Current, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(str(sent), current.csrf)

    def login_token(self, request: Request) -> tuple[str, str | None]:
        """The login form's token and, when the browser has none yet, its new ``ks_login``."""
        nonce = self._unsigned("login", request.cookies.get(LOGIN_COOKIE))
        cookie = None
        if nonce is None:
            nonce = secrets.token_urlsafe(16)
            cookie = self._signed("login", nonce)
        return self._sign("login-form", nonce), cookie

    def set_login_cookie(self, request: Request, response: Response, cookie: str | None) -> None:
        if cookie is not None:
            self._set(response, request, LOGIN_COOKIE, cookie)

    def login_token_ok(self, request: Request, sent: str | None) -> bool:
        nonce = self._unsigned("login", request.cookies.get(LOGIN_COOKIE))
        if nonce is None or not sent:
            return False
        return hmac.compare_digest(str(sent), self._sign("login-form", nonce))


__all__ = ["CSRF_FIELD", "CSRF_HEADER", "Current", "SESSION_COOKIE", "Sessions"]
