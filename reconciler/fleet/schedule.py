"""Every tenant's own schedule, from one periodic "tick".

procrastinate's periodic tasks are declared in code, once per worker (``@app.periodic``);
a fleet's schedules are rows (each tenant's ``[schedule] cron``), added and changed
while the workers run. Declaring one periodic task per tenant would need a restart of
every worker for each new tenant, and procrastinate does not scale to many of them
(its issue #1464: with 70+ periodic tasks some were never deferred). So there is one
periodic task, the tick (every minute, ``queueing_lock`` so a slow tick is not queued
twice, no ``lock``, see below), and it decides for each enabled tenant whether the
tenant's cron fired since that tenant's last fire, and defers its sync if so.

Why the last fire is kept per tenant (the cursor ``("fleet", "schedule")`` in the
tenant's own store) and not derived from the tick's own time: a tick may be lost.
procrastinate records a periodic defer before it makes the job; a worker killed in
between (or a finished job deleted) leaves the record without a job and that period is
never deferred again (procrastinate issue #1495). A tick that does not run is therefore
made up by the next one: it still finds the tenant's cron fired after the tenant's
cursor, defers the sync once (all fires missed meanwhile coalesce into one run, as
``kleansync serve``'s scheduler does), and moves the cursor. The defer comes first, the
cursor second: a crash between them costs at most a second, harmless sync, never a
lost one; the sync's ``queueing_lock`` makes a repeat while it waits a no-op.

A tenant seen for the first time starts its cursor at the tick's time: a new tenant
waits for its first regular time, as a fresh single-company installation does.

``tick`` takes the time as an argument (``now``), so tests drive it with chosen times;
the periodic task passes the tick's scheduled time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import procrastinate
from loguru import logger

from reconciler.domain.errors import KleansyncError
from reconciler.fleet.jobs import defer_sync
from reconciler.service.schedule import cron_trigger
from state import Store
from state.tenant_tables import Tenant

#: The tenant store's cursor that holds the tenant's last schedule fire.
SCHEDULE_CURSOR = ("fleet", "schedule")
#: The tick's own schedule (procrastinate cron, every minute).
TICK_CRON = "* * * * *"


@dataclass(frozen=True)
class Fired:
    """A tenant whose cron fired: at ``due``; ``job_id`` None if a sync was waiting already."""

    tenant: str
    due: dt.datetime
    job_id: int | None


def last_fire(tenant: Tenant, since: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The latest time ``tenant``'s cron fired after ``since`` and up to ``now``, or None."""
    schedule = tenant.schedule or {}
    trigger = cron_trigger(
        str(schedule.get("cron", "0 2 * * *")), str(schedule.get("timezone", "Europe/Berlin"))
    )
    fired: dt.datetime | None = None
    probe = since + dt.timedelta(microseconds=1)
    while True:
        nxt = trigger.get_next_fire_time(None, probe)
        if nxt is None or nxt > now:
            return fired
        fired, probe = nxt, nxt + dt.timedelta(microseconds=1)


async def tick(
    app: procrastinate.App,
    tenants: Iterable[Tenant],
    store_of: Callable[[str], Store],
    now: dt.datetime | None = None,
) -> list[Fired]:
    """Defer the sync of every enabled tenant whose cron fired since its last fire."""
    now = now or dt.datetime.now(dt.UTC)
    fired: list[Fired] = []
    for tenant in tenants:
        if not tenant.enabled:
            continue
        try:
            store = store_of(tenant.name)
            mark = store.cursor(*SCHEDULE_CURSOR)
            if mark is None:
                store.set_cursor(*SCHEDULE_CURSOR, now)
                continue
            due = last_fire(tenant, mark, now)
            if due is None:
                continue
            job_id = await defer_sync(app, tenant.name, trigger="schedule")
            store.set_cursor(*SCHEDULE_CURSOR, due)
        except (KleansyncError, OSError) as exc:  # one tenant's problem stops no other
            logger.error("tenant {}: the schedule tick failed: {}", tenant.name, exc)
            continue
        logger.info("tenant {}: the sync due at {} is queued (job {})", tenant.name, due, job_id)
        fired.append(Fired(tenant.name, due, job_id))
    return fired
