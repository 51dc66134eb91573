"""The sevDesk connector: customers and units of one sevDesk account.

A thin facade over three modules, each small enough to read on its own:
``sevdesk_api`` (envelope, errors inside HTTP 200, paging, static lists),
``sevdesk_customers`` (Contact + ContactAddress + CommunicationWay as one
canonical ``Customer``, resumable multi-call create) with the pure mapping
rules in ``sevdesk_mapping``, ``sevdesk_units`` (``/Unity``, read-only by
default), ``sevdesk_stable_ids`` (the KleanApp id kept on each contact, in a
contact custom field) and ``sevdesk_invoices`` (the invoice export's calls;
invoices are not a synced entity, so they sit beside the ``Connector``
interface).

``Remote.version`` of a customer is an opaque digest over the contact's and
all its parts' ``update`` stamps (see ``sevdesk_mapping.change_stamp``);
``Remote.updated_at`` is the latest of those stamps in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from reconciler.connectors.base import Connector
from reconciler.connectors.http import HttpClient
from reconciler.connectors.sevdesk.api import (
    LABEL,
    ErrorInsideOk,
    NotSupportedBySevdesk,
    ReferencedByDocuments,
    SevdeskApi,
)
from reconciler.connectors.sevdesk.customers import SevdeskCustomers
from reconciler.connectors.sevdesk.invoices import SevdeskInvoices, SevInvoice, SevPosition
from reconciler.connectors.sevdesk.stable_ids import SevdeskStableIds
from reconciler.connectors.sevdesk.units import SevdeskUnits
from reconciler.domain.errors import FatalError
from reconciler.domain.models import Canonical, Customer, Listing, Remote, Unit

__all__ = [
    "ErrorInsideOk",
    "NotSupportedBySevdesk",
    "ReferencedByDocuments",
    "SevdeskConnector",
]


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
        transport: httpx.AsyncBaseTransport | None = None,
        create_units: bool = False,
    ) -> None:
        # sevDesk wants the raw token in Authorization, no "Bearer" (API-NOTES §1).
        self.http = HttpClient(
            service=LABEL,
            base_url=base_url,
            headers={"Authorization": token},
            requests_per_second=requests_per_second,
            transport=transport,
        )
        self.api = SevdeskApi(self.http, token)
        self.customers = SevdeskCustomers(self.api)
        self.units = SevdeskUnits(self.api, create_units=create_units)
        self.invoices = SevdeskInvoices(self.api)
        #: The KleanApp id kept on each contact (see .stable_ids and reconciler.sync.stable_ids).
        self.stable_ids = SevdeskStableIds(self.api)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def check_auth(self) -> None:
        await self.api.call("GET", "Contact", params={"limit": 1})

    async def contact_person_id(self) -> str:
        """Id of the SevUser an invoice names as contact person (the first user)."""
        return await self.api.contact_person_id()

    # -- invoice export (see sevdesk_invoices) ----------------------------------------
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

    async def all_invoices(self) -> list[SevInvoice]:
        return await self.invoices.all()

    async def customer_contact_id(self, customer_number: str) -> str | None:
        """The sevDesk customer (category 3) with exactly this number, if any."""
        return await self.invoices.customer_contact(customer_number)

    async def country_id(self, code: str | None) -> str:
        """StaticCountry id of an ISO-2 code (Germany when missing)."""
        return await self.api.country_id(code)

    # -- Connector interface ---------------------------------------------------------
    async def list(
        self, entity: type[Canonical], *, since: dt.datetime | None = None
    ) -> Listing[Any]:
        if entity is Customer:
            return await self.customers.list(since)
        if entity is Unit:
            return await self.units.list(since)
        raise _unsupported(entity)

    async def get(self, entity: type[Canonical], id: str) -> Remote[Any]:
        if entity is Customer:
            return await self.customers.get(str(id))
        if entity is Unit:
            return await self.units.get(str(id))
        raise _unsupported(entity)

    def part_inventory(self, entity: type[Canonical]) -> dict[str, tuple[str, ...]] | None:
        """Each customer's address and communication-way ids as last read."""
        return dict(self.customers.parts_seen) if entity is Customer else None

    def unstorable_fields(self, record: Canonical) -> frozenset[str]:
        """What a sevDesk contact cannot hold, so never reads as a change.

        No archive flag; an organisation (``name`` set) has no first/last name,
        a person has no company name; the country lives on the address, so a
        contact without one has none.
        """
        if not isinstance(record, Customer):
            return frozenset()
        fields = {"archived"}
        fields |= {"first_name", "last_name"} if record.kind == "company" else {"company_name"}
        if not (record.street or record.postal_code or record.city):
            fields.add("country")
        return frozenset(fields)

    async def create(
        self, entity: type[Canonical], record: Canonical, *, idempotency_key: str | None = None
    ) -> Remote[Any]:
        # sevDesk has no idempotency keys: its create finds an earlier attempt's
        # contact by customer number (always set: KleanApp numbers every customer).
        if entity is Customer and isinstance(record, Customer):
            return await self.customers.create(record)
        if entity is Unit and isinstance(record, Unit):
            return await self.units.create(record)
        raise _unsupported(entity)

    async def update(
        self,
        entity: type[Canonical],
        id: str,
        changes: dict[str, Any],
        *,
        expected_version: str | None = None,
    ) -> Remote[Any]:
        if entity is Customer:
            return await self.customers.update(str(id), changes, expected_version)
        if entity is Unit:
            raise self.units.refuse("change")
        raise _unsupported(entity)

    async def delete(
        self, entity: type[Canonical], id: str, *, expected_version: str | None = None
    ) -> None:
        if entity is Customer:
            await self.customers.delete(str(id), expected_version)
        elif entity is Unit:
            raise self.units.refuse("delete")
        else:
            raise _unsupported(entity)


def _unsupported(entity: type) -> FatalError:
    return FatalError(f"the sevDesk connector handles Customer and Unit, not {entity.__name__}")
