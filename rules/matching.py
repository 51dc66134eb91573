"""First-sync matching: which unlinked KleanApp customer is which sevDesk contact.

On activation both systems already hold most customers, typed differently
("Müller GmbH" / "Mueller GmbH ", "Info@…" / "info@…", "K-00042" / "1042").
Creating everything on the other side would duplicate them all; guessing
would merge customers that merely look alike. So records are paired only on
evidence, level by level in order of trust, and everything doubtful is
*parked* (neither created nor changed anywhere) for an admin to decide.

Levels (:data:`LEVELS`), each comparing one normalised key:

1. ``customer_number`` – exact after stripping (``"K-42"`` and ``"K42"`` are
   different numbers: the format belongs to the user);
2. ``vat_id`` – upper case, no whitespace;
3. ``email`` – lower case, no whitespace;
4. ``name+postal_code`` – :func:`name_key` plus the postal code.

**The exact rule.** A record is *open* until it is matched or parked.
Level by level, records that are not matched (open *or* parked) are grouped
by that level's key; a group only matters if it has members on both sides
and at least one open member. Then:

* exactly one member per side, both open: they are **matched**, unless the
  evidence contradicts itself (below), then both are parked;
* otherwise every open member is **parked**, and every member's candidate
  list gains the group's members of the other side.

So a record is decided at the first level where it has any candidate: it
never falls through to weaker evidence once stronger evidence was
ambiguous. A parked record stays a candidate at later levels, so a record
whose strongest evidence points at a parked one is parked too instead of
being created as a likely duplicate. Consequences (property-tested):
every candidate of a parked record is itself parked, "is a candidate of" is
symmetric, and swapping the two sides mirrors the result.

Customer numbers must stay unique on each side, hence three more rules:

* *Same-side duplicates*: a record whose number is also held by another
  record on its own side (input or ``taken_numbers``) is parked at level 1,
  together with the other side's records holding that number.
* *Contradicting evidence* at levels 2-4 (parks both): both records have a
  VAT id and they differ (different legal entities, whatever the e-mail or
  name says); or one record's number is already held by a *different*
  customer on the other side, so linking would put the number there twice.
  Merely different numbers do *not* contradict: the two systems often
  number customers differently, and the difference becomes an ordinary
  first-link conflict in the three-way diff.
* *Clash on create*: an unmatched record whose number is already used on
  the other side is parked ("customer number K-… is already used in sevDesk
  by another customer"), never created over it.

Archived records take part in matching (so an archived KleanApp customer
gets linked to its sevDesk contact), but an unmatched archived record is
never created: it stays in ``unmatched_*`` and :meth:`MatchResult.creatable`
leaves it out. ``taken_numbers`` are the numbers held on each side by
records *not* passed in (the already linked ones); passing a record in and
its number as taken makes it look like its own duplicate.

Output order is deterministic: matches and unmatched follow input order,
parked records are KleanApp's then sevDesk's, each in input order.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.models import SIDE_LABEL, SIDES, Customer, Remote, Side
from rules.normalize import (
    collapse_whitespace,
    normalize_customer_number,
    normalize_email,
    normalize_text,
    normalize_vat_id,
)

__all__ = [
    "LEVELS",
    "Match",
    "MatchResult",
    "ParkedMatch",
    "match_customers",
    "name_key",
    "postal_key",
]

LEVELS: tuple[str, ...] = ("customer_number", "vat_id", "email", "name+postal_code")
"""Matching levels in order of trust; also the values of :attr:`Match.by`."""

_OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


@dataclass(frozen=True)
class Match:
    """A unique counterpart found; link the two and diff them with an empty base."""

    kleanapp: Remote[Customer]
    sevdesk: Remote[Customer]
    by: str


@dataclass(frozen=True)
class ParkedMatch:
    """A record nothing may happen to until an admin decides.

    ``candidates`` are the other side's records it might be (possibly none,
    e.g. for a customer-number clash); ``reason`` is the sentence for the
    report.
    """

    side: Side
    record: Remote[Customer]
    candidates: tuple[Remote[Customer], ...]
    reason: str


@dataclass(frozen=True)
class MatchResult:
    """Every input record lands in exactly one of matches, parked, unmatched."""

    matches: tuple[Match, ...]
    parked: tuple[ParkedMatch, ...]
    unmatched_kleanapp: tuple[Remote[Customer], ...]
    unmatched_sevdesk: tuple[Remote[Customer], ...]

    def unmatched(self, side: Side) -> tuple[Remote[Customer], ...]:
        return self.unmatched_kleanapp if side == "kleanapp" else self.unmatched_sevdesk

    def creatable(self, side: Side) -> tuple[Remote[Customer], ...]:
        """Records of ``side`` to create on the other side: unmatched and not archived."""
        return tuple(r for r in self.unmatched(side) if not r.record.archived)


# --- keys --------------------------------------------------------------------

_LETTER_FOLDS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"))

_LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(
    tuple(form.split())
    for form in (
        "gesellschaft mit beschraenkter haftung",
        "haftungsbeschraenkt",
        "gmbh",
        "ggmbh",
        "mbh",
        "ug",
        "ag",
        "kg",
        "kgaa",
        "ohg",
        "gbr",
        "se",
        "eg",
        "e g",
        "ek",
        "e k",
        "e kfm",
        "e kfr",
        "ev",
        "e v",
        "partg",
        "partg mbb",
        "mbb",
        "ltd",
        "inc",
        "llc",
        "& co",
        "u co",
    )
)
"""Legal-form suffixes (as folded tokens), stripped from the end of company names.

``"GmbH & Co. KG"`` needs no entry of its own: ``kg``, then ``& co``, then
``gmbh`` are stripped in turn.
"""


def _fold(text: str) -> list[str]:
    """Tokens of ``text`` with case, umlaut spelling, accents and punctuation folded."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"['’`´]", "", text)  # "Bob's" == "Bobs"
    for src, dst in _LETTER_FOLDS:
        text = text.replace(src, dst)
    # Other accents carry no identity either ("Café" == "Cafe").
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[&+]", " & ", text)
    text = re.sub(r"[^\w&]|_", " ", text)
    return ["&" if token == "und" else token for token in text.split()]


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    """Drop trailing legal forms, keeping at least one token."""
    changed = True
    while changed:
        changed = False
        for form in _LEGAL_FORMS:
            n = len(form)
            if len(tokens) > n and tuple(tokens[-n:]) == form:
                tokens = tokens[:-n]
                changed = True
    return tokens


def name_key(c: Customer) -> str | None:
    """The folded name used for matching, or None if the record has no name.

    A company's ``company_name`` (legal-form suffixes dropped), else first
    plus last name; a person's first plus last name, else the company name.
    Folds case, whitespace, punctuation, umlaut spellings (ü = ue, ß = ss)
    and accents, and reads "und" as "&".
    """
    company = normalize_text(c.company_name)
    person = normalize_text(" ".join(p for p in (c.first_name, c.last_name) if p))
    if c.kind == "company":
        tokens = _strip_legal_forms(_fold(company)) if company else _fold(person or "")
    else:
        tokens = _fold(person) if person else _strip_legal_forms(_fold(company or ""))
    return " ".join(tokens) or None


def postal_key(value: str | None) -> str | None:
    """Postal code without whitespace, case-folded ("1010 " == "1010")."""
    text = normalize_text(value)
    return "".join(text.split()).casefold() if text else None


# --- matching ----------------------------------------------------------------


@dataclass(eq=False)
class _Entry:
    side: Side
    pos: int
    remote: Remote[Customer]
    keys: dict[str, str | None]
    state: str = "open"  # open | matched | parked
    reason: str = ""
    candidates: dict[int, _Entry] = field(default_factory=dict)  # other side, by pos

    @property
    def number(self) -> str | None:
        return self.keys["customer_number"]

    @property
    def label(self) -> str:
        return f"{SIDE_LABEL[self.side]} customer {self.remote.id}"


def _entries(side: Side, records: Iterable[Remote[Customer]]) -> list[_Entry]:
    out: list[_Entry] = []
    seen: set[str] = set()
    for pos, remote in enumerate(records):
        if remote.side != side:
            raise ValueError(f"a {remote.side} record was passed as {side} record {remote.id}")
        if remote.id in seen:
            raise ValueError(f"{side} record id {remote.id} appears twice")
        seen.add(remote.id)
        c = remote.record
        name, postal = name_key(c), postal_key(c.postal_code)
        keys = {
            "customer_number": normalize_customer_number(c.customer_number),
            "vat_id": normalize_vat_id(c.vat_id),
            "email": normalize_email(c.email),
            "name+postal_code": f"{name}|{postal}" if name and postal else None,
        }
        out.append(_Entry(side, pos, remote, keys))
    return out


def _what(level: str, e: _Entry) -> str:
    """The evidence in words, for reasons: "e-mail info@x.de"."""
    c = e.remote.record
    if level == "name+postal_code":
        name, postal = collapse_whitespace(c.display_name), collapse_whitespace(c.postal_code or "")
        return f"name and postal code ({name}, {postal})"
    label = {"customer_number": "customer number", "vat_id": "VAT id", "email": "e-mail"}[level]
    return f"{label} {e.keys[level]}"


def _ids(entries: list[_Entry]) -> str:
    """ "KleanApp customer 7" / "KleanApp customers 7, 9" (entries of one side)."""
    plural = "s" if len(entries) > 1 else ""
    ids = ", ".join(e.remote.id for e in entries)
    return f"{SIDE_LABEL[entries[0].side]} customer{plural} {ids}"


def _customers(n: int, side: Side) -> str:
    return f"{n} {SIDE_LABEL[side]} customer{'s' if n != 1 else ''}"


class _Matcher:
    def __init__(self, entries: dict[Side, list[_Entry]], taken: dict[Side, set[str]]) -> None:
        self.entries = entries
        self.taken = taken
        self.holders = {
            side: Counter(e.number for e in entries[side] if e.number) for side in SIDES
        }
        self.matches: list[tuple[_Entry, _Entry, str]] = []

    def _groups(self, level: str) -> dict[str, dict[Side, list[_Entry]]]:
        groups: dict[str, dict[Side, list[_Entry]]] = {}
        for side in SIDES:
            for e in self.entries[side]:
                key = e.keys[level]
                if key is not None and e.state != "matched":
                    groups.setdefault(key, {"kleanapp": [], "sevdesk": []})[side].append(e)
        return groups

    def _match(self, k: _Entry, s: _Entry, level: str) -> None:
        k.state = s.state = "matched"
        self.matches.append((k, s, level))

    @staticmethod
    def _park(e: _Entry, reason: str) -> None:
        if e.state == "open":
            e.state, e.reason = "parked", reason

    @staticmethod
    def _link_candidates(group: Mapping[Side, list[_Entry]]) -> None:
        for side in SIDES:
            for e in group[side]:
                e.candidates.update((o.pos, o) for o in group[_OTHER[side]])

    def by_number(self) -> None:
        """Level 1, which also parks numbers held twice on one side."""
        level = "customer_number"
        for number, group in self._groups(level).items():
            counts = {side: len(group[side]) + (number in self.taken[side]) for side in SIDES}
            if all(counts[side] < 2 for side in SIDES):
                if group["kleanapp"] and group["sevdesk"]:
                    self._match(group["kleanapp"][0], group["sevdesk"][0], level)
                continue
            for side in SIDES:
                other = _OTHER[side]
                for e in group[side]:
                    if counts[side] >= 2:
                        twins = [o for o in group[side] if o is not e]
                        if twins:
                            also = _ids(twins)
                        else:
                            also = f"another {SIDE_LABEL[side]} customer that is already linked"
                        reason = f"customer number {number} is also used by {also}"
                    elif len(group[other]) >= 2:
                        many = _customers(len(group[other]), other)
                        reason = f"{many} have the {_what(level, e)}"
                    else:
                        reason = (
                            f"{group[other][0].label} has the same customer number {number}, "
                            f"but so does another {SIDE_LABEL[other]} customer that is already "
                            "linked"
                        )
                    self._park(e, reason)
            self._link_candidates(group)

    def _contradiction(self, level: str, k: _Entry, s: _Entry) -> str | None:
        """Why a unique pair at a weaker level must not be linked, or None."""
        k_vat, s_vat = k.keys["vat_id"], s.keys["vat_id"]
        if k_vat and s_vat and k_vat != s_vat:
            return f"but their VAT ids differ ({k_vat} vs {s_vat})"
        for e, o in ((k, s), (s, k)):
            n, side = e.number, o.side
            if n and n != o.number and (n in self.taken[side] or self.holders[side][n]):
                return (
                    f"but customer number {n} is already used in {SIDE_LABEL[side]} "
                    "by another customer"
                )
        return None

    def by_key(self, level: str) -> None:
        """Levels 2-4: see the module docstring for the rule."""
        for group in self._groups(level).values():
            ks, ss = group["kleanapp"], group["sevdesk"]
            members = ks + ss
            if not ks or not ss or all(e.state != "open" for e in members):
                if ks and ss:
                    self._link_candidates(group)
                continue
            if len(ks) == 1 and len(ss) == 1 and ks[0].state == ss[0].state == "open":
                k, s = ks[0], ss[0]
                why = self._contradiction(level, k, s)
                if why is None:
                    self._match(k, s, level)
                    continue
                self._park(k, f"{s.label} has the same {_what(level, k)}, {why}")
                self._park(s, f"{k.label} has the same {_what(level, s)}, {why}")
            for side in SIDES:
                other = _OTHER[side]
                for e in group[side]:
                    cands = group[other]
                    rivals = [o for o in group[side] if o is not e]
                    if len(cands) >= 2:
                        reason = f"{_customers(len(cands), other)} have the same {_what(level, e)}"
                    elif rivals:
                        verb = "does" if len(rivals) == 1 else "do"
                        reason = (
                            f"{cands[0].label} has the same {_what(level, e)}, "
                            f"but so {verb} {_ids(rivals)}"
                        )
                    else:
                        reason = (
                            f"{cands[0].label} has the same {_what(level, e)}, but is itself "
                            "parked as ambiguous"
                        )
                    self._park(e, reason)
            self._link_candidates(group)

    def park_clashes(self) -> None:
        """Unmatched records whose number the other side already uses are not created."""
        for side in SIDES:
            other = _OTHER[side]
            for e in self.entries[side]:
                n = e.number
                if e.state != "open" or not n or e.remote.record.archived:
                    continue
                if n in self.taken[other] or self.holders[other][n]:
                    self._park(
                        e,
                        f"customer number {n} is already used in {SIDE_LABEL[other]} "
                        "by another customer",
                    )

    def result(self) -> MatchResult:
        matches = sorted(self.matches, key=lambda m: m[0].pos)
        parked = [
            ParkedMatch(
                side=e.side,
                record=e.remote,
                candidates=tuple(c.remote for _, c in sorted(e.candidates.items())),
                reason=e.reason,
            )
            for side in SIDES
            for e in self.entries[side]
            if e.state == "parked"
        ]
        unmatched = {
            side: tuple(e.remote for e in self.entries[side] if e.state == "open") for side in SIDES
        }
        return MatchResult(
            matches=tuple(Match(k.remote, s.remote, by) for k, s, by in matches),
            parked=tuple(parked),
            unmatched_kleanapp=unmatched["kleanapp"],
            unmatched_sevdesk=unmatched["sevdesk"],
        )


def match_customers(
    kleanapp: Iterable[Remote[Customer]],
    sevdesk: Iterable[Remote[Customer]],
    *,
    taken_numbers: Mapping[Side, Iterable[str]] | None = None,
) -> MatchResult:
    """Pair unlinked customers across the sides; park what is doubtful.

    ``kleanapp``/``sevdesk`` are the *unlinked* records of each side (their
    ``side`` must fit; ids unique per side). ``taken_numbers`` maps a side
    to the customer numbers its already-linked records hold. The rule is in
    the module docstring; the function is pure and deterministic.
    """
    entries = {"kleanapp": _entries("kleanapp", kleanapp), "sevdesk": _entries("sevdesk", sevdesk)}
    taken: dict[Side, set[str]] = {side: set() for side in SIDES}
    for side, numbers in (taken_numbers or {}).items():
        taken[side] = {n for raw in numbers if (n := normalize_customer_number(raw))}
    matcher = _Matcher(entries, taken)
    matcher.by_number()
    for level in LEVELS[1:]:
        matcher.by_key(level)
    matcher.park_clashes()
    return matcher.result()
