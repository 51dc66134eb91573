"""An invoice's sums and its blank record, as the emulator keeps them (strings, rounded).

Sums are rounded per position to the cent (half up), then added up, as sevDesk
does; amounts are kept in sevDesk's listing form ("154.7"). ``new_invoice``
has every field a real invoice answer carries, unset ones as null.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .store import SEV_CLIENT, ref
from .wire import number

CENT = Decimal("0.01")
#: The invoice fields kept as text.
INVOICE_TEXT = (
    "invoiceNumber",
    "header",
    "headText",
    "footText",
    "timeToPay",
    "discountTime",
    "discount",
    "taxText",
    "taxRate",
    "taxType",
    "invoiceType",
    "currency",
    "address",
    "customerInternalNote",
)


def position_sums(pos: dict[str, Any], quantity: Decimal, net: Decimal, rate: Decimal) -> None:
    sum_net = (quantity * net).quantize(CENT, ROUND_HALF_UP)
    sum_tax = (sum_net * rate / 100).quantize(CENT, ROUND_HALF_UP)
    gross_price = (net * (1 + rate / 100)).quantize(CENT, ROUND_HALF_UP)
    pos.update(
        {
            "sumNet": number(sum_net),
            "sumTax": number(sum_tax),
            "sumGross": number(sum_net + sum_tax),
            "sumDiscount": "0",
            "sumNetAccounting": number(sum_net),
            "sumTaxAccounting": number(sum_tax),
            "sumGrossAccounting": number(sum_net + sum_tax),
            "priceNet": number(net),
            "priceTax": number(gross_price - net),
            "priceGross": number(gross_price),
        }
    )


def invoice_sums(invoice: dict[str, Any], positions: Any) -> None:
    rows = list(positions)
    net = sum((Decimal(p["sumNet"]) for p in rows), Decimal(0))
    tax = sum((Decimal(p["sumTax"]) for p in rows), Decimal(0))
    for suffix in ("", "Accounting"):
        invoice[f"sumNet{suffix}"] = number(net)
        invoice[f"sumTax{suffix}"] = number(tax)
        invoice[f"sumGross{suffix}"] = number(net + tax)


def new_invoice(id_: str, ts: int) -> dict[str, Any]:
    """An invoice with every field sevDesk sends, unset ones as null [obs]."""
    invoice: dict[str, Any] = {"id": id_, "objectName": "Invoice", "invoiceNumber": None}
    invoice.update({"_created": ts, "_updated": ts, "_cancelled": False})
    invoice.update(dict.fromkeys(INVOICE_TEXT[1:]))
    invoice.update(
        {
            "sevClient": dict(SEV_CLIENT),
            "createUser": ref("900001", "SevUser"),
            "status": "100",
            "smallSettlement": "0",
            "showNet": "1",
            "payDate": None,
            "deliveryDate": None,
            "deliveryDateUntil": None,
            "dunningLevel": None,
            "paymentMethod": None,
            "costCentre": None,
            "sendDate": None,
            "sendType": None,
            "origin": None,
            "sumDiscounts": "0",
            "sumNetForeignCurrency": "0",
            "sumTaxForeignCurrency": "0",
            "sumGrossForeignCurrency": "0",
            "sumDiscountsForeignCurrency": "0",
            "paidAmount": 0,
            "enshrined": None,
        }
    )
    return invoice
