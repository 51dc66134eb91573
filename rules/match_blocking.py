"""Which records are compared at all (blocking), and the frequencies weights depend on.

Comparing every KleanApp customer with every sevDesk contact is quadratic
(10,000 x 10,000 = 10^8 comparisons). Records are compared only when they
share a *block*: a customer number, VAT id, e-mail, phone, a company's
e-mail domain, a postal code plus a name-token or street prefix, or a rare
name token, so the cost stays near-linear while a true pair almost always
shares several blocks. Pure, no I/O.
"""

from __future__ import annotations

import math
from collections import Counter

from reconciler.domain.models import SIDES, Side
from rules.match_keys import Features

__all__ = ["MAX_BLOCK_PAIRS", "RARE_TOKEN", "candidate_pairs", "idf", "shared_values"]

MAX_BLOCK_PAIRS = 1_000
"""A block with more KleanApp × sevDesk pairs than this is skipped: a value
shared by that many records (a chain's one e-mail, a busy postal code and a
common word) tells nobody apart, and comparing them all would make the cost
quadratic. Every record has several blocks, so its true partner is still
found through the others."""

RARE_TOKEN = 12
"""A name token held by at most this many records (both sides) is a block of its
own, so a pair is found even when postal code, street and identifiers differ."""


def idf(entries: dict[Side, list[Features]]) -> dict[str, float]:
    """Bits of information per name token, from its frequency in the data at hand.

    Smoothed towards one in a thousand (200 pseudo-records), so a handful of
    records does not make every token look rare or common.
    """
    df: Counter[str] = Counter()
    n = 0
    for side in SIDES:
        for f in entries[side]:
            df.update(set(f.tokens))
            n += 1
    return {t: -math.log2((c + 0.2) / (n + 200)) for t, c in df.items()}


def shared_values(entries: dict[Side, list[Features]]) -> dict[tuple[str, str], int]:
    """(kind, value) -> most records holding it on one side (only values held twice+)."""
    out: dict[tuple[str, str], int] = {}
    for side in SIDES:
        counts: Counter[tuple[str, str]] = Counter()
        for f in entries[side]:
            if f.email:
                counts["email", f.email] += 1
            if f.vat:
                counts["vat", f.vat] += 1
            if f.number:
                counts["number", f.number] += 1
            counts.update(("phone", p) for p in f.phones)
        for key, c in counts.items():
            if c > 1:
                out[key] = max(out.get(key, 1), c)
    return out


def _blocks(f: Features, rare: set[str]) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    if f.number:
        keys.add(("n", f.number))
    if f.vat:
        keys.add(("v", f.vat))
    if f.email:
        keys.add(("e", f.email))
    keys.update(("p", p) for p in f.phones)
    if f.domain:
        keys.add(("d", f.domain))
    if f.postal:
        keys.update(("pn", f.postal, t[:4]) for t in f.tokens if t != "&")
        if f.street:
            keys.add(("ps", f.postal, f.street[:5]))
    keys.update(("t", t) for t in f.tokens if t in rare)
    if f.joined:
        keys.add(("j", f.joined))
    return keys


def candidate_pairs(entries: dict[Side, list[Features]]) -> set[tuple[int, int]]:
    df: Counter[str] = Counter()
    for side in SIDES:
        for f in entries[side]:
            df.update(set(f.tokens))
    rare = {t for t, c in df.items() if c <= RARE_TOKEN}
    blocks: dict[tuple[str, ...], tuple[list[int], list[int]]] = {}
    for i, side in enumerate(SIDES):
        for f in entries[side]:
            for key in _blocks(f, rare):
                blocks.setdefault(key, ([], []))[i].append(f.pos)
    pairs: set[tuple[int, int]] = set()
    for ks, ss in blocks.values():
        if ks and ss and len(ks) * len(ss) <= MAX_BLOCK_PAIRS:
            pairs.update((k, s) for k in ks for s in ss)
    return pairs
