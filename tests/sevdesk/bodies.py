"""Request bodies and look-ups the sevDesk emulator's tests share (as sevDesk's docs write them)."""

from __future__ import annotations

from typing import Any

import httpx

GERMANY = {"id": 1, "objectName": "StaticCountry"}


def ref(id_: str, object_name: str) -> dict[str, str]:
    return {"id": id_, "objectName": object_name}


async def unit_id(client: httpx.AsyncClient, name: str) -> str:
    units = (await client.get("/Unity", params={"limit": 1000})).json()["objects"]
    return next(u["id"] for u in units if u["name"] == name)


def invoice_body(contact_id: str, unity: str, **invoice: Any) -> dict[str, Any]:
    """saveInvoice body as the spec describes it (with the real key invoicePosSave)."""
    positions = invoice.pop("positions", None) or [
        {"name": "Unterhaltsreinigung", "quantity": 4, "price": 32.5, "taxRate": 19}
    ]
    return {
        "invoice": {
            "objectName": "Invoice",
            "mapAll": True,
            "invoiceDate": "15.01.2026",
            "contact": ref(contact_id, "Contact"),
            "contactPerson": ref("900001", "SevUser"),
            "discount": 0,
            "status": "100",
            "addressCountry": GERMANY,
            "taxRule": {"id": "1", "objectName": "TaxRule"},
            "taxText": "Umsatzsteuer 19%",
            "taxRate": 0,
            "taxType": "default",
            "invoiceType": "RE",
            "currency": "EUR",
            **invoice,
        },
        "invoicePosSave": [
            {"objectName": "InvoicePos", "mapAll": True, "unity": ref(unity, "Unity"), **p}
            for p in positions
        ],
        "invoicePosDelete": None,
        "discountSave": [],
        "discountDelete": None,
    }
