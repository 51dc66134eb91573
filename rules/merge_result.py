"""What a three-way merge returns: the writes per side, the new base, and what it left.

Kept apart from the merge itself (``rules.diff``) because the planner reads
these types without needing to know how they were decided: plain frozen
data it can inspect, log and turn into actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from reconciler.domain.conflicts import Conflict
from reconciler.domain.models import SIDES, Canonical, Side
from rules.fingerprints import Seen

RecordT = TypeVar("RecordT", bound=Canonical)

__all__ = ["Held", "MergeResult", "Reformat"]


@dataclass(frozen=True)
class MergeResult(Generic[RecordT]):
    """What to write where for one record pair, and the resulting new base.

    ``to_kleanapp``/``to_sevdesk`` map field name -> the value to write: the
    other side's value as typed, in a lossless form (``rules.carry``);
    fields absent from a dict must not be written. Phone numbers are
    compared in the *agreed* country of the pair (the merged country; for a
    manual country conflict the base's), not each side's own; compare
    read-backs the same way (``normalize_customer(rec, phone_region=merged.country
    or "DE")``). ``archived`` appears in them like any field; see
    :attr:`archived_writes` (the engine applies its deletion policy before
    passing it on). ``reformats`` are writes of their own (see
    :class:`Reformat`); ``held`` are changes not carried (see :class:`Held`).
    ``seen_after`` are the fingerprints to store with ``merged`` once every
    write succeeded.

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
    reformats: tuple[Reformat, ...] = ()
    held: tuple[Held, ...] = ()
    seen_after: Seen | None = None

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
class Reformat:
    """A write that only re-formats a value a side holds, so it keeps its meaning there.

    Nobody edited the value: the customer moved abroad, and the number the
    side holds in national form (``030 1234567``) would now be read in the
    new country as another number. Planned as its own action with this
    reason, never folded into the merge's writes.
    """

    side: Side
    field: str
    value: Any
    reason: str


@dataclass(frozen=True)
class Held:
    """A change on ``side`` that cannot be carried without changing its meaning.

    Not written anywhere; the field keeps its base and the change stays
    "changed", so it is quarantined with ``reason`` again until fixed.
    """

    side: Side
    field: str
    value: Any
    reason: str
