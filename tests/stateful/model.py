"""What the stateful test expects: per customer, the value each field must end with.

The model is written from a person's point of view and never asks the
engine: it knows what each side held when the last sync settled (``agreed``)
and every edit a person made since, per side. When the next sync settles, a
field edited on one side only must hold that edit on both sides; a field
edited on both sides must hold what the configured rule picks. Values are
compared in meaning (``tests.adversarial.audit.normalise``: e-mail case,
spacing, a phone number's E.164 form when it is valid in the country it was
typed for), never through kleansync's own normalisation.

Where the rule's answer depends on something a person cannot see, the model
accepts either side's edit (never the old value, never a third one):

* last-write-wins compares the *records'* modification times. In a round with
  a crash or an edit during a run, the engine's own writes move those times,
  and deleting a sevDesk address or communication way moves no time at all
  (it leaves no stamped row), so the order is known only in a clean round;
* one side "edited" a field back to the agreed value (a revert, or the same
  number retyped in another format): whether that counts as a change is the
  change detection's business (issue 12), so either outcome is accepted;
* a customer typed into both systems and not yet linked, whose field was
  edited *during* the run that links it (``raced``): if the edit came before
  the engine read that side, the rule decides between the two copies; if it
  came after, the engine has already linked them and rightly carries the
  edit over as a one-sided change next run. Which of the two happened
  depends on request order inside the run, so either value is right there.

A second e-mail address or phone number the bookkeeper adds in sevDesk, not
marked main (``second_ways``), is not the synced field: kleansync syncs the
main one and never writes over the other
(``reconciler.connectors.sevdesk.mapping``). When the sync clears the field
it removes only the main way; the second one then stands for the field by
sevDesk's reading rule (main, else the oldest), but it is still the
bookkeeper's own, not a value KleanApp lacks: the referee reads it as empty
where KleanApp holds nothing (``without_second_ways``). Anything else it
holds must agree as usual.

A customer typed into both systems and then edited before its first link
may no longer look like one customer (same number, another name): the
engine parks it for an admin instead of guessing (``rules.matching``).
``may_be_parked`` says when the model allows that; the machine then answers
as the admin would (link the two) and expects the rule's outcome. If the edit
left too little in common (a new number, only the name the same), the
matcher takes the copies for two customers and creates each on the other
side: the machine then splits the model customer in two
(``checks.split_twins_told_apart``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.adversarial.audit import (
    FIELDS,
    comparable,
    has_address,
    in_country,
    normalise,
)

SIDES = ("kleanapp", "sevdesk")
#: A bookkeeper's second way per type: (field, value typed; "#" is the customer's key).
SECOND_WAYS = {
    "EMAIL": ("email", "zweit@glanz#.de"),
    "PHONE": ("phone", "030 9999999"),
    "MOBILE": ("mobile", "0170 9999999"),
}
#: field -> (CommunicationWay type, the bookkeeper's second value).
WAY_FIELDS = {f: (kind, v) for kind, (f, v) in SECOND_WAYS.items()}


def meanings(record: dict[str, Any]) -> dict[str, Any]:
    """A canonical record's fields (``Customer.model_dump()``) in comparable meaning."""
    return normalise(record)


@dataclass
class ModelCustomer:
    """One customer as the test expects it, whichever side it began on."""

    key: int
    ids: dict[str, str | None]
    #: Meanings both sides held when the last sync settled; None before its first link.
    agreed: dict[str, Any] | None = None
    #: Per side: field -> meaning of the latest edit since the last settled sync.
    edits: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in SIDES})
    #: Per side: the record's modification time after its latest edit this round.
    times: dict[str, dt.datetime | None] = field(default_factory=lambda: dict.fromkeys(SIDES))
    #: Sides whose record time says nothing this round (a sevDesk part was deleted).
    time_unknown: set[str] = field(default_factory=set)
    #: The raw canonical record each side showed after the latest edit (to see what changed).
    raw: dict[str, dict[str, Any] | None] = field(default_factory=lambda: dict.fromkeys(SIDES))
    archived: bool = False
    #: Fields edited during the run that first links this customer (see module docstring).
    raced: set[str] = field(default_factory=set)
    #: Edited after being typed into both systems, before their first link.
    edited_before_link: bool = False
    #: field -> raw value of a second sevDesk way (not marked main) the bookkeeper added.
    second_ways: dict[str, str] = field(default_factory=dict)

    @property
    def linked(self) -> bool:
        return self.agreed is not None and all(self.ids.values())

    @property
    def twin_unlinked(self) -> bool:
        """Typed into both systems, not yet linked by a settled sync."""
        return self.agreed is None and all(self.ids.values())

    @property
    def may_be_parked(self) -> bool:
        """May the matcher park this customer for an admin (module docstring)?

        Only a twin edited before its first link: unedited twins differ in at
        most one small way (``machine.TWIN_DIFFS``) and must link by themselves.
        """
        return self.twin_unlinked and self.edited_before_link

    def split_off(self, side: str, key: int) -> ModelCustomer:
        """Move ``side``'s half into a new customer ``key``; this one keeps the other side's.

        For a twin the engine told apart (``checks.split_twins_told_apart``):
        from then on each half is a customer of its own, expecting what its side held.
        A second sevDesk way belongs to the sevDesk half.
        """
        half = ModelCustomer(key=key, ids=dict.fromkeys(SIDES))
        half.ids[side], self.ids[side] = self.ids[side], None
        half.edits[side], self.edits[side] = self.edits[side], {}
        half.raw[side], self.raw[side] = self.raw[side], None
        half.times[side], self.times[side] = self.times[side], None
        if side in self.time_unknown:
            self.time_unknown.discard(side)
            half.time_unknown.add(side)
        if side == "sevdesk":
            half.second_ways, self.second_ways = self.second_ways, {}
        return half

    @property
    def pending(self) -> bool:
        return any(self.edits[s] for s in SIDES)

    def record_edit(
        self,
        side: str,
        after: dict[str, Any],
        updated_at: dt.datetime | None,
        touched: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> set[str]:
        """A person changed this customer on ``side``; ``after`` is what the side shows now.

        ``touched``: the fields the person typed (a value retyped identically
        still counts); any other field whose raw value changed counts too
        (a deleted address clears street, postal code, city and country).
        """
        before = self.raw[side] or {}
        changed = set(touched) | {f for f in FIELDS if before.get(f) != after.get(f)}
        now = meanings(after)
        if side == "sevdesk" and not has_address(now) and after.get("country") is None:
            # No address, no country: numbers mean what they mean in the agreed country.
            agreed = (self.agreed or {}).get("country") or (self.raw["kleanapp"] or {}).get(
                "country"
            )
            now = in_country(now, agreed)
            # Nor a country of its own to edit: sevDesk keeps it on the address, so
            # deleting an address (one holding only a country, say) says nothing
            # about the customer's country (``audit.comparable`` skips it alike).
            # An address holding only a country does hold one (the engine syncs it).
            changed.discard("country")
        for f in changed & set(FIELDS):
            self.edits[side][f] = now[f]
            if side == "sevdesk" and f in self.second_ways and after.get(f) == self.second_ways[f]:
                del self.second_ways[f]  # a person's change made it the one sevDesk shows
        self.raw[side] = dict(after)
        self.times[side] = updated_at
        return changed & set(FIELDS)

    def expected(self, rule_for: Callable[[str], str], tainted: bool) -> dict[str, frozenset]:
        """Per field: the meanings it may hold once the next sync settled."""
        base = self.agreed or {}
        out: dict[str, frozenset] = {}
        k_edits, s_edits = self.edits["kleanapp"], self.edits["sevdesk"]
        for f in FIELDS:
            if f in k_edits and f in s_edits:
                out[f] = self._decide(f, base.get(f), k_edits[f], s_edits[f], rule_for, tainted)
            elif f in k_edits:
                out[f] = frozenset({k_edits[f]})
            elif f in s_edits:
                out[f] = frozenset({s_edits[f]})
            else:
                out[f] = frozenset({base.get(f)})
        return out

    def _decide(
        self,
        f: str,
        base: Any,
        k: Any,
        s: Any,
        rule_for: Callable[[str], str],
        tainted: bool,
    ) -> frozenset:
        if k == s:
            return frozenset({k})
        either = frozenset({k, s})
        if self.agreed is None and f in self.raced:
            return either  # the edit raced the first link (see module docstring)
        if self.agreed is not None and base in (k, s):
            return either  # a revert or a retype on one side (see module docstring)
        rule = rule_for(f)
        if rule == "kleanapp-authoritative":
            return frozenset({k})
        if rule == "sevdesk-authoritative":
            return frozenset({s})
        kt, st = self.times["kleanapp"], self.times["sevdesk"]
        if tainted or self.time_unknown or kt is None or st is None or self.agreed is None:
            return either
        return frozenset({s}) if st > kt else frozenset({k})  # a tie goes to KleanApp

    def settle(self, agreed: dict[str, Any], ids: dict[str, str]) -> None:
        """The sync settled with both sides holding ``agreed``: a new round begins."""
        self.agreed = dict(agreed)
        self.ids = dict(ids)
        self.edits = {s: {} for s in SIDES}
        self.times = dict.fromkeys(SIDES)
        self.time_unknown = set()
        self.raced = set()
        self.edited_before_link = False


def without_second_ways(
    customer: ModelCustomer, sevdesk: dict[str, Any], kleanapp: dict[str, Any]
) -> dict[str, Any]:
    """sevDesk's audited record with a bookkeeper's second way read as empty (see
    module docstring): only a way not marked main, holding exactly what the
    bookkeeper added, where KleanApp holds nothing."""
    out = dict(sevdesk)
    for f, typed in customer.second_ways.items():
        if (
            out.get(f"_unmarked_{f}")
            and kleanapp.get(f) is None
            and out.get(f) == normalise({**out, f: typed})[f]
        ):
            out[f] = None
            out[f"_typed_{f}"] = None
    return out


PHONES = ("phone", "mobile")
#: Countries the machine moves customers between.
REGIONS = ("DE", "AT", "CH")


def _same_digits(typed: str | None, allowed: set[Any]) -> bool:
    """The number as typed still stands, though the country around it changed.

    Both sides holding the same national number after a move abroad is not an
    edit (issue 12: equal sides, nothing to do); the number kept as typed is
    the one it meant in one of the countries the customer was in.
    """
    return typed is not None and any(
        in_country({f"_typed_{p}": typed for p in PHONES}, r)["phone"] in allowed for r in REGIONS
    )


def violations(
    customer: ModelCustomer,
    expected: dict[str, frozenset],
    actual: dict[str, Any],
    label: str,
) -> list[str]:
    """Fields of ``actual`` (one side, audit-normalised) outside what ``expected`` allows."""
    out = []
    for f in comparable(actual):
        allowed = {normalise({**actual, f: v})[f] for v in expected[f]}
        if f in PHONES and _same_digits(actual.get(f"_typed_{f}"), allowed):
            continue
        if actual[f] not in allowed:
            want = " or ".join(repr(v) for v in sorted(allowed, key=repr))
            out.append(
                f"customer #{customer.key}.{f}: {label} holds {actual[f]!r}, expected {want}"
            )
    return out
