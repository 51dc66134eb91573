"""Invoices as KleanApp's UI saves them: positions, totals, numbers.

The integration API never creates invoices (KleanApp's office staff do, in
the UI); the sandbox stands in for that UI with ``POST /_sandbox/invoices``,
whose body is parsed here. Totals follow the usual German invoice arithmetic,
which the engine must reproduce to the cent: each position's net is rounded
to cents, nets are summed per tax rate, the tax of each rate is rounded to
cents, gross = net + taxes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.kleanapp.validation import (
    INVOICE_STATUSES,
    ApiError,
    cents,
    decimal_of,
    invalid,
    iso,
    num,
    parse_date,
    require_object,
)

INVOICE_INPUT_FIELDS = frozenset(
    {
        "id",
        "number",
        "customer_id",
        "invoice_date",
        "delivery_date",
        "status",
        "currency",
        "header_text",
        "footer_text",
        "positions",
    }
)


@dataclass
class InvoiceRec:
    id: int
    number: str
    customer_id: int
    invoice_date: dt.date
    delivery_date: dt.date | None
    status: str
    currency: str
    header_text: str | None
    footer_text: str | None
    positions: list[dict[str, Any]]
    version: int
    updated_at: dt.datetime
    export: dict[str, Any] | None = None

    @property
    def locked(self) -> bool:
        return self.export is not None

    def totals(self) -> tuple[Decimal, Decimal]:
        """(total_net, total_gross): position nets in cents, tax per rate in cents."""
        net_by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
        for pos in self.positions:
            net_by_rate[pos["tax_rate"]] += cents(pos["quantity"] * pos["unit_price_net"])
        total_net = sum(net_by_rate.values(), Decimal("0.00"))
        tax = sum((cents(net * rate / 100) for rate, net in net_by_rate.items()), Decimal("0.00"))
        return cents(total_net), cents(total_net + tax)

    def render(self) -> dict[str, Any]:
        total_net, total_gross = self.totals()
        body: dict[str, Any] = {
            "id": self.id,
            "number": self.number,
            "customer_id": self.customer_id,
            "invoice_date": self.invoice_date.isoformat(),
            "delivery_date": self.delivery_date.isoformat() if self.delivery_date else None,
            "status": self.status,
            "currency": self.currency,
            "header_text": self.header_text,
            "footer_text": self.footer_text,
            "positions": [
                {
                    "product_name": p["product_name"],
                    "description": p["description"],
                    "quantity": num(p["quantity"]),
                    "unit_id": p["unit_id"],
                    "unit_name": p["unit_name"],
                    "unit_price_net": num(p["unit_price_net"]),
                    "tax_rate": num(p["tax_rate"]),
                }
                for p in self.positions
            ],
            "total_net": num(total_net),
            "total_gross": num(total_gross),
            "locked": self.locked,
            "version": self.version,
            "updated_at": iso(self.updated_at),
        }
        if self.export is not None:
            # Left out while unlinked: the contract's ``export`` is {allOf: [...],
            # nullable: true}, and OAS 3.0.3 only honours nullable next to ``type``.
            export = self.export
            checked = export.get("status_checked_at")
            paid = export.get("paid_amount")
            body["export"] = {
                **export,
                "exported_at": iso(export["exported_at"]),
                "status_checked_at": iso(checked) if checked else None,
                "paid_amount": None if paid is None else num(paid),
            }
        return body


#: Resolves a position's unit: (unit_id or None, unit_name or None) -> (id, name).
UnitLookup = Callable[[Any, Any], tuple[int, str] | None]


@dataclass
class InvoiceFilter:
    """Which invoices a list returns (``GET /invoices`` query parameters)."""

    updated_since: dt.datetime | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    statuses: frozenset[str] | None = None
    exported: bool | None = None

    def __call__(self, inv: InvoiceRec) -> bool:
        return not (
            (self.updated_since and inv.updated_at < self.updated_since)
            or (self.date_from and inv.invoice_date < self.date_from)
            or (self.date_to and inv.invoice_date > self.date_to)
            or (self.statuses is not None and inv.status not in self.statuses)
            or (self.exported is not None and inv.locked != self.exported)
        )


def parse_invoice_input(body: Any, *, creating: bool, unit_of: UnitLookup) -> dict[str, Any]:
    """The given fields of a sandbox invoice save, checked and converted.

    On create ``customer_id``, ``invoice_date`` and ``positions`` are required;
    on update (``id`` given) fields left out stay as they are.
    """
    body = require_object(body)
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key in body:
        if key not in INVOICE_INPUT_FIELDS:
            errors[key] = "unknown field"
    if creating:
        for key in ("customer_id", "invoice_date", "positions"):
            if key not in body:
                errors[key] = "required"

    def check(key: str, convert: Callable[[Any], Any]) -> None:
        if key in body:
            try:
                out[key] = convert(body[key])
            except ApiError as exc:
                errors.update(exc.fields or {key: exc.message})

    check("customer_id", lambda v: _int(v, "customer_id"))
    check("invoice_date", lambda v: parse_date(v, "invoice_date"))
    check("delivery_date", lambda v: None if v is None else parse_date(v, "delivery_date"))
    check("status", lambda v: _choice(v, "status", INVOICE_STATUSES))
    check("currency", lambda v: _text(v, "currency", nullable=False))
    check("number", lambda v: _text(v, "number", nullable=False))
    check("header_text", lambda v: _text(v, "header_text", nullable=True))
    check("footer_text", lambda v: _text(v, "footer_text", nullable=True))
    check("positions", lambda v: _positions(v, unit_of))
    if errors:
        raise invalid(errors)
    return out


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid({name: "must be an integer"})
    return value


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise invalid({name: "must be one of " + ", ".join(choices)})
    return value


def _text(value: Any, name: str, *, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or (not nullable and not value.strip()):
        raise invalid({name: "must be a non-empty string" if not nullable else "must be a string"})
    return value


def _positions(value: Any, unit_of: UnitLookup) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise invalid({"positions": "must be a non-empty list"})
    errors: dict[str, str] = {}
    result = []
    for i, raw in enumerate(value):
        where = f"positions[{i}]"
        if not isinstance(raw, dict):
            errors[where] = "must be an object"
            continue
        try:
            name = _text(raw.get("product_name"), f"{where}.product_name", nullable=False)
            description = _text(raw.get("description"), f"{where}.description", nullable=True)
            quantity = decimal_of(raw.get("quantity"), f"{where}.quantity")
            price = decimal_of(raw.get("unit_price_net"), f"{where}.unit_price_net")
            if price != cents(price):
                raise invalid({f"{where}.unit_price_net": "EUR with at most two decimals"})
            rate = decimal_of(raw.get("tax_rate"), f"{where}.tax_rate")
            if rate < 0 or rate > 100:
                raise invalid({f"{where}.tax_rate": "must be a percentage 0..100"})
            unit = unit_of(raw.get("unit_id"), raw.get("unit_name"))
            if unit is None:
                raise invalid({f"{where}.unit_id": "needs unit_id or unit_name of a known unit"})
        except ApiError as exc:
            errors.update(exc.fields or {})
            continue
        result.append(
            {
                "product_name": name,
                "description": description,
                "quantity": quantity,
                "unit_id": unit[0],
                "unit_name": unit[1],
                "unit_price_net": price,
                "tax_rate": rate,
            }
        )
    if errors:
        raise invalid(errors)
    return result
