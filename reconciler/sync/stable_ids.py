"""Stable ids: the KleanApp id recorded on each linked sevDesk contact, journaled.

Links live in the state store; if it is lost, the stable id on the sevDesk
contact (``connectors.sevdesk_stable_ids``) is what lets ``kleansync resync``
rebuild every link exactly, and what lets a plain ``sync`` notice that the
two systems are already linked instead of duplicating every customer
(:func:`already_linked`). The customer number stays the second key.

The id is written whenever a customer link is made: for a create (right
after it, one extra request), for a pair the matcher linked at activation,
for an admin's "link" answer, for a create that crash recovery finished, and
by ``resync`` for links that lack it. Like every write to an outside system
it is journaled before it is sent (entity ``stable_id``): a ``pending`` row
left by a killed process is written again by :meth:`StableIds.recover`, and
the write itself finds an earlier attempt's field instead of adding a second.

A failed write never undoes the link (the customer data is in sync); it is
reported as an error of the run, and the next full sync (:meth:`StableIds.backfill`)
or ``resync`` writes what is missing. An account whose contact fields cannot be
read is synced as before, with links in the state store only (a warning).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from loguru import logger

from reconciler.connectors.base import Connector
from reconciler.domain.errors import (
    AuthError,
    KleansyncError,
    LockLost,
    NeedsResync,
    NotFound,
    RemoteValidationError,
    TransientError,
    Unreachable,
)
from reconciler.domain.models import Side
from reconciler.domain.problems import problem
from reconciler.sync.fence import ensure_fence
from reconciler.sync.snapshot import Snapshot
from state import Store
from state.link_queries import LinkIds
from state.tables import Journal, Link

ENTITY = "stable_id"
#: Like ``apply.CRASH_ENV``: ``after_intent:stable_id.sevdesk.write`` (or ``after_request:``)
#: makes the process SIGKILL itself there (crash-recovery tests).
CRASH_ENV = "KLEANSYNC_CRASH_AT"


class StableIdFields(Protocol):
    """The sevDesk connector's stable-id calls (``connectors.sevdesk.stable_ids``)."""

    def forget(self) -> None: ...

    async def setting_id(self) -> str | None: ...

    async def create_setting(self) -> str: ...

    async def write(self, contact_id: str, kleanapp_id: str) -> str: ...

    async def all(self) -> dict[str, str]: ...


def remote_of(connectors: Mapping[Side, Connector]) -> StableIdFields | None:
    """The sevDesk connector's stable-id calls, or None (another connector keeps none)."""
    remote: StableIdFields | None = getattr(connectors.get("sevdesk"), "stable_ids", None)
    return remote


def journal_id(entry: Journal) -> int:
    """The id of a journal row read from or written to the store (it always has one)."""
    if entry.id is None:
        raise ValueError(f"journal row {entry.action_id} was never stored")
    return entry.id


def _crashpoint(stage: str, op: str) -> None:
    if os.environ.get(CRASH_ENV) == f"{stage}:{ENTITY}.sevdesk.{op}":
        os.kill(os.getpid(), signal.SIGKILL)


class StableIds:
    """Journaled stable-id writes of one run."""

    def __init__(
        self,
        connectors: Mapping[Side, Connector],
        store: Store,
        run_id: str,
        *,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.remote = remote_of(connectors)
        if self.remote is not None:
            self.remote.forget()  # one run, one fresh read of the contact fields
        self.store = store
        self.run_id = run_id
        self.written = 0
        #: Failed writes, in the run's error format (the Applier passes its own list).
        self.errors: list[dict[str, Any]] = [] if errors is None else errors
        self._setting_ready = False
        self._setting_lock = asyncio.Lock()
        #: sevDesk refused the contact field itself: no more attempts this run.
        self.unavailable = False

    async def record(self, key: str, kleanapp_id: str, contact_id: str) -> bool:
        """Write ``kleanapp_id`` onto sevDesk contact ``contact_id``; False if that failed."""
        if self.remote is None or self.unavailable:
            return True
        ensure_fence()  # the journal and the outside writes are the lock holder's
        remote = self.remote
        try:
            await self._ensure_setting(remote, key)
        except (RemoteValidationError, NotFound) as exc:
            # No contact fields for this account (or refused): sync on without them.
            self.unavailable = True
            logger.warning("sevDesk refuses contact fields, so no stable ids this run: {}", exc)
            return True
        except (AuthError, Unreachable, LockLost):
            raise
        except KleansyncError as exc:
            self._failed(key, contact_id, exc)
            return False
        try:
            entry = self._intent("write", key, contact_id, {"kleanapp_id": kleanapp_id})
            _crashpoint("after_intent", "write")
            outcome = await self._settle(remote, entry, kleanapp_id, contact_id)
        except (AuthError, Unreachable, LockLost):
            raise
        except KleansyncError as exc:
            self._failed(key, contact_id, exc)
            return False
        if outcome != "unchanged":
            self.written += 1
        return True

    async def _ensure_setting(self, remote: StableIdFields, key: str) -> None:
        """Create the contact field's setting once per account, journaled like any write.

        Both lanes of a run record stable ids (``reconciler.sync.lanes``): one
        of them creates the setting, the other waits for it.
        """
        async with self._setting_lock:
            await self._ensure_setting_alone(remote, key)

    async def _ensure_setting_alone(self, remote: StableIdFields, key: str) -> None:
        if self._setting_ready:
            return
        if await remote.setting_id() is None:
            entry = self._intent("create_setting", key, None, {})
            try:
                setting = await remote.create_setting()
            except LockLost:
                raise  # stays pending: creating the setting again finds it first
            except TransientError as exc:
                if not exc.maybe_written:
                    self.store.journal_outcome(entry, "failed", error=str(exc))
                raise
            except KleansyncError as exc:
                self.store.journal_outcome(entry, "failed", error=str(exc))
                raise
            self.store.journal_outcome(entry, "done", result_id=setting)
        self._setting_ready = True

    def _intent(self, op: str, key: str, target: str | None, payload: dict[str, Any]) -> int:
        """Journal a write before it is sent; the journal row's id."""
        return journal_id(
            self.store.journal_intent(
                Journal(
                    run_id=self.run_id,
                    action_id=f"{ENTITY}:{key}:sevdesk:{op}",
                    entity=ENTITY,
                    side="sevdesk",
                    op=op,
                    key=key,
                    target_id=target,
                    payload=payload,
                )
            )
        )

    async def _settle(
        self, remote: StableIdFields, entry: int, kleanapp_id: str, contact_id: str
    ) -> str:
        try:
            outcome = await remote.write(contact_id, kleanapp_id)
        except LockLost:
            raise  # stays pending: the lock's new holder writes it (it looks first)
        except TransientError as exc:
            # Outcome unknown when maybe_written: stays pending, recover() writes again.
            if not exc.maybe_written:
                self.store.journal_outcome(entry, "failed", error=str(exc))
            raise
        except KleansyncError as exc:
            self.store.journal_outcome(entry, "failed", error=str(exc))
            raise
        _crashpoint("after_request", "write")
        self.store.journal_outcome(entry, "done", result_id=contact_id)
        return outcome

    def _failed(self, key: str, contact_id: str, exc: Exception) -> None:
        logger.warning("recording the KleanApp id on sevDesk contact {}: {}", contact_id, exc)
        self.errors.append(
            {
                "action": f"{ENTITY}:{key}:sevdesk:write",
                "entity": "customer",
                "key": key,
                "side": "sevdesk",
                "op": "stable_id",
                **problem(
                    "stable_id_not_recorded",
                    "error",
                    text=f"the KleanApp id could not be recorded on sevDesk contact {contact_id} "
                    f"({exc}); `kleansync resync` writes it later",
                    detail=exc,
                ),
            }
        )

    async def backfill(self, links: Iterable[Link | LinkIds]) -> int:
        """Record the stable id of every customer link whose sevDesk contact lacks it.

        Run on full syncs: it heals links made before stable ids existed, a
        write that failed, and a process killed between saving a link and
        journaling its stable id. Costs one paged read when nothing is missing.
        """
        if self.remote is None:
            return 0
        wanted = {link.sevdesk_id: link for link in links if link.entity == "customer"}
        if not wanted:
            return 0
        have = await readable(self.remote)
        missing = [
            link for sid, link in sorted(wanted.items()) if have.get(sid) != link.kleanapp_id
        ]
        before = self.written
        for link in missing:
            await self.record(link.key, link.kleanapp_id, link.sevdesk_id)
        if missing:
            logger.info("recorded the KleanApp id on {} linked sevDesk contacts", len(missing))
        return self.written - before

    async def recover(self) -> list[dict[str, Any]]:
        """Write again what a killed run left ``pending`` (idempotent: looks before writing)."""
        notes: list[dict[str, Any]] = []
        if self.remote is None:
            return notes
        for entry in self.store.pending_journal():
            if entry.entity != ENTITY:
                continue
            note: dict[str, Any] = {"journal_id": entry.id, "action": entry.action_id}
            row = journal_id(entry)
            try:
                if entry.op == "create_setting":
                    setting = await self.remote.create_setting()
                    self.store.journal_outcome(row, "done", result_id=setting)
                elif entry.target_id and entry.payload.get("kleanapp_id"):
                    await self.remote.create_setting()
                    await self.remote.write(entry.target_id, str(entry.payload["kleanapp_id"]))
                    self.store.journal_outcome(row, "done", result_id=entry.target_id)
                else:
                    self.store.journal_outcome(row, "skipped", error="nothing to write")
                note["outcome"] = "recorded the KleanApp id"
            except (AuthError, Unreachable, LockLost):
                raise
            except KleansyncError as exc:
                self.store.journal_outcome(row, "failed", error=str(exc))
                note["outcome"] = f"failed: {exc}"
            logger.info("recovered journal entry {}: {}", entry.id, note["outcome"])
            notes.append(note)
        return notes


async def already_linked(
    connectors: Mapping[Side, Connector], kleanapp_ids: Iterable[str]
) -> dict[str, str]:
    """sevDesk contact id -> KleanApp id, for contacts naming an existing KleanApp customer."""
    remote = remote_of(connectors)
    if remote is None:
        return {}
    present = set(kleanapp_ids)
    return {c: k for c, k in (await readable(remote)).items() if k in present}


async def readable(remote: StableIdFields) -> dict[str, str]:
    """Every stable id of the account; {} (with a warning) if sevDesk refuses to list them.

    An account without contact fields (or an API that answers with a
    client error) must not stop syncing: links are then kept only in the
    state store, as before stable ids existed.
    """
    try:
        return await remote.all()
    except (RemoteValidationError, NotFound) as exc:
        logger.warning("sevDesk contact fields cannot be read, so no stable ids: {}", exc)
        return {}


async def refuse_duplicating(connectors: Mapping[Side, Connector], snapshot: Snapshot) -> None:
    """Stop a sync with an empty state store when sevDesk contacts name KleanApp customers.

    Without links every customer is "new" on both sides and would be created
    again on the other; the stable ids show the sides are already paired.
    """
    kleanapp = snapshot.read("customer", "kleanapp").records
    sevdesk = snapshot.read("customer", "sevdesk").records
    if not kleanapp or not sevdesk:
        return
    paired = [c for c in await already_linked(connectors, kleanapp) if c in sevdesk]
    if paired:
        raise NeedsResync(
            f"the state store knows no customer links, but {len(paired)} sevDesk customers "
            "carry the id of a KleanApp customer (the store was lost or replaced?); nothing "
            "was changed: run `kleansync resync` to rebuild the links"
        )
