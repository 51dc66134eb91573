"""What is written: the value as typed, or a lossless form of it.

Normalisation exists to *compare* the two systems' spellings. Writing the
normalised form instead of what a person typed silently rewrote data: a
multi-line street became one line, ``x y@z.de`` became ``xy@z.de`` (another
mailbox), and ``030 1075011`` on a French customer was re-read in France and
written as ``+33301075011``. So a value travels as its source side holds it,
changed only where the change cannot alter its meaning:

* ends trimmed, line endings as ``\\n`` (invisible in both UIs);
* the country as its ISO code (``Österreich`` *is* ``AT``; KleanApp only
  accepts codes, sevDesk only ids of codes);
* the VAT id without blanks, upper case (it never contains any);
* an e-mail without a ``mailto:`` prefix or blanks around ``@``.

A value that cannot be carried without changing what it means is not
written at all: :func:`carry_problem` says why, and the engine quarantines
it with that reason until someone fixes it at the source.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rules.normalize import normalize_country, normalize_vat_id

__all__ = ["carry_problem", "carry_record_fields", "carry_value"]

_AROUND_AT = re.compile(r"\s*@\s*")


def _trimmed(value: str) -> str | None:
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    return text or None


def carry_value(field: str, value: Any) -> Any:
    """The form of ``value`` (a raw field value of one side) written to the other side."""
    if not isinstance(value, str):
        return value
    if field == "country":
        return normalize_country(value)
    if field == "vat_id":
        return normalize_vat_id(value)
    text = _trimmed(value)
    if text is None:
        return None
    if field == "email":
        text = _AROUND_AT.sub("@", text)
        if text.lower().startswith("mailto:"):
            text = text[len("mailto:") :].strip() or None
    # Any other text keeps its inner blanks and line breaks: a street over
    # two lines stays two lines, and which line of a pasted name is "the"
    # name is not ours to guess.
    return text


def carry_problem(field: str, value: Any) -> str | None:
    """Why ``value`` cannot be written without changing its meaning, or None.

    An e-mail address with a blank inside is not an address: KleanApp
    refuses it, and removing the blank would deliver to another mailbox.
    """
    if field == "email" and isinstance(value, str) and any(c.isspace() for c in value):
        return (
            f"the e-mail {value!r} contains a blank: it is not an address, and without the "
            "blank it would be another mailbox"
        )
    return None


def carry_record_fields(record: Any, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every field of ``record`` in its carried form (for a create)."""
    return {
        name: carry_value(name, getattr(record, name))
        for name in type(record).model_fields
        if name not in exclude
    }
