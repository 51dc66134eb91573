"""The one conflict model: a field both sides changed to different values, and its decision.

The same fact travels through four places: the diff finds it
(``rules.diff``), the plan carries it (``Plan.conflicts``, saved with
``--plan-out``), the store keeps it for an admin (``state.tables.ConflictRow``,
filled with :meth:`Conflict.model_dump`) and the queue shows it
(``reconciler.admin.queue``). It lives here, below all of them, so each of
them uses this class instead of a copy of its fields that could drift.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Winner = Literal["kleanapp", "sevdesk", "manual"]
"""Which side's value is kept; ``"manual"`` means neither, until a human decides."""

__all__ = ["Conflict", "Winner"]


class Conflict(BaseModel):
    """A field both sides changed to different values, and how it was decided.

    ``kleanapp``/``sevdesk``/``base`` are normalised values; ``base`` is
    None on first link. ``decision == "manual"`` means neither side was
    touched and the conflict will be reported again until resolved.
    ``link_id`` is the stored link of the pair, once the planner knows it
    (the rules know records, not links).
    """

    model_config = ConfigDict(frozen=True)

    entity: str
    key: str
    #: The record's name as the run saw it (KleanApp's, else sevDesk's), for people: a first
    #: link has no agreed base yet that would hold it.
    label: str | None = None
    link_id: int | None = None
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
