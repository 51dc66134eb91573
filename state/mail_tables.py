"""What the admins have already been e-mailed about (``MailMemory``).

A report e-mail after every run that still has the same open conflict
teaches people to ignore kleansync's mail. So the mailer remembers, per
channel (``"report"`` for real runs, ``"report-dry"`` for previews, or any
other name a caller picks for its own kind of mail), which items it has
mailed and when it last sent anything; ``reconciler.reporting.news``
decides from this what is new and when a reminder is due.

Items are fingerprints (short stable strings, chosen by the caller) mapped
to when they were last seen open; the decision forgets items not seen for a
while, so one that comes back later is new again.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from state.tables import when

if TYPE_CHECKING:
    from state.store import Store


class MailMemory(SQLModel, table=True):
    __tablename__ = "mail_memory"
    channel: str = Field(primary_key=True)
    #: fingerprint -> ISO time (UTC) it was last seen open.
    items: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    #: When the last mail of this channel went out (new items or a reminder).
    sent_at: dt.datetime | None = when()


def mail_memory(store: Store, channel: str) -> MailMemory | None:
    """What ``channel`` mailed so far (None: never anything)."""
    with store.session() as s:
        return s.get(MailMemory, channel)


def save_mail_memory(
    store: Store, channel: str, items: dict[str, str], sent_at: dt.datetime | None
) -> None:
    """Replace ``channel``'s memory; ``sent_at`` None keeps the last sending time."""
    with store.session() as s:
        row = s.get(MailMemory, channel) or MailMemory(channel=channel)
        row.items = dict(items)
        if sent_at is not None:
            row.sent_at = sent_at
        s.add(row)
