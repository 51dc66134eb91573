"""Standing problems kleansync told a person about once, and whether the e-mail went out.

Why: a condition that no run can fix (sevDesk refusing the API key after the
user was saved in sevDesk, say) makes every run fail the same way. Mailing
each of those runs (every night, and every webhook-triggered run in between)
buries the one mail that matters. ``Alert`` keeps, per condition, since when
it stands, its one-line message and when it was e-mailed; the condition is
cleared by the first run that proves it gone, so a later recurrence is mailed
again. ``serve``'s ``/healthz`` reads the open ones.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlmodel import Field, SQLModel, col, select

from state.tables import utcnow, when

if TYPE_CHECKING:
    from state.store import Store


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    #: What stands, e.g. "rejected_key:sevDesk".
    key: str = Field(primary_key=True, max_length=200)
    message: str
    since: dt.datetime = when(default_now=True)
    #: When the e-mail about it went out; None: not yet (or no mail could be sent).
    mailed_at: dt.datetime | None = when()


class Alerts:
    """The open alerts of one ``Store`` (each call its own transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def raise_(self, key: str, message: str) -> Alert:
        """Open ``key`` (or keep it open, with the newest message); the row as stored."""
        with self.store.session() as s:
            row = s.get(Alert, key) or Alert(key=key, message=message)
            row.message = message
            s.add(row)
            s.flush()
            s.refresh(row)
            return row

    def mark_mailed(self, key: str) -> None:
        with self.store.session() as s:
            row = s.get(Alert, key)
            if row is not None:
                row.mailed_at = utcnow()
                s.add(row)

    def open(self, prefix: str = "") -> list[Alert]:
        with self.store.session() as s:
            rows = s.exec(select(Alert).where(col(Alert.key).startswith(prefix)))
            return sorted(rows, key=lambda r: r.key)

    def clear(self, prefix: str) -> int:
        """Close every alert whose key starts with ``prefix``; how many were open."""
        with self.store.session() as s:
            done = s.exec(delete(Alert).where(col(Alert.key).startswith(prefix)))
            return done.rowcount or 0
