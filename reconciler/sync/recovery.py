"""Crash recovery: what a run settles first, before it reads anything, after one was killed.

A run may die anywhere (SIGKILL, power cut, OOM). Two things it leaves behind
are settled by the next run, which holds the run lock, so nobody else can be
writing meanwhile:

* its row in the run history still says ``running``: marked ``interrupted``
  (``settle_interrupted_runs``), unless its process is still alive, i.e. it
  was paused and its lock taken over; that run stops before its next write
  (the fence) and records its own end;
* its journal rows still say ``pending``, each a write whose outcome nobody
  saw (``recover_writes``). Creates are finished and linked: sent again with
  the journal entry's idempotency key, so a create that got through is
  answered again rather than written twice (a service without such keys is
  searched for what the failed attempt wrote). Updates are read back; one
  that did not arrive is left to the next diff, which plans it again from
  the unchanged base. So a crash at any point costs neither a duplicate nor
  an edit.

The invoice export settles its own journal rows (``reconciler.invoices.recover``).
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from reconciler.domain.errors import AuthError, KleansyncError, LockLost, Unreachable
from reconciler.domain.models import SYNCED_ENTITIES, Canonical, Remote, Side
from reconciler.sync.apply import Applier
from reconciler.sync.fence import Fence
from reconciler.sync.intents import idempotency_key
from reconciler.sync.links import base_after_create
from reconciler.sync.stable_ids import journal_id
from rules.normalize import normalize_record
from state import Store
from state.tables import Journal, Link


def alive_predecessor(fence: Fence) -> int | None:
    """The pid of the run whose lock ``fence`` took over while its process lived on."""
    grant = fence.grant
    if grant is None or not grant.previous_alive or grant.taken_from is None:
        return None
    return grant.taken_from.pid


def settle_interrupted_runs(store: Store, fence: Fence) -> None:
    """Mark the runs a killed process left ``running`` as interrupted (we hold the lock)."""
    store.mark_interrupted_runs(except_pid=alive_predecessor(fence))


async def recover_writes(applier: Applier) -> list[dict[str, Any]]:
    """Settle the writes a killed run left ``pending``; one note per journal row settled.

    The notes are also added to ``applier.outcome.recovered`` (the run's result
    lists them). The stable ids a killed run was writing are settled too.
    """
    store, outcome = applier.store, applier.outcome
    for entry in store.pending_journal():
        if entry.entity not in SYNCED_ENTITIES:
            continue  # another job's journal (invoice export settles its own)
        model = SYNCED_ENTITIES[entry.entity]
        records = applier.connectors[side_of(entry)].collection(model)
        fields = entry.payload.get("fields", {})
        note: dict[str, Any] = {"journal_id": entry.id, "action": entry.action_id}
        entry_id = journal_id(entry)
        try:
            if entry.op == "create":
                # The same key as the killed attempt: if that create got through,
                # the service answers it again instead of writing a second record.
                result = await records.create(
                    model.model_validate(fields),
                    idempotency_key=idempotency_key(entry),
                    resume=True,
                )
                link = _link_recovered(applier, entry, result)
                if link is not None and link.entity == "customer":
                    await applier.stable_ids.record(link.key, link.kleanapp_id, link.sevdesk_id)
                store.journal_outcome(entry_id, "done", result_id=result.id)
                note["outcome"] = "finished the create and linked it"
            elif entry.op == "update" and entry.target_id:
                current = await records.get(entry.target_id)
                have = normalize_record(current.record).model_dump()
                want = normalize_record(current.record.model_copy(update=fields)).model_dump()
                applied = all(have.get(k) == want.get(k) for k in fields)
                store.journal_outcome(
                    entry_id,
                    "done" if applied else "skipped",
                    result_id=current.id,
                    error=None if applied else "not applied; re-planned from the base",
                )
                note["outcome"] = "confirmed by read-back" if applied else "re-planned"
            else:
                store.journal_outcome(entry_id, "skipped", error="re-planned")
                note["outcome"] = "re-planned"
        except (AuthError, Unreachable, LockLost):
            raise
        except KleansyncError as exc:
            store.journal_outcome(entry_id, "failed", error=str(exc))
            note["outcome"] = f"failed: {exc}"
        logger.info("recovered journal entry {}: {}", entry.id, note["outcome"])
        outcome.recovered.append(note)
    outcome.recovered += await applier.stable_ids.recover()
    if outcome.recovered:
        # A killed run may have saved a link without journaling its stable id
        # yet (both sides are applied at once, so one lane's pair can be between
        # the two when the other lane's write is killed): heal that right away.
        await applier.stable_ids.backfill(store.link_ids("customer"))
    return outcome.recovered


def side_of(entry: Journal) -> Side:
    """The side a journal row was written for (the table keeps it as text)."""
    return "sevdesk" if entry.side == "sevdesk" else "kleanapp"


def _link_recovered(applier: Applier, entry: Journal, result: Remote[Canonical]) -> Link | None:
    """Link a create that recovery finished; the new link, or None if none was made."""
    source_id = entry.payload.get("source_id")
    if not source_id:
        return None
    ids = {
        entry.side: result.id,
        ("sevdesk" if entry.side == "kleanapp" else "kleanapp"): source_id,
    }
    if applier.store.links_by_ids(
        entry.entity, kleanapp_ids=[ids["kleanapp"]], sevdesk_ids=[ids["sevdesk"]]
    ):
        return None  # one of the two is linked already
    fields = entry.payload.get("fields", {})
    source = normalize_record(SYNCED_ENTITIES[entry.entity].model_validate(fields)).model_dump()
    assigned = getattr(result.record, "customer_number", None)
    base = base_after_create(
        applier.connectors, entry.entity, side_of(entry), fields, result, source, assigned
    )
    return applier.store.save_link(
        Link(
            entity=entry.entity,
            key=entry.key,
            kleanapp_id=ids["kleanapp"],
            sevdesk_id=ids["sevdesk"],
            base=base,
        )
    )
