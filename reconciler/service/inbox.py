"""The durable webhook inbox of ``kleansync serve``: accepted events are acted on until done.

The receiver (``reconciler.service.http``) stores every accepted event in the
state store (``state.inbox_tables``) before it answers 2xx and dispatches it
at once: ``invoice.saved`` to the export queue, customer and unit events to
the debounced sync. The jobs (``reconciler.service.jobs``) settle the rows
their work covered, through ``InboxSettlement``:

* a sync run *completed* (``ok`` or ``errors``) settles every customer/unit
  event stored before the run started; one that could not start (the run
  lock is held by another process) or failed settles nothing;
* an invoice export that ran settles that invoice's events stored before it.

Why: KleanApp never resends a delivery we acknowledged, so an event lost
between the 2xx and the work is lost for good (until the nightly run). Here
nothing acknowledged depends on memory: ``InboxWorker`` dispatches the
pending rows on every start of the service (what a killed predecessor
acknowledged is processed without anyone starting a run) and again every
``[webhooks] inbox_retry_seconds`` while rows stay pending, until they are
done or given up after ``state.inbox_tables.MAX_ATTEMPTS`` tries.

The two are separate objects because they face opposite ways: the jobs
settle through the one, the other hands work to the jobs (``Dispatch``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from loguru import logger

from reconciler.service.settings import ServiceSettings
from state.inbox_tables import INVOICE_EVENT, RECONCILE_EVENTS, Inbox, InboxEvent


class InboxSettlement:
    """Settles the inbox rows a job's work covered; records the attempts that did not."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def mark(self) -> int:
        """Where the inbox stands as a job starts: the rows its success may settle."""
        try:
            return self.inbox.last_id()
        except Exception:  # noqa: BLE001 - the job runs anyway; the next one settles
            return 0

    def sync_done(self, upto: int, outcome: str | None, *, completed: bool) -> None:
        """A sync run ended ``outcome`` (None: it could not start); ``completed``: it read
        both sides and applied what it could, so the events up to ``upto`` are done."""
        try:
            if completed:
                self.inbox.settle_reconcile(upto)
                return
            why = "the sync could not start" if outcome is None else f"the sync ended {outcome}"
            self._attempted(
                [
                    r
                    for r in self.inbox.pending()
                    if r.event in RECONCILE_EVENTS and r.id is not None and r.id <= upto
                ],
                why,
            )
        except Exception as exc:  # noqa: BLE001 - pending rows are simply dispatched again
            logger.warning("could not update the webhook inbox: {}", exc)

    def export_done(self, invoice_id: str, upto: int, *, ran: bool) -> None:
        """The export of one invoice ran (``ran``) or could not run."""
        try:
            if ran:
                self.inbox.settle_invoice(invoice_id, upto)
                return
            self._attempted(
                [
                    r
                    for r in self.inbox.pending()
                    if r.event == INVOICE_EVENT
                    and r.record_id == str(invoice_id)
                    and r.id is not None
                    and r.id <= upto
                ],
                "the export could not run",
            )
        except Exception as exc:  # noqa: BLE001
            logger.warning("could not update the webhook inbox: {}", exc)

    def _attempted(self, rows: list[InboxEvent], why: str) -> None:
        ids = [r.id for r in rows if r.id is not None]
        if not ids:
            return
        for row in self.inbox.attempted(ids, why):
            logger.warning(
                "webhook event {} for {} given up after {} attempts ({}); the nightly sync "
                "and the invoice poll still cover it",
                row.event,
                row.record_id,
                row.attempts,
                why,
            )


class Dispatch(Protocol):
    """Where pending events go (``reconciler.service.jobs.Jobs``)."""

    def request_reconcile(self) -> None: ...

    def retry_export(self, invoice_id: str) -> None: ...

    def sync_pending(self) -> bool: ...


class InboxWorker:
    """Dispatches pending inbox rows at start and every retry interval."""

    def __init__(
        self, inbox: Inbox, settings: ServiceSettings, stop: asyncio.Event, jobs: Dispatch
    ) -> None:
        self.inbox = inbox
        self.settings = settings
        self.stop = stop
        self.jobs = jobs

    async def run(self) -> None:
        """Dispatch what is pending now, then again every retry interval."""
        first = True
        while not self.stop.is_set():
            try:
                self.dispatch_pending(resume=first)
            except Exception as exc:  # noqa: BLE001 - a store hiccup must not end the worker
                logger.warning("could not read the webhook inbox (trying again): {}", exc)
            first = False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.settings.inbox_retry_seconds)

    def dispatch_pending(self, *, resume: bool = False) -> int:
        """Hand every pending inbox event to its job again; how many were pending.

        A sync already wanted or running covers customer/unit events by
        itself (its completion settles them), so it is not asked for twice.
        """
        rows = self.inbox.pending()
        if not rows:
            return 0
        if resume:
            logger.info(
                "the webhook inbox holds {} event(s) not yet done; processing them", len(rows)
            )
        if any(r.event in RECONCILE_EVENTS for r in rows) and not self.jobs.sync_pending():
            self.jobs.request_reconcile()
        for invoice_id in dict.fromkeys(
            r.record_id for r in rows if r.event == INVOICE_EVENT and r.record_id
        ):
            self.jobs.retry_export(invoice_id)
        return len(rows)
