"""Records a service refused, parked as "waiting for a fix".

A record KleanApp or sevDesk refuses (a 100 kB name, an address that is no
e-mail address) is refused again on every run until someone fixes it at its
source. Sending it again each time only produced the same error forever,
runs that always failed and reports that grew without end. So a refusal is
remembered here with the field the service named and its message, and:

* the same write (same action, same payload: ``fingerprint``) is not sent
  again, nor reported again: the run counts it as waiting and ends "ok";
* a changed payload (the source record was edited) is sent again, and a
  new refusal is reported once more;
* a write that succeeds, or is no longer planned for a record that was
  read, closes the refusal (``fixed``).

Closed rows are forgotten after ``KEEP_FIXED``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, delete
from sqlmodel import Field, Session, SQLModel, col, select

from state.tables import utcnow, when

if TYPE_CHECKING:
    from state.store import Store

#: How long a fixed refusal is kept (for "what was fixed lately").
KEEP_FIXED = dt.timedelta(days=30)


class Refusal(SQLModel, table=True):
    __tablename__ = "refusal"
    id: int | None = Field(default=None, primary_key=True)
    #: The planned action's id (``entity:key:side:op``): what was refused.
    action_id: str = Field(index=True)
    entity: str
    key: str
    side: str = Field(description="the side that refused the write")
    op: str
    #: ``side:id`` of the records the write was about (the pair), to notice a fix.
    records: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    #: Field(s) the service named, comma-separated; None if it named none.
    field: str | None = None
    #: One line: the field's message as the service gave it, cut to a sane length.
    message: str
    fingerprint: str
    status: str = Field(default="open", index=True)  # open | fixed
    first_run_id: str
    last_run_id: str
    created_at: dt.datetime = when(default_now=True)
    updated_at: dt.datetime = when(default_now=True)


def fingerprint(op: str, target_id: str | None, fields: dict[str, Any]) -> str:
    """Identifies the payload of a write: a different payload is worth another try."""
    text = json.dumps([op, target_id, fields], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Refusals:
    """The refusals of one ``Store`` (each call its own transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self) -> dict[str, Refusal]:
        with Session(self.store.engine) as s:
            return {r.action_id: r for r in s.exec(select(Refusal).where(Refusal.status == "open"))}

    def count_open(self) -> int:
        return len(self.open())

    def record(self, row: Refusal) -> Refusal:
        """Park a refusal, replacing an open one of the same action."""
        with Session(self.store.engine, expire_on_commit=False) as s:
            old = s.exec(
                select(Refusal).where(Refusal.action_id == row.action_id, Refusal.status == "open")
            ).first()
            if old is not None:
                row.id, row.first_run_id, row.created_at = old.id, old.first_run_id, old.created_at
            row.updated_at = utcnow()
            row = s.merge(row)
            s.commit()
            s.refresh(row)
            return row

    def close(self, action_ids: set[str]) -> int:
        """Mark open refusals of these actions fixed; how many were open."""
        if not action_ids:
            return 0
        with Session(self.store.engine) as s:
            query = select(Refusal).where(
                Refusal.status == "open", col(Refusal.action_id).in_(action_ids)
            )
            rows = s.exec(query).all()
            for row in rows:
                row.status = "fixed"
                row.updated_at = utcnow()
                s.add(row)
            s.commit()
            return len(rows)

    def settle(self, planned: set[str], seen: Mapping[str, set[str]], *, full: bool) -> int:
        """Close refusals whose write is no longer planned although its records were read.

        A record set back to what the other side holds needs no write any more;
        its refusal is over. ``seen`` holds, per entity, ``side:id`` of every
        record read; after a full read a record not seen is gone, so its
        refusal is over too. Per entity because ids are only unique within
        one: KleanApp's unit 1 and customer 1 are two records, and the unit,
        read on every run, used to close the refused customer's refusal as if
        the customer had been read and needed no write any more.
        """
        done = {
            action_id
            for action_id, row in self.open().items()
            if action_id not in planned
            and (full or seen.get(row.entity, set()).intersection(row.records))
        }
        return self.close(done)

    def prune(self, now: dt.datetime | None = None) -> None:
        cutoff = (now or utcnow()) - KEEP_FIXED
        with Session(self.store.engine) as s:
            s.exec(
                delete(Refusal).where(
                    col(Refusal.status) == "fixed", col(Refusal.updated_at) < cutoff
                )
            )
            s.commit()
