"""The write jobs of ``kleansync serve``: sync runs, the webhook debounce, invoice exports.

``Jobs`` owns what makes them take turns: the writer lock, the debounce, the
export queue and the set of tasks in flight. The service
(``reconciler.service.runner``) starts its two workers and waits for its
work on the way out; the receiver and the inbox hand it work.

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
the last poll, plus held and failed ones. The same poll then brings payment
status back (``reconciler.invoices.status_poll``: sevDesk has no webhooks).

Every job is tracked (``_track``) and shielded, so a graceful stop lets the
write in flight finish instead of cancelling it halfway. Each job settles the
webhook inbox rows it covered (``reconciler.service.inbox``): a completed
sync its customer/unit events, an export its invoice's events; a sync that
could not start leaves them pending, to be dispatched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from loguru import logger

from reconciler.config import Config
from reconciler.connectors.base import Connector
from reconciler.domain.errors import KleansyncError, RunInProgress
from reconciler.domain.models import Side
from reconciler.invoices.result import ExportFilters, ExportResult
from reconciler.invoices.runner import export_invoices, export_one
from reconciler.invoices.status_poll import poll_status
from reconciler.service.inbox import InboxSettlement
from reconciler.service.metrics import Metrics
from reconciler.service.registration import WebhookRegistration
from reconciler.service.settings import ServiceSettings
from reconciler.sync import rejected_keys
from reconciler.sync.apply import STOP
from reconciler.sync.engine import SyncOptions, run_sync
from reconciler.sync.report import RunResult
from state import Store
from state.inbox_tables import Inbox
from state.invoice_tables import HELD, InvoiceLedger
from state.service_tables import DeliveryLog
from state.tables import Run

#: Completed runs: they read both sides and applied what they could.
COMPLETED = ("ok", "errors")
#: The invoice poll's first position is this far before the first start (clock skew).
POLL_START_SLACK = dt.timedelta(minutes=1)
#: The exporter's ``--since-last`` cursor (``reconciler.invoices.runner``).
INVOICE_CURSOR = ("kleanapp", "invoice")

#: An export job: ("one", invoice id) or ("poll", None).
ExportKey = tuple[str, str | None]
T = TypeVar("T")


class Jobs:
    """Sync runs and invoice exports, one at a time on the writer lock."""

    def __init__(
        self,
        config: Config,
        settings: ServiceSettings,
        *,
        store: Store,
        connectors: dict[Side, Connector],
        metrics: Metrics,
        stop: asyncio.Event,
        settle: InboxSettlement,
        registration: WebhookRegistration,
        deliveries: DeliveryLog,
        inbox: Inbox,
    ) -> None:
        self.config = config
        self.settings = settings
        self.store = store
        self.connectors = connectors
        self.metrics = metrics
        self.stop = stop
        self.settle = settle
        self.registration = registration
        self.deliveries = deliveries
        self.inbox = inbox
        self._writer = asyncio.Lock()
        self._reconcile_wanted = asyncio.Event()
        #: The last sync attempt found the run lock held by another process.
        self._locked_out = False
        self._exports: asyncio.Queue[ExportKey] = asyncio.Queue()
        self._export_waiters: dict[ExportKey, asyncio.Future[ExportResult | None]] = {}
        #: The export running now (``export_worker``): the inbox's retry leaves it be.
        self._exporting: ExportKey | None = None
        #: The jobs in flight (a graceful stop waits for them).
        self._work: set[asyncio.Task[Any]] = set()

    # -- in flight ----------------------------------------------------------------------
    def _track(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        return task

    async def finish(self) -> None:
        """Wait until the work in flight is done (a graceful stop)."""
        while self._work:
            await asyncio.gather(*list(self._work), return_exceptions=True)

    def abort(self) -> None:
        """Cancel the work in flight (a second signal); the journal settles it later."""
        for task in list(self._work):
            task.cancel()

    def wake(self) -> None:
        """Wake the debounce worker, so it can see the stop and leave."""
        self._reconcile_wanted.set()

    def cancel_waiters(self) -> None:
        """Whoever still waits for an export that will not run is told so (cancelled)."""
        for waiter in self._export_waiters.values():
            if not waiter.done():
                waiter.cancel()

    # -- sync runs ----------------------------------------------------------------------
    async def scheduled_sync(self) -> RunResult | None:
        """The cron job. Cancelled by a scheduler shutdown, the run itself goes on (shielded).

        If another process holds the run lock (a long hand-started sync), the
        night's run is not lost: it tries again a few times, minutes apart.
        """
        try:
            for attempt in range(self.settings.lock_retries + 1):
                self._locked_out = False
                result = await self.sync("schedule")
                if not self._locked_out or self.stop.is_set():
                    return result
                if attempt < self.settings.lock_retries:
                    logger.info(
                        "the scheduled sync tries again in {:.0f}s",
                        self.settings.lock_retry_seconds,
                    )
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), self.settings.lock_retry_seconds)
            return None
        except asyncio.CancelledError:
            return None

    async def sync(self, trigger: str) -> RunResult | None:
        """One sync run (None if it did not run); survives its caller's cancellation."""
        if self.stop.is_set():
            return None
        task = self._track(self._sync(trigger), f"kleansync-sync-{trigger}")
        result: RunResult | None = await asyncio.shield(task)
        return result

    async def _sync(self, trigger: str) -> RunResult | None:
        async with self._writer:
            if self.stop.is_set():
                return None
            upto = self.settle.mark()  # the inbox events this run covers if it completes
            result = await self._run_sync(trigger)
            if not self.stop.is_set():  # a stopped run left work: keep them pending
                outcome = result.outcome if result is not None else None
                self.settle.sync_done(upto, outcome, completed=outcome in COMPLETED)
        if result is None:
            return None
        logger.info("{} sync {}: {}", trigger, result.outcome, result.counts or "nothing to do")
        self.metrics.run_finished(trigger, result.outcome, result.counts)
        self.refresh_last_success()
        if self._invoices_waiting():
            # Invoices held for a customer that was not in sevDesk yet may go out now.
            self.enqueue_export("poll", None)
        return result

    async def _run_sync(self, trigger: str) -> RunResult | None:
        token = STOP.set(self.stop)
        try:
            return await run_sync(
                self.config,
                SyncOptions(trigger=trigger),
                connectors=self.connectors,
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

    async def exclusive(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work`` as one write job (the console's runs and exports): on the writer lock,
        tracked and shielded like every job, so a graceful stop lets it finish."""

        async def locked() -> T:
            async with self._writer:
                return await work()

        result: T = await asyncio.shield(self._track(locked(), "kleansync-console"))
        return result

    def after_sync(self, result: RunResult) -> None:
        """What follows a sync the console started: metrics, health, held invoices."""
        self.metrics.run_finished("console", result.outcome, result.counts)
        self.refresh_last_success()
        if self._invoices_waiting():
            self.enqueue_export("poll", None)

    def request_reconcile(self) -> None:
        """Ask for a sync run after the debounce wait (events meanwhile ride along)."""
        self._reconcile_wanted.set()

    def sync_pending(self) -> bool:
        """A sync run is wanted or running (it covers every customer/unit event so far)."""
        return self._reconcile_wanted.is_set() or self._writer.locked()

    async def reconcile_worker(self) -> None:
        """Runs the debounced sync whenever one was asked for, until the service stops."""
        while not self.stop.is_set():
            await self._reconcile_wanted.wait()
            if self.stop.is_set():
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.settings.debounce_seconds)
            self._reconcile_wanted.clear()
            if self.stop.is_set():
                return
            await self.sync("webhook")

    def last_run(self) -> Run | None:
        return next(iter(self.store.runs(1, dry_run=False)), None)

    def refresh_last_success(self) -> None:
        finished = [r for r in self.store.runs(50, dry_run=False) if r.outcome in COMPLETED]
        if finished:
            at = finished[0].finished_at or finished[0].started_at
            self.metrics.last_success.set(at.timestamp())

    # -- invoice exports ------------------------------------------------------------------
    async def export(self, invoice_id: str) -> ExportResult | None:
        """Export one invoice through the queue; the export's result (None if not run)."""
        return await self.enqueue_export("one", str(invoice_id))

    async def poll(self) -> ExportResult | None:
        """The poll job: register the webhook if still due, then the ``--since-last`` export."""
        if self.stop.is_set():
            return None
        try:
            if self.registration.due:
                await self.registration.ensure()
            with contextlib.suppress(Exception):
                self.deliveries.prune()
            with contextlib.suppress(Exception):
                self.inbox.prune()
            return await self.enqueue_export("poll", None)
        except asyncio.CancelledError:  # scheduler shutdown; the export itself goes on
            return None

    def retry_export(self, invoice_id: str) -> None:
        """The inbox's retry of one invoice's export: queued unless waiting or running.

        Not while it runs: that export settles the events it found, and one that
        came in meanwhile was queued by the receiver itself. Queued anyway, an
        event retried while its export ran was exported twice (the second run a
        no-op, but a second run in the ledger).
        """
        if self._exporting != ("one", invoice_id):
            self.enqueue_export("one", invoice_id)

    def enqueue_export(
        self, kind: str, invoice_id: str | None
    ) -> asyncio.Future[ExportResult | None]:
        """Queue an export; the same one already waiting is not queued twice."""
        key = (kind, invoice_id)
        waiter = self._export_waiters.get(key)
        if waiter is None or waiter.done():
            waiter = asyncio.get_running_loop().create_future()
            self._export_waiters[key] = waiter
            self._exports.put_nowait(key)
        return waiter

    async def export_worker(self) -> None:
        """Runs the queued exports one after the other, until the service stops."""
        while not self.stop.is_set():
            key = await self._exports.get()
            waiter = self._export_waiters.pop(key, None)
            if self.stop.is_set():
                if waiter and not waiter.done():
                    waiter.cancel()
                return
            task = self._track(self._export(*key), f"kleansync-export-{key[0]}")
            self._exporting = key
            try:
                result = await asyncio.shield(task)
            except Exception as exc:  # noqa: BLE001 - reported on the waiter
                if waiter and not waiter.done():
                    waiter.set_exception(exc)
                continue
            finally:
                self._exporting = None
            if waiter and not waiter.done():
                waiter.set_result(result)

    async def _export(self, kind: str, invoice_id: str | None) -> ExportResult | None:
        async with self._writer:
            if self.stop.is_set():
                return None
            upto = self.settle.mark()
            result = await self._run_export(kind, invoice_id)
            if kind == "poll" and result is not None and not self.stop.is_set():
                await self._poll_status()
            if kind == "one" and not self.stop.is_set():
                self.settle.export_done(str(invoice_id), upto, ran=result is not None)
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

    async def _run_export(self, kind: str, invoice_id: str | None) -> ExportResult | None:
        # The same stop signal, should the exporter check it between invoices.
        token = STOP.set(self.stop)
        # The export names its connectors by plain strings.
        connectors: Mapping[str, Connector] = {str(k): c for k, c in self.connectors.items()}
        try:
            if kind == "one":
                return await export_one(
                    str(invoice_id),
                    self.config,
                    connectors=connectors,
                    store=self.store,
                    trigger="webhook",
                )
            return await export_invoices(
                self.config,
                ExportFilters(since_last=True),
                connectors=connectors,
                store=self.store,
                trigger="poll",
            )
        except KleansyncError as exc:
            logger.error("invoice export ({}) failed: {}", kind, exc)
            rejected_keys.note_failure(self.store, exc)  # /healthz shows a refused key
            self.metrics.exports.labels("failed").inc()
            return None
        except Exception as exc:  # noqa: BLE001 - the service must outlive one bad export
            logger.opt(exception=exc).error("invoice export ({}) failed: {}", kind, exc)
            self.metrics.exports.labels("failed").inc()
            return None
        finally:
            STOP.reset(token)

    async def _poll_status(self) -> None:
        """Payment status back: sevDesk's state of exported invoices into KleanApp."""
        connectors: Mapping[str, Connector] = {str(k): c for k, c in self.connectors.items()}
        try:
            polled = await poll_status(self.config, connectors=connectors, store=self.store)
        except KleansyncError as exc:
            logger.error("invoice status poll failed: {}", exc)
            return
        except Exception as exc:  # noqa: BLE001 - the service must outlive one bad poll
            logger.opt(exception=exc).error("invoice status poll failed: {}", exc)
            return
        for change in polled.changed:
            logger.info("invoice {}: KleanApp now shows {}", change["number"], change["to"])

    def init_invoice_cursor(self) -> None:
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
        try:
            return bool(InvoiceLedger(self.store).rows((HELD,)))
        except Exception:  # noqa: BLE001 - only an optimisation
            return False
