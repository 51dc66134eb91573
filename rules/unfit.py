"""Values no person typed: records that are set aside instead of copied.

Some values only ever come from a broken import, a copy from a terminal or a
script: a control character inside a name, a VAT id that is no VAT id at
all. Copied to the other system they spread the damage (a wrong VAT id is
printed on invoices), and "cleaning" them would be guessing. The one
exception is the NUL character: it is removed where either service's answer
is decoded, before a record is built (``reconciler.domain.nul``: PostgreSQL
cannot store it, and it means nothing), so it is only met here in a record
made some other way. So a record
holding one is quarantined with one line naming the field, and synced again
once someone fixes it where it was typed.

What is *not* unfit: line breaks and tabs (multi-line streets and notes are
real), right-to-left text (Hebrew and Arabic names are customers' names),
any letter of any script, and long values (the receiving service's own
limit decides those; a refusal names the field).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rules.normalize import normalize_vat_id

__all__ = ["record_problem", "value_problem"]

#: Line breaks and tabs are text; every other C0/C1 control character is not.
_ALLOWED_CONTROLS = frozenset("\t\n\r")
#: An EU VAT id: two letters (EL for Greece, XI for Northern Ireland) and 8 to 12 letters
#: or digits, at least one a digit (DE123456789, ATU12345678, NL123456789B01); or a
#: Swiss UID (CHE-123.456.789 MWST).
_VAT_ID = re.compile(
    r"[A-Z]{2}(?=[0-9A-Z+*]*[0-9])[0-9A-Z+*]{8,12}|CHE-?\d{3}\.?\d{3}\.?\d{3}(?:MWST|TVA|IVA)?"
)


def _char_name(ch: str) -> str:
    if ch == "\x00":
        return "U+0000 (NUL)"
    return f"U+{ord(ch):04X}" + (f" ({unicodedata.name(ch)})" if unicodedata.name(ch, "") else "")


def value_problem(field: str, value: Any) -> str | None:
    """Why ``value`` of ``field`` must not be copied to the other system, or None.

    Used by ``rules.carry.carry_problem``: such a value is quarantined, not written.
    """
    if not isinstance(value, str):
        return None
    for position, ch in enumerate(value, start=1):
        category = unicodedata.category(ch)
        if (category == "Cc" and ch not in _ALLOWED_CONTROLS) or category == "Cs":
            return f"contains the control character {_char_name(ch)} at position {position}"
        if category == "Cn" and (ord(ch) & 0xFFFE) == 0xFFFE:
            return f"contains the non-character U+{ord(ch):04X} at position {position}"
    if field == "vat_id":
        compact = normalize_vat_id(value)
        if compact is not None and not _VAT_ID.fullmatch(compact):
            shown = compact if len(compact) <= 40 else compact[:37] + "..."
            return (
                f"{shown!r} is not a VAT id (two letters for the country, then "
                "8 to 12 letters or digits, e.g. DE123456789)"
            )
    return None


def record_problem(record: Any) -> str | None:
    """The first unfit value of a canonical record, as ``field: why``; None if it is fit."""
    for name in type(record).model_fields:
        problem = value_problem(name, getattr(record, name))
        if problem is not None:
            return f"{name}: {problem}"
    return None
