"""Crash recovery: settle the writes a killed run left ``pending`` in the journal.

Every write is journaled (``pending``) before it is sent and completed after
(``reconciler.sync.apply``), so a process killed in between leaves a
``pending`` row. The next run settles those first, before it reads anything:

* a create is repeated with the journal entry's idempotency key, so one that
  got through is answered again rather than written twice (a service without
  such keys is searched for what the failed attempt wrote), then linked to
  the record it was copied from, unless that record is linked meanwhile;
* an update is read back: done if the record holds what was sent, else
  skipped, and the next diff plans it again from the unchanged base;
* anything else is left to the next plan.

So a crash at any point costs neither a duplicate nor an edit. Rows of other
jobs (the invoice export settles its own) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

from reconciler.connectors.base import Connector
from reconciler.domain.errors import AuthError, KleansyncError, LockLost, Unreachable
from reconciler.domain.models import SYNCED_ENTITIES, Canonical, Remote, Side
from reconciler.sync.links import base_after_create
from reconciler.sync.stable_ids import StableIds
from rules.normalize import normalize_record
from state import Store
from state.tables import Journal, Link


def side_of(entry: Journal) -> Side:
    """The side a journal row was written for (the table keeps it as text)."""
    return "sevdesk" if entry.side == "sevdesk" else "kleanapp"


def key_of(entry: Journal) -> str | None:
    """The create's idempotency key (None for rows journaled before keys existed)."""
    key = entry.payload.get("idempotency_key")
    return key if isinstance(key, str) and key else None


def row_id(entry: Journal) -> int:
    """A journal row's id: every row read from, or committed to, the store has one."""
    if entry.id is None:
        raise KleansyncError(f"journal entry {entry.action_id} was never saved")
    return entry.id


class Recovery:
    """Settles the pending journal rows of synced entities, one by one."""

    def __init__(
        self,
        connectors: Mapping[Side, Connector],
        store: Store,
        stable_ids: StableIds,
        notes: list[dict[str, Any]],
    ) -> None:
        self.connectors = connectors
        self.store = store
        self.stable_ids = stable_ids
        #: What was settled and how, one note per row (the run report's ``recovered``).
        self.notes = notes

    async def settle(self) -> list[dict[str, Any]]:
        """Settle every pending row (see module docstring); the notes, as in the report."""
        for entry in self.store.pending_journal():
            if entry.entity not in SYNCED_ENTITIES:
                continue  # another job's journal (invoice export settles its own)
            await self._settle(entry)
        self.notes += await self.stable_ids.recover()
        return self.notes

    async def _settle(self, entry: Journal) -> None:
        model = SYNCED_ENTITIES[entry.entity]
        records = self.connectors[side_of(entry)].collection(model)
        entry_id = row_id(entry)
        fields = entry.payload.get("fields", {})
        note: dict[str, Any] = {"journal_id": entry_id, "action": entry.action_id}
        try:
            if entry.op == "create":
                # The same key as the killed attempt: if that create got through,
                # the service answers it again instead of writing a second record.
                result = await records.create(
                    model.model_validate(fields), idempotency_key=key_of(entry)
                )
                link = self._link(entry, result)
                if link is not None and link.entity == "customer":
                    await self.stable_ids.record(link.key, link.kleanapp_id, link.sevdesk_id)
                self.store.journal_outcome(entry_id, "done", result_id=result.id)
                note["outcome"] = "finished the create and linked it"
            elif entry.op == "update" and entry.target_id:
                current = await records.get(entry.target_id)
                have = normalize_record(current.record).model_dump()
                want = normalize_record(current.record.model_copy(update=fields)).model_dump()
                applied = all(have.get(k) == want.get(k) for k in fields)
                self.store.journal_outcome(
                    entry_id,
                    "done" if applied else "skipped",
                    result_id=current.id,
                    error=None if applied else "not applied; re-planned from the base",
                )
                note["outcome"] = "confirmed by read-back" if applied else "re-planned"
            else:
                self.store.journal_outcome(entry_id, "skipped", error="re-planned")
                note["outcome"] = "re-planned"
        except (AuthError, Unreachable, LockLost):
            raise
        except KleansyncError as exc:
            self.store.journal_outcome(entry_id, "failed", error=str(exc))
            note["outcome"] = f"failed: {exc}"
        logger.info("recovered journal entry {}: {}", entry_id, note["outcome"])
        self.notes.append(note)

    def _link(self, entry: Journal, result: Remote[Canonical]) -> Link | None:
        """Link a create that recovery finished; the new link, or None if none was made."""
        source_id = entry.payload.get("source_id")
        if not source_id:
            return None
        ids = {
            entry.side: result.id,
            ("sevdesk" if entry.side == "kleanapp" else "kleanapp"): source_id,
        }
        for link in self.store.links(entry.entity):
            if link.kleanapp_id == ids["kleanapp"] or link.sevdesk_id == ids["sevdesk"]:
                return None
        fields = entry.payload.get("fields", {})
        source = normalize_record(SYNCED_ENTITIES[entry.entity].model_validate(fields)).model_dump()
        assigned = getattr(result.record, "customer_number", None)
        base = base_after_create(
            self.connectors, entry.entity, side_of(entry), fields, result, source, assigned
        )
        return self.store.save_link(
            Link(
                entity=entry.entity,
                key=entry.key,
                kleanapp_id=ids["kleanapp"],
                sevdesk_id=ids["sevdesk"],
                base=base,
            )
        )
