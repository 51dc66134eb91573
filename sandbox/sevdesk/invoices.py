"""Invoice routes of the sevDesk emulator (API-NOTES.md section 7): drafts and reads.

The rules that bite an exporter are enforced the way sevDesk's Update 2.0 does:
``saveInvoice`` creates drafts only (status 100, no number unless one is
given), every position needs a known ``unity``, a position's ``taxRate`` must
fit the invoice's ``taxRule`` (422), and a regular invoice may not be
delivered after its date (422). Drafts can be deleted, anything else answers
409 (code 159). Sums: nets per position, tax per rate (``invoice_records``). Everything is
validated before the store is touched, so a refused call leaves nothing behind.
saveInvoice answers positions the way sevDesk really does (numbers, not
strings: ``sandbox.sevdesk.answers``). What happens after the draft (finalise,
cancel, book a payment) is in ``sandbox.sevdesk.invoice_states``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .answers import saved_position
from .contact_records import is_person
from .einvoice import ADDRESS_PARTS, missing_for_einvoice, payment_method, refuse
from .invoice_records import INVOICE_TEXT, invoice_sums, new_invoice, position_sums
from .store import BERLIN, SEV_CLIENT, Store, iso, now_ts, ref, render
from .wire import (
    ApiError,
    as_list,
    body,
    decimal,
    deleted,
    existing_ref,
    flag,
    integer,
    not_found,
    number,
    objects,
    page,
    param_ts,
    ref_in,
    require,
    text,
    time_filters,
)

#: Allowed position tax rates per invoice taxRule id [spec Model_Invoice.taxRule];
#: None = not checked (OSS rules 18-21 carry foreign rates).
TAX_RULE_RATES: dict[str, frozenset[Decimal] | None] = {
    "1": frozenset({Decimal(0), Decimal(7), Decimal(19)}),
    "2": frozenset({Decimal(0)}),
    "3": frozenset({Decimal(0), Decimal(7), Decimal(19)}),
    "4": frozenset({Decimal(0)}),
    "5": frozenset({Decimal(0)}),
    "11": frozenset({Decimal(0)}),
    "17": frozenset({Decimal(0)}),
    "18": None,
    "19": None,
    "20": None,
    "21": None,
}
INVOICE_TYPES = ("RE", "WKR", "SR", "MA", "TR", "AR", "ER")
REQUIRED_INVOICE = (
    "objectName",
    "mapAll",
    "invoiceDate",
    "contact",
    "contactPerson",
    "discount",
    "status",
    "addressCountry",
    "taxRule",
    "taxText",
    "taxRate",
    "taxType",
    "invoiceType",
    "currency",
)
REQUIRED_POS = ("objectName", "mapAll", "quantity", "taxRate", "unity")
#: A position saved without ``positionNumber`` gets 1000 [obs: jernoxit/sevdesk-rs
#: tests/fixtures/write_invoice_save.json, both positions sent without one].
DEFAULT_POSITION_NUMBER = 1000
#: DELETE of anything but a draft [obs: jernoxit/sevdesk-rs src/endpoints/invoice.rs
#: delete_invoice, "measured": 409 with code 159].
NOT_DELETABLE = 159


def parse_date(value: Any, field: str) -> dt.datetime:
    """A sevDesk date: Unix seconds, "dd.mm.yyyy" or ISO; dates mean Berlin midnight."""
    if isinstance(value, bool | dict | list) or value is None:
        raise ApiError(400, f"'{field}' is not a valid date")
    raw = str(value).strip()
    try:
        if re.fullmatch(r"\d+", raw):
            return dt.datetime.fromtimestamp(int(raw), BERLIN)
        if m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", raw):
            return dt.datetime(int(m[3]), int(m[2]), int(m[1]), tzinfo=BERLIN)
        parsed = dt.datetime.fromisoformat(raw)
    except (ValueError, OverflowError, OSError) as exc:
        raise ApiError(400, f"'{field}' is not a valid date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BERLIN)


def get_invoice(store: Store, invoice_id: str) -> dict[str, Any]:
    """The invoice, or sevDesk's 404."""
    invoice = store.invoices.get(invoice_id)
    if invoice is None:
        raise not_found("Invoice", invoice_id)
    return invoice


def positions_of(store: Store, invoice_id: str) -> list[dict[str, Any]]:
    """The invoice's positions in their order."""
    rows = [p for p in store.positions.values() if p["invoice"]["id"] == invoice_id]
    return sorted(rows, key=_position_order)


def _position_order(position: dict[str, Any]) -> tuple[int, int]:
    """Positions in ``positionNumber`` order (validated integers), then by id."""
    return int(position["positionNumber"]), int(position["id"])


def invoice_routes(store: Store) -> list[Route]:
    """The routes that make, read and delete drafts, bound to one store."""

    def check_refs(data: dict[str, Any], invoice: dict[str, Any]) -> None:
        contact = existing_ref(data["contact"], "Contact", "contact", store.contacts.get)
        person = existing_ref(data["contactPerson"], "SevUser", "contactPerson", store.sev_user)
        country = existing_ref(
            data["addressCountry"], "StaticCountry", "addressCountry", store.country
        )
        rule = ref_in(data["taxRule"], "TaxRule", "taxRule")
        if rule["id"] not in TAX_RULE_RATES:
            raise ApiError(422, f"Unknown taxRule {rule['id']}")
        invoice.update(contact=contact, contactPerson=person, addressCountry=country, taxRule=rule)

    def apply_invoice(invoice: dict[str, Any], data: dict[str, Any]) -> None:
        check_refs(data, invoice)
        for key in INVOICE_TEXT:
            if key in data:
                invoice[key] = text(data[key], key)
        if str(data["status"]) != "100":
            raise ApiError(422, "Invoices can only be created as draft (status 100)")
        if invoice["invoiceType"] not in INVOICE_TYPES:
            raise ApiError(400, f"invoiceType must be one of {', '.join(INVOICE_TYPES)}")
        for key in ("showNet", "smallSettlement"):
            if key in data:
                invoice[key] = flag(data[key])
        if "propertyIsEInvoice" in data:
            invoice["_e_invoice"] = flag(data["propertyIsEInvoice"]) == "1"
        if data.get("paymentMethod"):
            method = existing_ref(
                data["paymentMethod"], "PaymentMethod", "paymentMethod", payment_method
            )
            invoice["paymentMethod"] = method
        parts = dict(invoice.get("_address_parts") or {})
        parts.update({k: text(data[k], k) for k in ADDRESS_PARTS if k in data})
        invoice["_address_parts"] = parts
        date = parse_date(data["invoiceDate"], "invoiceDate")
        invoice["invoiceDate"] = iso(int(date.timestamp()))
        invoice["_invoice_ts"] = int(date.timestamp())
        for key in ("deliveryDate", "deliveryDateUntil"):
            if data.get(key):
                invoice[key] = iso(int(parse_date(data[key], key).timestamp()))
        delivered = data.get("deliveryDate") and parse_date(data["deliveryDate"], "deliveryDate")
        if delivered and invoice["invoiceType"] == "RE" and delivered > date:
            raise ApiError(422, "deliveryDate must not be after invoiceDate for invoiceType RE")
        if not invoice.get("address"):
            invoice["address"] = _address_text(store, invoice["contact"]["id"])

    def build_position(invoice: dict[str, Any], item: Any) -> dict:
        if not isinstance(item, dict):
            raise ApiError(400, "every invoicePosSave entry must be an InvoicePos object")
        require(item, REQUIRED_POS, "InvoicePos")
        unity = existing_ref(item["unity"], "Unity", "unity", store.units.get)
        rate = decimal(item["taxRate"], "taxRate")
        allowed = TAX_RULE_RATES[invoice["taxRule"]["id"]]
        if not Decimal(0) <= rate < Decimal(100) or (allowed is not None and rate not in allowed):
            raise ApiError(
                422,
                f"taxRate {number(rate)} is not allowed for taxRule {invoice['taxRule']['id']}",
            )
        quantity = decimal(item["quantity"], "quantity")
        price = decimal(item.get("price") or 0, "price")
        given = item.get("positionNumber")
        position_number = (
            DEFAULT_POSITION_NUMBER if given in (None, "") else integer(given, "positionNumber")
        )
        discount = item.get("discount")
        if discount not in (None, ""):
            decimal(discount, "discount")
        if invoice.get("showNet", "1") == "1":
            net = price
        else:
            net = (price / (1 + rate / 100)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        ts = now_ts()
        position = {
            "id": item.get("id") and str(item["id"]) or store.new_id("InvoicePos"),
            "objectName": "InvoicePos",
            "_created": ts,
            "_updated": ts,
            "invoice": ref(invoice["id"], "Invoice"),
            "part": ref_in(item["part"], "Part", "part") if item.get("part") else None,
            "quantity": number(quantity),
            "price": number(price),
            "name": text(item.get("name"), "name"),
            "unity": unity,
            "sevClient": dict(SEV_CLIENT),
            "positionNumber": str(position_number),
            "text": text(item.get("text"), "text"),
            "discount": text(discount, "discount"),
            "taxRate": number(rate),
        }
        position_sums(position, quantity, net, rate)
        return position

    async def save_invoice(request: Request) -> JSONResponse:
        data = await body(request)
        inv_data = data.get("invoice")
        if not isinstance(inv_data, dict):
            raise ApiError(400, "'invoice' object is required")
        require(inv_data, REQUIRED_INVOICE)
        existing = store.invoices.get(str(inv_data["id"])) if inv_data.get("id") else None
        if inv_data.get("id") and existing is None:
            raise not_found("Invoice", str(inv_data["id"]))
        if existing is not None and existing.get("enshrined"):
            # [spec Model_Invoice.enshrined: "Enshrined invoices cannot be changed"]
            raise ApiError(422, "Enshrined invoices cannot be changed")
        if existing is not None and existing["status"] != "100":
            raise ApiError(422, "Only drafts can be changed")
        ts = now_ts()
        invoice = dict(existing) if existing else new_invoice(store.new_id("Invoice"), ts)
        apply_invoice(invoice, inv_data)
        kept = {p["id"]: p for p in positions_of(store, invoice["id"])} if existing else {}
        for gone in _refs(data.get("invoicePosDelete")):
            kept.pop(gone, None)
        items = data.get("invoicePosSave") or []
        if not isinstance(items, list):
            raise ApiError(400, "'invoicePosSave' must be a list")
        for item in items:
            if isinstance(item, dict) and item.get("id") and str(item["id"]) not in kept:
                raise not_found("InvoicePos", str(item["id"]))
            position = build_position(invoice, item)
            if position["id"] in kept:
                position["_created"] = kept[position["id"]]["_created"]
            kept[position["id"]] = position
        if invoice.get("_e_invoice"):
            missing = missing_for_einvoice(store, invoice, list(kept.values()))
            if missing:
                raise refuse(missing)
        invoice["_updated"] = ts
        invoice_sums(invoice, kept.values(), per_position=store.tax_per_position)
        ordered = sorted(kept.values(), key=_position_order)
        payload = {
            "invoice": render(invoice),
            "invoicePos": [saved_position(p, invoice, store.units) for p in ordered],
        }
        # Only now, with everything validated and the answer made, touch the store.
        for old in positions_of(store, invoice["id"]):
            store.positions.pop(old["id"], None)
        store.positions.update(kept)
        store.invoices[invoice["id"]] = invoice
        return objects(payload, 201)

    async def list_invoices(request: Request) -> JSONResponse:
        q = request.query_params
        keep = time_filters(request)
        rows = [i for i in store.invoices.values() if keep(i)]
        for param in ("status", "invoiceNumber", "customerInternalNote", "invoiceType"):
            if param in q:
                rows = [i for i in rows if i.get(param) == q[param]]
        if q.get("contact[id]"):
            rows = [i for i in rows if i["contact"]["id"] == q["contact[id]"]]
        start, end = param_ts(q.get("startDate")), param_ts(q.get("endDate"))
        if start is not None:
            rows = [i for i in rows if i["_invoice_ts"] >= start]
        if end is not None:
            rows = [i for i in rows if i["_invoice_ts"] <= end]
        order = q.get("orderByInvoiceNumber", "").upper()
        if order in ("ASC", "DESC"):
            rows.sort(key=lambda i: i.get("invoiceNumber") or "", reverse=order == "DESC")
        return page(request, rows)

    async def read_invoice(request: Request) -> JSONResponse:
        return as_list(get_invoice(store, request.path_params["invoice_id"]))

    async def get_positions(request: Request) -> JSONResponse:
        invoice = get_invoice(store, request.path_params["invoice_id"])
        return page(request, positions_of(store, invoice["id"]))

    async def list_positions(request: Request) -> JSONResponse:
        wanted = request.query_params.get("invoice[id]")
        rows = [p for p in store.positions.values() if not wanted or p["invoice"]["id"] == wanted]
        return page(request, rows)

    async def delete_invoice(request: Request) -> JSONResponse:
        invoice = get_invoice(store, request.path_params["invoice_id"])
        if invoice["status"] != "100":
            message = f"Invoice can only be deleted in status 100 but is status {invoice['status']}"
            raise ApiError(409, message, NOT_DELETABLE)
        for pos in positions_of(store, invoice["id"]):
            del store.positions[pos["id"]]
        del store.invoices[invoice["id"]]
        return deleted()

    return [
        Route("/Invoice", list_invoices, methods=["GET"]),
        Route("/Invoice/Factory/saveInvoice", save_invoice, methods=["POST"]),
        Route("/Invoice/{invoice_id}", read_invoice, methods=["GET"]),
        Route("/Invoice/{invoice_id}", delete_invoice, methods=["DELETE"]),
        Route("/Invoice/{invoice_id}/getPositions", get_positions, methods=["GET"]),
        Route("/InvoicePos", list_positions, methods=["GET"]),
    ]


def _refs(value: Any) -> list[str]:
    """ids out of ``invoicePosDelete``: one reference, a list of them, or null."""
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(i.get("id")) if isinstance(i, dict) else str(i) for i in items]


def _address_text(store: Store, contact_id: str) -> str | None:
    """What sevDesk fills into ``address`` from the contact's first address."""
    contact = store.contacts[contact_id]
    person = " ".join(p for p in (contact.get("surename"), contact.get("familyname")) if p)
    name = person if is_person(contact) else contact.get("name")
    address = next(iter(store.addresses_of(contact_id)), None)
    if address is None:
        return name or None
    lines = [name, address.get("street"), f"{address.get('zip') or ''} {address.get('city') or ''}"]
    return "\n".join(line.strip() for line in lines if line and line.strip())
