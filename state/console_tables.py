"""What the admin console in the browser remembers: its accounts, sessions and login attempts.

Why in the state store: the console is part of ``kleansync serve``, which already
keeps everything it must remember there (and backs it up with the rest), and an
account given with ``kleansync admin add-user`` must work in the service at once.

* ``ConsoleUser``: one admin account; only the password's argon2 hash is kept
  (hashing lives in ``reconciler.console.accounts``, this layer only stores).
* ``ConsoleSession``: a logged-in browser. The cookie holds a random token; the
  row keeps only its SHA-256, so a copy of the store opens no session. It also
  keeps the session's CSRF token and when it was last used (idle timeout).
* ``ConsoleAttempt``: failed logins, per account and per address, for the throttle.
* ``ConsoleKey``: the random key the session cookie is signed with, made on first
  use and never shown anywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, func, select

from state.tables import utcnow, when

if TYPE_CHECKING:
    from state.store import Store


class ConsoleUser(SQLModel, table=True):
    __tablename__ = "console_user"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    password_hash: str
    created_at: dt.datetime = when(default_now=True)
    last_login_at: dt.datetime | None = when()


class ConsoleSession(SQLModel, table=True):
    __tablename__ = "console_session"
    #: SHA-256 (hex) of the cookie's token, never the token itself.
    token_sha256: str = Field(primary_key=True, max_length=64)
    user: str = Field(index=True)
    csrf: str
    created_at: dt.datetime = when(default_now=True)
    last_seen_at: dt.datetime = when(default_now=True)


class ConsoleAttempt(SQLModel, table=True):
    __tablename__ = "console_attempt"
    id: int | None = Field(default=None, primary_key=True)
    #: "user:NAME" or "addr:IP".
    key: str = Field(index=True, max_length=200)
    at: dt.datetime = when(default_now=True, index=True)


class ConsoleTaskDone(SQLModel, table=True):
    """An admin said a task is done; the next run checks it again (and lists it if it is not)."""

    __tablename__ = "console_task_done"
    id: int | None = Field(default=None, primary_key=True)
    #: SHA-256 of the task's message: a task is known by what it asks for.
    task_sha256: str = Field(index=True, max_length=64)
    by: str
    at: dt.datetime = when(default_now=True)


class ConsoleKey(SQLModel, table=True):
    __tablename__ = "console_key"
    id: int = Field(default=1, primary_key=True)
    key_hex: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleTables:
    """The console's rows in one ``Store`` (each call its own transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- accounts -------------------------------------------------------------------------
    def add_user(self, name: str, password_hash: str) -> bool:
        """A new account; False when the name is taken."""
        with Session(self.store.engine) as s:
            s.add(ConsoleUser(name=name, password_hash=password_hash))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return False
        return True

    def set_password(self, name: str, password_hash: str) -> bool:
        with self.store.session() as s:
            user = s.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first()
            if user is None:
                return False
            user.password_hash = password_hash
            s.add(user)
        # A new password ends every session of the old one.
        self.end_sessions(name)
        return True

    def user(self, name: str) -> ConsoleUser | None:
        with self.store.session() as s:
            return s.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first()

    def user_count(self) -> int:
        with self.store.session() as s:
            return s.exec(select(func.count()).select_from(ConsoleUser)).one()

    def logged_in(self, name: str, at: dt.datetime) -> None:
        with self.store.session() as s:
            user = s.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first()
            if user is not None:
                user.last_login_at = at
                s.add(user)

    # -- sessions -------------------------------------------------------------------------
    def open_session(self, user: str, now: dt.datetime) -> tuple[str, ConsoleSession]:
        """A new session of ``user``: (the cookie's token, the row)."""
        token = secrets.token_urlsafe(32)
        row = ConsoleSession(
            token_sha256=token_digest(token),
            user=user,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
        with self.store.session() as s:
            s.add(row)
        return token, row

    def session(self, token: str) -> ConsoleSession | None:
        with self.store.session() as s:
            return s.get(ConsoleSession, token_digest(token))

    def touch(self, token: str, now: dt.datetime) -> None:
        with self.store.session() as s:
            row = s.get(ConsoleSession, token_digest(token))
            if row is not None:
                row.last_seen_at = now
                s.add(row)

    def end_session(self, token: str) -> None:
        with self.store.session() as s:
            s.exec(
                delete(ConsoleSession).where(
                    col(ConsoleSession.token_sha256) == token_digest(token)
                )
            )

    def end_sessions(self, user: str) -> None:
        with self.store.session() as s:
            s.exec(delete(ConsoleSession).where(col(ConsoleSession.user) == user))

    def prune_sessions(self, idle_before: dt.datetime) -> None:
        with self.store.session() as s:
            s.exec(delete(ConsoleSession).where(col(ConsoleSession.last_seen_at) < idle_before))

    # -- failed logins --------------------------------------------------------------------
    def note_failure(self, keys: list[str], at: dt.datetime) -> None:
        with self.store.session() as s:
            s.add_all(ConsoleAttempt(key=key[:200], at=at) for key in keys)

    def failures(self, key: str, since: dt.datetime) -> list[dt.datetime]:
        """When ``key`` failed since ``since``, oldest first."""
        with self.store.session() as s:
            rows = s.exec(
                select(ConsoleAttempt.at)
                .where(ConsoleAttempt.key == key[:200], col(ConsoleAttempt.at) >= since)
                .order_by(col(ConsoleAttempt.at))
            )
            return list(rows)

    def forget_failures(self, key: str) -> None:
        with self.store.session() as s:
            s.exec(delete(ConsoleAttempt).where(col(ConsoleAttempt.key) == key[:200]))

    def prune_failures(self, before: dt.datetime) -> None:
        with self.store.session() as s:
            s.exec(delete(ConsoleAttempt).where(col(ConsoleAttempt.at) < before))

    # -- tasks said to be done -------------------------------------------------------------
    def task_done(self, message: str, by: str, at: dt.datetime) -> None:
        with self.store.session() as s:
            s.add(ConsoleTaskDone(task_sha256=token_digest(message), by=by, at=at))

    def tasks_done(self) -> dict[str, ConsoleTaskDone]:
        """The newest "done" of every task, by the SHA-256 of its message."""
        with self.store.session() as s:
            rows = s.exec(select(ConsoleTaskDone).order_by(col(ConsoleTaskDone.at)))
            return {row.task_sha256: row for row in rows}

    # -- the signing key ------------------------------------------------------------------
    def signing_key(self) -> bytes:
        """The cookie signing key, made once (two processes racing agree on the first)."""
        with Session(self.store.engine) as s:
            row = s.get(ConsoleKey, 1)
            if row is not None:
                return bytes.fromhex(row.key_hex)
            s.add(ConsoleKey(id=1, key_hex=secrets.token_hex(32)))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
        with Session(self.store.engine) as s:
            row = s.get(ConsoleKey, 1)
            assert row is not None
            return bytes.fromhex(row.key_hex)


__all__ = [
    "ConsoleAttempt",
    "ConsoleKey",
    "ConsoleSession",
    "ConsoleTaskDone",
    "ConsoleTables",
    "ConsoleUser",
    "token_digest",
    "utcnow",
]


def quarantined_count(store: Store) -> int:
    """Records held back as unreadable (the overview's count; kept by the sync's bookkeeping)."""
    from state.tables import QuarantineRow

    with store.session() as s:
        return s.exec(select(func.count()).select_from(QuarantineRow)).one()
