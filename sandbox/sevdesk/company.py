"""The emulated account's own company data (sevDesk's ``sevClient``), as an e-invoice needs it.

A fresh account is complete, so e-invoices work out of the box; a test or
the demo blanks a field with ``PATCH /_sandbox/company`` to see the refusal.
"""

from __future__ import annotations

from typing import Any

#: What an e-invoice needs of the company [spec ``Model_Invoice.propertyIsEInvoice``];
#: ``vatNumber`` is optional there (small businesses).
COMPANY_REQUIRED = (
    "addressStreet",
    "addressZip",
    "addressCity",
    "bankIban",
    "bankBic",
    "contactEmail",
    "contactPhone",
    "taxNumber",
)
COMPANY: dict[str, Any] = {
    "name": "Glanzwerk Gebäudereinigung GmbH",
    "addressStreet": "Industriestraße 12",
    "addressZip": "50735",
    "addressCity": "Köln",
    "bankIban": "DE02370502990000684712",
    "bankBic": "COKSDE33XXX",
    "contactEmail": "buchhaltung@glanzwerk.example",
    "contactPhone": "+49 221 1234567",
    "taxNumber": "217/5701/1234",
    "vatNumber": "DE123456789",
}
