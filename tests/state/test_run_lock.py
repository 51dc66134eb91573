"""One run at a time, across processes: the run lock in the state store."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from freezegun import freeze_time

from reconciler.domain.errors import RunInProgress
from state import Store

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

STALE = dt.timedelta(seconds=60)


@pytest.fixture
def store(state_url):
    s = Store(state_url)
    yield s
    s.close()


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_second_holder_is_refused_with_since_and_pid(store):
    with freeze_time("2026-11-25 01:00:03+00:00"):
        store.acquire_lock("sync", "hostA:111:x", 111, STALE)
        with pytest.raises(RunInProgress) as info:
            store.acquire_lock("sync", "hostB:222:y", 222, STALE)
    local = dt.datetime(2026, 11, 25, 1, 0, 3, tzinfo=dt.UTC).astimezone()
    assert f"a run is in progress since {local:%H:%M:%S} (pid 111" in str(info.value)


def test_a_lock_without_heartbeat_is_taken_over_after_the_timeout(store):
    with freeze_time("2026-11-25 01:00:00+00:00") as clock:
        store.acquire_lock("sync", "hostA:111:x", 111, STALE)
        clock.tick(dt.timedelta(seconds=30))
        assert store.heartbeat("sync", "hostA:111:x")
        clock.tick(dt.timedelta(seconds=59))
        with pytest.raises(RunInProgress):  # heartbeat 59 s ago: still alive
            store.acquire_lock("sync", "hostB:222:y", 222, STALE)
        clock.tick(dt.timedelta(seconds=2))
        store.acquire_lock("sync", "hostB:222:y", 222, STALE)  # 61 s: stale, taken over
    assert store.lock_holder("sync").pid == 222
    assert not store.heartbeat("sync", "hostA:111:x")  # the old holder learns it lost it


def test_a_dead_holder_on_this_host_is_taken_over_at_once(store):
    pid = dead_pid()
    store.acquire_lock("sync", f"thishost:{pid}:x", pid, STALE)
    store.acquire_lock("sync", f"thishost:{os.getpid()}:y", os.getpid(), STALE)
    assert store.lock_holder("sync").pid == os.getpid()


def test_release_lets_the_next_run_in(store):
    store.acquire_lock("sync", "hostA:111:x", 111, STALE)
    store.release_lock("sync", "hostB:222:y")  # not the holder: no effect
    with pytest.raises(RunInProgress):
        store.acquire_lock("sync", "hostB:222:y", 222, STALE)
    store.release_lock("sync", "hostA:111:x")
    store.acquire_lock("sync", "hostB:222:y", 222, STALE)


def test_the_fencing_token_grows_on_every_takeover_and_acquisition(store):
    with freeze_time("2026-11-25 01:00:00+00:00") as clock:
        first = store.acquire_lock("sync", "hostA:111:x", 111, STALE)
        clock.tick(dt.timedelta(seconds=61))
        second = store.acquire_lock("sync", "hostB:222:y", 222, STALE)  # stale: taken over
        assert second.taken_from.holder == "hostA:111:x"
        assert store.release_lock("sync", "hostB:222:y", second.token)
        third = store.acquire_lock("sync", "hostC:333:z", 333, STALE)  # free: no takeover
    assert first.token < second.token < third.token
    assert third.taken_from is None


def test_a_holder_that_lost_the_lock_can_neither_renew_nor_release_it(store):
    with freeze_time("2026-11-25 01:00:00+00:00") as clock:
        old = store.acquire_lock("sync", "hostA:111:x", 111, STALE)
        clock.tick(dt.timedelta(seconds=61))
        new = store.acquire_lock("sync", "hostB:222:y", 222, STALE)
        assert not store.heartbeat("sync", "hostA:111:x", old.token)
        assert not store.release_lock("sync", "hostA:111:x", old.token)
        # Even a holder string reused with an old token is not the holder.
        assert not store.release_lock("sync", "hostB:222:y", old.token)
    holder = store.lock_holder("sync")
    assert (holder.holder, holder.token) == ("hostB:222:y", new.token)


def test_a_store_of_schema_1_gets_the_lock_token_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the run_lock and schema_info tables of schema 1
        db.execute(
            "CREATE TABLE run_lock (name VARCHAR PRIMARY KEY, holder VARCHAR NOT NULL, "
            "pid INTEGER NOT NULL, since DATETIME NOT NULL, heartbeat DATETIME NOT NULL)"
        )
        db.execute(
            "INSERT INTO run_lock VALUES ('sync', '', 0, '2026-01-01 00:00:00.000000', "
            "'2026-01-01 00:00:00.000000')"
        )
        db.execute("CREATE TABLE schema_info (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_info VALUES (1, 1)")
    store = Store(f"sqlite:///{path}")
    try:
        grant = store.acquire_lock("sync", "hostA:111:x", 111, STALE)
        assert grant.token == 1
        assert store.lock_holder("sync").holder == "hostA:111:x"
    finally:
        store.close()
