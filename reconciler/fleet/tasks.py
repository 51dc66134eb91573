"""The fleet's jobs: a tenant's sync, its invoice exports, its inbox drain; the tick.

Each job runs the same engine functions as the single-company commands (``run_sync``,
``export_one``, ``export_invoices``) on the tenant's runtime (``reconciler.fleet.runtime``)
and settles the tenant's webhook inbox the way ``kleansync serve`` does.

Two locks, on purpose. procrastinate's ``lock=f"tenant:{name}"`` (``reconciler.fleet.jobs``)
keeps a tenant's jobs from running at once on any worker. The state store's run lock
(``reconciler.sync.fence``, fenced and heartbeaten from its own thread) stays the second
safety: procrastinate gives a job to another worker once the first one's heartbeat is
older than the stalled timeout, and a worker whose event loop was only *busy* (a long
plan, a stalled database) is then still running; the run lock makes the second run stop
before it writes (``RunInProgress``, retried later like a transient failure), and the
fence makes a run whose lock was taken over stop before its next write.

Retries, for transient failures only (the error tree of ``reconciler.domain.errors``):
``TransientError`` (5xx, timeouts, an unreachable service, an incomplete listing),
``RunInProgress`` (the second safety above) and a state store that failed
(``StateStoreError``) are tried again with exponential backoff (``RetryPolicy``); a
rejected key, a bad config, the mass-delete brake, ``NeedsResync`` are not: trying
again changes nothing, a person must act. The retry is a *new* job, deferred by the
failing one, not procrastinate's own ``retry=``: every job here has a ``queueing_lock``,
and procrastinate's retry puts the failed job back to ``todo`` even when another job
with the same queueing lock already waits there; that update violates the unique index,
the job is left ``doing`` with its lock held, and the tenant is blocked until someone
repairs the table (procrastinate issue #1543, #1446). A new job meets the queueing lock
like any defer: if an equal job already waits, that one covers the retry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
from loguru import logger
from procrastinate import JobContext

from reconciler.connectors.base import Connector
from reconciler.domain.errors import KleansyncError, RunInProgress, StateStoreError, TransientError
from reconciler.domain.models import Side
from reconciler.fleet import jobs
from reconciler.fleet.context import Fleet
from reconciler.fleet.runtime import TenantRuntime
from reconciler.fleet.schedule import TICK_CRON, tick
from reconciler.invoices.result import ExportFilters
from reconciler.invoices.runner import export_invoices, export_one
from reconciler.service.inbox import InboxSettlement
from reconciler.service.jobs import COMPLETED
from reconciler.sync.apply import STOP
from reconciler.sync.engine import SyncOptions, run_sync
from state.inbox_tables import INVOICE_EVENT, RECONCILE_EVENTS, Inbox

#: Failures worth another attempt later (everything else waits for a person).
TRANSIENT = (TransientError, RunInProgress, StateStoreError)

Retry = Callable[[int, float], Awaitable[int | None]]


def by_name(connectors: dict[Side, Connector]) -> dict[str, Connector]:
    """The export names its connectors by plain strings."""
    return {str(side): c for side, c in connectors.items()}


def fleet_of(context: JobContext) -> Fleet:
    fleet = (context.additional_context or {}).get("fleet")
    if not isinstance(fleet, Fleet):  # pragma: no cover - every kleansync worker passes it
        raise RuntimeError("this job needs a kleansync worker (its Fleet in additional_context)")
    return fleet


async def _attempt(
    fleet: Fleet,
    what: str,
    tenant: str,
    attempt: int,
    work: Callable[[TenantRuntime], Awaitable[dict[str, Any]]],
    retry: Retry,
) -> dict[str, Any]:
    """Run ``work`` on ``tenant``'s runtime; a transient failure defers ``retry``."""
    runtime = fleet.runtime(tenant)
    if runtime is None:
        return {"tenant": tenant, "outcome": "skipped"}
    token = STOP.set(fleet.stop)
    try:
        return await work(runtime)
    except TRANSIENT as exc:
        delay = fleet.retry.delay(attempt)
        if delay is None:
            logger.error(
                "tenant {}: {} failed {} times, giving up: {}", tenant, what, attempt + 1, exc
            )
            return {"tenant": tenant, "outcome": "given_up", "error": str(exc)}
        job_id = await retry(attempt + 1, delay)
        logger.warning(
            "tenant {}: {} failed ({}); tried again in {:.0f}s (job {})",
            tenant,
            what,
            exc,
            delay,
            job_id,
        )
        return {"tenant": tenant, "outcome": "retry", "retry_job": job_id, "error": str(exc)}
    except KleansyncError as exc:
        logger.error("tenant {}: {} failed: {}", tenant, what, exc)
        return {"tenant": tenant, "outcome": "failed", "error": str(exc)}
    finally:
        STOP.reset(token)


async def _closing(
    runtime: TenantRuntime, work: Callable[[dict[Side, Connector]], Awaitable[Any]]
) -> Any:
    connectors = runtime.connectors()
    try:
        return await work(connectors)
    finally:
        for connector in connectors.values():
            await connector.aclose()


async def sync_task(
    context: JobContext, tenant: str, trigger: str = "schedule", attempt: int = 0
) -> dict[str, Any]:
    """One sync run of ``tenant``; settles the inbox's customer/unit events it covered."""
    fleet = fleet_of(context)
    app = context.app

    async def work(rt: TenantRuntime) -> dict[str, Any]:
        settle = InboxSettlement(Inbox(rt.store))
        upto = settle.mark()
        try:
            result = await _closing(
                rt,
                lambda c: run_sync(
                    rt.config, SyncOptions(trigger=trigger), connectors=c, store=rt.store
                ),
            )
        except BaseException:
            settle.sync_done(upto, None, completed=False)
            raise
        if fleet.stop.is_set():
            # Stopped between pairs (SIGTERM): another worker carries on from the journal.
            await jobs.defer_sync(app, tenant, trigger=trigger)
        else:
            settle.sync_done(upto, result.outcome, completed=result.outcome in COMPLETED)
        logger.info(
            "tenant {}: {} sync {}: {}",
            tenant,
            trigger,
            result.outcome,
            result.counts or "nothing to do",
        )
        return {
            "tenant": tenant,
            "outcome": result.outcome,
            "run": result.run_id,
            "counts": result.counts,
        }

    return await _attempt(
        fleet,
        "the sync",
        tenant,
        attempt,
        work,
        lambda n, delay: jobs.defer_sync(
            app, tenant, trigger=trigger, attempt=n, schedule_in=delay
        ),
    )


async def export_task(
    context: JobContext, tenant: str, invoice_id: str, attempt: int = 0
) -> dict[str, Any]:
    """Export one invoice of ``tenant`` (on save); settles its inbox events."""
    fleet = fleet_of(context)
    app = context.app
    backfill = context.job.queue == jobs.BACKFILL_QUEUE

    async def work(rt: TenantRuntime) -> dict[str, Any]:
        settle = InboxSettlement(Inbox(rt.store))
        upto = settle.mark()
        try:
            result = await _closing(
                rt,
                lambda c: export_one(
                    invoice_id, rt.config, connectors=by_name(c), store=rt.store, trigger="webhook"
                ),
            )
        except BaseException:
            settle.export_done(invoice_id, upto, ran=False)
            raise
        settle.export_done(invoice_id, upto, ran=True)
        if any(task.get("kind") == "customer" for task in result.tasks):
            await jobs.defer_sync(app, tenant, trigger="webhook")  # its customer first, then again
        if result.transient:
            # No answer or a 5xx from a service: the export recorded the invoice as failed and
            # returned, so without this the job would end as done and the invoice wait for a
            # poll the fleet does not run. Raised, it is retried with backoff (``_attempt``);
            # the export's ledger and read-back make the retry create nothing twice.
            raise TransientError(str(result.errors[-1].get("error") or f"invoice {invoice_id}"))
        return {"tenant": tenant, "invoice": invoice_id, "counts": dict(result.counts)}

    return await _attempt(
        fleet,
        f"the export of invoice {invoice_id}",
        tenant,
        attempt,
        work,
        lambda n, delay: jobs.defer_invoice_export(
            app, tenant, invoice_id, backfill, attempt=n, schedule_in=delay
        ),
    )


async def backfill_task(
    context: JobContext, tenant: str, date_from: str, date_to: str, attempt: int = 0
) -> dict[str, Any]:
    """Export every unexported invoice of ``tenant`` in a date range (low priority)."""
    fleet = fleet_of(context)
    app = context.app
    start, end = dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to)

    async def work(rt: TenantRuntime) -> dict[str, Any]:
        result = await _closing(
            rt,
            lambda c: export_invoices(
                rt.config,
                ExportFilters(date_from=start, date_to=end),
                connectors=by_name(c),
                store=rt.store,
                trigger="backfill",
            ),
        )
        return {"tenant": tenant, "counts": dict(result.counts)}

    return await _attempt(
        fleet,
        "the backfill",
        tenant,
        attempt,
        work,
        lambda n, delay: jobs.defer_backfill(app, tenant, start, end, attempt=n, schedule_in=delay),
    )


async def drain_task(context: JobContext, tenant: str, attempt: int = 0) -> dict[str, Any]:
    """Hand ``tenant``'s pending inbox events to their jobs (a sync, one export each)."""
    fleet = fleet_of(context)
    app = context.app

    async def work(rt: TenantRuntime) -> dict[str, Any]:
        rows = Inbox(rt.store).pending()
        if any(r.event in RECONCILE_EVENTS for r in rows):
            await jobs.defer_sync(app, tenant, trigger="webhook")
        invoices = list(
            dict.fromkeys(r.record_id for r in rows if r.event == INVOICE_EVENT and r.record_id)
        )
        for invoice_id in invoices:
            await jobs.defer_invoice_export(app, tenant, str(invoice_id))
        return {"tenant": tenant, "pending": len(rows), "exports": len(invoices)}

    return await _attempt(
        fleet,
        "the inbox drain",
        tenant,
        attempt,
        work,
        lambda n, delay: jobs.defer_inbox_drain(app, tenant, attempt=n, schedule_in=delay),
    )


async def tick_task(context: JobContext, timestamp: int) -> dict[str, Any]:
    """The periodic tick (``reconciler.fleet.schedule``), at its scheduled time."""
    fleet = fleet_of(context)
    now = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    fired = await tick(context.app, await asyncio.to_thread(fleet.tenants), fleet.stores.get, now)
    return {"fired": [f.tenant for f in fired]}


def register(app: procrastinate.App, *, schedule: bool = True) -> None:
    """Register every fleet task on ``app`` (``schedule``: with the periodic tick).

    No task has procrastinate's own ``retry=`` (see the module docstring). The tick has
    a ``queueing_lock`` but no ``lock``: a job with a lock that stalls keeps its lock, and a
    locked housekeeping job that stalled once stalls every later one (procrastinate
    issue #1408); the tick is idempotent (each tenant's cursor), so two ticks at once are
    harmless.
    """
    app.task(name=jobs.SYNC_TASK, pass_context=True, queue=jobs.SYNC_QUEUE)(sync_task)
    app.task(name=jobs.EXPORT_TASK, pass_context=True, queue=jobs.EXPORTS_QUEUE)(export_task)
    app.task(name=jobs.BACKFILL_TASK, pass_context=True, queue=jobs.BACKFILL_QUEUE)(backfill_task)
    app.task(name=jobs.DRAIN_TASK, pass_context=True, queue=jobs.EXPORTS_QUEUE)(drain_task)
    tick_job = app.task(
        name=jobs.TICK_TASK, pass_context=True, queue=jobs.FLEET_QUEUE, queueing_lock="fleet:tick"
    )(tick_task)
    if schedule:
        app.periodic(cron=TICK_CRON, periodic_id="tick")(tick_job)
