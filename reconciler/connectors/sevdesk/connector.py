"""The sevDesk connector: customers and units of one sevDesk account.

A thin facade over modules each small enough to read on its own: ``api``
(envelope, errors inside HTTP 200, paging, static lists), ``customers``
(the ``connector.customers`` collection: Contact + ContactAddress +
CommunicationWay as one canonical ``Customer``, resumable multi-call create)
with the pure mapping rules in ``mapping``, ``units`` (the
``connector.units`` collection: ``/Unity``, read-only by default),
``stable_ids`` (the KleanApp id kept on each contact, in a contact custom
field) and ``invoices`` (the invoice export's calls; invoices are not a
synced entity, so they sit beside the collections).

``Remote.version`` of a customer is an opaque digest over the contact's and
all its parts' ``update`` stamps (see ``mapping.change_stamp``);
``Remote.updated_at`` is the latest of those stamps in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from reconciler.connectors.base import Connector
from reconciler.connectors.http import HttpClient, Limiter
from reconciler.connectors.sevdesk.api import (
    LABEL,
    ErrorInsideOk,
    NotSupportedBySevdesk,
    ReferencedByDocuments,
    SevdeskApi,
)
from reconciler.connectors.sevdesk.customers import SevdeskCustomers
from reconciler.connectors.sevdesk.einvoice import SevdeskEInvoices
from reconciler.connectors.sevdesk.invoices import SevdeskInvoices, SevInvoice, SevPosition
from reconciler.connectors.sevdesk.stable_ids import SevdeskStableIds
from reconciler.connectors.sevdesk.units import SevdeskUnits
from reconciler.domain.i18n import _

__all__ = [
    "ErrorInsideOk",
    "NotSupportedBySevdesk",
    "ReferencedByDocuments",
    "SevdeskConnector",
]


def new_key_hint(token_env: str) -> str:
    """What a 401 from sevDesk most likely means, and where the new key goes (one clause).

    sevDesk gives the user a new API key whenever the user is saved in
    sevDesk (Einstellungen → Benutzer), so a key that worked yesterday is
    refused today; the old one never comes back.
    """
    return _(
        "; sevDesk issues a new API key whenever the user is saved in sevDesk: copy the "
        "new one (sevDesk: Einstellungen → Benutzer → API-Token) into the environment "
        "variable %(env)s ([sevdesk] token_env)",
        env=token_env,
    )


class SevdeskConnector(Connector):
    """``Customer`` and ``Unit`` records of one sevDesk account."""

    side = "sevdesk"
    label = LABEL

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        requests_per_second: float = 5,
        max_requests_per_second: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: Limiter | None = None,
        create_units: bool = False,
        token_env: str = "SEVDESK_TOKEN",
    ) -> None:
        # sevDesk wants the raw token in Authorization, no "Bearer" (API-NOTES §1).
        self.http = HttpClient(
            service=LABEL,
            base_url=base_url,
            headers={"Authorization": token},
            requests_per_second=requests_per_second,
            max_requests_per_second=max_requests_per_second,
            transport=transport,
            limiter=limiter,
        )
        self.http.auth_hint = new_key_hint(token_env)
        self.api = SevdeskApi(self.http, token)
        self.customers = SevdeskCustomers(self.api)
        self.units = SevdeskUnits(self.api, create_units=create_units)
        self.invoices = SevdeskInvoices(self.api)
        self.einvoices = SevdeskEInvoices(self.api)
        #: The KleanApp id kept on each contact (see .stable_ids and reconciler.sync.stable_ids).
        self.stable_ids = SevdeskStableIds(self.api)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def check_auth(self) -> None:
        await self.api.call("GET", "Contact", params={"limit": 1})

    async def bookkeeping_version(self) -> str | None:
        """The account's bookkeeping system: "1.0" or "2.0" (``Tools/bookkeepingSystemVersion``)."""
        answer = await self.api.call("GET", "Tools/bookkeepingSystemVersion")
        version = answer.get("version") if isinstance(answer, dict) else None
        return None if version is None else str(version)

    async def contact_person_id(self) -> str:
        """Id of the SevUser an invoice names as contact person (the first user)."""
        return await self.api.contact_person_id()

    # -- invoice export (see .invoices) ----------------------------------------------
    async def find_invoice_by_note(self, note: str) -> SevInvoice | None:
        """The invoice whose ``customerInternalNote`` is exactly ``note`` (idempotency key)."""
        return await self.invoices.find_by_note(note)

    async def save_invoice(self, payload: dict[str, Any], note: str) -> SevInvoice:
        """Create a draft invoice; after an unclear answer, what that attempt wrote."""
        return await self.invoices.save(payload, note)

    async def get_invoice(self, invoice_id: str) -> SevInvoice:
        return await self.invoices.get(invoice_id)

    async def invoice_positions(self, invoice_id: str) -> list[SevPosition]:
        return await self.invoices.positions(invoice_id)

    async def finalise_invoice(self, invoice_id: str) -> SevInvoice:
        """Give a draft its number and status 200 without e-mailing anyone."""
        return await self.invoices.finalise(invoice_id)

    async def delete_draft_invoice(self, invoice_id: str) -> None:
        """Delete a draft invoice (sevDesk deletes nothing else); already gone is fine."""
        await self.invoices.delete_draft(invoice_id)

    async def changed_invoices(
        self, since: dt.datetime | None
    ) -> tuple[list[SevInvoice], dt.datetime]:
        """Invoices changed after ``since`` (one listing), and when sevDesk began answering."""
        return await self.invoices.changed(since)

    async def all_invoices(self) -> list[SevInvoice]:
        return await self.invoices.all()

    async def customer_contact_id(self, customer_number: str) -> str | None:
        """The sevDesk customer (category 3) with exactly this number, if any."""
        return await self.invoices.customer_contact(customer_number)

    async def country_id(self, code: str | None) -> str:
        """StaticCountry id of an ISO-2 code (Germany when missing)."""
        return await self.api.country_id(code)
