"""A run whose lock is taken over stops before its next write (the fence), in-process.

The process-level scenario (SIGSTOP, takeover, SIGCONT) is in
``tests/adversarial/test_lock_takeover.py``; these tests pin the pieces:
the token check before every write, which runs may be marked interrupted,
and that a database error becomes one line without SQL or customer data.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError

from reconciler.domain.errors import LockLost, StateStoreError
from state import Store
from state.tables import Run

from .conftest import customer

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

NUMBERS = ("K-00001", "K-00002", "K-00003", "K-00004")


async def sevdesk_contacts(env) -> int:
    return len(await env.customers("sevdesk"))


async def test_a_run_whose_lock_is_taken_over_stops_before_its_next_write(env):
    for number in NUMBERS:
        await env.k.customers.create(customer(number))
    env.configure(sync={"units": "off"})
    other = Store(env.store.url)  # another process's view of the same store
    taken: list[int] = []

    def take_over_after_first(total, _done):
        def tick(_n):
            if not taken:  # the first customer is in sevDesk: now another run takes over
                grant = other.acquire_lock("sync", "otherhost:4242:b", 4242, dt.timedelta(0))
                taken.append(grant.token)

        return tick

    writes_before = await env.writes()
    with pytest.raises(LockLost) as stopped:
        from reconciler.sync.engine import SyncOptions, run_sync

        await run_sync(
            env.config,
            SyncOptions(),
            connectors={"kleanapp": env.k, "sevdesk": env.s},
            store=env.store,
            progress=take_over_after_first,
        )
    message = str(stopped.value)
    sent = await env.writes() - writes_before
    assert message.startswith("another run took over the lock at ")
    assert "(pid 4242 on otherhost)" in message
    assert message.endswith(f"stopped after {sent} writes, nothing lost")
    assert await sevdesk_contacts(env) == 1, "the run went on writing after the takeover"
    # The new holder keeps its lock; the stopped run recorded its own end in one line.
    assert other.lock_holder("sync").holder == "otherhost:4242:b"
    assert other.lock_holder("sync").token == taken[0]
    (run,) = env.store.runs()
    assert (run.outcome, run.error) == ("failed", message)
    assert not env.store.pending_journal()

    # Once the new holder is done, the next run finishes the job: no duplicate.
    assert other.release_lock("sync", "otherhost:4242:b", taken[0])
    other.close()
    result = await env.sync()
    assert result.counts == {"customer.sevdesk.create": len(NUMBERS) - 1}
    assert await env.normalised("kleanapp") == await env.normalised("sevdesk")


async def test_a_busy_event_loop_does_not_make_a_live_run_look_dead(env):
    """A database stall or long planning blocks the loop; the heartbeat beats anyway."""
    import time

    from reconciler.domain.errors import RunInProgress
    from reconciler.sync.fence import run_lock

    env.configure(state={"url": env.store.url, "lock_timeout_seconds": 0.4})
    other = Store(env.store.url)
    async with run_lock(env.store, env.config):
        time.sleep(1.2)  # synchronous: the event loop cannot run anything meanwhile
        with pytest.raises(RunInProgress):
            other.acquire_lock("sync", "otherhost:4242:b", 4242, dt.timedelta(seconds=0.4))
    other.close()


async def test_a_paused_holder_s_run_is_not_marked_interrupted(env):
    """Only a run whose process is gone is 'interrupted'; a paused one ends itself."""
    me = f"{socket.gethostname()}:{os.getpid()}:paused"
    env.store.start_run(Run(id="paused-run", pid=os.getpid()))
    env.store.start_run(Run(id="killed-run", pid=2**22 + 12345))  # no such process
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    env.store.acquire_lock("sync", me, os.getpid(), dt.timedelta(seconds=60))
    with env.store.session() as s:  # its heartbeat stopped an hour ago
        from state.tables import RunLock

        row = s.get(RunLock, "sync")
        row.heartbeat = stale
        s.add(row)

    result = await env.sync()

    assert result.outcome == "ok"
    assert env.store.get_run("paused-run").outcome == "running"
    assert env.store.get_run("killed-run").outcome == "interrupted"


async def test_a_state_store_error_is_one_line_without_sql_or_customer_data(env, monkeypatch):
    await env.k.customers.create(customer("K-00001", email="anna.geheim@example.de"))
    env.configure(sync={"units": "off"})

    def refused(rows):  # what SQLAlchemy raises, statement and customer data included
        raise IntegrityError(
            "INSERT INTO conflict (run_id, entity, key, field, base) VALUES (?, ?, ?, ?, ?)",
            ("r1", "customer", "K-00001", "email", "anna.geheim@example.de"),
            sqlite3.IntegrityError("UNIQUE constraint failed: conflict.link_id, conflict.field"),
        )

    monkeypatch.setattr(env.store, "add_conflicts", refused)
    with pytest.raises(StateStoreError) as failed:
        await env.sync()
    message = str(failed.value)
    assert message == (
        "the state store refused to save a change: it conflicts with a record already stored "
        "(UNIQUE on conflict.link_id, conflict.field); nothing more was written"
    )
    (run,) = env.store.runs()
    assert run.error == message
    for leak in ("INSERT", "anna.geheim", "K-00001", "\n"):
        assert leak not in run.error
