"""Admin accounts of the console: argon2 password hashes and the login throttle.

Why argon2 (argon2-cffi): it is the password hash the OWASP cheat sheet names
first, memory-hard so a stolen store costs an attacker dearly per guess, and
its library checks and re-hashes old parameters by itself; a hand-made scheme
on hashlib would need all of that written and reviewed.

Why a throttle per account *and* per address: per account stops guessing one
office member's password from many machines; per address stops one machine
from trying one password on every account. Ten wrong passwords within the
window (``ConsoleSettings.throttle_minutes``) close the door for that account
or address until the oldest of them leaves the window, even for the right
password, so a guesser learns nothing from the answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from reconciler.domain.errors import KleansyncError
from reconciler.domain.i18n import _
from state import Store
from state.console_tables import ConsoleTables

_HASHER = PasswordHasher()
#: Checked for an unknown name, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("kleansync-no-such-user")

MIN_PASSWORD = 10
MAX_NAME = 100


class AccountError(KleansyncError):
    """A name or password that cannot be an account (exit code 2, like bad input)."""

    exit_code = 2


def check_name(name: str) -> str:
    text = name.strip()
    if not text or len(text) > MAX_NAME or any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise AccountError(
            _(
                "%(name)r is not an account name (1 to %(max)s characters, no blanks)",
                name=name,
                max=MAX_NAME,
            )
        )
    return text


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            _("the password must be at least %(min)s characters long", min=MIN_PASSWORD)
        )
    return password


def add_user(store: Store, name: str, password: str) -> str:
    """A new console account (``kleansync admin add-user``); its name."""
    name = check_name(name)
    if not ConsoleTables(store).add_user(name, _HASHER.hash(check_password(password))):
        raise AccountError(_("there is already an account %(name)r", name=name))
    return name


def set_password(store: Store, name: str, password: str) -> str:
    """A new password for an existing account (its sessions end)."""
    name = check_name(name)
    if not ConsoleTables(store).set_password(name, _HASHER.hash(check_password(password))):
        raise AccountError(_("there is no account %(name)r", name=name))
    return name


@dataclass(frozen=True)
class LoginVerdict:
    """What a login attempt came to: ``ok``, ``wrong`` or ``throttled`` (then ``retry_after``)."""

    outcome: str
    user: str | None = None
    retry_after: dt.timedelta | None = None


class Gate:
    """Checks a name and password against the store, with the throttle."""

    def __init__(
        self, store: Store, *, max_failures: int = 10, window: dt.timedelta | None = None
    ) -> None:
        self.tables = ConsoleTables(store)
        self.max_failures = max_failures
        self.window = window or dt.timedelta(minutes=15)

    def _keys(self, name: str, address: str) -> list[str]:
        return [f"user:{name.strip().lower()}", f"addr:{address}"]

    def _throttled(self, keys: list[str], now: dt.datetime) -> dt.timedelta | None:
        since = now - self.window
        waits = []
        for key in keys:
            failures = self.tables.failures(key, since)
            if len(failures) >= self.max_failures:
                # Open again when enough of them have left the window.
                opens = failures[len(failures) - self.max_failures] + self.window
                waits.append(max(opens - now, dt.timedelta(seconds=1)))
        return max(waits) if waits else None

    def attempt(self, name: str, password: str, address: str, now: dt.datetime) -> LoginVerdict:
        keys = self._keys(name, address)
        wait = self._throttled(keys, now)
        if wait is not None:
            return LoginVerdict("throttled", retry_after=wait)
        user = self.tables.user(name.strip())
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            user = None
        if user is None:
            self.tables.note_failure(keys, now)
            self.tables.prune_failures(now - 4 * self.window)
            return LoginVerdict("wrong")
        if _HASHER.check_needs_rehash(user.password_hash):
            self.tables.set_password(user.name, _HASHER.hash(password))
        self.tables.forget_failures(keys[0])
        self.tables.logged_in(user.name, now)
        return LoginVerdict("ok", user=user.name)


__all__ = ["AccountError", "Gate", "LoginVerdict", "add_user", "check_name", "set_password"]
