"""Matching units of measure across the two systems by meaning, not spelling.

KleanApp says "Stunden", sevDesk's built-in unit is "Std"; both mean hours.
Units are not merged field by field (a unit *is* its name), they are
*matched*: each name gets a canonical key, and names with the same key are
the same unit. Without the alias table the engine would create a duplicate
"Stück" next to sevDesk's "Stk" and invoices would be split across both.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "UNIT_ALIASES",
    "UnitMatch",
    "match_units",
    "renamed",
    "resolve_unit",
    "unit_key",
]

UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "piece": ("stk", "stück", "stueck", "stck", "st", "piece", "pieces", "pc", "pcs"),
    "hour": ("std", "stunde", "stunden", "h", "hour", "hours", "hr", "hrs"),
    "m2": ("m²", "m2", "qm", "sqm", "quadratmeter"),
    "m3": ("m³", "m3", "cbm", "kubikmeter"),
    "flat": ("pauschal", "pausch", "pauschale", "psch", "flat", "flat rate"),
    "running-metre": ("lfm", "laufender meter", "laufende meter", "lfd m", "running-metre"),
}
"""Canonical key -> known spellings (lower case, without trailing dot).

Keys are listed among their own aliases so ``unit_key`` is idempotent.
"""


def _lookup_form(name: str) -> str:
    # Whitespace, case and trailing abbreviation dots carry no meaning:
    # "Std." == "std" == " STD ", "lfd. m" == "lfd m", "laufender  Meter" == "laufender meter".
    text = " ".join(unicodedata.normalize("NFC", name).split()).casefold()
    return " ".join(text.replace(".", " ").split())


_KEY_BY_ALIAS: dict[str, str] = {
    _lookup_form(alias): key for key, aliases in UNIT_ALIASES.items() for alias in aliases
}


def unit_key(name: str) -> str:
    """Canonical key: the alias group's key, else the case-folded, collapsed name."""
    form = _lookup_form(name)
    return _KEY_BY_ALIAS.get(form) or _KEY_BY_ALIAS.get(form.replace(" ", ""), form)


class UnitMatch(NamedTuple):
    """Result of :func:`match_units`; unpacks as ``(pairs, only_kleanapp, only_sevdesk)``.

    ``pairs`` holds ``(kleanapp_name, sevdesk_name)``. Every name whose
    meaning exists on the other side appears in at least one pair; when one
    side has several spellings of the same unit (sevDesk "Stk" *and*
    "Stück"), the extra ones are paired with the other side's preferred
    spelling rather than reported as missing, so nothing gets duplicated.
    """

    pairs: tuple[tuple[str, str], ...]
    only_kleanapp: tuple[str, ...]
    only_sevdesk: tuple[str, ...]


def _group(names: Iterable[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):  # de-duplicate, keep order
        groups.setdefault(unit_key(name), []).append(name)
    return groups


def match_units(kleanapp_names: Iterable[str], sevdesk_names: Iterable[str]) -> UnitMatch:
    """Pair unit names by :func:`unit_key`; deterministic for a given input order.

    Within one key, names spelt alike (ignoring case/whitespace) pair first,
    then the rest in input order; leftovers pair with the other side's
    first-listed name for that unit. Order of the output follows KleanApp's input,
    then sevDesk's.
    """
    k_groups, s_groups = _group(kleanapp_names), _group(sevdesk_names)
    pairs: list[tuple[str, str]] = []
    for key, k_list in k_groups.items():
        s_list = s_groups.get(key)
        if not s_list:
            continue
        k_left, s_left = list(k_list), list(s_list)
        for k_name in list(k_left):
            same = next((s for s in s_left if _lookup_form(s) == _lookup_form(k_name)), None)
            if same is not None:
                pairs.append((k_name, same))
                k_left.remove(k_name)
                s_left.remove(same)
        for k_name, s_name in zip(k_left, s_left, strict=False):
            pairs.append((k_name, s_name))
        n = min(len(k_left), len(s_left))
        pairs.extend((k_name, s_list[0]) for k_name in k_left[n:])
        pairs.extend((k_list[0], s_name) for s_name in s_left[n:])
    only_k = tuple(n for key, names in k_groups.items() if key not in s_groups for n in names)
    only_s = tuple(n for key, names in s_groups.items() if key not in k_groups for n in names)
    return UnitMatch(tuple(pairs), only_k, only_s)


def resolve_unit(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate meaning the same unit as ``name`` (exact spelling preferred), or None.

    For mapping an invoice position's unit onto the other system's units.
    """
    options = list(candidates)
    form = _lookup_form(name)
    for option in options:
        if _lookup_form(option) == form:
            return option
    key = unit_key(name)
    return next((o for o in options if unit_key(o) == key), None)


def renamed(
    base_kleanapp: str, base_sevdesk: str, kleanapp: str, sevdesk: str
) -> tuple[bool, bool] | None:
    """Which side gave a linked unit a name of another meaning since the base, or None.

    ``base_*`` are the names each side held when the pair last agreed (or
    when a disagreement was last reported). A change of spelling within one
    meaning ("Std" -> "Stunde") is no rename: units are matched by meaning.
    None when both sides mean the same unit now (nothing to do); otherwise
    ``(kleanapp_renamed, sevdesk_renamed)``; ``(False, False)`` is a
    disagreement already reported, which must stay quiet.
    """
    if unit_key(kleanapp) == unit_key(sevdesk):
        return None
    return unit_key(kleanapp) != unit_key(base_kleanapp), unit_key(sevdesk) != unit_key(
        base_sevdesk
    )
