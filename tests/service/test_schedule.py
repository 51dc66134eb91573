"""The schedule: cron in Europe/Berlin across DST, one run at a time, catch-up once.

The scheduler is APScheduler's own ``AsyncIOScheduler`` (memory job store) as
``build_scheduler`` sets it up; time is frozen with freezegun
(``real_asyncio=True`` keeps the event loop's own clock running) and the
scheduler is woken by hand after each jump, so nothing waits for wall time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
)
from apscheduler.triggers.cron import CronTrigger
from freezegun import freeze_time

from reconciler.config import parse_config
from reconciler.service.schedule import (
    MISFIRE_GRACE_SECONDS,
    POLL_JOB,
    SYNC_JOB,
    build_scheduler,
    catch_up_from,
    cron_trigger,
)
from tests.service.conftest import eventually

UTC = dt.UTC


def _config(cron: str = "0 2 * * *", **schedule: Any) -> Any:
    return parse_config(
        {
            "kleanapp": {"base_url": "http://kleanapp.test/api/v1"},
            "schedule": {"cron": cron, "timezone": "Europe/Berlin", **schedule},
        }
    )


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _fires(trigger: CronTrigger, after: dt.datetime, n: int) -> list[dt.datetime]:
    out, previous, now = [], None, after
    for _ in range(n):
        nxt = trigger.get_next_fire_time(previous, now)
        out.append(nxt.astimezone(UTC))
        previous = now = nxt
    return out


class Recorder:
    """Scheduler events of interest, awaitable."""

    def __init__(self, scheduler: Any) -> None:
        self.events: list[Any] = []
        scheduler.add_listener(
            self.events.append, EVENT_JOB_EXECUTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED
        )

    def count(self, code: int) -> int:
        return sum(1 for e in self.events if e.code == code)

    async def wait(self, code: int, n: int = 1) -> None:
        async def seen() -> bool:
            return self.count(code) >= n

        await eventually(seen, what=f"scheduler event {code}")


# -- DST -------------------------------------------------------------------------


async def test_spring_forward_night_fires_once_at_the_jump() -> None:
    """2026-03-29: 02:00 CET does not exist (02:00 → 03:00 CEST)."""
    with freeze_time("2026-03-28 12:00:00+00:00", real_asyncio=True):
        scheduler = build_scheduler(_config(), sync_job=_nothing)
        scheduler.start(paused=True)
        try:
            first = scheduler.get_job(SYNC_JOB).next_run_time
        finally:
            scheduler.shutdown(wait=False)
    trigger = cron_trigger("0 2 * * *", "Europe/Berlin")
    # 28th 02:00 CET, then on the jump night at 01:00 UTC = the instant the clocks
    # jump (03:00 CEST), then 02:00 CEST every night.
    assert first.astimezone(UTC) == _utc(2026, 3, 29, 1, 0)
    assert _fires(trigger, _utc(2026, 3, 27, 12), 4) == [
        _utc(2026, 3, 28, 1, 0),
        _utc(2026, 3, 29, 1, 0),
        _utc(2026, 3, 30, 0, 0),
        _utc(2026, 3, 31, 0, 0),
    ]
    # A time inside the missing hour fires once, an hour later by the clock.
    assert _fires(cron_trigger("30 2 * * *", "Europe/Berlin"), _utc(2026, 3, 28, 12), 2) == [
        _utc(2026, 3, 29, 1, 30),  # 03:30 CEST
        _utc(2026, 3, 30, 0, 30),
    ]


async def test_fall_back_night_fires_once_not_twice() -> None:
    """2026-10-25: 02:00 happens twice (CEST, then CET); the nightly run runs once."""
    trigger = cron_trigger("0 2 * * *", "Europe/Berlin")
    assert _fires(trigger, _utc(2026, 10, 23, 12), 4) == [
        _utc(2026, 10, 24, 0, 0),
        _utc(2026, 10, 25, 0, 0),  # 02:00 CEST, the first 02:00
        _utc(2026, 10, 26, 1, 0),  # 02:00 CET the next night
        _utc(2026, 10, 27, 1, 0),
    ]
    # What plain APScheduler would do, and why WallClockCron exists:
    plain = CronTrigger.from_crontab("0 2 * * *", timezone="Europe/Berlin")
    assert _fires(plain, _utc(2026, 10, 24, 12), 2) == [
        _utc(2026, 10, 25, 0, 0),
        _utc(2026, 10, 25, 1, 0),  # 02:00 CET: a second run the same night
    ]
    # An hourly schedule keeps both 02:00s: they are an hour apart in real time.
    hourly = cron_trigger("0 * * * *", "Europe/Berlin")
    assert _fires(hourly, _utc(2026, 10, 24, 23, 30), 3) == [
        _utc(2026, 10, 25, 0, 0),
        _utc(2026, 10, 25, 1, 0),
        _utc(2026, 10, 25, 2, 0),
    ]


class _Clock(dt.datetime):
    """``datetime.now()`` for APScheduler, set by the test (``_Clock.at``).

    Used instead of freezegun on the fall-back night only: freezegun's
    FakeDatetime drops ``fold`` in ``astimezone``, which sends APScheduler's
    cron arithmetic round in circles at 02:00 CEST (a test-tool bug, not ours).
    """

    at: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> dt.datetime:  # type: ignore[override]
        return cls.at.astimezone(tz) if tz else cls.at.replace(tzinfo=None)


async def test_the_scheduler_runs_the_fall_back_night_once(monkeypatch) -> None:
    monkeypatch.setattr("apscheduler.schedulers.base.datetime", _Clock)
    monkeypatch.setattr("apscheduler.executors.base.datetime", _Clock)
    runs: list[dt.datetime] = []

    async def job() -> None:
        runs.append(_Clock.at)

    _Clock.at = _utc(2026, 10, 24, 23, 59)
    scheduler = build_scheduler(_config(), sync_job=job)
    recorder = Recorder(scheduler)
    scheduler.start()
    try:
        _Clock.at = _utc(2026, 10, 25, 0, 0, 1)  # 02:00:01 CEST
        scheduler.wakeup()
        await recorder.wait(EVENT_JOB_EXECUTED)
        assert scheduler.get_job(SYNC_JOB).next_run_time.astimezone(UTC) == _utc(2026, 10, 26, 1)
        _Clock.at = _utc(2026, 10, 25, 1, 0, 1)  # 02:00:01 CET, the second 02:00
        scheduler.wakeup()
        await _loop_turns(3)  # the wakeup is processed, a submitted job would have started
        assert len(runs) == 1
        _Clock.at = _utc(2026, 10, 26, 1, 0, 1)  # 02:00:01 CET the next night
        scheduler.wakeup()
        await recorder.wait(EVENT_JOB_EXECUTED, 2)
    finally:
        scheduler.shutdown(wait=False)
    assert runs == [_utc(2026, 10, 25, 0, 0, 1), _utc(2026, 10, 26, 1, 0, 1)]


# -- one run at a time ---------------------------------------------------------------


async def test_a_run_longer_than_the_interval_is_not_started_twice() -> None:
    started = 0
    release = asyncio.Event()

    async def slow_run() -> None:
        nonlocal started
        started += 1
        await release.wait()

    with freeze_time("2026-06-01 10:00:30+00:00", real_asyncio=True) as clock:
        scheduler = build_scheduler(_config("* * * * *"), sync_job=slow_run)
        job = scheduler.get_job(SYNC_JOB)
        assert (job.max_instances, job.coalesce) == (1, True)
        assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS
        recorder = Recorder(scheduler)
        scheduler.start()
        try:
            clock.move_to("2026-06-01 10:01:01+00:00")
            scheduler.wakeup()
            await eventually(_true_when(lambda: started == 1), what="the first run")
            for minute in (2, 3):  # the run overruns two more fire times
                clock.move_to(f"2026-06-01 10:0{minute}:01+00:00")
                scheduler.wakeup()
                await recorder.wait(EVENT_JOB_MAX_INSTANCES, minute - 1)
            assert started == 1
            release.set()
            await recorder.wait(EVENT_JOB_EXECUTED)
            clock.move_to("2026-06-01 10:04:01+00:00")
            scheduler.wakeup()
            await eventually(_true_when(lambda: started == 2), what="the next regular run")
        finally:
            scheduler.shutdown(wait=False)


async def _loop_turns(n: int) -> None:
    """Let the event loop run its ready callbacks ``n`` times (no waiting for time)."""
    for _ in range(n):
        await asyncio.sleep(0)


def _true_when(condition: Any) -> Any:
    async def check() -> bool:
        return condition()

    return check


async def _nothing() -> None:
    return None


# -- catching up after downtime ---------------------------------------------------------


async def test_runs_missed_during_downtime_make_one_run() -> None:
    """Down from the 7th to the 10th (four nightly runs missed): one run, then normal."""
    runs: list[dt.datetime] = []

    async def job() -> None:
        runs.append(dt.datetime.now(UTC))

    last_run = _utc(2026, 6, 6, 0, 0, 5)  # the night of the 6th, then the machine went off
    with freeze_time("2026-06-10 06:00:00+00:00", real_asyncio=True):
        trigger = cron_trigger("0 2 * * *", "Europe/Berlin")
        catch_up = catch_up_from(trigger, last_run, dt.datetime.now(UTC))
        assert catch_up == _utc(2026, 6, 7, 0, 0)  # 02:00 CEST on the 7th
        scheduler = build_scheduler(_config(), sync_job=job, catch_up=catch_up)
        recorder = Recorder(scheduler)
        scheduler.start()
        try:
            await recorder.wait(EVENT_JOB_EXECUTED)
            await asyncio.sleep(0.05)
            next_run = scheduler.get_job(SYNC_JOB).next_run_time
        finally:
            scheduler.shutdown(wait=False)
    assert len(runs) == 1
    assert recorder.count(EVENT_JOB_MISSED) == 0
    assert next_run.astimezone(UTC) == _utc(2026, 6, 11, 0, 0)


async def test_a_catch_up_older_than_the_grace_waits_for_the_next_regular_time() -> None:
    runs: list[dt.datetime] = []

    async def job() -> None:
        runs.append(dt.datetime.now(UTC))

    with freeze_time("2026-06-10 13:00:00+00:00", real_asyncio=True):
        # the latest missed time, 00:00 UTC, is 13 h ago: more than the 12 h grace
        catch_up = _utc(2026, 6, 7, 0, 0)
        scheduler = build_scheduler(_config(), sync_job=job, catch_up=catch_up)
        recorder = Recorder(scheduler)
        scheduler.start()
        try:
            await recorder.wait(EVENT_JOB_MISSED)
            next_run = scheduler.get_job(SYNC_JOB).next_run_time
        finally:
            scheduler.shutdown(wait=False)
    assert runs == []
    assert next_run.astimezone(UTC) == _utc(2026, 6, 11, 0, 0)


@pytest.mark.parametrize(
    ("last_run", "expected"),
    [
        (None, None),  # never ran: wait for the first regular time
        (_utc(2026, 6, 10, 0, 0, 4), None),  # ran last night: nothing missed
        (_utc(2026, 6, 9, 0, 0, 4), _utc(2026, 6, 10, 0, 0)),  # last night was missed
    ],
)
def test_catch_up_from_the_last_run(last_run: Any, expected: Any) -> None:
    trigger = cron_trigger("0 2 * * *", "Europe/Berlin")
    assert catch_up_from(trigger, last_run, _utc(2026, 6, 10, 9, 0)) == expected


def test_the_invoice_poll_is_scheduled_from_the_config() -> None:
    with freeze_time("2026-06-10 09:00:00+00:00"):
        scheduler = build_scheduler(
            _config(invoice_poll_minutes=10), sync_job=_nothing, poll_job=_nothing
        )
    poll = scheduler.get_job(POLL_JOB)
    assert poll.trigger.interval == dt.timedelta(minutes=10)
    assert (poll.max_instances, poll.coalesce) == (1, True)
