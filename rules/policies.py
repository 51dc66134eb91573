"""Conflict rules: who wins when both systems changed the same field differently.

A rule is a small pure function ``(field, base, kleanapp, sevdesk) ->
Decision``, registered by name with :func:`rule`. The names are what an
admin writes in the config (``default = "last-write-wins"``, per-field
overrides), so they are part of the user-facing contract: renaming one
breaks existing configs.

Rules only ever see values that already differ on both sides (the diff
settles every other case), so they never need to handle "no conflict".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.domain.conflicts import Winner
from reconciler.domain.i18n import _
from reconciler.domain.models import SIDE_LABEL

TIE_WINNER: Literal["kleanapp"] = "kleanapp"
"""Who wins last-write-wins when the times tie or one is unknown.

KleanApp is the operational system: the office edits customers there while
talking to them, so on doubt its value is the more likely current one. A
fixed side (rather than, say, the alphabetically smaller value) keeps the
outcome explainable in one sentence.
"""

__all__ = [
    "RULES",
    "TIE_WINNER",
    "Decision",
    "RuleFn",
    "RuleSet",
    "SideValue",
    "Winner",
    "get_rule",
    "rule",
]


@dataclass(frozen=True)
class SideValue:
    """One side's value for a field, with that side's record modification time (UTC)."""

    value: Any
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Decision:
    """A rule's verdict plus the sentence an admin reads in the report."""

    winner: Winner
    reason: str


RuleFn = Callable[[str, Any, SideValue, SideValue], Decision]
"""``(field, base, kleanapp, sevdesk) -> Decision``; must be pure and deterministic."""

RULES: dict[str, RuleFn] = {}
"""Registered rules by config name. Extend with the :func:`rule` decorator."""


def rule(name: str) -> Callable[[RuleFn], RuleFn]:
    """Register ``fn`` under ``name`` so configs can refer to it."""

    def register(fn: RuleFn) -> RuleFn:
        if name in RULES:
            raise ValueError(f"conflict rule {name!r} is already registered")
        RULES[name] = fn
        return fn

    return register


def get_rule(name: str) -> RuleFn:
    """The rule called ``name``; ValueError listing the valid names otherwise."""
    try:
        return RULES[name]
    except KeyError:
        valid = ", ".join(sorted(RULES))
        raise ValueError(
            _("unknown conflict rule %(rule)r; valid rules: %(valid)s", rule=name, valid=valid)
        ) from None


def _as_utc(value: dt.datetime) -> dt.datetime:
    # Connectors promise UTC-aware times; a naive one is read as UTC rather
    # than crashing the comparison for one record.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _format_pair(a: dt.datetime, b: dt.datetime) -> tuple[str, str]:
    """Format two UTC times as briefly as still tells them apart.

    ``2026-11-24 10:00 UTC vs 09:00 UTC`` reads better than two full ISO
    stamps; seconds (or microseconds) appear only when minutes do not
    separate the times, and the date only once unless they differ.
    """
    if a.replace(second=0, microsecond=0) != b.replace(second=0, microsecond=0):
        time_fmt = "%H:%M"
    elif a.replace(microsecond=0) != b.replace(microsecond=0):
        time_fmt = "%H:%M:%S"
    else:
        time_fmt = "%H:%M:%S.%f"
    first = a.strftime(f"%Y-%m-%d {time_fmt}") + " UTC"
    second_fmt = time_fmt if a.date() == b.date() else f"%Y-%m-%d {time_fmt}"
    return first, b.strftime(second_fmt) + " UTC"


@rule("last-write-wins")
def last_write_wins(field: str, base: Any, kleanapp: SideValue, sevdesk: SideValue) -> Decision:
    """The side whose record was modified later wins.

    Times are the sides' own record modification times (field-level times
    do not exist in either API). On a tie or a missing time the winner is
    :data:`TIE_WINNER` (KleanApp), and the reason says so, so nobody
    mistakes a fallback for evidence.
    """
    k_time, s_time = kleanapp.updated_at, sevdesk.updated_at
    fallback = f"{SIDE_LABEL[TIE_WINNER]} wins by default as the operational system"
    if k_time is None or s_time is None:
        missing = " and ".join(
            SIDE_LABEL[side] for side, t in (("kleanapp", k_time), ("sevdesk", s_time)) if t is None
        )
        verb = "have" if k_time is None and s_time is None else "has"
        return Decision(TIE_WINNER, f"{missing} {verb} no modification time; {fallback}")
    k_utc, s_utc = _as_utc(k_time), _as_utc(s_time)
    if k_utc == s_utc:
        when = _format_pair(k_utc, s_utc)[0]
        return Decision(TIE_WINNER, f"both changed it at the same time ({when}); {fallback}")
    winner: Winner = "kleanapp" if k_utc > s_utc else "sevdesk"
    later, earlier = (k_utc, s_utc) if winner == "kleanapp" else (s_utc, k_utc)
    later_s, earlier_s = _format_pair(later, earlier)
    return Decision(winner, f"{SIDE_LABEL[winner]} changed it later ({later_s} vs {earlier_s})")


@rule("sevdesk-authoritative")
def sevdesk_authoritative(
    field: str, base: Any, kleanapp: SideValue, sevdesk: SideValue
) -> Decision:
    """sevDesk always wins (e.g. for billing data the bookkeeper owns)."""
    return Decision("sevdesk", "sevDesk is authoritative for this field")


@rule("kleanapp-authoritative")
def kleanapp_authoritative(
    field: str, base: Any, kleanapp: SideValue, sevdesk: SideValue
) -> Decision:
    """KleanApp always wins (e.g. for operational data the office owns)."""
    return Decision("kleanapp", "KleanApp is authoritative for this field")


@rule("manual")
def manual(field: str, base: Any, kleanapp: SideValue, sevdesk: SideValue) -> Decision:
    """Nobody wins: the field is left alone on both sides until a human resolves it."""
    return Decision("manual", "changed differently on both sides; needs a manual decision")


@dataclass(frozen=True)
class RuleSet:
    """Which rule decides which field: a default plus per-field overrides.

    Validated on construction so a typo in the config fails at startup,
    naming the valid rules, instead of at the first conflict at 3 a.m.
    """

    default: str = "last-write-wins"
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_rule(self.default)
        for field_name, rule_name in self.fields.items():
            try:
                get_rule(rule_name)
            except ValueError as exc:
                raise ValueError(f"field {field_name!r}: {exc}") from None
        # A private copy so a caller mutating their dict cannot change a
        # frozen RuleSet behind our back.
        object.__setattr__(self, "fields", dict(self.fields))

    def check_fields(self, known: Iterable[str]) -> None:
        """Raise ValueError if an override names a field that does not exist.

        Config validation passes e.g. ``Customer.model_fields``; a misspelt
        field would otherwise silently fall back to the default rule.
        """
        known_set = set(known)
        unknown = sorted(set(self.fields) - known_set)
        if unknown:
            raise ValueError(
                f"conflict rules for unknown field(s) {', '.join(unknown)}; "
                f"valid fields: {', '.join(sorted(known_set))}"
            )

    def rule_for(self, field_name: str) -> str:
        """The rule name that decides ``field_name``."""
        return self.fields.get(field_name, self.default)

    def decide(
        self, field_name: str, base: Any, kleanapp: SideValue, sevdesk: SideValue
    ) -> Decision:
        """Apply the configured rule for ``field_name``."""
        return get_rule(self.rule_for(field_name))(field_name, base, kleanapp, sevdesk)
