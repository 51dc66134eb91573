"""E-invoices (``--format einvoice``): what is checked before, and after, sevDesk makes one.

Why checked before: from 2027/2028 German B2B invoices must be e-invoices
(EN 16931), and sevDesk refuses one that lacks data (the company's IBAN,
the customer's e-mail, ...). An invoice that cannot be an e-invoice is
held with one task per missing cause, before anything is written; it is
never sent as a plain invoice instead. What kleansync can read is checked
here (``preflight``): the customer's e-mail and structured address with
country (KleanApp), a public body's Leitweg-ID (``buyerReference`` on the
sevDesk contact), the payment method, every unit's UNECE code, a tax rule
allowed for e-invoices. What only sevDesk knows (the company's own IBAN,
BIC, tax number) comes back as its refusal, whose list becomes the same kind
of tasks (``refusal_tasks``).

Why checked after: the XML sevDesk answers ``getXml`` with is what the
customer's software reads. It must be a CII document whose totals are
KleanApp's to the cent (``xml_problem``); its SHA-256 is kept in the ledger.

Every sentence is stored English (``--json``, the ledger) and said again in
the reader's language by ``reconciler.reporting.phrases``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.errors import KleansyncError, RemoteValidationError
from reconciler.domain.i18n import N_
from reconciler.domain.models import Customer, Invoice, InvoicePosition
from reconciler.invoices.lookups import NEW_CONTACT, ExportLookups
from reconciler.invoices.mapping import CENT, Unexportable, expected_totals

CII_ROOT = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
#: Tax rules sevDesk does not allow on e-invoices: the OSS rules [issue 19].
NOT_FOR_EINVOICES = frozenset({"18", "19", "20"})
#: UNECE Rec 20 codes of the units cleaning companies use (what to set in sevDesk).
KNOWN_UNECE = {
    "Std": "HUR",
    "Stk": "H87",
    "m²": "MTK",
    "m": "MTR",
    "lfm": "MTR",
    "pauschal": "LS",
    "kg": "KGM",
    "t": "TNE",
    "m³": "MTQ",
}

HELD_REASON = N_("it cannot be an e-invoice yet: data is missing (see its tasks)")
CUSTOMER_EMAIL = N_("customer %(customer)s: e-mail address missing")
CUSTOMER_FIELD = N_("customer %(customer)s: %(field)s missing")
LEITWEG_ID = N_(
    "customer %(customer)s: Leitweg-ID (buyerReference) missing in sevDesk, which a public "
    "body needs"
)
PAYMENT_METHOD = N_(
    "payment method '%(name)s' does not exist in sevDesk: create it there or set [invoices] "
    "payment_method"
)
UNIT_CODE = N_(
    "unit '%(unit)s' has no UNECE code in sevDesk: set %(code)s there "
    "(Einstellungen → System → Einheiten)"
)
UNIT_CODE_UNKNOWN = N_(
    "unit '%(unit)s' has no UNECE code in sevDesk: set one there "
    "(Einstellungen → System → Einheiten)"
)
TAX_RULE = N_("tax rule %(rule)s (OSS) is not allowed on e-invoices")
#: sevDesk's refusal lists what it lacks; its own company data becomes these tasks.
COMPANY_TASKS = {
    "sevClient.bankIban": N_("company data in sevDesk: IBAN missing (Einstellungen → Unternehmen)"),
    "sevClient.bankBic": N_("company data in sevDesk: BIC missing (Einstellungen → Unternehmen)"),
    "sevClient.taxNumber": N_(
        "company data in sevDesk: tax number missing (Einstellungen → Unternehmen)"
    ),
    "sevClient.contactEmail": N_(
        "company data in sevDesk: e-mail address missing (Einstellungen → Unternehmen)"
    ),
    "sevClient.contactPhone": N_(
        "company data in sevDesk: phone number missing (Einstellungen → Unternehmen)"
    ),
    "sevClient.addressStreet": N_(
        "company data in sevDesk: street missing (Einstellungen → Unternehmen)"
    ),
    "sevClient.addressZip": N_(
        "company data in sevDesk: postal code missing (Einstellungen → Unternehmen)"
    ),
    "sevClient.addressCity": N_(
        "company data in sevDesk: city missing (Einstellungen → Unternehmen)"
    ),
}
REFUSED_ITEM = N_("sevDesk refuses the e-invoice: %(item)s missing")
XML_PROBLEM = N_("sevDesk's e-invoice XML is not usable: %(problem)s; the invoice was not linked")


def who(customer: Customer | None, customer_id: str) -> str:
    """How the tasks name a customer: its number, else its name, else its KleanApp id."""
    if customer is None:
        return customer_id
    return customer.customer_number or customer.display_name or customer_id


def preflight(
    *,
    customer: Customer | None,
    customer_id: str,
    positions: Iterable[InvoicePosition],
    unit_names: Mapping[str, str],
    unit_codes: Mapping[str, str | None],
    payment_method: str,
    payment_methods: Mapping[str, str],
    rule: str,
    government_agency: bool = False,
    buyer_reference: str | None = None,
) -> list[str]:
    """One task per missing cause (empty: the invoice may become an e-invoice).

    ``unit_names`` maps each position's KleanApp unit to the sevDesk unit id
    it resolved to; ``unit_codes`` is sevDesk's unit id → UNECE code.
    """
    name = who(customer, customer_id)
    tasks: list[str] = []
    if customer is None or not (customer.email or "").strip():
        tasks.append(CUSTOMER_EMAIL % {"customer": name})
    for field in ("street", "postal_code", "city", "country"):
        if customer is None or not (getattr(customer, field) or "").strip():
            tasks.append(CUSTOMER_FIELD % {"customer": name, "field": field})
    if government_agency and not buyer_reference:
        tasks.append(LEITWEG_ID % {"customer": name})
    if payment_method not in payment_methods:
        tasks.append(PAYMENT_METHOD % {"name": payment_method})
    seen: set[str] = set()
    for pos in positions:
        unit_id = unit_names.get(pos.unit)
        if unit_id is None or pos.unit in seen or unit_codes.get(unit_id):
            continue
        seen.add(pos.unit)
        code = KNOWN_UNECE.get(pos.unit)
        if code:
            tasks.append(UNIT_CODE % {"unit": pos.unit, "code": code})
        else:
            tasks.append(UNIT_CODE_UNKNOWN % {"unit": pos.unit})
    if rule in NOT_FOR_EINVOICES:
        tasks.append(TAX_RULE % {"rule": rule})
    return tasks


def refusal_tasks(missing: Iterable[str], customer: str) -> list[str]:
    """sevDesk's list of what an e-invoice lacks, as tasks (one per item)."""
    tasks = []
    for item in missing:
        if item in COMPANY_TASKS:
            tasks.append(COMPANY_TASKS[item])
        elif item == "contact.email":
            tasks.append(CUSTOMER_EMAIL % {"customer": customer})
        elif item == "contact.buyerReference":
            tasks.append(LEITWEG_ID % {"customer": customer})
        else:
            tasks.append(REFUSED_ITEM % {"item": item})
    return list(dict.fromkeys(tasks))


def xml_digest(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


def xml_problem(xml: str, net: Decimal, gross: Decimal) -> str | None:
    """Why sevDesk's XML is not KleanApp's invoice as a CII document, or None."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        return f"not well-formed XML ({exc})"
    if root.tag != CII_ROOT:
        return f"root element {root.tag}, not a CII CrossIndustryInvoice"
    summary = root.find(f".//{RAM}SpecifiedTradeSettlementHeaderMonetarySummation")
    if summary is None:
        return "no monetary summation"
    problems = []
    for label, tag, want in (
        ("net", "TaxBasisTotalAmount", net),
        ("gross", "GrandTotalAmount", gross),
    ):
        raw = summary.findtext(f"{RAM}{tag}")
        try:
            have = Decimal(str(raw).strip()).quantize(CENT)
        except (InvalidOperation, ValueError):
            problems.append(f"no {label} total ({tag})")
            continue
        if have != want.quantize(CENT):
            problems.append(f"{label} {have} in the XML vs {want.quantize(CENT)} in KleanApp")
    return "; ".join(problems) or None


async def check_before(
    lookups: ExportLookups,
    invoice: Invoice,
    *,
    customer: Customer | None,
    contact_id: str,
    units: list[str],
    rule: str,
    payment_method: str,
) -> str:
    """The pre-flight of one invoice; the payment method's id, or ``Unexportable``."""
    government, reference = False, None
    if contact_id != NEW_CONTACT:
        facts = await lookups.sevdesk.einvoices.contact_facts(contact_id)
        government, reference = facts.government_agency, facts.buyer_reference
    methods = await lookups.payment_methods()
    tasks = preflight(
        customer=customer,
        customer_id=invoice.customer_id,
        positions=invoice.positions,
        unit_names={p.unit: u for p, u in zip(invoice.positions, units, strict=True)},
        unit_codes=await lookups.unit_codes(),
        payment_method=payment_method,
        payment_methods=methods,
        rule=rule,
        government_agency=government,
        buyer_reference=reference,
    )
    if tasks:
        raise Unexportable(HELD_REASON, *tasks, kind="einvoice")
    return methods[payment_method]


def einvoice_fields(customer: Customer | None, payment_method_id: str) -> dict[str, Any]:
    """What ``saveInvoice`` gets on top for an e-invoice (its structured address)."""
    return {
        "propertyIsEInvoice": True,
        "paymentMethod": {"id": payment_method_id, "objectName": "PaymentMethod"},
        "addressStreet": customer.street if customer else None,
        "addressZip": customer.postal_code if customer else None,
        "addressCity": customer.city if customer else None,
    }


def refused(exc: RemoteValidationError, customer: str) -> Unexportable | None:
    """sevDesk's refusal of an e-invoice as a hold with its tasks (None: another refusal)."""
    missing = [k for k, v in exc.fields.items() if v == "missing"]
    if not missing:
        return None
    return Unexportable(HELD_REASON, *refusal_tasks(missing, customer), kind="einvoice")


async def check_after(sevdesk: SevdeskConnector, sev_id: str, invoice: Invoice) -> str:
    """Read the e-invoice XML back; its SHA-256, or ``EInvoiceXmlError`` (not linked)."""
    xml = await sevdesk.einvoices.xml(sev_id)
    net, gross = expected_totals(invoice)
    problem = xml_problem(xml, net, gross)
    if problem:
        raise EInvoiceXmlError(XML_PROBLEM % {"problem": problem})
    return xml_digest(xml)


class EInvoiceXmlError(KleansyncError):
    """sevDesk's e-invoice XML is not KleanApp's invoice: the invoice is not linked."""
