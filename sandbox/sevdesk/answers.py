"""How sevDesk writes a position into the ``saveInvoice`` answer: numbers, not strings.

The positions a ``saveInvoice`` call answers with are not the string-typed
records a later ``GET /Invoice/{id}/getPositions`` lists. Recorded on a live
test account (jernoxit/sevdesk-rs ``tests/fixtures/write_invoice_save.json``,
2026-10-01), each position there

* carries amounts as JSON numbers (``"price": 10``, ``"sumGross": 35.7``),
  ``positionNumber`` and ``priority`` as integers, ``discount`` as ``0``;
* carries ``quantity`` as a number, except that a quantity of exactly 1 comes
  as ``true`` (the reason the spec types it boolean);
* carries ``taxRate`` as a string with two decimals (``"19.00"``);
* embeds the whole invoice and the whole unit, has ``create``/``update``
  ``null`` and a few flags (``isPercentage``, ``createNextPart``).

Clients that read positions must therefore take both forms; the emulator keeps
the listing form in its store and builds this one only for the answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .store import render
from .wire import json_number

#: Amount fields of a position, sent as JSON numbers in the answer.
_AMOUNTS = (
    "price",
    "sumNet",
    "sumGross",
    "sumDiscount",
    "sumTax",
    "sumNetAccounting",
    "sumTaxAccounting",
    "sumGrossAccounting",
    "priceNet",
    "priceGross",
    "priceTax",
)


def saved_position(
    position: dict[str, Any], invoice: dict[str, Any], units: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``position`` (as stored) in the shape of a ``saveInvoice`` answer."""
    quantity = Decimal(position["quantity"])
    unit = units.get(position["unity"]["id"])
    out: dict[str, Any] = {
        "id": position["id"],
        "objectName": "InvoicePos",
        "additionalInformation": None,
        "create": None,
        "update": None,
        "invoice": render(invoice),
        "part": position.get("part"),
        "quantity": True if quantity == 1 else json_number(quantity),
        "price": json_number(position["price"]),
        "name": position.get("name"),
        "priority": 100,
        "unity": render(unit) if unit is not None else position["unity"],
        "positionNumber": int(position["positionNumber"]),
        "text": position.get("text"),
        "discount": json_number(position.get("discount") or 0),
        "isPercentage": True,
        "discountedValue": None,
        "taxRate": f"{Decimal(position['taxRate']):.2f}",
        "temporary": None,
    }
    out.update({key: json_number(position[key]) for key in _AMOUNTS})
    out.update(
        {
            "sumNetForeignCurrency": 0,
            "sumTaxForeignCurrency": 0,
            "sumGrossForeignCurrency": 0,
            "sumDiscountForeignCurrency": 0,
            "createNextPart": False,
        }
    )
    return out
