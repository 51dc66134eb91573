"""The KleanApp connector: canonical customers, units and invoices over KleanApp's REST API.

Every KleanApp name lives in this package and nowhere else, so a change of
KleanApp's contract touches only it (see ``../shared/kleanapp/openapi.yaml``).
A facade over small modules, each readable on its own: ``api`` (paths and
paging, the ``{"data", "meta"}`` envelope, the ``{"error": {...}}`` shape,
``If-Match`` versions, read-back PATCH), ``customers`` and ``units`` (one
``Collection`` each, with their retries and read-backs), ``invoices``
(read-and-link; invoices are not a synced entity) and ``wire`` (the pure
translation of rows and request bodies to and from canonical records). The
webhook registrations ``kleansync serve`` keeps are here, on the connector:
they belong to no entity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from reconciler.connectors.base import Connector
from reconciler.connectors.http import HttpClient, Limiter
from reconciler.connectors.kleanapp.api import (
    SERVICE,
    KleanappApi,
    decode,
    path_id,
    raise_for,
    sevdesk_answered,
)
from reconciler.connectors.kleanapp.customers import CustomerNumberTaken, KleanappCustomers
from reconciler.connectors.kleanapp.invoices import InvoiceAlreadyLinked, KleanappInvoices
from reconciler.connectors.kleanapp.units import KleanappUnits, UnitInUse
from reconciler.domain.errors import FatalError
from reconciler.domain.models import Invoice, Listing, Remote

__all__ = [
    "CustomerNumberTaken",
    "InvoiceAlreadyLinked",
    "KleanappConnector",
    "UnitInUse",
]


class KleanappConnector(Connector):
    """Customers and units both ways, invoices read-and-link, against KleanApp."""

    side = "kleanapp"
    label = SERVICE

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        requests_per_second: float = 9.5,
        max_requests_per_second: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.http = HttpClient(
            service=SERVICE,
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            requests_per_second=requests_per_second,
            max_requests_per_second=max_requests_per_second,
            transport=transport,
            answered_by=sevdesk_answered,
            limiter=limiter,
        )
        self.api = KleanappApi(self.http)
        self.customers = KleanappCustomers(self.api)
        self.units = KleanappUnits(self.api)
        self.invoices = KleanappInvoices(self.api)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def check_auth(self) -> None:
        response = await self.http.request("GET", "units", params={"per_page": 1})
        if response.status_code >= 400:
            raise_for(response, "the unit list")

    # -- invoices (see .invoices) ----------------------------------------------
    async def list_invoices(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        statuses: Iterable[str] | None = None,
        exported: bool | None = None,
        since: dt.datetime | None = None,
    ) -> Listing[Invoice]:
        """Invoices as KleanApp's "Rechnungsexport" filters them (Von/Bis/Status/exportiert)."""
        return await self.invoices.list_filtered(
            date_from=date_from, date_to=date_to, statuses=statuses, exported=exported, since=since
        )

    async def get_invoice(self, id: str) -> Remote[Invoice]:
        return await self.invoices.get(id)

    async def link_invoice(
        self,
        id: str,
        external_id: str,
        *,
        status: Mapping[str, Any] | None = None,
        exported_at: dt.datetime | None = None,
    ) -> Remote[Invoice]:
        """Record the sevDesk invoice id on the KleanApp invoice (locks it), with its status."""
        return await self.invoices.link(id, external_id, status=status, exported_at=exported_at)

    # -- webhooks (for `kleansync serve`, reconciler/service/http.py) -------------
    async def list_webhooks(self) -> list[dict[str, Any]]:
        """The registered receivers: ``{"id", "url", "events", "secret"?}`` each."""
        response = await self.http.request("GET", "webhooks")
        if response.status_code >= 400:
            raise_for(response, "the webhook list")
        body = decode(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise FatalError(f"{SERVICE} answered the webhook list without data")
        return [row for row in data if isinstance(row, dict)]

    async def register_webhook(self, url: str, events: list[str], secret: str) -> dict[str, Any]:
        """Register a receiver; KleanApp then signs every delivery with ``secret``.

        A duplicate registration only means duplicate deliveries, which the
        receiver drops by delivery id, so an unclear outcome is not read back.
        """
        body = {"url": url, "events": list(events), "secret": secret}
        response = await self.http.request("POST", "webhooks", json=body)
        if response.status_code >= 400:
            raise_for(response, f"the webhook registration for {url}")
        created = decode(response)
        return created if isinstance(created, dict) else {}

    async def delete_webhook(self, webhook_id: str) -> None:
        wid = path_id(webhook_id, "webhook")
        response = await self.http.request("DELETE", f"webhooks/{wid}")
        if response.status_code >= 400 and response.status_code != 404:
            raise_for(response, f"webhook {wid}")
