"""Invoices in KleanApp: read, and linked to the sevDesk invoice they were exported as.

Invoices are not a synced entity (they travel one way, KleanApp to sevDesk),
so this is not a ``Collection``: KleanApp's "Rechnungsexport" filters, one
invoice by id, and the link that records the sevDesk invoice id on the
KleanApp invoice (which locks it there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.connectors.kleanapp.api import KleanappApi, decode, path_id, raise_for
from reconciler.connectors.kleanapp.wire import (
    _date_param,
    _export_body,
    _invoice_record,
    _since_param,
    _strict,
)
from reconciler.domain.errors import RemoteValidationError, TransientError
from reconciler.domain.models import Invoice, Listing, Remote


class InvoiceAlreadyLinked(RemoteValidationError):
    """The invoice is already linked to a different sevDesk invoice."""

    def __init__(self, message: str, linked_to: str | None) -> None:
        super().__init__(message, fields={"external_id": "already linked"})
        self.linked_to = linked_to


class KleanappInvoices:
    """KleanApp's ``/invoices``: filtered lists, one invoice, the export link."""

    def __init__(self, api: KleanappApi) -> None:
        self.api = api
        self.http = api.http

    async def list_filtered(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        statuses: Iterable[str] | None = None,
        exported: bool | None = None,
        since: dt.datetime | None = None,
    ) -> Listing[Invoice]:
        """Invoices as KleanApp's "Rechnungsexport" filters them (Von/Bis/Status/exportiert)."""
        params: dict[str, str] = {}
        if date_from is not None:
            params["from"] = _date_param(date_from)
        if date_to is not None:
            params["to"] = _date_param(date_to)
        if statuses is not None:
            params["status"] = ",".join(statuses)
        if exported is not None:
            params["exported"] = "true" if exported else "false"
        if since is not None:
            params["updated_since"] = _since_param(since)
        return await self.api.listing("invoices", params, Invoice, _invoice_record)

    async def get(self, id: str) -> Remote[Invoice]:
        iid = path_id(id, "invoice")
        response = await self.http.request("GET", f"invoices/{iid}")
        if response.status_code >= 400:
            raise_for(response, f"invoice {iid}")
        return _strict(decode(response), _invoice_record, f"invoice {iid}")

    async def link(
        self,
        id: str,
        external_id: str,
        *,
        status: Mapping[str, Any] | None = None,
        exported_at: dt.datetime | None = None,
    ) -> Remote[Invoice]:
        """Record the sevDesk invoice id on the KleanApp invoice, which locks it there.

        Linking again to the same id is a no-op success, or updates ``status``
        (document number, accounting status, paid amount, when checked: the
        contract's ``ExportLink``) when given; to another id it is
        ``InvoiceAlreadyLinked`` (one KleanApp invoice, one sevDesk invoice).
        """
        iid = path_id(id, "invoice")
        body = _export_body(external_id, exported_at or dt.datetime.now(dt.UTC), status)
        for attempt in (1, 2):
            try:
                response = await self.http.request("PUT", f"invoices/{iid}/export", json=body)
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await self.get(iid)
                if current.record.exported_to == external_id:
                    return current
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409:
                current = await self.get(iid)
                if current.record.exported_to == external_id:
                    return current
                raise InvoiceAlreadyLinked(
                    f"KleanApp invoice {current.record.number} is already linked to sevDesk "
                    f"invoice {current.record.exported_to}, not {external_id}",
                    current.record.exported_to,
                )
            if response.status_code >= 400:
                raise_for(response, f"invoice {iid}")
            return _strict(decode(response), _invoice_record, f"invoice {iid}")
        raise AssertionError("unreachable")  # pragma: no cover
