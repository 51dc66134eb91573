"""The words a person reads for the code's canonical names (``customer_number`` -> Kundennummer).

Why one place: the admin knows a field as KleanApp's and sevDesk's masks call
it ("Kundennummer", "USt-IdNr."), never as ``customer_number``; reports,
e-mail, CLI and console must all say the same. Only the canonical names are
keys here; the words themselves are messages of the catalogue (``N_``), so
they are translated at use by ``reconciler.domain.i18n``. A name not listed
is shown as it is (better a raw name than nothing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from reconciler.domain.i18n import N_, _, format_date, format_money

__all__ = ["entity_label", "entity_word", "field_label", "side_label", "value_label"]

#: Canonical customer/unit fields, and the matcher's evidence names (rules/match_score.py).
FIELDS: dict[str, str] = {
    "customer_number": N_("Customer number"),
    "customer number": N_("Customer number"),
    "kind": N_("Type of customer"),
    "company_name": N_("Company"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "name": N_("Name"),
    "email": N_("E-mail"),
    "e-mail": N_("E-mail"),
    "phone": N_("Phone"),
    "mobile": N_("Mobile"),
    "street": N_("Street"),
    "house number": N_("House number"),
    "postal_code": N_("Postal code"),
    "postal code": N_("Postal code"),
    "city": N_("City"),
    "country": N_("Country"),
    "vat_id": N_("VAT ID"),
    "VAT id": N_("VAT ID"),
    "note": N_("Note"),
    "archived": N_("Archived"),
    "address": N_("Address"),
    # an exported invoice (reporting/invoice_data.py)
    "invoice_date": N_("Invoice date"),
    "total_gross": N_("Total (gross)"),
    "sevdesk_number": N_("Invoice number in sevDesk"),
}

#: Fields holding an amount in EUR (a string like "464.10"), shown as money (``464,10 €``).
MONEY_FIELDS = frozenset({"total_gross", "paid_amount"})
#: Fields holding an ISO date, shown in the reader's form (``01.12.2026``).
DATE_FIELDS = frozenset({"invoice_date"})

SIDES: dict[str, str] = {"kleanapp": "KleanApp", "sevdesk": "sevDesk"}

ENTITIES: dict[str, str] = {
    "customer": N_("Customer"),
    "unit": N_("Unit"),
    "invoice": N_("Invoice"),
}

#: The same inside a sentence ("P2 is a customer in KleanApp"; German nouns keep their capital).
ENTITY_WORDS: dict[str, str] = {
    "customer": N_("customer"),
    "unit": N_("unit"),
    "invoice": N_("invoice"),
}

#: Values whose canonical form is a code word (``kind: company``).
VALUES: dict[tuple[str, str], str] = {
    ("kind", "company"): N_("Company"),
    ("kind", "person"): N_("Private person"),
}


def field_label(name: Any) -> str:
    """``customer_number`` -> "Kundennummer" (in the current language)."""
    text = str(name)
    return _(FIELDS[text]) if text in FIELDS else text


def side_label(side: Any) -> str:
    """``kleanapp`` -> "KleanApp" (product names are not translated)."""
    return SIDES.get(str(side), str(side))


def entity_label(entity: Any) -> str:
    """``customer`` / ``Customer`` -> "Kunde"."""
    text = str(entity)
    word = ENTITIES.get(text.lower())
    return _(word) if word else text


def entity_word(entity: Any) -> str:
    """``customer`` -> "customer" inside an English sentence, "Kunde" in German."""
    text = str(entity)
    word = ENTITY_WORDS.get(text.lower())
    return _(word) if word else text


def value_label(field: Any, value: Any) -> Any:
    """A value as the admin reads it: ``kind`` "company" -> "Firma", booleans as yes/no."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value not in (None, "") and str(field) in MONEY_FIELDS | DATE_FIELDS:
        with contextlib.suppress(ArithmeticError, ValueError, TypeError):
            if str(field) in MONEY_FIELDS:
                return format_money(value)
            return format_date(dt.date.fromisoformat(str(value)[:10]))
    word = VALUES.get((str(field), str(value)))
    return _(word) if word else value
