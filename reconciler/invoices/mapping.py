"""Pure rules of the invoice export: KleanApp invoice → sevDesk ``saveInvoice`` body.

No I/O here, so every rule can be read and tested on its own:

* which sevDesk tax rule an invoice gets, or why it cannot be exported;
* which sevDesk unit each position's KleanApp unit is (``rules.units``);
* the request body, with KleanApp's invoice number kept visible and
  ``customerInternalNote = "kleanapp:<id>"`` as the idempotency key;
* the content hash that tells "changed in KleanApp after export";
* the totals check: sevDesk's sums must equal KleanApp's to the cent.

Money is ``Decimal`` throughout and goes on the wire as decimal strings.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from reconciler.domain.i18n import N_
from reconciler.domain.models import Customer, Invoice, InvoicePosition
from rules.units import resolve_unit

CENT = Decimal("0.01")
NOTE_PREFIX = "kleanapp:"
#: sevDesk's tax rule "Umsatzsteuerpflichtige Umsätze" (taxable, domestic) [spec].
TAXABLE_RULE = "1"
#: Position rates that rule accepts (Update 2.0 validates them: 422 otherwise).
TAXABLE_RATES = frozenset({Decimal(19), Decimal(7), Decimal(0)})
UNIT_TASK = "create unit '{name}' in sevDesk: Einstellungen → System → Einheiten"
#: Fields whose change after export is not a change of the invoice itself:
#: status follows payment, the link (and the accounting status on it) is ours.
HASH_EXCLUDES = frozenset({"status", "locked", "exported_to", "accounting_status", "paid_amount"})


class Unexportable(Exception):
    """The invoice cannot go to sevDesk as it is; ``reason`` says why, ``tasks`` what to do."""

    def __init__(self, reason: str, *tasks: str, kind: str = "invoice") -> None:
        super().__init__(reason)
        self.reason = reason
        self.tasks = tasks
        self.kind = kind


def note_for(kleanapp_id: str) -> str:
    """The idempotency key stored on the sevDesk invoice."""
    return f"{NOTE_PREFIX}{kleanapp_id}"


def tax_rule(positions: Iterable[InvoicePosition]) -> str:
    """sevDesk tax rule for the positions' rates, or ``Unexportable`` with the reason.

    19 % and 7 % make a taxable invoice (rule 1). A 0 % position next to them
    is allowed on that rule (e.g. a pass-through fee). An invoice that is 0 %
    throughout is refused: whether it is reverse charge (§13b UStG), a small
    business (§19 UStG) or an export decides sevDesk's tax rule, and nothing
    in KleanApp's invoice says which. Any other rate is not a German VAT rate.
    """
    rates = {p.tax_rate for p in positions}
    if not rates:
        raise Unexportable("the invoice has no positions", kind="tax")
    foreign = sorted(r for r in rates if r not in TAXABLE_RATES)
    if foreign:
        shown = ", ".join(f"{_pct(r)} %" for r in foreign)
        raise Unexportable(
            f"tax rate {shown} is not a German VAT rate; sevDesk's taxable invoices "
            "take 19 %, 7 % or 0 %",
            "correct the tax rate in KleanApp, or book this invoice in sevDesk by hand",
            kind="tax",
        )
    if rates == {Decimal(0)}:
        raise Unexportable(
            "every position has 0 % VAT; whether that is reverse charge (§13b UStG), a small "
            "business (§19 UStG) or an export decides sevDesk's tax rule, and kleansync "
            "cannot tell which",
            "book this 0 % invoice in sevDesk by hand with the right tax rule",
            kind="tax",
        )
    return TAXABLE_RULE


def unit_ids(positions: Iterable[InvoicePosition], units: Mapping[str, str]) -> list[str]:
    """sevDesk unit id per position (``units``: sevDesk name → id), or ``Unexportable``.

    Names match by meaning (``rules.units.resolve_unit``: "Stunden" is "Std").
    Every missing unit is named in one task, so one run tells the admin all.
    """
    found: list[str] = []
    missing: list[str] = []
    for pos in positions:
        name = resolve_unit(pos.unit, units)
        if name is None:
            if pos.unit not in missing:
                missing.append(pos.unit)
            continue
        found.append(units[name])
    if missing:
        listed = ", ".join(f"'{m}'" for m in missing)
        raise Unexportable(
            f"unit {listed} does not exist in sevDesk",
            *(UNIT_TASK.format(name=m) for m in missing),
            kind="missing_unit",
        )
    return found


def check_dates(invoice: Invoice) -> None:
    """sevDesk refuses a regular invoice delivered after its date (422): say so first."""
    if invoice.delivery_date and invoice.delivery_date > invoice.invoice_date:
        raise Unexportable(
            f"delivery date {invoice.delivery_date} is after invoice date "
            f"{invoice.invoice_date}, which sevDesk refuses for a regular invoice",
            "correct the delivery date in KleanApp",
            kind="dates",
        )


def address_text(customer: Customer | None) -> str | None:
    """The address block printed on the invoice, from the KleanApp customer."""
    if customer is None:
        return None
    lines = [
        customer.display_name,
        customer.street,
        " ".join(p for p in (customer.postal_code, customer.city) if p),
    ]
    if customer.country and customer.country.upper() != "DE":
        lines.append(customer.country.upper())
    return "\n".join(line for line in lines if line and line.strip()) or None


def invoice_payload(
    invoice: Invoice,
    kleanapp_id: str,
    *,
    contact_id: str,
    contact_person_id: str,
    country_id: str,
    address: str | None,
    units: list[str],
    rule: str,
) -> dict[str, Any]:
    """The ``Invoice/Factory/saveInvoice`` body (API-NOTES §7): always a draft."""
    body: dict[str, Any] = {
        "objectName": "Invoice",
        "mapAll": True,
        "invoiceNumber": invoice.number,
        "invoiceDate": _date(invoice.invoice_date),
        "contact": {"id": contact_id, "objectName": "Contact"},
        "contactPerson": {"id": contact_person_id, "objectName": "SevUser"},
        "discount": 0,
        "status": "100",
        "addressCountry": {"id": country_id, "objectName": "StaticCountry"},
        "taxRule": {"id": rule, "objectName": "TaxRule"},
        "taxText": "Umsatzsteuer",
        "taxRate": 0,
        "taxType": "default",
        "invoiceType": "RE",
        "currency": invoice.currency,
        "showNet": True,
        "header": f"Rechnung {invoice.number}",
        "customerInternalNote": note_for(kleanapp_id),
    }
    optional = {
        "deliveryDate": invoice.delivery_date and _date(invoice.delivery_date),
        "headText": invoice.header_text,
        "footText": invoice.footer_text,
        "address": address,
    }
    body.update({k: v for k, v in optional.items() if v})
    positions = [
        {
            "objectName": "InvoicePos",
            "mapAll": True,
            "positionNumber": number,
            "name": pos.name,
            "text": pos.description,
            "quantity": _dec(pos.quantity),
            "price": _dec(pos.unit_price_net),
            "taxRate": _dec(pos.tax_rate),
            "unity": {"id": unit, "objectName": "Unity"},
        }
        for number, (pos, unit) in enumerate(zip(invoice.positions, units, strict=True), 1)
    ]
    return {
        "invoice": body,
        "invoicePosSave": positions,
        "invoicePosDelete": None,
        "discountSave": [],
        "discountDelete": None,
    }


def expected_totals(invoice: Invoice) -> tuple[Decimal, Decimal]:
    """KleanApp's (net, gross); computed the German way if KleanApp left them out."""
    if invoice.total_net is not None and invoice.total_gross is not None:
        return invoice.total_net, invoice.total_gross
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for pos in invoice.positions:
        by_rate[pos.tax_rate] += pos.total_net
    net = sum(by_rate.values(), Decimal("0.00"))
    tax = sum((_cents(n * r / 100) for r, n in by_rate.items()), Decimal("0.00"))
    return _cents(net), _cents(net + tax)


#: Why an invoice is held over its totals (stored English; ``reporting.phrases`` translates).
TOTALS_PRECHECK = N_(
    "KleanApp's totals (net %(net)s, gross %(gross)s) are not what sevDesk computes from "
    "the positions (net %(sev_net)s, gross %(sev_gross)s)"
)
TOTALS_PRECHECK_TASK = N_(
    "check the positions and totals of KleanApp invoice %(number)s: it is exported once they agree"
)
TOTALS_DISCARDED = N_("sevDesk computed other totals (%(problem)s); its draft was deleted again")
TOTALS_DISCARDED_TASK = N_(
    "book KleanApp invoice %(number)s in sevDesk by hand: its totals differ there by rounding"
)


def sevdesk_totals(positions: Iterable[InvoicePosition]) -> tuple[Decimal, Decimal]:
    """(net, gross) as sevDesk computes them from net-price positions.

    Each position's net rounded to the cent, the nets added up per rate, the
    tax of each rate rounded once (the emulator's ``invoice_sums`` says why
    this is sevDesk's way; it is also KleanApp's, so the two agree unless
    KleanApp's stored totals do not follow from its own positions).
    """
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for pos in positions:
        by_rate[pos.tax_rate] += _cents(pos.quantity * pos.unit_price_net)
    net = sum(by_rate.values(), Decimal("0.00"))
    tax = sum((_cents(n * r / 100) for r, n in by_rate.items()), Decimal("0.00"))
    return _cents(net), _cents(net + tax)


def check_totals(invoice: Invoice) -> None:
    """``Unexportable`` before any write when sevDesk would not arrive at KleanApp's totals."""
    net, gross = expected_totals(invoice)
    sev_net, sev_gross = sevdesk_totals(invoice.positions)
    if (_cents(net), _cents(gross)) != (sev_net, sev_gross):
        raise Unexportable(
            TOTALS_PRECHECK
            % {
                "net": money(net),
                "gross": money(gross),
                "sev_net": sev_net,
                "sev_gross": sev_gross,
            },
            TOTALS_PRECHECK_TASK % {"number": invoice.number},
            kind="totals",
        )


def totals_mismatch(
    invoice: Invoice, sum_net: Decimal | None, sum_gross: Decimal | None
) -> str | None:
    """Why sevDesk's sums differ from KleanApp's totals, or None when equal to the cent."""
    net, gross = expected_totals(invoice)
    problems = []
    for label, want, have in (("net", net, sum_net), ("gross", gross, sum_gross)):
        if have is None:
            problems.append(f"sevDesk reports no {label} total")
        elif _cents(have) != _cents(want):
            problems.append(f"{label} {_cents(have)} in sevDesk vs {_cents(want)} in KleanApp")
    return "; ".join(problems) or None


def content_hash(invoice: Invoice) -> str:
    """Digest of what the invoice says (status and link excluded)."""
    data = invoice.model_dump(mode="json", exclude=set(HASH_EXCLUDES))
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def money(value: Decimal | None) -> str | None:
    """An amount for reports and JSON: "119.00"."""
    return None if value is None else str(_cents(value))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _dec(value: Decimal) -> str:
    return format(value, "f")


def _pct(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _date(value: Any) -> str:
    """sevDesk's "dd.mm.yyyy": a calendar date, read as Berlin midnight (no zone slip)."""
    return value.strftime("%d.%m.%Y")
