"""Step 4 of a run: carry out a plan, journaling every write.

For each action: a journal row is committed (``pending``) *before* the
request is sent, and completed (``done``, ``failed`` or ``skipped``) after.
A process killed in between leaves a ``pending`` row, which the next run
settles first (``reconciler.sync.recovery``). So a crash at any point costs
neither a duplicate nor an edit.

Each write goes to the collection of its entity on its side
(``connector.collection(Customer)`` is ``connector.customers``). A refused
write is parked waiting for a fix (``reconciler.sync.refusals``); the link
and base a pair leaves, also when its writes went through only in part, are
worked out in ``reconciler.sync.links``.

A pair that only links (no write to either service, nothing an admin
decided: an activation matching identical records) is stored with others in
chunks of :data:`LINK_CHUNK` new links, one transaction each, not one commit
per link: 100,000 of them cost minutes of commits (issue 21). The journal's
rule is untouched: such a pair sends nothing, so there is no intent to make
durable first; a process killed before its chunk is stored loses only links
the next run matches again. The stable id each new link records is queued
once its chunk is stored and journaled by its sender as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import os
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from loguru import logger
from sqlalchemy.exc import IntegrityError

from reconciler.connectors.base import Connector
from reconciler.domain.bounds import one_line
from reconciler.domain.errors import (
    AuthError,
    ChangedMeanwhile,
    FatalError,
    KleansyncError,
    LockLost,
    NotFound,
    RemoteValidationError,
    StillReferenced,
    TransientError,
    Unreachable,
)
from reconciler.domain.models import SIDE_LABEL, SYNCED_ENTITIES, Canonical, Remote, Side
from reconciler.domain.problems import english, failure_code, problem
from reconciler.sync.fence import current_writes, ensure_fence
from reconciler.sync.intents import idempotency_key, payload_of
from reconciler.sync.lanes import FollowUps, run_lanes
from reconciler.sync.links import (
    base_after_create,
    link_clash,
    link_row,
    pair_link,
    partly_applied,
)
from reconciler.sync.plan_model import Action, PairPlan, Plan
from reconciler.sync.refusals import park_refusal
from reconciler.sync.stable_ids import StableIds, journal_id
from rules.fingerprints import settle_written
from state import Store
from state.refusal_tables import Refusal, Refusals, fingerprint
from state.tables import Journal, Link

#: Test instrumentation, like etcd's failpoints: ``stage:entity.side.op``
#: makes the process SIGKILL itself at that point (crash-recovery tests).
CRASH_ENV = "KLEANSYNC_CRASH_AT"


#: Graceful stop (``kleansync serve``): set by the service on SIGTERM/SIGINT. An
#: Applier created while it is set finishes the pairs in flight, then applies no
#: further pair; the run records that as skipped, so its cursors stay put and the
#: next run resumes there.
STOP: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar(
    "kleansync_stop", default=None
)
STOPPED_REASON = english("service_stopping", {})


#: The in-process variant (tests/stateful): called with the point's name
#: (``"after_request:customer.sevdesk.update"``) at every journal point; it may
#: raise a ``BaseException`` to stop the run there as a crash would, leaving the
#: journal exactly as a kill does.
CRASH_HOOK: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "kleansync_crash_hook", default=None
)


def _crashpoint(stage: str, action: Action) -> None:
    point = f"{stage}:{action.count_key}"
    if (hook := CRASH_HOOK.get()) is not None:
        hook(point)
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


#: side:id of the records of the pair being applied (each lane's task has its own).
PAIR_RECORDS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "kleansync_pair_records", default=()
)

#: New links of pairs that only link, stored per transaction (see the module docstring).
LINK_CHUNK = 500

#: The journal's note on an action the fence stopped before anything was sent.
LOCK_LOST_NOTE = "not sent: another run took over the lock; it plans this again"


class Kept(enum.Enum):
    """``execute`` result: the service refused to delete a record others refer to."""

    KEPT = "kept"


KEPT = Kept.KEPT


@dataclass
class ApplyOutcome:
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[dict[str, Any]] = field(default_factory=list)
    #: Writes not sent because the service refused this very payload before.
    waiting: list[str] = field(default_factory=list)
    #: Planned writes not sent at all (known refusals, write-backs of failed creates).
    not_sent: list[str] = field(default_factory=list)
    #: Conflicts whose admin answer this run carried out (marked applied) ...
    decided: list[int] = field(default_factory=list)
    #: ... and parked-match answers (``ParkedResolution`` ids).
    settled: list[int] = field(default_factory=list)


class Applier:
    """Executes actions against the connectors, journaled in ``store``."""

    def __init__(
        self,
        connectors: dict[Side, Connector],
        store: Store,
        run_id: str,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.connectors = connectors
        self.store = store
        self.run_id = run_id
        self.progress = progress or (lambda n: None)
        self.outcome = ApplyOutcome()
        #: (side, record id) -> (version the plan read, version our last write made)
        self._written: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        #: Ids of the actions that went through in this run (for ``Action.after``).
        self._done: set[str] = set()
        self.stop: asyncio.Event | None = STOP.get()  # graceful stop (kleansync serve)
        self.refusals = Refusals(store)
        #: Open refusals by action id, read when applying starts.
        self.refused: dict[str, Refusal] = {}
        #: The KleanApp id recorded on the sevDesk contact of every new customer link.
        self.stable_ids = StableIds(connectors, store, run_id, errors=self.outcome.errors)
        #: While ``apply`` runs: the stable ids new links leave (``lanes.FollowUps``).
        self.follow_ups: FollowUps | None = None
        #: While ``apply`` runs: new links of pairs that only link, not stored yet.
        self._plain: list[tuple[PairPlan, dict[str, Any]]] | None = None

    # -- one action ----------------------------------------------------------
    async def _send(self, action: Action, entry: Journal) -> Remote[Canonical] | None:
        model = SYNCED_ENTITIES[action.entity]
        records = self.connectors[action.side].collection(model)
        if action.op == "create":
            return await records.create(
                model.model_validate(action.fields),
                idempotency_key=idempotency_key(entry),
            )
        if action.target_id is None:  # a plan names the record of every other write
            raise NotFound(f"{action.entity} {action.key}: no record to {action.op}")
        if action.op == "update":
            return await records.update(
                action.target_id, action.fields, expected_version=action.expected_version
            )
        await records.delete(action.target_id, expected_version=action.expected_version)
        return None

    def _chained(self, action: Action) -> Action:
        """The action expecting the version our own earlier write made, if it wrote one.

        A pair may write one record twice (a change, then a re-format; or a
        temporary number, then the final one): the second write must not
        mistake the first for someone else's edit.
        """
        if action.target_id is None:
            return action
        read, ours = self._written.get((action.side, action.target_id), (None, None))
        if read is not None and action.expected_version == read:
            return action.model_copy(update={"expected_version": ours})
        return action

    async def execute(self, action: Action) -> Remote[Canonical] | Kept | Literal[False] | None:
        """Journal, send, record. Returns the written record, or False on failure.

        A write the service refused before with this very payload is not sent
        again (it waits for a fix at its source; ``state.refusal_tables``).

        Raises ``LockLost`` (from the fence, before any request) when another
        run took the lock over: nothing of this action was sent then, and its
        journal row says so; a row whose requests went out in part stays
        ``pending`` for the lock's new holder to read back.
        """
        ensure_fence()
        if action.after and action.after not in self._done:
            self.outcome.skipped.append(
                {"action": action.id, **problem("waits_for", after=action.after)}
            )
            self.outcome.not_sent.append(action.id)
            return False
        stamp = fingerprint(action.op, action.target_id or action.source_id, action.fields)
        known = self.refused.get(action.id)
        if known is not None and known.fingerprint == stamp:
            self.outcome.waiting.append(action.id)
            self.outcome.not_sent.append(action.id)
            return False
        action = self._chained(action)
        entry = self.store.journal_intent(
            Journal(
                run_id=self.run_id,
                action_id=action.id,
                entity=action.entity,
                side=action.side,
                op=action.op,
                key=action.key,
                target_id=action.target_id,
                payload=payload_of(action),
                expected_version=action.expected_version,
            )
        )
        entry_id = journal_id(entry)
        _crashpoint("after_intent", action)
        where = f"{action.entity} {action.key} → {SIDE_LABEL[action.side]} {action.op}"
        sent_before = current_writes()
        try:
            result = await self._send(action, entry)
        except LockLost:
            if current_writes() == sent_before:
                self.store.journal_outcome(
                    entry_id, "skipped", error=LOCK_LOST_NOTE, only_pending=True
                )
            raise
        except StillReferenced as exc:
            self.store.journal_outcome(entry_id, "skipped", error=str(exc))
            self.outcome.skipped.append(
                {
                    "action": action.id,
                    **problem(
                        "still_referenced", text=str(exc), side=SIDE_LABEL[action.side], detail=exc
                    ),
                }
            )
            return KEPT
        except ChangedMeanwhile:
            self.store.journal_outcome(entry_id, "skipped", error="changed meanwhile")
            self.outcome.skipped.append({"action": action.id, **problem("changed_meanwhile")})
            return False
        except (AuthError, Unreachable, FatalError):
            self.store.journal_outcome(entry_id, "failed", error="run aborted")
            raise
        except TransientError as exc:
            # Outcome unknown when maybe_written: leave it pending so the next run reads back.
            if not exc.maybe_written:
                self.store.journal_outcome(entry_id, "failed", error=str(exc))
            self._error(action, where, exc)
            return False
        except RemoteValidationError as exc:
            self.store.journal_outcome(entry_id, "failed", error=one_line(str(exc)))
            self.outcome.errors.append(
                park_refusal(
                    self.refusals,
                    action,
                    exc,
                    stamp=stamp,
                    records=list(PAIR_RECORDS.get()),
                    run_id=self.run_id,
                )
            )
            return False
        except (NotFound, KleansyncError) as exc:
            self.store.journal_outcome(entry_id, "failed", error=one_line(str(exc)))
            self._error(action, where, exc)
            return False
        _crashpoint("after_request", action)
        if isinstance(result, Remote) and action.target_id is not None:
            read = self._written.get((action.side, action.target_id), (action.expected_version,))[0]
            self._written[(action.side, action.target_id)] = (read, result.version)
        self.store.journal_outcome(entry_id, "done", result_id=result.id if result else None)
        self._done.add(action.id)
        if known is not None:
            self.refusals.close({action.id})  # fixed at its source: accepted now
        self.outcome.counts[action.count_key] += 1
        self.progress(1)
        return result

    def _error(self, action: Action, where: str, exc: Exception) -> None:
        logger.warning("{}: {}", one_line(where, 120), one_line(str(exc)))
        self.outcome.errors.append(
            {
                "action": action.id,
                "entity": action.entity,
                "key": action.key,
                "side": action.side,
                "op": action.op,
                **problem(
                    failure_code(exc),
                    "error",
                    text=one_line(str(exc)),  # the English as it always was (--json)
                    side=SIDE_LABEL[action.side],
                    detail=one_line(str(exc)),
                ),
            }
        )

    # -- one pair --------------------------------------------------------------
    async def apply_pair(self, pair: PairPlan) -> None:
        ids: dict[str, str | None] = {"kleanapp": pair.kleanapp_id, "sevdesk": pair.sevdesk_id}
        PAIR_RECORDS.set(tuple(f"{side}:{rid}" for side, rid in ids.items() if rid is not None))
        versions: dict[str, str | None] = {}
        base = pair.base_after
        seen = {side: dict(v) for side, v in pair.seen_after.items()} if pair.seen_after else None
        failed: list[Action] = []
        unlink = pair.unlink
        assigned: str | None = None
        for action in pair.actions:
            if action.number_from_create:
                if assigned is None:
                    failed.append(action)  # the create failed; nothing to write back
                    self.outcome.not_sent.append(action.id)
                    continue
                action = action.model_copy(update={"fields": {"customer_number": assigned}})
                base = {**base, "customer_number": assigned} if base else base
            result = await self.execute(action)
            if result is False:
                failed.append(action)
                continue
            if result is KEPT:
                unlink = False  # the record stays; keep the link and its base
                continue
            if isinstance(result, Remote):
                ids[action.side] = result.id
                versions[action.side] = result.version
                if seen is not None and action.side in seen:
                    records = self.connectors[action.side].collection(
                        SYNCED_ENTITIES[action.entity]
                    )
                    skip = records.unstorable_fields(result.record)
                    seen[action.side] = settle_written(
                        seen[action.side], action.fields, result.record, skip
                    )
                if action.op == "create":
                    assigned = getattr(result.record, "customer_number", None)
                    base = base_after_create(
                        self.connectors,
                        action.entity,
                        action.side,
                        action.fields,
                        result,
                        base,
                        assigned,
                    )
        if pair.link_untouched:
            return
        if self._plain is not None and _only_links(pair):
            # Stored with its chunk (module docstring), which checks the fence once.
            row = link_row(pair, ids, versions, base, seen)
            if row is not None:
                self._plain.append((pair, row))
                if len(self._plain) >= LINK_CHUNK:
                    self._store_plain()
            return
        ensure_fence()  # links and bases are the lock holder's to write
        if failed:  # in part: remember what landed, the rest is planned again
            kept = partly_applied(self.store, pair, failed, ids, versions, base, seen)
            if kept is not None:
                self._save_link(pair, kept)
            return
        revisions: list[int | None] = list(pair.conflict_revisions)
        revisions += [None] * (len(pair.conflict_ids) - len(revisions))  # an older saved plan
        for conflict_id, revision in zip(pair.conflict_ids, revisions, strict=True):
            if self.store.mark_conflict_applied(conflict_id, revision):
                self.outcome.decided.append(conflict_id)
        for resolution_id in pair.parked_resolution_ids:
            self.store.mark_parked_resolution_applied(resolution_id, self.run_id)
            self.outcome.settled.append(resolution_id)
        if unlink:
            if pair.link_id is not None:
                self.store.delete_link(pair.link_id)
            return
        link = pair_link(self.store, pair, ids, versions, base, seen)
        if link is None:
            return
        if not self._save_link(pair, link):
            return
        await self._linked(pair, link)

    async def _linked(self, pair: PairPlan, link: Link) -> None:
        """What a new customer link leaves: its stable id on the sevDesk contact."""
        if pair.link_id is None and pair.entity == "customer":
            if self.follow_ups is None:
                await self.stable_ids.record(pair.key, link.kleanapp_id, link.sevdesk_id)
            else:  # a sevDesk write: sent beside sevDesk's lane, not by this one
                self.follow_ups.put(pair.key, link.kleanapp_id, link.sevdesk_id)

    def _store_plain(self) -> None:
        """Store the waiting new links in one transaction, then queue their stable ids."""
        chunk = self._plain or []
        if self._plain is not None:
            self._plain = []
        if not chunk:
            return
        ensure_fence()  # links are the lock holder's to write
        stored = self.store.insert_links([row for _pair, row in chunk])
        for (pair, row), link_id in zip(chunk, stored, strict=True):
            kleanapp_id, sevdesk_id = row["kleanapp_id"], row["sevdesk_id"]
            if link_id is None:
                self.outcome.errors.append(link_clash(pair, kleanapp_id, sevdesk_id))
            elif pair.entity == "customer" and self.follow_ups is not None:
                self.follow_ups.put(pair.key, kleanapp_id, sevdesk_id)

    def _save_link(self, pair: PairPlan, link: Link) -> bool:
        try:
            self.store.save_link(link)
            return True
        except IntegrityError:
            self.outcome.errors.append(link_clash(pair, link.kleanapp_id, link.sevdesk_id))
            return False

    async def apply(self, plan: Plan) -> ApplyOutcome:
        """Both sides at once, each in plan order per record (``reconciler.sync.lanes``)."""
        self.refused = self.refusals.open()
        stop = self.stop  # graceful stop (kleansync serve): no further pair once set
        self.follow_ups = FollowUps(self.stable_ids.record)
        self.follow_ups.start()
        self._plain = []
        try:
            left = await run_lanes(
                plan.pairs, self.apply_pair, stopped=lambda: bool(stop and stop.is_set())
            )
            self._store_plain()  # the last chunk (a stop keeps what was applied)
        except BaseException:
            await self.follow_ups.finish(drop=True)
            raise
        finally:
            follow_ups, self.follow_ups = self.follow_ups, None
            self._plain = None
        await follow_ups.finish()
        if left:  # only a stop leaves pairs behind
            stopped = problem("service_stopping")
            skipped = [{"action": a.id, **stopped} for p in left for a in p.actions]
            self.outcome.skipped += skipped or [{"action": "stop", **stopped}]
        return self.outcome


def _only_links(pair: PairPlan) -> bool:
    """A new link with no write to either side and no admin's answer to mark applied."""
    return (
        pair.link_id is None
        and not pair.actions
        and not pair.unlink
        and not pair.conflict_ids
        and not pair.parked_resolution_ids
    )
