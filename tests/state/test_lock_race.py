"""The run lock under real concurrency: two processes reach for it at the same moment.

Each round both processes call ``acquire_lock`` together (a barrier releases them), the
winner holds the lock until the other has tried, then releases it. Exactly one must run,
every round, on SQLite and PostgreSQL alike: for a lock never taken before (two INSERTs
race), for a released one (two conditional UPDATEs race), and for one left by a dead
holder (two takeovers race). On PostgreSQL also with REPEATABLE READ as the database's
default isolation, where the loser once met "internal error: SerializationFailure"
instead of "a run is in progress".
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections import Counter

import pytest
from sqlalchemy import create_engine, make_url

from state import Store
from state.tables import RunLock
from tests.state import racers
from tests.state_backend import POSTGRES

ROUNDS = 50


def race(url: str, rounds: list[str], monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Both processes' outcomes, per process, per round."""
    monkeypatch.syspath_prepend(str(racers.ROOT))  # the spawned processes import racers
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as pool:
        start, tried = manager.Barrier(2), manager.Barrier(2)
        args = [(url, rounds, start, tried)] * 2
        return pool.starmap_async(racers.take_lock, args).get(timeout=300)


def assert_exactly_one_ran(outcomes: list[list[str]], rounds: int) -> None:
    first, second = outcomes
    assert len(first) == len(second) == rounds, outcomes
    per_round = [Counter(pair) for pair in zip(first, second, strict=True)]
    bad = [(i, dict(c)) for i, c in enumerate(per_round) if c != Counter(["ran", "refused"])]
    assert bad == [], f"rounds where not exactly one ran: {bad[:5]}"


def test_two_processes_at_once_exactly_one_runs_50_times_out_of_50(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rounds on a lock nobody took yet (its row is made by the winner), then on one lock
    # released again and again (its row is updated conditionally).
    rounds = [f"fresh-{i}" for i in range(ROUNDS)] + ["sync"] * ROUNDS
    Store(state_url).close()
    outcomes = race(state_url, rounds, monkeypatch)
    assert_exactly_one_ran(outcomes, len(rounds))
    store = Store(state_url)
    try:
        # Every acquisition of "sync" counted: one fencing token per round that ran.
        row = store.lock_row("sync")
        assert row is not None and row.token == ROUNDS
        assert store.lock_holder("sync") is None  # and each winner released it
    finally:
        store.close()


def test_two_processes_taking_over_a_dead_holders_lock_exactly_one_wins(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(state_url)
    long_ago = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    names = [f"stale-{i}" for i in range(ROUNDS)]
    try:
        with store.session() as s:
            for name in names:  # held by a process on another host that stopped beating
                s.add(
                    RunLock(
                        name=name,
                        holder="elsewhere:1:gone",
                        pid=1,
                        token=7,
                        since=long_ago,
                        heartbeat=long_ago,
                    )
                )
    finally:
        store.close()
    outcomes = race(state_url, names, monkeypatch)
    assert_exactly_one_ran(outcomes, len(names))
    store = Store(state_url)
    try:
        assert {store.lock_row(name).token for name in names} == {8}  # one takeover each
    finally:
        store.close()


@pytest.mark.skipif(
    not POSTGRES, reason="PostgreSQL's isolation default (KLEANSYNC_TEST_STATE=postgres)"
)
def test_with_repeatable_read_as_the_default_the_loser_is_told_a_run_is_in_progress(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(state_url).close()
    database = make_url(state_url).database
    engine = create_engine(state_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f"ALTER DATABASE \"{database}\" SET default_transaction_isolation = 'repeatable read'"
        )
    engine.dispose()
    rounds = [f"fresh-{i}" for i in range(10)] + ["sync"] * 10
    assert_exactly_one_ran(race(state_url, rounds, monkeypatch), len(rounds))
