"""What ``kleansync serve`` remembers: the webhook deliveries it has accepted.

KleanApp delivers at least once: a delivery not answered 2xx in time is sent
again with the same ``X-KleanApp-Delivery`` id, and so may a delivery whose
answer got lost. ``WebhookDelivery`` keeps every accepted id (primary key, so
two service processes racing on the same delivery cannot both accept it) and
the receiver drops a repeat before doing anything. Rows older than a week are
pruned: KleanApp gives up retrying long before that.

The service's invoice poll keeps its position in the ordinary ``Cursor``
table (side ``kleanapp``, entity ``invoice_poll``), next to the engine's.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from state.tables import utcnow, when

if TYPE_CHECKING:
    from state.store import Store

#: How long a delivery id is remembered.
KEEP_DELIVERIES = dt.timedelta(days=7)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    delivery_id: str = Field(primary_key=True, max_length=200)
    event: str
    record_id: str | None = None
    received_at: dt.datetime = when(default_now=True, index=True)


class DeliveryLog:
    """Accepted webhook deliveries of one ``Store`` (each call its own transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def remember(self, delivery_id: str, event: str, record_id: str | None) -> bool:
        """Record a delivery; False if this id was accepted before (a repeat)."""
        with Session(self.store.engine) as s:
            s.add(WebhookDelivery(delivery_id=delivery_id, event=event, record_id=record_id))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return False
        return True

    def seen(self, delivery_id: str) -> bool:
        with Session(self.store.engine) as s:
            return s.get(WebhookDelivery, delivery_id) is not None

    def prune(self, now: dt.datetime | None = None) -> int:
        """Forget deliveries older than ``KEEP_DELIVERIES``; returns how many."""
        cutoff = (now or utcnow()) - KEEP_DELIVERIES
        with Session(self.store.engine) as s:
            done = s.exec(delete(WebhookDelivery).where(col(WebhookDelivery.received_at) < cutoff))
            s.commit()
            return done.rowcount or 0
