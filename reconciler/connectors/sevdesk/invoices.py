"""Invoices in sevDesk (API-NOTES §7): create, find, read back, finalise.

Why it looks the way it does:

* ``saveInvoice`` may write and still answer 500 (or an error inside 200).
  Such a create is never repeated blindly: ``save`` reads back by the
  invoice's ``customerInternalNote`` (our idempotency key) and returns what
  the failed attempt wrote, if it did.
* sevDesk ignores filters it does not know and has misspelt this one in its
  own spec, so every row of a ``customerInternalNote=`` lookup is checked
  again here. A cancellation (``SR``) copies the original's fields, note
  included, so it never counts as "the" invoice of a note.
* Finalising uses ``sendBy`` with send type ``VPR`` ("printed") and
  ``sendDraft: false``: the invoice gets its number and status 200 and
  nobody is e-mailed. ``sendViaEmail`` is never called.
* Amounts come back as strings ("119", "-18.4") and are read as ``Decimal``.
  Amounts we send are decimal strings too (sevDesk takes form bodies, where
  everything is a string), so no float ever carries money.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from loguru import logger

from reconciler.connectors.sevdesk.api import SevdeskApi
from reconciler.connectors.sevdesk.mapping import is_customer, ref_id, text
from reconciler.domain.errors import (
    FatalError,
    NotFound,
    RemoteValidationError,
    TransientError,
)

#: sevDesk status codes [spec] → what an admin calls them.
STATUS_LABELS = {
    "50": "deactivated",
    "100": "draft",
    "200": "open",
    "750": "partially paid",
    "1000": "paid",
}
DRAFT = "100"
CANCELLATION = "SR"
#: sendBy's "printed / sent by post" type: finalises without e-mailing anyone.
SEND_TYPE_NO_MAIL = "VPR"


@dataclass(frozen=True)
class SevInvoice:
    """The parts of a sevDesk invoice the exporter looks at."""

    id: str
    number: str | None
    status: str
    invoice_type: str
    note: str | None
    contact_id: str | None
    sum_net: Decimal | None
    sum_gross: Decimal | None
    origin_id: str | None
    #: What was booked on it so far (``paidAmount``).
    paid_amount: Decimal | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, f"status {self.status}")


@dataclass(frozen=True)
class SevPosition:
    name: str | None
    text: str | None
    quantity: Decimal | None
    price: Decimal | None
    tax_rate: Decimal | None
    unity_id: str | None
    sum_net: Decimal | None


class SevdeskInvoices:
    """Invoice calls against one sevDesk account."""

    def __init__(self, api: SevdeskApi) -> None:
        self.api = api

    async def find_by_note(self, note: str) -> SevInvoice | None:
        """The (non-cancellation) invoice whose ``customerInternalNote`` is exactly ``note``."""
        rows = await self.api.rows("Invoice", {"customerInternalNote": note})
        found = [
            invoice_from_row(r)
            for r in rows
            if isinstance(r, dict)
            and r.get("customerInternalNote") == note
            and r.get("invoiceType") != CANCELLATION
        ]
        if not found:
            return None
        found.sort(key=lambda i: (len(i.id), i.id))
        if len(found) > 1:
            logger.warning(
                "sevDesk has {} invoices noted {!r} ({}); using {}",
                len(found),
                note,
                ", ".join(i.id for i in found),
                found[0].id,
            )
        return found[0]

    async def save(self, payload: dict[str, Any], note: str) -> SevInvoice:
        """Create a draft with ``Invoice/Factory/saveInvoice``; never two for one note.

        On an unclear answer the invoice is looked up by ``note``: found means
        the failed attempt wrote it after all.
        """
        try:
            objects = await self.api.call("POST", "Invoice/Factory/saveInvoice", json=payload)
        except TransientError as exc:
            if not exc.maybe_written:
                raise
            found = await self.find_by_note(note)
            if found is None:
                raise
            logger.info("sevDesk wrote invoice {} despite answering an error", found.id)
            return found
        row = objects.get("invoice") if isinstance(objects, dict) else None
        if not isinstance(row, dict) or row.get("id") is None:
            found = await self.find_by_note(note)
            if found is None:
                raise FatalError("sevDesk accepted an invoice but did not say which one")
            return found
        return invoice_from_row(row)

    async def get(self, invoice_id: str) -> SevInvoice:
        return invoice_from_row(
            await self.api.one(f"Invoice/{invoice_id}", f"invoice {invoice_id}")
        )

    async def positions(self, invoice_id: str) -> list[SevPosition]:
        rows = await self.api.rows(f"Invoice/{invoice_id}/getPositions")
        return [position_from_row(r) for r in rows if isinstance(r, dict)]

    async def finalise(self, invoice_id: str) -> SevInvoice:
        """Draft → open (200, numbered) via ``sendBy`` without e-mail; no-op if not a draft."""
        current = await self.get(invoice_id)
        if current.status != DRAFT:
            return current
        body = {"sendType": SEND_TYPE_NO_MAIL, "sendDraft": False}
        try:
            await self.api.call("PUT", f"Invoice/{invoice_id}/sendBy", json=body)
        except TransientError as exc:
            if not exc.maybe_written:
                raise
            current = await self.get(invoice_id)
            if current.status == DRAFT:
                raise
            return current
        return await self.get(invoice_id)

    async def delete_draft(self, invoice_id: str) -> None:
        """Delete one of our drafts (the only kind sevDesk deletes); gone already is fine.

        Why: a draft whose sums are not KleanApp's must not stay behind in the
        books, half-exported, answered with the same error on every run.
        """
        try:
            await self.api.call("DELETE", f"Invoice/{invoice_id}", single=True)
        except NotFound:
            return
        except TransientError as exc:
            if not exc.maybe_written:
                raise
            try:  # read back: an invoice that is gone was deleted
                await self.get(invoice_id)
            except NotFound:
                return
            raise

    async def changed(self, since: dt.datetime | None) -> tuple[list[SevInvoice], dt.datetime]:
        """Invoices created or changed after ``since`` (all without), and when sevDesk began.

        One paged listing with ``updateAfter`` (Unix seconds, strict, so asked
        from one second before): a booked payment or a cancellation bumps the
        invoice's ``update``, and a cancellation's SR invoice is new. sevDesk
        ignores filters it does not know, so a reader must not rely on it
        having filtered: every row is looked at again by the caller.
        """
        params: dict[str, Any] = {}
        if since is not None:
            stamp = since.astimezone(dt.UTC).replace(microsecond=0)
            params["updateAfter"] = int(stamp.timestamp()) - 1
        rows, as_of = await self.api.listing("Invoice", params)
        return [invoice_from_row(r) for r in rows if isinstance(r, dict)], as_of

    async def all(self) -> list[SevInvoice]:
        """Every invoice of the account (cancellations included), for status reports."""
        return [invoice_from_row(r) for r in await self.api.rows("Invoice") if isinstance(r, dict)]

    async def customer_contact(self, customer_number: str) -> str | None:
        """Id of the sevDesk customer with exactly this customer number, if any."""
        rows = await self.api.rows("Contact", {"customerNumber": customer_number, "depth": 1})
        exact = sorted(
            (
                r
                for r in rows
                if isinstance(r, dict)
                and text(r.get("customerNumber")) == customer_number
                and is_customer(r)
            ),
            key=lambda r: (len(str(r.get("id"))), str(r.get("id"))),
        )
        return ref_id(exact[0]) if exact else None


def invoice_from_row(row: dict[str, Any]) -> SevInvoice:
    invoice_id = ref_id(row)
    if invoice_id is None:
        raise RemoteValidationError(f"sevDesk returned an invoice without id: {row!r}"[:200])
    return SevInvoice(
        id=invoice_id,
        number=text(row.get("invoiceNumber")),
        status=str(row.get("status") or ""),
        invoice_type=str(row.get("invoiceType") or ""),
        note=row.get("customerInternalNote"),
        contact_id=ref_id(row.get("contact")),
        sum_net=_amount(row.get("sumNet")),
        sum_gross=_amount(row.get("sumGross")),
        origin_id=ref_id(row.get("origin")),
        paid_amount=_amount(row.get("paidAmount")),
    )


def position_from_row(row: dict[str, Any]) -> SevPosition:
    return SevPosition(
        name=text(row.get("name")),
        text=text(row.get("text")),
        quantity=_amount(row.get("quantity")),
        price=_amount(row.get("price")),
        tax_rate=_amount(row.get("taxRate")),
        unity_id=ref_id(row.get("unity")),
        sum_net=_amount(row.get("sumNet")),
    )


def _amount(value: Any) -> Decimal | None:
    """sevDesk's string amounts as Decimal; ``str()`` keeps a stray float's short form."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


__all__ = [
    "STATUS_LABELS",
    "SevInvoice",
    "SevPosition",
    "SevdeskInvoices",
    "invoice_from_row",
]
