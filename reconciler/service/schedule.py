"""When ``kleansync serve`` runs things: the nightly sync and the invoice poll.

APScheduler 3 (``AsyncIOScheduler``, in-memory job store) drives two jobs:

* ``sync``          the cron of ``[schedule] cron`` in ``[schedule] timezone``
                    (every N-th run reads everything: the engine decides that
                    from ``[sync] full_every``);
* ``invoice-poll``  every ``[schedule] invoice_poll_minutes``: the fallback
                    for invoice webhooks that never arrived.

Both are ``max_instances=1`` (a run that overruns its interval is not started
a second time; the scheduler logs and skips that fire time) and
``coalesce=True`` (fire times missed while the process was busy or asleep
become *one* run, not a burst). Across processes the run lock in the state
store keeps a hand-started ``kleansync sync`` and the service apart.

Time zones: cron fields are wall-clock times in the configured zone. On the
spring-forward night a time that does not exist fires once, an hour later by
the clock, as APScheduler computes it: 02:00 at the jump itself (01:00 UTC,
03:00 CEST), 02:30 at 03:30 CEST. On the
fall-back night APScheduler would fire a time in the repeated hour twice (at
02:00 CEST and again at 02:00 CET); ``WallClockCron`` drops the second one,
like cron does, so the nightly sync runs once per night (an hourly schedule
keeps both: they are an hour apart in real time).

A missed nightly run (the machine was off at 02:00) is caught up once at
start: ``catch_up_from`` gives the first fire time after the last run, and a
job whose ``next_run_time`` lies in the past fires once (coalesce) if the
latest missed time is within ``MISFIRE_GRACE_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

SYNC_JOB = "sync"
POLL_JOB = "invoice-poll"
#: A fire time missed by up to this much still runs (once); later ones are skipped.
#: Half a day: a nightly run missed because the machine was off still happens when
#: it comes back the same day, and never lands on top of the next night's.
MISFIRE_GRACE_SECONDS = 12 * 3600

Job = Callable[[], Awaitable[Any]]


class WallClockCron(CronTrigger):
    """A cron trigger that fires a repeated wall-clock time (DST fall-back) only once.

    As in Vixie cron, this applies to schedules with fixed hours ("0 2 * * *");
    one with a wildcard hour ("0 * * * *") keeps firing every real hour.
    """

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        if self._every_hour():
            return nxt
        while nxt is not None and _second_occurrence(nxt):
            nxt = super().get_next_fire_time(nxt, nxt)
        return nxt

    def _every_hour(self) -> bool:
        return any(f.name == "hour" and str(f) == "*" for f in self.fields)


def _second_occurrence(moment: dt.datetime) -> bool:
    """Is ``moment`` the later of two instants with the same local wall time?"""
    zone = moment.tzinfo
    wall = moment.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0)
    # Compared in UTC: aware datetimes sharing a tzinfo compare by wall time alone.
    return first.utcoffset() != moment.utcoffset() and first.astimezone(dt.UTC) < moment.astimezone(
        dt.UTC
    )


def cron_trigger(cron: str, timezone: str) -> WallClockCron:
    """The trigger for ``[schedule] cron`` (five fields) in ``[schedule] timezone``."""
    return WallClockCron.from_crontab(cron, timezone=ZoneInfo(timezone))


def poll_seconds(config: Any) -> float:
    """``[schedule] invoice_poll_minutes`` in seconds (fractions allowed, for tests)."""
    return float(config.schedule.invoice_poll_minutes) * 60


def catch_up_from(
    trigger: CronTrigger, last_run_started: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """The first fire time missed since the last run, or None if none was missed.

    Nothing is caught up before the very first run: a fresh installation
    waits for its first regular time (or a hand-started ``kleansync sync``).
    """
    if last_run_started is None:
        return None
    missed = trigger.get_next_fire_time(None, last_run_started)
    if missed is None or missed > now:
        return None
    return missed


def build_scheduler(
    config: Any,
    *,
    sync_job: Job,
    poll_job: Job | None = None,
    catch_up: dt.datetime | None = None,
    poll_interval_seconds: float | None = None,
) -> AsyncIOScheduler:
    """A scheduler with the sync job (and the invoice poll); call ``.start()`` in a loop.

    ``catch_up`` (see ``catch_up_from``) makes the sync job's first fire time
    a missed one in the past, so the scheduler runs it once right away.
    """
    zone = ZoneInfo(config.schedule.timezone)
    scheduler = AsyncIOScheduler(timezone=zone)
    trigger = cron_trigger(config.schedule.cron, config.schedule.timezone)
    options: dict[str, Any] = {
        "max_instances": 1,
        "coalesce": True,
        "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        "replace_existing": True,
    }
    if catch_up is not None:
        options["next_run_time"] = catch_up
    scheduler.add_job(sync_job, trigger, id=SYNC_JOB, name="nightly sync", **options)
    if poll_job is not None:
        seconds = poll_interval_seconds or poll_seconds(config)
        scheduler.add_job(
            poll_job,
            IntervalTrigger(seconds=seconds, timezone=zone),
            id=POLL_JOB,
            name="invoice poll",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
            replace_existing=True,
        )
    return scheduler
