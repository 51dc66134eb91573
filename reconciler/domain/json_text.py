"""Decoding JSON fast: orjson, and ``json`` for what orjson refuses.

A full run of 100,000 customers per side decodes about 300 pages of answers
and, from the state store, 100,000 links' bases and fingerprints (issue 21).
With ``json.loads`` the pages alone were a quarter of the engine's time on a
quiet full run; orjson decodes the same text three to five times as fast and
shares short keys between the decoded objects.

orjson gives the same values as ``json.loads`` for everything both read. What
orjson refuses, ``json`` still reads: ``NaN`` and ``Infinity`` (``json.dumps``
writes them), text in UTF-16 or UTF-32. An integer beyond 64 bits orjson does
not refuse but reads as a ``float``, losing digits; so text with a run of 20
digits (the shortest such integer; an IBAN in a string has one too, which only
costs that text the slower decoder) goes to ``json`` straight away. No answer
and no stored value becomes unreadable or changes by the switch, and one that
is not JSON at all still raises ``ValueError`` (``json.JSONDecodeError``).

Where amounts must stay exact (KleanApp's invoices: ``Decimal``, not
``float``) the caller keeps ``json.loads(…, parse_float=Decimal)``: orjson
has no such hook.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["loads"]

#: Where an integer may not fit 64 bits (2**64 has 20 digits), which orjson reads as a float.
_LONG_DIGITS = re.compile(r"\d{20}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{20}")


def loads(text: str | bytes | bytearray | memoryview) -> Any:
    """The value ``json.loads(text)`` gives, decoded by orjson where it can."""
    if isinstance(text, memoryview):
        text = bytes(text)
    pattern = _LONG_DIGITS if isinstance(text, str) else _LONG_DIGITS_BYTES
    if pattern.search(text) is None:  # type: ignore[arg-type]  # str with str, bytes with bytes
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
