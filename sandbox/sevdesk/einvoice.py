"""E-invoices in the sevDesk emulator: ``propertyIsEInvoice``, its refusal, ``getXml``.

What sevDesk documents [spec ``Model_Invoice.propertyIsEInvoice``]: an
e-invoice needs the company's address, IBAN, BIC, e-mail, phone and tax
number (``sevClient``), the contact's e-mail and ``buyerReference``, and on
the invoice a payment method, a structured address with country and a
contact. What the emulator decided where the spec says nothing [inferred]:

* ``buyerReference`` is required of a contact marked ``governmentAgency``
  only: it carries the Leitweg-ID public bodies demand (XRechnung BT-10);
* every position's unit must have a ``uneceTradeUnitCode`` (EN 16931 BT-130);
* the refusal is **422** with the error body's ``data`` listing what is
  missing (``"sevClient.bankIban"``, ``"contact.email"``,
  ``"invoice.paymentMethod"``, ``"unity.<id>.uneceTradeUnitCode"``, ...) and
  nothing is stored; no recording of a real refusal was found.

``getXml`` answers ``{"objects": "<CII XML>"}`` as recorded (rs:
``tests/fixtures/invoice_xml.json``: a ``rsm:CrossIndustryInvoice``, EN 16931
"comfort" guideline). The emulator builds it with drafthorse from the stored
invoice and validates it against the Factur-X EN 16931 XSD drafthorse ships.
Payment methods are the recorded list (rs: ``tests/fixtures/payment_method_list.json``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .company import COMPANY_REQUIRED
from .store import Store
from .wire import ApiError, objects, page

CENT = Decimal("0.01")
#: The recorded payment methods [obs] (ids, names, electronicInvoiceId; texts shortened).
PAYMENT_METHODS = [
    ("21919", "SEPA Überweisung", "58", "PAYMENT_METHOD_58"),
    ("21920", "SEPA Lastschrift", "59", "PAYMENT_METHOD_58"),
    ("21921", "Bargeld", "10", "PAYMENT_METHOD_10"),
    ("21922", "Schuldenausgleich zwischen beiden Parteien", "97", "PAYMENT_METHOD_97"),
    ("21923", "Scheck", "20", "PAYMENT_METHOD_20"),
    ("114251", "Online-Zahlung (z.B. PayPal)", "68", "PAYMENT_METHOD_68"),
]
#: The invoice's own address parts an e-invoice needs [spec].
ADDRESS_PARTS = ("addressStreet", "addressZip", "addressCity")
EINVOICE_REFUSED = "The e-invoice is missing required information"


def payment_method(method_id: str) -> dict[str, Any] | None:
    for pid, name, code, translation in PAYMENT_METHODS:
        if pid == method_id:
            return {
                "id": pid,
                "objectName": "PaymentMethod",
                "additionalInformation": None,
                "create": "2020-10-26T18:57:14+01:00",
                "update": "2024-10-28T22:20:24+01:00",
                "name": name,
                "text": None,
                "electronicInvoiceId": code,
                "translationCode": translation,
            }
    return None


def missing_for_einvoice(
    store: Store, invoice: dict[str, Any], positions: list[dict[str, Any]]
) -> list[str]:
    """What an e-invoice lacks (empty: it may be saved), as the refusal lists it."""
    missing = [f"sevClient.{k}" for k in COMPANY_REQUIRED if not store.company.get(k)]
    contact = store.contacts.get(invoice["contact"]["id"], {})
    ways = [w for w in store.comm_ways.values() if w["contact"]["id"] == contact.get("id")]
    if not any(w.get("type") == "EMAIL" and w.get("value") for w in ways):
        missing.append("contact.email")
    if contact.get("governmentAgency") == "1" and not contact.get("buyerReference"):
        missing.append("contact.buyerReference")
    method = invoice.get("paymentMethod")
    if not method or payment_method(str(method.get("id"))) is None:
        missing.append("invoice.paymentMethod")
    parts = invoice.get("_address_parts") or {}
    missing += [f"invoice.{k}" for k in ADDRESS_PARTS if not parts.get(k)]
    if not invoice.get("addressCountry"):
        missing.append("invoice.addressCountry")
    for pos in positions:
        unit = store.units.get(pos["unity"]["id"], {})
        if not unit.get("uneceTradeUnitCode"):
            key = f"unity.{unit.get('id')}.uneceTradeUnitCode"
            if key not in missing:
                missing.append(key)
    return missing


def refuse(missing: list[str]) -> ApiError:
    """The refusal: 422, and the error body's ``data`` lists what is missing [inferred]."""
    error = ApiError(422, EINVOICE_REFUSED)
    error.data = list(missing)
    return error


def cii_xml(store: Store, invoice: dict[str, Any], positions: list[dict[str, Any]]) -> str:
    """The invoice as EN 16931 CII (Factur-X/ZUGFeRD "comfort"), validated against its XSD."""
    from drafthorse.models.accounting import ApplicableTradeTax
    from drafthorse.models.document import Document
    from drafthorse.models.party import TaxRegistration
    from drafthorse.models.tradelines import LineItem

    company = store.company
    contact = store.contacts.get(invoice["contact"]["id"], {})
    parts = invoice.get("_address_parts") or {}
    doc = Document()
    doc.context.guideline_parameter.id = "urn:cen.eu:en16931:2017"
    doc.header.id = invoice.get("invoiceNumber") or invoice["id"]
    doc.header.type_code = "380"
    doc.header.issue_date_time = dt.date.fromisoformat(str(invoice["invoiceDate"])[:10])
    seller = doc.trade.agreement.seller
    seller.name = company.get("name") or "sevDesk Emulator GmbH"
    seller.address.line_one = company.get("addressStreet")
    seller.address.postcode = company.get("addressZip")
    seller.address.city_name = company.get("addressCity")
    seller.address.country_id = "DE"
    seller.tax_registrations.add(TaxRegistration(id=("FC", company.get("taxNumber") or "")))
    if company.get("vatNumber"):
        seller.tax_registrations.add(TaxRegistration(id=("VA", company["vatNumber"])))
    buyer = doc.trade.agreement.buyer
    buyer.name = contact.get("name") or " ".join(
        p for p in (contact.get("surename"), contact.get("familyname")) if p
    )
    buyer.address.line_one = parts.get("addressStreet")
    buyer.address.postcode = parts.get("addressZip")
    buyer.address.city_name = parts.get("addressCity")
    country = store.country(invoice["addressCountry"]["id"]) or {}
    buyer.address.country_id = str(country.get("code") or "de").upper()
    if contact.get("buyerReference"):
        doc.trade.agreement.buyer_reference = contact["buyerReference"]
    settlement = doc.trade.settlement
    settlement.currency_code = invoice.get("currency") or "EUR"
    method = payment_method(str((invoice.get("paymentMethod") or {}).get("id")))
    settlement.payment_means.type_code = (method or {}).get("electronicInvoiceId") or "58"
    nets: dict[Decimal, Decimal] = defaultdict(Decimal)
    for n, pos in enumerate(positions, 1):
        unit = store.units.get(pos["unity"]["id"], {})
        code = unit.get("uneceTradeUnitCode") or "C62"
        net = Decimal(pos["sumNet"])
        rate = Decimal(pos["taxRate"])
        nets[rate] += net
        item = LineItem()
        item.document.line_id = str(n)
        item.product.name = pos.get("name") or "Position"
        item.agreement.net.amount = Decimal(pos["priceNet"])
        item.delivery.billed_quantity = (Decimal(pos["quantity"]), code)
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = "S" if rate else "Z"
        item.settlement.trade_tax.rate_applicable_percent = rate
        item.settlement.monetary_summation.total_amount = net.quantize(CENT)
        doc.trade.items.add(item)
    total_tax = Decimal(0)
    for rate, net in sorted(nets.items()):
        tax = (net * rate / 100).quantize(CENT, ROUND_HALF_UP)
        total_tax += tax
        trade_tax = ApplicableTradeTax()
        trade_tax.calculated_amount = tax
        trade_tax.basis_amount = net.quantize(CENT)
        trade_tax.type_code = "VAT"
        trade_tax.category_code = "S" if rate else "Z"
        trade_tax.rate_applicable_percent = rate
        settlement.trade_tax.add(trade_tax)
    summary = settlement.monetary_summation
    line_total = Decimal(invoice["sumNet"]).quantize(CENT)
    gross = Decimal(invoice["sumGross"]).quantize(CENT)
    summary.line_total = line_total
    summary.charge_total = Decimal("0.00")
    summary.allowance_total = Decimal("0.00")
    summary.tax_basis_total = line_total
    currency = invoice.get("currency") or "EUR"
    summary.tax_total = (Decimal(invoice["sumTax"]).quantize(CENT), currency)
    summary.grand_total = gross
    summary.due_amount = gross
    xml: bytes = doc.serialize(schema="FACTUR-X_EN16931")
    return xml.decode("utf-8")


def einvoice_routes(store: Store) -> list[Route]:
    """``GET /PaymentMethod`` and ``GET /Invoice/{id}/getXml``, bound to one store."""
    from .invoices import get_invoice, positions_of

    async def list_payment_methods(request: Request) -> JSONResponse:
        rows = [payment_method(row[0]) for row in PAYMENT_METHODS]
        return page(request, [r for r in rows if r is not None])

    async def get_xml(request: Request) -> JSONResponse:
        invoice = get_invoice(store, request.path_params["invoice_id"])
        if not invoice.get("_e_invoice"):
            raise ApiError(400, f"Invoice {invoice['id']} is not an e-invoice")
        try:
            xml = cii_xml(store, invoice, positions_of(store, invoice["id"]))
        except (ValueError, TypeError, ArithmeticError, SyntaxError) as exc:  # outside the XSD
            raise ApiError(422, f"The e-invoice XML cannot be created: {exc}"[:300]) from None
        return objects(xml)

    return [
        Route("/PaymentMethod", list_payment_methods, methods=["GET"]),
        Route("/Invoice/{invoice_id}/getXml", get_xml, methods=["GET"]),
    ]
