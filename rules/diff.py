"""Three-way, field-level merge of one linked record pair.

Two-way comparison cannot tell "KleanApp changed the e-mail" from "sevDesk
changed it back", so every decision is taken against the *base*: the value
both sides last agreed on (the previous run's :attr:`MergeResult.merged`),
and per side the fingerprints of the raw values it held then
(``rules.fingerprints``), which say exactly which side changed a field.
Per field, with normalised values ``k``, ``s`` (normalisation only
*compares*; what is written is the source's value as typed, ``rules.carry``):

=========================  ==============================================
``k == s``                  nothing to do (also when both made the same edit)
only sevDesk changed it     sevDesk's value goes to KleanApp
only KleanApp changed it    KleanApp's value goes to sevDesk
both changed it             conflict, decided by the configured rule
neither changed it          nothing to carry; a phone number that would read
                            as another number in the customer's new country
                            gets its international form (a :class:`Reformat`)
no base, ``k != s``         conflict too: on first link we cannot know who
                            changed what, and a silent overwrite would be a guess
=========================  ==============================================

Different fields changed on different sides are simply both kept. The
output is plain frozen data (``rules.merge_result``; conflicts are
``reconciler.domain.conflicts.Conflict``) so the engine (and tests) can
inspect, log and apply it without this module doing any I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from reconciler.domain.conflicts import Conflict
from reconciler.domain.models import SIDES, Customer, Remote, Side
from rules.carry import carry_problem, carry_value
from rules.fingerprints import Seen, fingerprint
from rules.merge_result import Held, MergeResult, RecordT, Reformat
from rules.normalize import (
    DEFAULT_REGION,
    normalize_country,
    normalize_customer,
    normalize_phone,
    normalize_record,
)
from rules.policies import RuleSet, SideValue

__all__ = ["merge", "merge_records"]

_FIRST_LINK = "no common base yet (first link)"


@dataclass(frozen=True)
class _FieldOutcome:
    to_kleanapp: bool = False
    to_sevdesk: bool = False
    value: Any = None  # the agreed value (base value for manual conflicts)
    settled: bool = True  # False: manual conflict without a base value to keep
    conflict: Conflict | None = None
    kept_back: bool = False  # a change that was not carried (manual conflict)
    drift: bool = False  # neither side changed it, yet they read differently


def _merge_field(
    name: str,
    b: dict[str, Any] | None,
    k: dict[str, Any],
    s: dict[str, Any],
    changed: Callable[[Side, str], bool],
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
    if b is not None:
        k_changed, s_changed = changed("kleanapp", name), changed("sevdesk", name)
        if k_changed and not s_changed:
            return _FieldOutcome(to_sevdesk=True, value=k_val)
        if s_changed and not k_changed:
            return _FieldOutcome(to_kleanapp=True, value=s_val)
        if not k_changed and not s_changed:
            return _FieldOutcome(value=b[name], drift=True)
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
    return _FieldOutcome(value=base_val, settled=b is not None, conflict=conflict, kept_back=True)


PHONE_FIELDS = ("phone", "mobile")


class _Changes:
    """Per side and field: did that side change it since the pair was agreed?

    With fingerprints (``seen``): its raw value's hash differs *and* it no
    longer reads as the base (a number retyped in another spelling is the
    same number, not an edit). A field without a fingerprint (a link from
    before they existed) is compared by value with the base, where a phone
    number that still reads as the base number in the base's country counts
    as unchanged.
    """

    def __init__(
        self,
        seen: Seen | None,
        raw: dict[Side, dict[str, Any]],
        norm: dict[Side, dict[str, Any]],
        b: dict[str, Any] | None,
        base_region: str,
    ) -> None:
        self.seen, self.raw, self.norm, self.b, self.base_region = seen, raw, norm, b, base_region

    def __call__(self, side: Side, name: str) -> bool:
        assert self.b is not None
        if self.norm[side][name] == self.b[name]:
            return False
        known = (self.seen or {}).get(side, {}).get(name)
        if known is not None:
            return fingerprint(self.raw[side][name]) != known
        if name in PHONE_FIELDS:
            return normalize_phone(self.raw[side][name], self.base_region) != self.b[name]
        return True


def _reformat(
    name: str, side: Side, raw: Any, base_value: Any, base_region: str, region: str
) -> Reformat | None:
    """The number ``side`` holds unchanged, written in the form that keeps its meaning."""
    if name not in PHONE_FIELDS or not isinstance(base_value, str) or base_value[:1] != "+":
        return None
    if normalize_phone(raw, base_region) != base_value:
        return None
    return Reformat(
        side=side,
        field=name,
        value=base_value,
        reason=f"{name} written as {base_value}: the customer is in {region} now, where "
        f"{raw!r} would be read as another number",
    )


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
    seen: Seen | None = None,
) -> MergeResult[RecordT]:
    """Three-way merge of bare records (see :func:`merge` for the Remote form).

    All three records are normalised here, not by the caller, so a
    forgotten normalisation can never turn into a write. Times are the
    sides' record modification times (UTC) for last-write-wins. ``seen``
    holds the sides' fingerprints at ``base`` (``rules.fingerprints``).
    """
    record_type = type(kleanapp)
    if type(sevdesk) is not record_type or (base is not None and type(base) is not record_type):
        raise TypeError("base, kleanapp and sevdesk must be records of the same type")
    entity = entity or record_type.__name__.lower()
    k_time, s_time = kleanapp_updated_at, sevdesk_updated_at
    raw: dict[Side, dict[str, Any]] = {
        "kleanapp": kleanapp.model_dump(),
        "sevdesk": sevdesk.model_dump(),
    }
    base_region = region = DEFAULT_REGION

    normalize: Callable[[Any], Any] = normalize_record
    if isinstance(kleanapp, Customer):
        # ``base`` is a Customer too (checked above); the isinstance only tells the type checker.
        b_country = (
            {"country": normalize_country(base.country)} if isinstance(base, Customer) else None
        )
        if b_country is not None:
            base_region = b_country["country"] or DEFAULT_REGION
        countries: dict[Side, dict[str, Any]] = {
            side: {"country": normalize_country(raw[side]["country"])} for side in SIDES
        }
        outcome = _merge_field(
            "country",
            b_country,
            countries["kleanapp"],
            countries["sevdesk"],
            _Changes(seen, raw, countries, b_country, base_region),
            rules,
            k_time,
            s_time,
            "",
            "",
        )
        region = outcome.value or DEFAULT_REGION
        normalize = partial(normalize_customer, phone_region=region)
    norm: dict[Side, dict[str, Any]] = {
        "kleanapp": normalize(kleanapp).model_dump(),
        "sevdesk": normalize(sevdesk).model_dump(),
    }
    k, s = norm["kleanapp"], norm["sevdesk"]
    b = normalize(base).model_dump() if base is not None else None
    changed = _Changes(seen, raw, norm, b, base_region)

    writes: dict[Side, dict[str, Any]] = {"kleanapp": {}, "sevdesk": {}}
    after: Seen = {side: {} for side in SIDES}
    merged: dict[str, Any] = {}
    conflicts: list[Conflict] = []
    reformats: list[Reformat] = []
    held: list[Held] = []
    settled = True
    for name in record_type.model_fields:
        outcome = _merge_field(name, b, k, s, changed, rules, k_time, s_time, entity, key)
        merged[name] = outcome.value
        for side in SIDES:
            after[side][name] = fingerprint(raw[side][name])
        if outcome.conflict is not None:
            conflicts.append(outcome.conflict)
        settled = settled and outcome.settled
        if outcome.kept_back:
            for side in SIDES:
                _keep_seen(after, seen, side, name)
        targets: tuple[tuple[Side, bool], ...] = (
            ("kleanapp", outcome.to_kleanapp),
            ("sevdesk", outcome.to_sevdesk),
        )
        for target, wanted in targets:
            if not wanted:
                continue
            source: Side = "sevdesk" if target == "kleanapp" else "kleanapp"
            value = carry_value(name, raw[source][name])
            problem = carry_problem(name, value)
            if problem is not None:
                held.append(Held(side=source, field=name, value=value, reason=problem))
                merged[name] = b[name] if b is not None else None
                settled = settled and b is not None
                _keep_seen(after, seen, source, name)
                continue
            writes[target][name] = value
            after[target][name] = fingerprint(value)
        if outcome.drift and b is not None:
            for side in SIDES:
                if norm[side][name] == b[name]:
                    continue
                fix = _reformat(name, side, raw[side][name], b[name], base_region, region)
                if fix is not None:
                    reformats.append(fix)
                    after[side][name] = fingerprint(fix.value)

    return MergeResult(
        entity=entity,
        key=key,
        to_kleanapp=writes["kleanapp"],
        to_sevdesk=writes["sevdesk"],
        merged=record_type.model_validate(merged) if settled else None,
        conflicts=tuple(conflicts),
        reformats=tuple(reformats),
        held=tuple(held),
        seen_after=after,
    )


def _keep_seen(after: Seen, seen: Seen | None, side: Side, name: str) -> None:
    """Remember the old fingerprint, so a change not carried stays a change."""
    known = (seen or {}).get(side, {}).get(name)
    if known is None:
        after[side].pop(name, None)
    else:
        after[side][name] = known


def merge(
    base: RecordT | None,
    kleanapp: Remote[RecordT],
    sevdesk: Remote[RecordT],
    rules: RuleSet,
    *,
    key: str,
    entity: str | None = None,
    seen: Seen | None = None,
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
        seen=seen,
    )
