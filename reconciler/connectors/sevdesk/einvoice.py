"""What an e-invoice needs from sevDesk: payment methods, unit codes, contact facts, the XML.

sevDesk creates e-invoices itself (``propertyIsEInvoice``, the vendored
spec's Invoice tag lists what it needs). kleansync checks what it can read
before it writes anything (``reconciler.invoices.einvoice``): the payment
method by name (``GET /PaymentMethod``), each unit's UNECE code (``GET
/Unity``), whether a contact is a public body and has its Leitweg-ID
(``buyerReference``). After the export it reads the XML back (``GET
/Invoice/{id}/getXml``, answered as ``{"objects": "<xml>"}`` [obs]).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.connectors.sevdesk.api import SevdeskApi
from reconciler.connectors.sevdesk.mapping import text
from reconciler.domain.errors import FatalError


@dataclass(frozen=True)
class ContactFacts:
    """What an e-invoice asks of the sevDesk contact."""

    government_agency: bool
    buyer_reference: str | None


class SevdeskEInvoices:
    """The reads the e-invoice export needs, against one sevDesk account."""

    def __init__(self, api: SevdeskApi) -> None:
        self.api = api

    async def payment_methods(self) -> dict[str, str]:
        """Payment method name → id."""
        rows = await self.api.rows("PaymentMethod")
        return {str(r["name"]): str(r["id"]) for r in rows if r.get("name") and r.get("id")}

    async def unit_codes(self) -> dict[str, str | None]:
        """sevDesk unit id → its UNECE code (``uneceTradeUnitCode``), None when unset."""
        rows = await self.api.rows("Unity")
        return {str(r["id"]): text(r.get("uneceTradeUnitCode")) for r in rows if r.get("id")}

    async def contact_facts(self, contact_id: str) -> ContactFacts:
        row = await self.api.one(f"Contact/{contact_id}", f"contact {contact_id}")
        return ContactFacts(
            government_agency=str(row.get("governmentAgency") or "0") in ("1", "true", "True"),
            buyer_reference=text(row.get("buyerReference")),
        )

    async def xml(self, invoice_id: str) -> str:
        """The e-invoice XML sevDesk made of the invoice."""
        objects = await self.api.call("GET", f"Invoice/{invoice_id}/getXml", single=True)
        if not isinstance(objects, str) or not objects.strip():
            raise FatalError(f"sevDesk answered getXml of invoice {invoice_id} without XML")
        return objects
