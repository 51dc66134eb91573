"""Enqueueing a tenant's jobs: the fleet's API for every other part.

The fleet-mode webhook receiver (``kleansync serve``) calls ``defer_inbox_drain`` after
it stored a delivery in the tenant's inbox; the CLI and the benchmark call the others.
Each takes an *opened* procrastinate ``App`` on the fleet's database
(``reconciler.fleet.app.make_app``; ``async with app.open_async(): …``); tasks are
named, not imported, so an ``App`` that registered no task can enqueue too.

Every job of a tenant carries ``lock=f"tenant:{name}"``: procrastinate runs no two
jobs with the same lock at once, across all workers and machines, so a tenant's sync
and its exports take turns exactly as ``kleansync serve``'s one writer does (and the
state store's run lock stays the second safety, see ``reconciler.fleet.tasks``). Each
also carries a ``queueing_lock``: at most one job of that kind and key *waits*
(``todo``) at a time, so a slow tenant's nightly sync is not queued twice and a burst of
webhooks makes one drain; a second defer finds the waiting one and returns None
(``AlreadyEnqueued`` is expected, not an error: the waiting job covers the request).

Queues and priorities, and why:

* ``exports`` (on-save invoice exports, inbox drains; priority 20) and ``sync``
  (priority 10): what people wait for first;
* ``backfill`` (priority -10): a backfill of thousands of invoices runs on its own
  queue, so a worker can be kept off it (``kleansync worker --queues exports,sync``)
  and one tenant's backfill never holds a slot another tenant's on-save export needs;
  within one tenant the lock orders them, and a waiting on-save export (higher
  priority) goes before the tenant's next waiting backfill;
* retries (priority -20, same queue, ``schedule_in`` the backoff): procrastinate lets a
  *waiting* job block every later job with the same lock and no higher priority even
  while it is scheduled in the future (its fetch query does not look at
  ``scheduled_at`` there, procrastinate issue #1599), so a retry waiting out a
  five-minute backoff would hold up its tenant's on-save exports for five minutes; at
  the lowest priority it blocks nothing that is ready.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import procrastinate
from procrastinate import exceptions

#: Task names (registered by ``reconciler.fleet.tasks.register``).
SYNC_TASK = "kleansync.sync"
EXPORT_TASK = "kleansync.export_invoice"
BACKFILL_TASK = "kleansync.backfill"
DRAIN_TASK = "kleansync.drain_inbox"
TICK_TASK = "kleansync.tick"

EXPORTS_QUEUE = "exports"
SYNC_QUEUE = "sync"
BACKFILL_QUEUE = "backfill"
#: The fleet's own housekeeping (the schedule tick).
FLEET_QUEUE = "fleet"
QUEUES = (EXPORTS_QUEUE, SYNC_QUEUE, BACKFILL_QUEUE, FLEET_QUEUE)

PRIORITY_EXPORT = 20
PRIORITY_SYNC = 10
PRIORITY_BACKFILL = -10
PRIORITY_RETRY = -20


def tenant_lock(tenant: str) -> str:
    """The lock every job of ``tenant`` holds while it runs."""
    return f"tenant:{tenant}"


async def _defer(
    app: procrastinate.App,
    task: str,
    *,
    queue: str,
    priority: int,
    lock: str | None,
    queueing_lock: str | None,
    schedule_in: float | None = None,
    **kwargs: Any,
) -> int | None:
    """Enqueue; the job's id, or None when an equal job already waits (it covers this)."""
    options: dict[str, Any] = {}
    if schedule_in:
        options["schedule_in"] = {"seconds": schedule_in}
    deferrer = app.configure_task(
        task,
        queue=queue,
        priority=priority,
        lock=lock,
        queueing_lock=queueing_lock,
        **options,
    )
    try:
        return await deferrer.defer_async(**kwargs)
    except exceptions.AlreadyEnqueued:
        return None


async def defer_sync(
    app: procrastinate.App,
    tenant: str,
    *,
    trigger: str = "schedule",
    attempt: int = 0,
    schedule_in: float | None = None,
) -> int | None:
    """A sync run of ``tenant`` (``trigger``: schedule, webhook, manual); None if one waits."""
    return await _defer(
        app,
        SYNC_TASK,
        queue=SYNC_QUEUE,
        priority=PRIORITY_RETRY if attempt else PRIORITY_SYNC,
        lock=tenant_lock(tenant),
        queueing_lock=f"sync:{tenant}",
        schedule_in=schedule_in,
        tenant=tenant,
        trigger=trigger,
        attempt=attempt,
    )


async def defer_invoice_export(
    app: procrastinate.App,
    tenant: str,
    invoice_id: str,
    backfill: bool = False,
    *,
    attempt: int = 0,
    schedule_in: float | None = None,
) -> int | None:
    """Export one invoice of ``tenant`` (on save; ``backfill``: on the low-priority queue)."""
    queue, priority = (
        (BACKFILL_QUEUE, PRIORITY_BACKFILL) if backfill else (EXPORTS_QUEUE, PRIORITY_EXPORT)
    )
    return await _defer(
        app,
        EXPORT_TASK,
        queue=queue,
        priority=PRIORITY_RETRY if attempt else priority,
        lock=tenant_lock(tenant),
        queueing_lock=f"export:{tenant}:{invoice_id}",
        schedule_in=schedule_in,
        tenant=tenant,
        invoice_id=str(invoice_id),
        attempt=attempt,
    )


async def defer_backfill(
    app: procrastinate.App,
    tenant: str,
    date_from: dt.date,
    date_to: dt.date,
    *,
    attempt: int = 0,
    schedule_in: float | None = None,
) -> int | None:
    """Export every unexported invoice of ``tenant`` dated ``date_from``..``date_to``."""
    return await _defer(
        app,
        BACKFILL_TASK,
        queue=BACKFILL_QUEUE,
        priority=PRIORITY_RETRY if attempt else PRIORITY_BACKFILL,
        lock=tenant_lock(tenant),
        queueing_lock=f"backfill:{tenant}:{date_from}:{date_to}",
        schedule_in=schedule_in,
        tenant=tenant,
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
        attempt=attempt,
    )


async def defer_inbox_drain(
    app: procrastinate.App, tenant: str, *, attempt: int = 0, schedule_in: float | None = None
) -> int | None:
    """Act on ``tenant``'s pending webhook inbox rows (what fleet-mode ``serve`` calls)."""
    return await _defer(
        app,
        DRAIN_TASK,
        queue=EXPORTS_QUEUE,
        priority=PRIORITY_RETRY if attempt else PRIORITY_EXPORT,
        lock=tenant_lock(tenant),
        queueing_lock=f"drain:{tenant}",
        schedule_in=schedule_in,
        tenant=tenant,
        attempt=attempt,
    )
