"""The write jobs of ``kleansync serve``: sync runs, the webhook debounce, invoice exports.

Part of ``reconciler.service.runner.Service`` (mixed in as ``ServiceJobs``); the
state it works on (locks, queues, the store, the connectors) is set up by
``Service.__init__`` and listed at the top of the class.

Why one write job at a time: sync runs and invoice exports take turns on one
``asyncio.Lock``. Each job starts by settling the journal rows a killed job
left ``pending``, and a row another job of this process has in flight must
never look like one of those. It also means an invoice is never exported by
two paths at once; the exporter's ledger and its ``customerInternalNote``
lookup make sure it is never exported twice at all. Across processes the
sync run lock in the state store still applies (a hand-started ``kleansync
sync`` and the service never run together).

Why a debounce: ``customer.saved``, ``customer.archived`` and ``unit.saved``
ask for a sync run "soon". The first event starts a wait of ``[webhooks]
debounce_seconds`` and every event arriving meanwhile rides along, so a burst
of edits makes one incremental run (trigger ``webhook``). The incremental
snapshot reads every record changed since the last run, so the records the
events named are reconciled, along with anything else that changed.

Why a poll: webhooks can get lost. Every ``[schedule] invoice_poll_minutes``
the exporter's ``--since-last`` run picks up unexported invoices changed since
the last poll, plus held and failed ones.

Every job is tracked (``Service._track``) and shielded, so a graceful stop
lets the write in flight finish instead of cancelling it halfway. Each job
settles the webhook inbox rows it covered (``reconciler.service.inbox``): a
completed sync its customer/unit events, an export its invoice's events; a
sync that could not start leaves them pending, to be dispatched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loguru import logger

from reconciler.domain.errors import KleansyncError, RunInProgress
from reconciler.sync.apply import STOP
from state import Store

if TYPE_CHECKING:
    from reconciler.service.metrics import Metrics
    from reconciler.service.runner import ServiceSettings
    from state.inbox_tables import Inbox
    from state.service_tables import DeliveryLog

#: Completed runs: they read both sides and applied what they could.
COMPLETED = ("ok", "errors")
#: The invoice poll's first position is this far before the first start (clock skew).
POLL_START_SLACK = dt.timedelta(minutes=1)
#: The exporter's ``--since-last`` cursor (``reconciler.invoices.runner``).
INVOICE_CURSOR = ("kleanapp", "invoice")


# -- the export module's API, in one place (a signature change is a one-line fix) --------
async def export_invoice(
    config: Any, invoice_id: str, *, connectors: Mapping[str, Any], store: Store
) -> Any:
    """Export one KleanApp invoice (``invoice.saved``)."""
    from reconciler.invoices.runner import export_one

    return await export_one(
        invoice_id, config, connectors=connectors, store=store, trigger="webhook"
    )


async def export_since_last_poll(
    config: Any, *, connectors: Mapping[str, Any], store: Store
) -> Any:
    """Export what the webhooks may have missed (``invoices export --since-last``)."""
    from reconciler.invoices.runner import ExportFilters, export_invoices

    return await export_invoices(
        config, ExportFilters(since_last=True), connectors=connectors, store=store, trigger="poll"
    )


class ServiceJobs:
    """Sync runs and invoice exports, one at a time on ``_writer``.

    Uses ``Service._track`` (life cycle) and ``Service.ensure_webhook``
    (``reconciler.service.http``) besides the attributes below.
    """

    config: Any
    settings: ServiceSettings
    store: Store
    connectors: dict[str, Any]
    metrics: Metrics
    stop_event: asyncio.Event
    webhook_state: str
    deliveries: DeliveryLog
    inbox: Inbox
    _writer: asyncio.Lock
    _reconcile_wanted: asyncio.Event
    #: The last sync attempt found the run lock held by another process.
    _locked_out: bool = False
    _exports: asyncio.Queue[tuple[str, str | None]]
    _export_waiters: dict[tuple[str, str | None], asyncio.Future[Any]]

    # -- sync runs ----------------------------------------------------------------------
    async def scheduled_sync(self) -> Any:
        """The cron job. Cancelled by a scheduler shutdown, the run itself goes on (shielded).

        If another process holds the run lock (a long hand-started sync), the
        night's run is not lost: it tries again a few times, minutes apart.
        """
        try:
            for attempt in range(self.settings.lock_retries + 1):
                self._locked_out = False
                result = await self.sync("schedule")
                if not self._locked_out or self.stop_event.is_set():
                    return result
                if attempt < self.settings.lock_retries:
                    logger.info(
                        "the scheduled sync tries again in {:.0f}s",
                        self.settings.lock_retry_seconds,
                    )
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(
                            self.stop_event.wait(), self.settings.lock_retry_seconds
                        )
            return None
        except asyncio.CancelledError:
            return None

    async def sync(self, trigger: str) -> Any:
        """One sync run (None if it did not run); survives its caller's cancellation."""
        if self.stop_event.is_set():
            return None
        return await asyncio.shield(self._track(self._sync(trigger), f"kleansync-sync-{trigger}"))

    async def _sync(self, trigger: str) -> Any:
        async with self._writer:
            if self.stop_event.is_set():
                return None
            upto = self._inbox_mark()  # the inbox events this run covers if it completes
            result = await self._run_sync(trigger)
            if not self.stop_event.is_set():  # a stopped run left work: keep them pending
                self._settle_reconcile(upto, result, COMPLETED)
        if result is None:
            return None
        logger.info("{} sync {}: {}", trigger, result.outcome, result.counts or "nothing to do")
        self.metrics.run_finished(trigger, result.outcome, result.counts)
        self._refresh_last_success()
        if self._invoices_waiting():
            # Invoices held for a customer that was not in sevDesk yet may go out now.
            self._enqueue_export("poll", None)
        return result

    async def _run_sync(self, trigger: str) -> Any:
        from reconciler.sync.engine import SyncOptions, run_sync

        token = STOP.set(self.stop_event)
        try:
            return await run_sync(
                self.config,
                SyncOptions(trigger=trigger),
                connectors=self.connectors,  # type: ignore[arg-type]
                store=self.store,
            )
        except RunInProgress as exc:
            logger.info("{} sync not started: {}", trigger, exc)
            self.metrics.run_finished(trigger, "locked", {})
            self._locked_out = True
            return None
        except KleansyncError as exc:
            logger.error("{} sync failed: {}", trigger, exc)
            self.metrics.run_finished(trigger, "failed", {})
            return None
        except Exception as exc:  # noqa: BLE001 - the service must outlive one bad run
            logger.opt(exception=exc).error("{} sync failed: {}", trigger, exc)
            self.metrics.run_finished(trigger, "failed", {})
            return None
        finally:
            STOP.reset(token)

    def request_reconcile(self) -> None:
        """Ask for a sync run after the debounce wait (events meanwhile ride along)."""
        self._reconcile_wanted.set()

    async def _reconcile_worker(self) -> None:
        while not self.stop_event.is_set():
            await self._reconcile_wanted.wait()
            if self.stop_event.is_set():
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.settings.debounce_seconds)
            self._reconcile_wanted.clear()
            if self.stop_event.is_set():
                return
            await self.sync("webhook")

    def _last_run(self) -> Any:
        return next(iter(self.store.runs(1, dry_run=False)), None)

    def _refresh_last_success(self) -> None:
        finished = [r for r in self.store.runs(50, dry_run=False) if r.outcome in COMPLETED]
        if finished:
            at = finished[0].finished_at or finished[0].started_at
            self.metrics.last_success.set(at.timestamp())

    # -- invoice exports ------------------------------------------------------------------
    async def export(self, invoice_id: str) -> Any:
        """Export one invoice through the queue; the export's result (None if not run)."""
        return await self._enqueue_export("one", str(invoice_id))

    async def poll(self) -> Any:
        """The poll job: register the webhook if still due, then the ``--since-last`` export."""
        if self.stop_event.is_set():
            return None
        try:
            if self.webhook_state == "pending":
                await self.ensure_webhook()
            with contextlib.suppress(Exception):
                self.deliveries.prune()
            with contextlib.suppress(Exception):
                self.inbox.prune()
            return await self._enqueue_export("poll", None)
        except asyncio.CancelledError:  # scheduler shutdown; the export itself goes on
            return None

    def _enqueue_export(self, kind: str, invoice_id: str | None) -> asyncio.Future[Any]:
        """Queue an export; the same one already waiting is not queued twice."""
        key = (kind, invoice_id)
        waiter = self._export_waiters.get(key)
        if waiter is None or waiter.done():
            waiter = asyncio.get_running_loop().create_future()
            self._export_waiters[key] = waiter
            self._exports.put_nowait(key)
        return waiter

    async def _export_worker(self) -> None:
        while not self.stop_event.is_set():
            key = await self._exports.get()
            waiter = self._export_waiters.pop(key, None)
            if self.stop_event.is_set():
                if waiter and not waiter.done():
                    waiter.cancel()
                return
            task = self._track(self._export(*key), f"kleansync-export-{key[0]}")
            try:
                result = await asyncio.shield(task)
            except Exception as exc:  # noqa: BLE001 - reported on the waiter
                if waiter and not waiter.done():
                    waiter.set_exception(exc)
                continue
            if waiter and not waiter.done():
                waiter.set_result(result)

    async def _export(self, kind: str, invoice_id: str | None) -> Any:
        async with self._writer:
            if self.stop_event.is_set():
                return None
            upto = self._inbox_mark()
            result = await self._run_export(kind, invoice_id)
            if kind == "one" and not self.stop_event.is_set():
                self._settle_export(str(invoice_id), upto, result)
        if result is None:
            return None
        for outcome, n in result.counts.items():
            if n:
                self.metrics.exports.labels(outcome).inc(n)
        for item in result.exported:
            logger.info("invoice {} exported ({})", item.get("number"), kind)
        if any(task.get("kind") == "customer" for task in result.tasks):
            self.request_reconcile()  # its customer is not in sevDesk yet: sync, then retry
        return result

    async def _run_export(self, kind: str, invoice_id: str | None) -> Any:
        # The same stop signal, should the exporter check it between invoices.
        token = STOP.set(self.stop_event)
        try:
            if kind == "one":
                return await export_invoice(
                    self.config, str(invoice_id), connectors=self.connectors, store=self.store
                )
            return await export_since_last_poll(
                self.config, connectors=self.connectors, store=self.store
            )
        except KleansyncError as exc:
            logger.error("invoice export ({}) failed: {}", kind, exc)
            self.metrics.exports.labels("failed").inc()
            return None
        except Exception as exc:  # noqa: BLE001 - the service must outlive one bad export
            logger.opt(exception=exc).error("invoice export ({}) failed: {}", kind, exc)
            self.metrics.exports.labels("failed").inc()
            return None
        finally:
            STOP.reset(token)

    def _init_invoice_cursor(self) -> None:
        """Start the poll at the first start, not at the beginning of time.

        The exporter's ``--since-last`` without a cursor means "every unexported
        invoice ever"; an always-on service must not send years of invoices
        (maybe booked by hand long ago) by surprise. Older ones are exported
        on purpose with ``kleansync invoices export --from ...``.
        """
        if self.store.cursor(*INVOICE_CURSOR) is None:
            start = dt.datetime.now(dt.UTC) - POLL_START_SLACK
            self.store.set_cursor(*INVOICE_CURSOR, start)
            logger.info("the invoice poll starts with invoices changed after {}", start)

    def _invoices_waiting(self) -> bool:
        from state.invoice_tables import HELD, InvoiceLedger

        try:
            return bool(InvoiceLedger(self.store).rows((HELD,)))
        except Exception:  # noqa: BLE001 - only an optimisation
            return False
