"""The webhook inbox of ``kleansync serve``: every accepted event, until it was acted on.

Why a durable inbox: KleanApp considers a delivery done once we answer 2xx,
and never sends it again. An event only held in memory is lost when its sync
cannot start (another run holds the lock) or the process is killed before
the debounce fired: a kill of ``serve`` once left 11 of 22 acknowledged edits
waiting for a manual run. So the receiver stores the event here *before* it
answers 2xx, and the service marks it ``done`` only after a sync run that
started after it completed (customer and unit events) or its invoice export
ran (``invoice.saved``). Whatever is ``pending`` is dispatched again: on every
start of the service and at each retry tick.

Why the content hash is unique: a signed body replayed under a new delivery
id is the same event, and is refused as a duplicate, not processed twice.
The delivery id (``state.service_tables.WebhookDelivery``) is written in the
same transaction, so "accepted" means both are on disk or neither. Rows are
kept ``KEEP_EVENTS`` after they are settled; that memory must outlast the
receiver's freshness window (``[webhooks] max_event_age_seconds``), else a
replay older than the memory but inside the window would get through.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import ColumnElement, delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from state.service_tables import WebhookDelivery
from state.tables import utcnow, when

if TYPE_CHECKING:
    from state.store import Store

#: Settled events are remembered this long (content dedupe; >= the freshness window).
KEEP_EVENTS = dt.timedelta(days=7)
#: An event whose work could not be done this many times is given up (logged;
#: the nightly sync and the invoice poll still cover its record).
MAX_ATTEMPTS = 60
PENDING, DONE, GIVEN_UP = "pending", "done", "given_up"
RECONCILE_EVENTS = frozenset({"customer.saved", "customer.archived", "unit.saved"})
INVOICE_EVENT = "invoice.saved"

Accepted = Literal["accepted", "duplicate"]


class InboxEvent(SQLModel, table=True):
    __tablename__ = "webhook_inbox"
    id: int | None = Field(default=None, primary_key=True)
    #: sha256 of the raw body: one row per distinct event, whatever its delivery id.
    content_sha256: str = Field(unique=True, max_length=64)
    delivery_id: str = Field(max_length=200)
    event: str
    record_id: str | None = None
    occurred_at: dt.datetime = when(default_now=True)
    received_at: dt.datetime = when(default_now=True, index=True)
    state: str = Field(default=PENDING, index=True)  # pending | done | given_up
    attempts: int = 0
    last_error: str | None = None
    settled_at: dt.datetime | None = when()


@dataclass(frozen=True)
class Admission:
    """What ``Inbox.accept`` did: accepted (with the new row) or a duplicate (and why)."""

    outcome: Accepted
    event_id: int | None = None
    reason: str | None = None


class Inbox:
    """The inbox rows of one ``Store`` (each call its own short transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def accept(
        self,
        *,
        delivery_id: str,
        content_sha256: str,
        event: str,
        record_id: str | None,
        occurred_at: dt.datetime,
    ) -> Admission:
        """Store an accepted delivery (and its id) before it is answered 2xx."""
        handled = event in RECONCILE_EVENTS or event == INVOICE_EVENT
        row = InboxEvent(
            content_sha256=content_sha256,
            delivery_id=delivery_id,
            event=event,
            record_id=record_id,
            occurred_at=occurred_at,
            state=PENDING if handled else DONE,  # an event we do not act on: dedupe only
            settled_at=None if handled else utcnow(),
        )
        with Session(self.store.engine, expire_on_commit=False) as s:
            s.add(WebhookDelivery(delivery_id=delivery_id, event=event, record_id=record_id))
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return Admission("duplicate", reason=self._why_duplicate(delivery_id))
        return Admission("accepted", event_id=row.id)

    def _why_duplicate(self, delivery_id: str) -> str:
        with Session(self.store.engine) as s:
            if s.get(WebhookDelivery, delivery_id) is not None:
                return "delivery id seen before"
        return "the same event was accepted before under another delivery id"

    def pending(self) -> list[InboxEvent]:
        with Session(self.store.engine, expire_on_commit=False) as s:
            query = select(InboxEvent).where(InboxEvent.state == PENDING)
            query = query.order_by(col(InboxEvent.id))
            return list(s.exec(query))

    def last_id(self) -> int:
        """The newest row's id (0 if none): work that starts now covers rows up to it."""
        with Session(self.store.engine) as s:
            return s.exec(select(func.max(InboxEvent.id))).one() or 0

    def settle_reconcile(self, upto: int) -> int:
        """Customer/unit events up to ``upto`` are done: a sync run started after them completed."""
        return self._settle(col(InboxEvent.event).in_(sorted(RECONCILE_EVENTS)), upto)

    def settle_invoice(self, invoice_id: str, upto: int) -> int:
        """``invoice.saved`` events of this invoice up to ``upto`` are done: it was exported."""
        return self._settle(
            (col(InboxEvent.event) == INVOICE_EVENT)
            & (col(InboxEvent.record_id) == str(invoice_id)),
            upto,
        )

    def _settle(self, which: ColumnElement[bool], upto: int) -> int:
        with Session(self.store.engine) as s:
            done = s.exec(
                update(InboxEvent)
                .where(which, col(InboxEvent.state) == PENDING, col(InboxEvent.id) <= upto)
                .values(state=DONE, settled_at=utcnow())
            )
            s.commit()
            return done.rowcount or 0

    def attempted(self, event_ids: list[int], error: str) -> list[InboxEvent]:
        """Count a failed attempt on these rows; returns the ones now given up."""
        given_up: list[InboxEvent] = []
        with Session(self.store.engine, expire_on_commit=False) as s:
            for event_id in event_ids:
                row = s.get(InboxEvent, event_id)
                if row is None or row.state != PENDING:
                    continue
                row.attempts += 1
                row.last_error = error[:500]
                if row.attempts >= MAX_ATTEMPTS:
                    row.state, row.settled_at = GIVEN_UP, utcnow()
                    given_up.append(row)
                s.add(row)
            s.commit()
        return given_up

    def counts(self) -> dict[str, int]:
        with Session(self.store.engine) as s:
            rows = s.exec(select(InboxEvent.state, func.count()).group_by(InboxEvent.state))
            return {state: n for state, n in rows}

    def prune(self, now: dt.datetime | None = None) -> int:
        """Forget settled rows older than ``KEEP_EVENTS``; pending ones are never dropped."""
        cutoff = (now or utcnow()) - KEEP_EVENTS
        with Session(self.store.engine) as s:
            done = s.exec(
                delete(InboxEvent).where(
                    col(InboxEvent.state) != PENDING, col(InboxEvent.received_at) < cutoff
                )
            )
            s.commit()
            return done.rowcount or 0
