"""Size bounds for what kleansync writes about records: reasons, reports, stored runs.

Records are typed by people and sometimes by scripts: a 100 kB company name,
a NUL byte, a line break inside an e-mail address. Quoted whole, one such
record made a 102,447-character error reason, and a run's report and stored
result grew to megabytes, every run again. What we write *about* a record
(reasons, report rows, the run history) is bounded here; what we write *to*
a service is never cut: that is the record itself.
"""

from __future__ import annotations

import unicodedata
from typing import Any

#: A reason is one line of at most this many characters.
MAX_REASON = 300
#: A value shown in a report or kept in the run history: at most this many characters.
MAX_VALUE = 500
#: Rows per list in a report or a stored run before the rest is only counted.
MAX_ITEMS = 1000

#: Direction controls: shown literally they reorder the rest of the line on screen.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def visible(text: str) -> str:
    """``text`` with control and direction characters as ``\\uXXXX`` escapes, on one line."""
    out = []
    for ch in text:
        if ch in "\r\n\t":
            out.append(" ")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def cut(text: str, limit: int = MAX_VALUE) -> str:
    """At most ``limit`` characters; a cut says how long the original was."""
    if len(text) <= limit:
        return text
    note = f"… ({len(text):,} characters)"
    return text[: max(limit - len(note), 1)] + note


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """A reason as one visible line of at most ``limit`` characters."""
    return cut(" ".join(visible(str(text)).split()), limit)


def bounded(value: Any, *, max_value: int = MAX_VALUE, max_items: int = MAX_ITEMS) -> Any:
    """``value`` (JSON-like) with every string cut and every list capped at ``max_items``."""
    if isinstance(value, str):
        return cut(value, max_value)
    if isinstance(value, dict):
        return {
            str(k): bounded(v, max_value=max_value, max_items=max_items) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [bounded(v, max_value=max_value, max_items=max_items) for v in value[:max_items]]
    return value


def bounded_result(
    data: dict[str, Any], *, max_value: int = MAX_VALUE, max_items: int = MAX_ITEMS
) -> dict[str, Any]:
    """A run's result dict, bounded; ``omitted`` says how many rows each list lost.

    Reports and ``kleansync status`` add ``omitted`` to what they count, so
    a capped list never makes a run look smaller than it was.
    """
    out = bounded(data, max_value=max_value, max_items=max_items)
    omitted = dict(data.get("omitted") or {})
    for name, items in data.items():
        if isinstance(items, list | tuple) and len(items) > max_items:
            omitted[name] = omitted.get(name, 0) + len(items) - max_items
    if omitted:
        out["omitted"] = omitted
    return out
