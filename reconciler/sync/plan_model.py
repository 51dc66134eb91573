"""The plan as data: what a run will write, where, and what waits for an admin.

Plain frozen pydantic models, so a plan can be printed (dry-run), saved as
JSON (``--plan-out``) and applied later (``--apply-plan``) exactly as it was
decided. ``reconciler.sync.plan`` builds it; ``reconciler.sync.apply`` carries it out.

Work is grouped per record pair (``PairPlan``), because the new base of a
pair may only be stored once every write for that pair has succeeded.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.domain.conflicts import Conflict
from reconciler.domain.models import Quarantined, Side

Op = Literal["create", "update", "archive", "delete"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Action(Frozen):
    """One write to one side."""

    entity: str
    side: Side
    op: Op
    key: str
    target_id: str | None = None
    source_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    expected_version: str | None = None
    reason: str = ""
    #: Write back the customer number the other side assigned on create
    #: (a record created without a number gets one there; both must agree).
    number_from_create: bool = False
    #: A second write to the same record in one pair, and why: "reformat" (a
    #: value re-formatted so it keeps its meaning), "temporary-number" (the
    #: first half of a number swap). Empty for the pair's main write.
    step: str = ""
    #: The id of an earlier action of this plan that must have gone through first: a
    #: rename taking a number that one frees (``reconciler.number_swaps``). Sent
    #: without it, the write is refused ("already taken") for a cause its own
    #: record cannot fix, so it is left for the next run instead.
    after: str = ""

    @property
    def id(self) -> str:
        base = f"{self.entity}:{self.key}:{self.side}:{self.op}"
        return f"{base}:{self.step}" if self.step else base

    @property
    def count_key(self) -> str:
        return f"{self.entity}.{self.side}.{self.op}"


class PairPlan(Frozen):
    """Everything to do for one KleanApp/sevDesk record pair."""

    entity: str
    key: str
    link_id: int | None = None
    kleanapp_id: str | None = None
    sevdesk_id: str | None = None
    actions: tuple[Action, ...] = ()
    #: The new agreed version once every action succeeded; None keeps no base.
    base_after: dict[str, Any] | None = None
    #: side -> field -> fingerprint of the raw value it holds once every action
    #: succeeded (``rules.fingerprints``); None keeps the link's current ones.
    seen_after: dict[str, dict[str, str]] | None = None
    #: Only write; leave the link and its base as they are (the first half of a
    #: number swap: the pair's own PairPlan follows later in the plan).
    link_untouched: bool = False
    #: Forget the link afterwards (the record is gone on one side).
    unlink: bool = False
    #: Admin resolutions this pair carries out (conflict ids, parked-resolution ids).
    conflict_ids: tuple[int, ...] = ()
    #: The answer's ``revision`` per conflict id, in the same order: the run marks a
    #: conflict applied only if its answer is still that one (changed meanwhile: next run).
    conflict_revisions: tuple[int, ...] = ()
    parked_resolution_ids: tuple[int, ...] = ()
    #: Both records' digests (``plan_writes.pair_digests``) when the pair writes nothing
    #: and is quiet against ``base_after``: the link keeps them (``sync.links.pair_link``).
    digests_after: tuple[str, str] | None = None


class Task(Frozen):
    """Something only an admin can do (e.g. create a unit in sevDesk's UI)."""

    kind: str
    entity: str
    key: str
    message: str


class ParkedItem(Frozen):
    entity: str
    side: Side
    record_id: str
    key: str
    reason: str
    candidates: tuple[str, ...] = ()
    #: The parked record as an admin knows it (``reconciler.reporting.evidence.record_facts``).
    details: dict[str, Any] = Field(default_factory=dict)
    #: Per candidate: its facts, score, decision and per-field evidence, best first.
    evidence: tuple[dict[str, Any], ...] = ()


class Plan(Frozen):
    created_at: dt.datetime
    full: bool
    #: A saved plan (``--plan-out``): the id of the dry run that made it, and the
    #: identity of its state store (``state.plan_tables``). ``--apply-plan`` refuses
    #: a plan without them, from another store, or applied before (``plan_file``).
    id: str = ""
    store_id: str = ""
    pairs: tuple[PairPlan, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    tasks: tuple[Task, ...] = ()
    parked: tuple[ParkedItem, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    #: "entity.side" -> newest modification time read, the next cursor.
    cursors: dict[str, dt.datetime] = Field(default_factory=dict)
    #: "entity.side" -> records a complete (full) read returned; for the brake.
    complete_counts: dict[str, int] = Field(default_factory=dict)

    @property
    def actions(self) -> list[Action]:
        return [a for p in self.pairs for a in p.actions]

    @property
    def removals(self) -> list[Action]:
        """Archives and deletes: what the mass-delete brake counts."""
        return [a for a in self.actions if a.op in ("archive", "delete")]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(a.count_key for a in self.actions).items()))
