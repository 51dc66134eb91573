"""Settling invoice writes that a killed export left ``pending`` in the journal.

Run at the start of every (non-dry) export, before any invoice is looked
at. Each pending row is *read back*, never re-sent: the sevDesk create by
its ``customerInternalNote``, the finalisation by the invoice's status, the
KleanApp link by the invoice's ``export``. The row is then marked ``done``
or ``failed``; either way the invoice itself is picked up again in the same
run from its ledger state (``pending``/``created`` are always retried), and
the exporter's own note lookup makes sure that never means a second sevDesk
invoice. Rows of other entities belong to the sync engine and are left alone.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.connectors.sevdesk.invoices import DRAFT
from reconciler.domain.errors import (
    AuthError,
    KleansyncError,
    LockLost,
    NotFound,
    Unreachable,
)
from reconciler.invoices.journal import ENTITY
from reconciler.invoices.mapping import note_for
from reconciler.invoices.result import ExportResult
from state import Store
from state.invoice_tables import CREATED, UNFINISHED, InvoiceLedger
from state.tables import Journal


class JournalRecovery:
    def __init__(
        self,
        *,
        kleanapp: KleanappConnector,
        sevdesk: SevdeskConnector,
        store: Store,
        result: ExportResult,
    ) -> None:
        self.kleanapp = kleanapp
        self.sevdesk = sevdesk
        self.store = store
        self.ledger = InvoiceLedger(store)
        self.result = result

    async def recover(self) -> None:
        """Settle every pending invoice journal row; notes go to ``result.recovered``."""
        for entry in self.store.pending_journal():
            if entry.entity != ENTITY:
                continue  # the sync engine settles its own
            kid = str(entry.payload.get("kleanapp_id"))
            note: dict[str, Any] = {"journal_id": entry.id, "invoice": entry.key}
            try:
                done, result_id, outcome = await self._read_back(entry, kid)
            except (AuthError, Unreachable, LockLost):
                raise
            except KleansyncError as exc:
                done, result_id, outcome = False, None, f"cannot read back: {exc}"
            self.store.journal_outcome(
                entry.stored_id,
                "done" if done else "failed",
                result_id=result_id,
                error=None if done else outcome,
            )
            note["outcome"] = f"{entry.side} {entry.op} of {entry.key}: {outcome}"
            logger.info("recovered journal entry {}: {}", entry.id, note["outcome"])
            self.result.recovered.append(note)

    async def _read_back(self, entry: Journal, kid: str) -> tuple[bool, str | None, str]:
        row = self.ledger.get(kid)
        if entry.side == "sevdesk" and entry.op == "create":
            found = await self.sevdesk.find_invoice_by_note(note_for(kid))
            if found is None:
                return False, None, "never reached sevDesk; exported again in this run"
            if row is not None and row.state in UNFINISHED:
                self.ledger.save(kid, row.number, state=CREATED, sevdesk_id=found.id)
            return True, found.id, f"sevDesk invoice {found.id} exists; linking it in this run"
        if entry.side == "sevdesk" and entry.op == "finalise" and entry.target_id:
            current = await self.sevdesk.get_invoice(entry.target_id)
            if current.status == DRAFT:
                return False, current.id, "still a draft; finalised in this run"
            return True, current.id, "finalised"
        if entry.side == "kleanapp" and entry.op == "link" and entry.target_id:
            invoice = await self.kleanapp.get_invoice(kid)
            if invoice.record.exported_to == entry.target_id:
                return True, entry.target_id, "linked in KleanApp"
            return False, None, "not linked; linked in this run"
        if entry.side == "sevdesk" and entry.op == "discard" and entry.target_id:
            try:
                await self.sevdesk.get_invoice(entry.target_id)
            except NotFound:
                return True, entry.target_id, "the draft is deleted"
            return False, entry.target_id, "the draft is still there; checked again in this run"
        if entry.side == "kleanapp" and entry.op == "status":
            invoice = await self.kleanapp.get_invoice(kid)
            if invoice.record.accounting_status == entry.payload.get("accounting_status"):
                return True, entry.target_id, "status shown in KleanApp"
            return False, None, "status not shown in KleanApp; the next status poll writes it"
        return False, None, "unknown step; the invoice is looked at again"
