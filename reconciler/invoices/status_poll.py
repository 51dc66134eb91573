"""Payment status back: what sevDesk says of exported invoices, shown in KleanApp.

Why a poll, and why this one: sevDesk has no webhooks, and the office books
payments there (``bookAmount``, a bank match) or cancels an invoice there.
KleanApp's contract carries the result on the invoice's export link
(``document_number``, ``accounting_status``, ``paid_amount``,
``status_checked_at``), updated by PUTting the same link again.

One poll:

1. Only if some exported invoice can still change (not ``paid``, not
   ``cancelled``: those are final, see ``state.invoice_tables.SETTLED``), one
   paged sevDesk listing of the invoices changed since the last poll
   (``updateAfter``; a booking bumps an invoice's ``update``, a cancellation
   adds an ``SR`` invoice whose ``origin`` is it). Never one request per
   invoice. The cursor is where that listing began, a minute earlier
   (``OVERLAP``: whole-second stamps, clocks that differ); re-reading an
   unchanged invoice costs nothing, it is compared and left alone. An
   exported invoice whose state was never seen (exported before this
   existed) makes that one poll read everything.
2. What it saw is saved in the ledger first, then every linked invoice whose
   state differs from what KleanApp was last told is written there, each
   write journaled before it is sent. A failed write is simply written again
   by the next poll: the ledger still says it differs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from loguru import logger

from reconciler.config import Config
from reconciler.connectors.base import Connector
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.connectors.sevdesk.invoices import CANCELLATION, SevInvoice
from reconciler.domain.errors import AuthError, KleansyncError, LockLost, Unreachable
from reconciler.invoices.journal import journaled_for
from reconciler.invoices.mapping import money
from reconciler.sync.fence import run_lock
from state import Store
from state.invoice_tables import LINKED, SETTLED, InvoiceExport, InvoiceLedger
from state.tables import utcnow

#: The state store's cursor of the poll (sevDesk's clock).
CURSOR = ("sevdesk", "invoice_status")
#: How far before the last listing's start the next one asks from.
OVERLAP = dt.timedelta(minutes=1)
#: sevDesk's invoice status codes [spec] → the contract's ``accounting_status``.
ACCOUNTING_STATUS = {"100": "draft", "200": "open", "750": "partially_paid", "1000": "paid"}
#: The invoices run lock: the poll writes to exported invoices, as the export does.
LOCK_NAME = "invoices"


def accounting_status(invoice: SevInvoice, cancelled: bool = False) -> str | None:
    """The contract's word for where a sevDesk invoice stands (None: not one we report)."""
    return "cancelled" if cancelled else ACCOUNTING_STATUS.get(invoice.status)


def status_fields(invoice: SevInvoice, status: str | None, at: dt.datetime) -> dict[str, Any]:
    """The ``ExportLink`` status fields for ``invoice`` (what the link PUT carries)."""
    return {
        "document_number": invoice.number,
        "accounting_status": status,
        "paid_amount": (invoice.paid_amount or Decimal(0)).quantize(Decimal("0.01")),
        "status_checked_at": at,
    }


@dataclass
class StatusPoll:
    """What one poll did (``as_dict`` for logs and the service's metrics)."""

    polled: bool = False
    #: sevDesk invoices of ours the listing returned.
    seen: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "polled": self.polled,
            "seen": self.seen,
            "changed": self.changed,
            "errors": self.errors,
        }


async def poll_status(
    config: Config, *, connectors: Mapping[str, Connector], store: Store
) -> StatusPoll:
    """One status poll under the invoices run lock; see the module docstring."""
    kleanapp, sevdesk = connectors.get("kleanapp"), connectors.get("sevdesk")
    if not isinstance(kleanapp, KleanappConnector) or not isinstance(sevdesk, SevdeskConnector):
        raise TypeError("the status poll needs the KleanApp and the sevDesk connector")
    result = StatusPoll()
    async with run_lock(store, config, name=LOCK_NAME):
        ledger = InvoiceLedger(store)
        await _observe(sevdesk, store, ledger, result)
        run_id = f"status-{uuid.uuid4().hex[:8]}"
        for row in ledger.rows((LINKED,)):
            if row.sevdesk_id and row.accounting_status and _unreported(row):
                await _report(kleanapp, store, ledger, run_id, row, result)
    return result


async def _observe(
    sevdesk: SevdeskConnector, store: Store, ledger: InvoiceLedger, result: StatusPoll
) -> None:
    """Read what changed in sevDesk (one listing) and note it in the ledger."""
    rows = [r for r in ledger.rows((LINKED,)) if r.sevdesk_id]
    moving = {r.sevdesk_id: r for r in rows if r.accounting_status not in SETTLED}
    if not moving:
        return
    cursor = store.cursor(*CURSOR)
    never_seen = any(
        r.accounting_status is None and r.status_checked_at is None for r in moving.values()
    )
    since = None if cursor is None or never_seen else cursor - OVERLAP
    invoices, as_of = await sevdesk.changed_invoices(since)
    result.polled = True
    cancelled = {i.origin_id for i in invoices if i.invoice_type == CANCELLATION and i.origin_id}
    checked = utcnow()
    for invoice in invoices:
        row = moving.get(invoice.id)
        if row is None or invoice.invoice_type == CANCELLATION:
            continue
        result.seen += 1
        status = accounting_status(invoice, invoice.id in cancelled)
        if status is None:
            continue
        ledger.save(
            row.kleanapp_id,
            row.number,
            accounting_status=status,
            paid_amount=money(invoice.paid_amount or Decimal(0)),
            sevdesk_number=invoice.number or row.sevdesk_number,
            status_checked_at=checked,
        )
    listed = {i.id for i in invoices}
    if since is None:  # read everything: one not there (deleted in sevDesk) is not asked again
        for sev_id, row in moving.items():
            if sev_id not in listed and row.accounting_status is None:
                ledger.save(row.kleanapp_id, row.number, status_checked_at=checked)
    for origin in cancelled - listed:
        row = moving.get(origin)
        if row is not None:  # the original did not come along: cancelled all the same
            ledger.save(
                row.kleanapp_id,
                row.number,
                accounting_status="cancelled",
                status_checked_at=checked,
            )
    store.set_cursor(*CURSOR, as_of)


def _unreported(row: InvoiceExport) -> bool:
    return (row.accounting_status, row.paid_amount, row.sevdesk_number) != (
        row.reported_status,
        row.reported_paid,
        row.reported_number,
    )


async def _report(
    kleanapp: KleanappConnector,
    store: Store,
    ledger: InvoiceLedger,
    run_id: str,
    row: InvoiceExport,
    result: StatusPoll,
) -> None:
    """Write one invoice's status to its KleanApp export link (journaled first)."""
    sev_id = row.sevdesk_id or ""
    fields: dict[str, Any] = {
        "document_number": row.sevdesk_number,
        "accounting_status": row.accounting_status,
        "paid_amount": Decimal(row.paid_amount) if row.paid_amount is not None else None,
        "status_checked_at": row.status_checked_at or utcnow(),
    }
    try:
        await journaled_for(
            store,
            run_id,
            row.kleanapp_id,
            row.number,
            "kleanapp",
            "status",
            lambda: kleanapp.link_invoice(
                row.kleanapp_id, sev_id, status=fields, exported_at=row.exported_at
            ),
            target_id=sev_id,
            payload={"accounting_status": row.accounting_status, "paid_amount": row.paid_amount},
        )
    except (AuthError, Unreachable, LockLost):
        raise
    except KleansyncError as exc:
        result.errors.append(
            {"kleanapp_id": row.kleanapp_id, "number": row.number, "error": str(exc)}
        )
        logger.warning("invoice {}: status not written to KleanApp: {}", row.number, exc)
        return
    change = {
        "kleanapp_id": row.kleanapp_id,
        "number": row.number,
        "from": row.reported_status,
        "to": row.accounting_status,
        "paid_amount": row.paid_amount,
    }
    ledger.save(
        row.kleanapp_id,
        row.number,
        reported_status=row.accounting_status,
        reported_paid=row.paid_amount,
        reported_number=row.sevdesk_number,
    )
    result.changed.append(change)
    logger.info(
        "invoice {}: KleanApp shows {} ({} EUR paid)",
        row.number,
        row.accounting_status,
        row.paid_amount,
    )
