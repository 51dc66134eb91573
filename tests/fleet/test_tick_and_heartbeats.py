"""The schedule tick's arithmetic, a tenant's run-lock heartbeat, and a graceful stop.

``last_fire``: the latest fire of a tenant's own cron in its own time zone since the
tenant's cursor; fires missed meanwhile (a tick lost to procrastinate issue #1495, a fleet
that was down) coalesce into one run, made up by the next tick. A tenant's run lock is
renewed in the tenant's schema (it was renewed in the default schema's, and every tenant
run longer than a heartbeat interval stopped as "lock lost"). ``kleansync worker`` stops
on SIGTERM with exit code 0 and leaves procrastinate's worker table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path

from reconciler.config import parse_config
from reconciler.fleet.schedule import last_fire
from reconciler.sync.fence import FENCE, run_lock
from state import Store
from state.tenant_tables import Tenant
from tests.fleet.conftest import FleetWorld, on_postgres, wait_for

UTC = dt.UTC


def tenant(cron: str, zone: str) -> Tenant:
    return Tenant(
        name="glanz",
        kleanapp_base_url="https://glanz.kleanapp.de/api/v1",
        sevdesk_base_url="https://my.sevdesk.de/api/v1",
        kleanapp_token_env="K",
        sevdesk_token_env="S",
        schedule={"cron": cron, "timezone": zone},
    )


def test_a_cron_fires_in_the_tenants_zone_and_only_after_its_cursor() -> None:
    nightly = tenant("0 2 * * *", "Europe/Berlin")  # 01:00 UTC in winter
    day = dt.datetime(2026, 12, 3, tzinfo=UTC)
    assert last_fire(nightly, day.replace(hour=0), day.replace(hour=0, minute=59)) is None
    fired = last_fire(nightly, day.replace(hour=0), day.replace(hour=1, minute=0, second=5))
    assert fired is not None and fired.astimezone(UTC) == day.replace(hour=1)
    # The cursor at that fire: the same fire is not due again.
    assert last_fire(nightly, fired, day.replace(hour=23)) is None


def test_fires_missed_by_lost_ticks_coalesce_into_one_made_up_by_the_next_tick() -> None:
    hourly = tenant("0 * * * *", "UTC")
    since = dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    # Ticks from 09:00 to 11:59 were lost: the next one finds the latest fire, once.
    assert last_fire(hourly, since, since.replace(hour=12, minute=0, second=30)) == since.replace(
        hour=12
    )


@on_postgres
async def test_a_tenants_run_lock_heartbeat_renews_the_tenants_own_row(
    tmp_path: Path, state_url: str
) -> None:
    store = Store(state_url, tenant="glanz")
    config = parse_config(
        {
            "kleanapp": {"base_url": "https://glanz.kleanapp.de/api/v1"},
            "state": {"url": state_url, "lock_timeout_seconds": 0.4},
        }
    )
    try:
        async with run_lock(store, config):
            fence = FENCE.get()
            assert fence is not None
            first = store.lock_row("sync")
            assert first is not None
            renewed = await asyncio.to_thread(
                wait_for,
                lambda: store.lock_row("sync").heartbeat > first.heartbeat,  # type: ignore[union-attr]
                "the heartbeat to renew the tenant's lock row",
                30,
            )
            assert renewed
            assert not fence.lost.is_set()
    finally:
        store.close()


@on_postgres
def test_the_worker_stops_on_sigterm_with_exit_code_0(fleet: FleetWorld) -> None:
    worker = fleet.start_worker("w1")
    fleet.wait_workers(1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert fleet.live_workers() == 0  # unregistered, not left to look stalled
    assert "kleansync worker stopped" in fleet.log("w1")
