"""Three-way, field-level merge of one linked record pair.

Two-way comparison cannot tell "KleanApp changed the e-mail" from "sevDesk
changed it back", so every decision is taken against the *base*: the value
both sides last agreed on (the previous run's :attr:`MergeResult.merged`).
Per field, with normalised values ``b``, ``k``, ``s``:

=========================  ==============================================
``k == s``                  nothing to do (also when both made the same edit)
``k == b != s``             sevDesk's change goes to KleanApp
``s == b != k``             KleanApp's change goes to sevDesk
all three differ            conflict, decided by the configured rule
no base, ``k != s``         conflict too: on first link we cannot know who
                            changed what, and a silent overwrite would be a guess
=========================  ==============================================

Different fields changed on different sides are simply both kept. The
output is plain frozen data so the engine (and tests) can inspect, log and
apply it without this module doing any I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from reconciler.models import SIDES, Canonical, Customer, Remote, Side
from rules.normalize import (
    DEFAULT_REGION,
    normalize_country,
    normalize_customer,
    normalize_phone,
    normalize_record,
)
from rules.policies import RuleSet, SideValue, Winner

RecordT = TypeVar("RecordT", bound=Canonical)

__all__ = ["Conflict", "MergeResult", "merge", "merge_records"]

_FIRST_LINK = "no common base yet (first link)"


@dataclass(frozen=True)
class Conflict:
    """A field both sides changed to different values, and how it was decided.

    ``kleanapp``/``sevdesk``/``base`` are normalised values; ``base`` is
    None on first link. ``decision == "manual"`` means neither side was
    touched and the conflict will be reported again until resolved.
    """

    entity: str
    key: str
    field: str
    base: Any
    kleanapp: Any
    sevdesk: Any
    rule: str
    decision: Winner
    reason: str

    @property
    def is_manual(self) -> bool:
        return self.decision == "manual"

    @property
    def winning_value(self) -> Any:
        """The value both sides end up with, or the base for a manual conflict."""
        if self.decision == "kleanapp":
            return self.kleanapp
        if self.decision == "sevdesk":
            return self.sevdesk
        return self.base


@dataclass(frozen=True)
class MergeResult(Generic[RecordT]):
    """What to write where for one record pair, and the resulting new base.

    ``to_kleanapp``/``to_sevdesk`` map field name -> new (normalised) value;
    fields absent from a dict must not be written. Phone numbers are read
    in the *agreed* country of the pair (the merged country; for a manual
    country conflict the base's), not each side's own, so a written value
    reads back the same next run; compare read-backs the same way
    (``normalize_customer(rec, phone_region=merged.country or "DE")``). ``archived`` appears in
    them like any field; see :attr:`archived_writes` (the engine applies its
    deletion policy before passing it on).

    ``merged`` is the record both sides agree on once the writes succeed:
    store it as the next base. Fields in a manual conflict keep the *base*
    value there so the conflict resurfaces next run instead of being
    forgotten. ``merged`` is None only when there was no base (first link)
    *and* a manual conflict remains: there is no agreed value to store for
    that field, and storing either side's would let the next run silently
    push it over the other. Keep the pair without a base until resolved.
    """

    entity: str
    key: str
    to_kleanapp: dict[str, Any]
    to_sevdesk: dict[str, Any]
    merged: RecordT | None
    conflicts: tuple[Conflict, ...] = ()

    def writes_for(self, side: Side) -> dict[str, Any]:
        """``to_kleanapp`` or ``to_sevdesk`` by side name."""
        return self.to_kleanapp if side == "kleanapp" else self.to_sevdesk

    @property
    def has_writes(self) -> bool:
        return bool(self.to_kleanapp or self.to_sevdesk)

    @property
    def manual_conflicts(self) -> tuple[Conflict, ...]:
        """Conflicts a human must resolve (reported every run until then)."""
        return tuple(c for c in self.conflicts if c.is_manual)

    @property
    def archived_writes(self) -> dict[Side, bool]:
        """Sides whose ``archived`` flag this merge would change, and to what.

        Separate because archiving is a deletion in disguise: the engine
        decides by policy whether to pass it on, report it, or hold it.
        """
        out: dict[Side, bool] = {}
        for side in SIDES:
            writes = self.writes_for(side)
            if "archived" in writes:
                out[side] = writes["archived"]
        return out


@dataclass(frozen=True)
class _FieldOutcome:
    to_kleanapp: bool = False
    to_sevdesk: bool = False
    value: Any = None  # the agreed value (base value for manual conflicts)
    settled: bool = True  # False: manual conflict without a base value to keep
    conflict: Conflict | None = None


def _merge_field(
    name: str,
    b: dict[str, Any] | None,
    k: dict[str, Any],
    s: dict[str, Any],
    rules: RuleSet,
    k_time: dt.datetime | None,
    s_time: dt.datetime | None,
    entity: str,
    key: str,
) -> _FieldOutcome:
    """The three-way decision for one field (see the table in the module doc)."""
    k_val, s_val = k[name], s[name]
    if k_val == s_val:
        return _FieldOutcome(value=k_val)
    if b is not None and b[name] == k_val:
        return _FieldOutcome(to_kleanapp=True, value=s_val)
    if b is not None and b[name] == s_val:
        return _FieldOutcome(to_sevdesk=True, value=k_val)
    base_val = b[name] if b is not None else None
    decision = rules.decide(name, base_val, SideValue(k_val, k_time), SideValue(s_val, s_time))
    conflict = Conflict(
        entity=entity,
        key=key,
        field=name,
        base=base_val,
        kleanapp=k_val,
        sevdesk=s_val,
        rule=rules.rule_for(name),
        decision=decision.winner,
        reason=decision.reason if b is not None else f"{_FIRST_LINK}; {decision.reason}",
    )
    if decision.winner == "kleanapp":
        return _FieldOutcome(to_sevdesk=True, value=k_val, conflict=conflict)
    if decision.winner == "sevdesk":
        return _FieldOutcome(to_kleanapp=True, value=s_val, conflict=conflict)
    return _FieldOutcome(value=base_val, settled=b is not None, conflict=conflict)


def _phone_region(
    base: Customer | None,
    kleanapp: Customer,
    sevdesk: Customer,
    rules: RuleSet,
    k_time: dt.datetime | None,
    s_time: dt.datetime | None,
) -> str:
    """The one region all three versions read phone numbers in: the agreed country.

    Reading each version in its own country made a customer with a country
    conflict ping-pong: ``"030 1234567"`` is ``+4930…`` in DE but stays as
    typed in AT, so the value written to one side came back "changed". The
    agreed country is what both sides hold after this run (for a manual
    conflict: the base's), so the next run reads the numbers the same way.
    """

    def country(c: Customer) -> dict[str, Any]:
        return {"country": normalize_country(c.country)}

    b = country(base) if base is not None else None
    outcome = _merge_field(
        "country", b, country(kleanapp), country(sevdesk), rules, k_time, s_time, "", ""
    )
    return outcome.value or DEFAULT_REGION


PHONE_FIELDS = ("phone", "mobile")


def _keep_unchanged_phones(
    b: dict[str, Any], sides: dict[str, tuple[Customer, dict[str, Any]]]
) -> set[tuple[str, str]]:
    """A number typed as before is unchanged, even if the country changed.

    KleanApp keeps phones as typed ("030 1234567"). When a customer moves
    abroad, reading that text in the new country changes what it means, and
    the untouched number would look edited and overwrite the other side's.
    A side's number that still reads as the base number in the base's
    country has not been edited: it keeps the base value, and that side is
    given the number in international form once, so that it keeps meaning
    the same number there too. Returns those (side, field) pairs.
    """
    region = b.get("country") or DEFAULT_REGION
    pinned: set[tuple[str, str]] = set()
    for side, (raw, normalised) in sides.items():
        for name in PHONE_FIELDS:
            unchanged = normalize_phone(getattr(raw, name), region) == b[name]
            if normalised[name] != b[name] and b[name] is not None and unchanged:
                normalised[name] = b[name]
                pinned.add((side, name))
    return pinned


def merge_records(
    base: RecordT | None,
    kleanapp: RecordT,
    sevdesk: RecordT,
    rules: RuleSet,
    *,
    key: str,
    kleanapp_updated_at: dt.datetime | None = None,
    sevdesk_updated_at: dt.datetime | None = None,
    entity: str | None = None,
) -> MergeResult[RecordT]:
    """Three-way merge of bare records (see :func:`merge` for the Remote form).

    All three records are normalised here, not by the caller, so a
    forgotten normalisation can never turn into a write. Times are the
    sides' record modification times (UTC) for last-write-wins.
    """
    record_type = type(kleanapp)
    if type(sevdesk) is not record_type or (base is not None and type(base) is not record_type):
        raise TypeError("base, kleanapp and sevdesk must be records of the same type")
    entity = entity or record_type.__name__.lower()
    k_time, s_time = kleanapp_updated_at, sevdesk_updated_at

    normalize: Callable[[Any], Any] = normalize_record
    if isinstance(kleanapp, Customer):
        region = _phone_region(base, kleanapp, sevdesk, rules, k_time, s_time)  # type: ignore[arg-type]
        normalize = partial(normalize_customer, phone_region=region)
    k = normalize(kleanapp).model_dump()
    s = normalize(sevdesk).model_dump()
    b = normalize(base).model_dump() if base is not None else None
    pinned: set[tuple[str, str]] = set()
    if isinstance(kleanapp, Customer) and b is not None:
        pinned = _keep_unchanged_phones(b, {"kleanapp": (kleanapp, k), "sevdesk": (sevdesk, s)})

    to_kleanapp: dict[str, Any] = {}
    to_sevdesk: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    conflicts: list[Conflict] = []
    settled = True
    for name in record_type.model_fields:
        outcome = _merge_field(name, b, k, s, rules, k_time, s_time, entity, key)
        merged[name] = outcome.value
        if outcome.to_kleanapp:
            to_kleanapp[name] = outcome.value
        if outcome.to_sevdesk:
            to_sevdesk[name] = outcome.value
        if outcome.conflict is not None:
            conflicts.append(outcome.conflict)
        settled = settled and outcome.settled
    for side, name in pinned:
        if merged[name] == b[name]:  # nobody edited it: only make it unambiguous
            (to_kleanapp if side == "kleanapp" else to_sevdesk)[name] = merged[name]

    return MergeResult(
        entity=entity,
        key=key,
        to_kleanapp=to_kleanapp,
        to_sevdesk=to_sevdesk,
        merged=record_type.model_validate(merged) if settled else None,
        conflicts=tuple(conflicts),
    )


def merge(
    base: RecordT | None,
    kleanapp: Remote[RecordT],
    sevdesk: Remote[RecordT],
    rules: RuleSet,
    *,
    key: str,
    entity: str | None = None,
) -> MergeResult[RecordT]:
    """Three-way merge of a linked pair as the connectors return it.

    ``base`` is the previous run's ``merged`` (None on first link). ``key``
    identifies the pair in conflicts and reports (e.g. the link id or
    customer number). The Remotes' ``side`` is checked so swapped arguments
    fail loudly instead of writing the wrong way.
    """
    if kleanapp.side != "kleanapp" or sevdesk.side != "sevdesk":
        raise ValueError(
            f"merge() expects (kleanapp, sevdesk) remotes, got ({kleanapp.side}, {sevdesk.side})"
        )
    return merge_records(
        base,
        kleanapp.record,
        sevdesk.record,
        rules,
        key=key,
        kleanapp_updated_at=kleanapp.updated_at,
        sevdesk_updated_at=sevdesk.updated_at,
        entity=entity,
    )
