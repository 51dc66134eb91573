"""A nightly run that finds another run in progress is retried, not lost."""

from __future__ import annotations

import asyncio
import datetime as dt

from tests.service.conftest import World, eventually


async def test_a_locked_out_scheduled_run_tries_again_until_it_runs(world: World) -> None:
    # Another host's sync holds the lock, with a fresh heartbeat.
    world.store.acquire_lock("sync", "otherhost:4242:x", 4242, dt.timedelta(minutes=5))
    service = await world.start(lock_retry_seconds=0.2, lock_retries=20)
    runs_before = len(world.store.runs(100, dry_run=False))

    nightly = asyncio.create_task(service.jobs.scheduled_sync())
    await asyncio.sleep(0.5)  # a few attempts find the lock held
    assert not nightly.done()
    assert len(world.store.runs(100, dry_run=False)) == runs_before  # nothing ran meanwhile

    world.store.release_lock("sync", "otherhost:4242:x")  # the other run ends
    result = await asyncio.wait_for(nightly, 10)
    assert result is not None and result.errors == []

    async def ran() -> bool:
        return any(r.trigger == "schedule" for r in world.store.runs(100, dry_run=False))

    await eventually(ran, what="the scheduled run")


async def test_retries_give_up_after_the_configured_number(world: World) -> None:
    world.store.acquire_lock("sync", "otherhost:4242:x", 4242, dt.timedelta(minutes=5))
    service = await world.start(lock_retry_seconds=0.05, lock_retries=2)
    assert await asyncio.wait_for(service.jobs.scheduled_sync(), 10) is None
    assert not any(r.trigger == "schedule" for r in world.store.runs(100))
