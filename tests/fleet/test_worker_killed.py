"""A worker SIGKILLed in the middle of a tenant's sync: another worker finishes the job.

The first worker is told to kill itself (``KLEANSYNC_CRASH_AT``, the journal's crash
point) right after its first sevDesk create was answered, before its outcome was
recorded: the worst moment, a write done and not known to be done. Its procrastinate
job is left ``doing`` with a heartbeat that stops. A second worker finds it stalled
(``reconciler.fleet.worker``: heartbeat older than ``--stalled-after-seconds``, short
here), puts it back in the queue and runs it; the sync's run lock (the dead holder's pid
is gone) is taken over, the journal row left pending is read back instead of sent again.
Afterwards every customer is in sevDesk exactly once and the tenant's journal is settled.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter

from reconciler.fleet.app import make_app
from reconciler.fleet.jobs import defer_sync
from tests.fleet.conftest import FleetWorld, on_postgres, wait_for
from tests.fleet.test_two_tenants_two_workers import customer

NUMBERS = [f"K-{n:05d}" for n in range(1, 13)]


async def defer(world: FleetWorld, tenant: str) -> int | None:
    app = make_app(world.url, tasks=False)
    async with app.open_async():
        return await defer_sync(app, tenant, trigger="manual")


@on_postgres
def test_a_killed_workers_sync_is_finished_by_another_without_duplicates(
    fleet: FleetWorld,
) -> None:
    alpha = fleet.tenants["alpha"]
    alpha.bulk("kleanapp", {"customers": [customer(n, f"Praxis {n}") for n in NUMBERS]})

    doomed = fleet.start_worker("w1", crash_at="after_request:customer.sevdesk.create")
    fleet.wait_workers(1)
    job_id = asyncio.run(defer(fleet, "alpha"))
    assert job_id is not None
    try:
        doomed.wait(timeout=240)
    except subprocess.TimeoutExpired:
        wait_for(lambda: False, "the first worker to kill itself", timeout=0, world=fleet)
    assert doomed.returncode == -9  # SIGKILL, mid-sync
    (job,) = [j for j in fleet.jobs() if j["id"] == job_id]
    assert job["status"] == "doing"  # left behind by the dead worker
    store = fleet.store("alpha")
    try:
        assert len(store.pending_journal()) == 1  # the create sent, its outcome never written
    finally:
        store.close()
    created_before = len(alpha.contacts())
    assert created_before == 1

    fleet.start_worker("w2")
    done = wait_for(
        lambda: [j for j in fleet.jobs() if j["id"] == job_id and j["status"] == "succeeded"],
        "the job to be finished by the second worker",
        world=fleet,
    )
    # The same job, run twice (procrastinate counts a retry and a finish as an attempt
    # each): killed once, finished once.
    assert done[0]["attempts"] == 2
    assert "stalled" in fleet.log("w2")

    numbers = Counter(c["customerNumber"] for c in alpha.contacts())
    assert sorted(numbers) == NUMBERS  # nothing lost
    assert set(numbers.values()) == {1}  # nothing twice
    store = fleet.store("alpha")
    try:
        assert store.pending_journal() == []
        assert len(store.links("customer")) == len(NUMBERS)
        outcomes = sorted(r.outcome for r in store.runs(10, dry_run=False))
        assert outcomes == ["interrupted", "ok"], outcomes
    finally:
        store.close()
