"""Two companies on one PostgreSQL database, synced by two ``kleansync worker`` processes.

Each tenant has its own emulators, rules and schedule. The schedule tick is driven with
chosen times (``reconciler.fleet.schedule.tick``; the workers run with ``--no-schedule``):
each tenant's sync is queued when, and only when, its own cron fired. Then both tenants
are given more work than the workers have slots (syncs and re-queued syncs of both at
once, the emulators slowed down) and the runs recorded in each tenant's own store must
never overlap: procrastinate's ``lock=tenant:…`` keeps two jobs of one tenant apart
across both workers. Each tenant's data stays its own: the same customer numbers on both
sides of both tenants, and no link, run or contact crosses over.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from reconciler.fleet.app import make_app
from reconciler.fleet.jobs import defer_sync
from reconciler.fleet.runtime import TenantStores
from reconciler.fleet.schedule import tick
from state import Store
from state.tenant_tables import Tenants
from tests.fleet.conftest import FleetWorld, on_postgres, wait_for

UTC = dt.UTC


def customer(number: str, name: str) -> dict[str, str]:
    return {
        "customer_number": number,
        "kind": "company",
        "company_name": name,
        "email": f"info@{number.lower()}.example.de",
        "street": "Hauptstraße 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    }


def finished_runs(world: FleetWorld, tenant: str) -> list:
    store = world.store(tenant)
    try:
        return [r for r in store.runs(100, dry_run=False) if r.finished_at is not None]
    finally:
        store.close()


async def run_ticks(world: FleetWorld, times: list[dt.datetime]) -> list[list[str]]:
    base = Store(world.url)
    stores = TenantStores(base)
    app = make_app(world.url, tasks=False)
    fired: list[list[str]] = []
    try:
        async with app.open_async():
            for now in times:
                tenants = Tenants(base).all()
                fired.append([f.tenant for f in await tick(app, tenants, stores.get, now)])
    finally:
        stores.close()
    return fired


async def defer_many(world: FleetWorld, rounds: int) -> list[int | None]:
    app = make_app(world.url, tasks=False)
    ids: list[int | None] = []
    async with app.open_async():
        for _ in range(rounds):
            batch = [await defer_sync(app, tenant, trigger="manual") for tenant in world.tenants]
            ids += batch
            # The next round only once this one's jobs are taken: a sync deferred while the
            # tenant's last one still waits is coalesced into it (queueing_lock), and on a
            # loaded machine a fixed pause was shorter than the workers' pick-up (CI of
            # aed7e66: alpha's four rounds became one run, 2 runs where 3 were asserted).
            deadline = asyncio.get_running_loop().time() + 120
            while any(j["id"] in batch and j["status"] == "todo" for j in world.jobs()):
                assert asyncio.get_running_loop().time() < deadline, "jobs not taken in 120 s"
                await asyncio.sleep(0.1)
    return ids


@on_postgres
def test_each_schedule_fires_each_tenant_keeps_its_data_and_no_run_overlaps(
    fleet: FleetWorld,
) -> None:
    alpha, beta = fleet.tenants["alpha"], fleet.tenants["beta"]
    # The same customer numbers in both companies, different customers.
    alpha.bulk(
        "kleanapp",
        {"customers": [customer(f"K-{n:05d}", f"Praxis Alpha {n}") for n in range(1, 6)]},
    )
    beta.bulk(
        "kleanapp", {"customers": [customer(f"K-{n:05d}", f"Hotel Beta {n}") for n in range(1, 4)]}
    )
    for world in (alpha, beta):  # every request a little slow: runs last long enough to collide
        world.fault("sevdesk", {"kind": "latency", "latency_ms": 40, "times": None})

    # One job at a time each: while one tenant's run holds a worker, the other worker
    # takes the other tenant's.
    fleet.start_worker("w1", concurrency=1)
    fleet.start_worker("w2", concurrency=1)
    fleet.wait_workers(2)

    # alpha: 02:00 Berlin (01:00 UTC in December); beta: 05:30 UTC.
    day = dt.datetime(2026, 12, 3, tzinfo=UTC)
    fired = asyncio.run(
        run_ticks(
            fleet,
            [
                day.replace(hour=0, minute=30),  # first sight: cursors start, nothing fires
                day.replace(hour=0, minute=59),  # before either
                day.replace(hour=1, minute=0, second=30),  # alpha's 02:00 Berlin
                day.replace(hour=1, minute=1),  # alpha already fired: nothing
                day.replace(hour=5, minute=31),  # beta's 05:30 UTC
            ],
        )
    )
    assert fired == [[], [], ["alpha"], [], ["beta"]]

    wait_for(
        lambda: finished_runs(fleet, "alpha") and finished_runs(fleet, "beta"),
        "both scheduled syncs",
        world=fleet,
    )
    first = {t: finished_runs(fleet, t)[-1] for t in ("alpha", "beta")}
    assert first["alpha"].trigger == "schedule" and first["beta"].trigger == "schedule"
    assert all(run.outcome == "ok" for run in first.values()), first

    # More work than slots: 2 workers x 1 slot, 4 rounds of syncs of both tenants.
    asyncio.run(defer_many(fleet, rounds=4))
    wait_for(
        lambda: not [j for j in fleet.jobs() if j["status"] in ("todo", "doing")],
        "every job done",
        world=fleet,
    )
    jobs = fleet.jobs()
    assert {j["status"] for j in jobs} == {"succeeded"}, jobs
    # Both workers ran syncs (each run records its process).
    pids = {r.pid for t in ("alpha", "beta") for r in finished_runs(fleet, t)}
    assert pids == {w.pid for w in fleet.workers}, pids

    for tenant in ("alpha", "beta"):
        runs = sorted(finished_runs(fleet, tenant), key=lambda r: r.started_at)
        assert len(runs) >= 3, (tenant, runs)
        for before, after in zip(runs, runs[1:], strict=False):
            assert before.finished_at <= after.started_at, (tenant, before, after)

    # Each tenant's data is its own: alpha's sevDesk holds alpha's five customers, beta's
    # beta's three; no store holds a link of the other company.
    a_names = sorted(c["name"] for c in alpha.contacts())
    b_names = sorted(c["name"] for c in beta.contacts())
    assert a_names == [f"Praxis Alpha {n}" for n in range(1, 6)]
    assert b_names == [f"Hotel Beta {n}" for n in range(1, 4)]
    for tenant, count in (("alpha", 5), ("beta", 3)):
        store = fleet.store(tenant)
        try:
            assert len(store.links("customer")) == count
            assert store.pending_journal() == []
        finally:
            store.close()
    plain = Store(fleet.url)
    try:
        assert plain.runs() == [] and plain.links("customer") == []
    finally:
        plain.close()
