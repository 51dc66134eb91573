"""One request budget per API token for the whole fleet (``state.rate_bucket``).

KleanApp allows 10 requests a second per token; a fleet runs one tenant's jobs on
whichever worker is free, so the budget is a row in PostgreSQL that every taker
shares. What a user would notice: the service never sees more than its limit from
all workers together (here: the slots granted, counted per second of a clock the test
controls, from several threads and from several processes), and the token itself is
nowhere in the database. Counting *grants* (the time each taker was told to send at)
instead of sleeping keeps the tests fast and exact.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.domain.rate_limits import rate_key
from sandbox import kleanapp
from state import Store
from state.rate_bucket import LocalRateBucket, SharedRateBucket, limiter_for
from tests.state import racers
from tests.state_backend import POSTGRES

on_postgres = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL (KLEANSYNC_TEST_STATE=postgres)")
TOKEN = "ka-live-7f3c9e1d2b4a-not-for-any-table"
KEY = rate_key("KleanApp", TOKEN)
RATE = 10.0


def most_in_one_second(grants: list[float]) -> int:
    """The most grants inside any half-open second [t, t + 1)."""
    grants = sorted(grants)
    most, start = 0, 0
    for end, at in enumerate(grants):
        while at - grants[start] >= 1.0 - 1e-9:
            start += 1
        most = max(most, end - start + 1)
    return most


class SteppingClock:
    """A clock every reader moves on by ``step``: many takers arriving close together."""

    def __init__(self, start: float = 1_800_000_000.0, step: float = 0.001) -> None:
        self._ticks = itertools.count()
        self._lock = threading.Lock()
        self.start, self.step = start, step

    def __call__(self) -> float:
        with self._lock:
            return self.start + next(self._ticks) * self.step


class Recorded:
    """A clock that remembers, per thread, the reading it last handed out."""

    def __init__(self, inner: Callable[[], float]) -> None:
        self.inner = inner
        self.local = threading.local()

    def __call__(self) -> float:
        self.local.value = self.inner()
        return self.local.value

    @property
    def last(self) -> float:
        return float(self.local.value)


def take(bucket: SharedRateBucket | LocalRateBucket, clock: Recorded, n: int) -> list[float]:
    """Take ``n`` slots; when each may be used (the bucket's clock reading plus the wait)."""
    return [bucket.acquire(KEY) + clock.last for _ in range(n)]


@on_postgres
def test_eight_threads_on_one_token_get_no_more_than_its_rate(state_url: str) -> None:
    store = Store(state_url)
    clock = Recorded(SteppingClock())
    bucket = SharedRateBucket(store.engine, RATE, clock=clock)
    try:
        with ThreadPoolExecutor(8) as pool:
            grants = [
                g for part in pool.map(lambda _: take(bucket, clock, 50), range(8)) for g in part
            ]
    finally:
        store.close()
    assert len(grants) == 400  # every taker got its slot
    assert most_in_one_second(grants) <= RATE + 1  # the rate plus the burst of one
    # And the bucket is not stricter than the service: 400 slots in about 40 seconds.
    span = max(grants) - min(grants)
    assert (400 - 1) / RATE - 0.01 <= span <= 400 / RATE + 1


@on_postgres
def test_worker_processes_on_one_token_get_no_more_than_its_rate(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three processes (three workers), the real clock, the database's row as the only link."""
    monkeypatch.syspath_prepend(str(racers.ROOT))
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        parts = pool.starmap_async(racers.take_slots, [(state_url, KEY, RATE, 40)] * 3).get(
            timeout=300
        )
    grants = [g for part in parts for g in part]
    assert len(grants) == 120
    assert most_in_one_second(grants) <= RATE + 1
    assert max(grants) - min(grants) >= (120 - 1) / RATE - 0.01


@on_postgres
def test_two_tokens_have_budgets_of_their_own(state_url: str) -> None:
    store = Store(state_url)
    clock = Recorded(SteppingClock(step=0.0))  # everyone at the same instant
    bucket = SharedRateBucket(store.engine, RATE, clock=clock)
    try:
        first = [bucket.acquire(KEY) for _ in range(5)]
        other = bucket.acquire(rate_key("KleanApp", "another-tenant-token"))
    finally:
        store.close()
    assert first == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert other == 0.0  # another tenant's token is not slowed down by this one's queue


@on_postgres
def test_the_token_is_in_no_table_after_a_client_used_the_shared_bucket(state_url: str) -> None:
    store = Store(state_url)
    app = kleanapp.create_app(TOKEN, rate_limit_rps=None)
    connector = KleanappConnector(
        "http://kleanapp.test/api/v1",
        TOKEN,
        transport=httpx.ASGITransport(app=app),
        limiter=SharedRateBucket(store.engine, RATE),
    )

    async def use() -> None:
        try:
            for _ in range(3):
                await connector.check_auth()
        finally:
            await connector.aclose()

    try:
        asyncio.run(use())
        with store.engine.connect() as conn:
            tables = conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            ).all()
            dumped = [
                str(row)
                for schema, name in tables
                for row in conn.execute(text(f'SELECT t::text FROM "{schema}"."{name}" t'))
            ]
            buckets = conn.execute(text("SELECT key, tokens, rate FROM rate_bucket")).all()
    finally:
        store.close()
    assert app.requests and sum(app.requests.values()) == 3
    assert [b.key for b in buckets] == [KEY]  # the three requests took from the token's bucket
    assert not [row for row in dumped if TOKEN in row or TOKEN[8:24] in row]


def test_the_buckets_key_is_a_digest_and_never_the_token() -> None:
    assert TOKEN not in KEY and len(KEY) == 64
    bucket = LocalRateBucket(RATE)
    with pytest.raises(ValueError) as refused:
        bucket.acquire(TOKEN)  # a raw token handed over by mistake is refused, not stored
    assert TOKEN not in str(refused.value)


def test_the_client_waits_as_long_as_the_limiter_says() -> None:
    """Without a database: the in-process bucket behind the same interface, a fake clock."""
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    app = kleanapp.create_app(TOKEN, rate_limit_rps=None)
    connector = KleanappConnector(
        "http://kleanapp.test/api/v1",
        TOKEN,
        requests_per_second=1000,  # the local pacing out of the way
        transport=httpx.ASGITransport(app=app),
        limiter=LocalRateBucket(2.0, clock=lambda: now[0]),
    )
    connector.http.sleep = sleep

    async def use() -> None:
        try:
            for _ in range(3):
                await connector.check_auth()
        finally:
            await connector.aclose()

    asyncio.run(use())
    # Slots at 100.0, 100.5, 101.0 with the clock standing still: waits of 0.5 s and 1 s.
    shared = [s for s in slept if s >= 0.4]
    assert shared == pytest.approx([0.5, 1.0])


def test_an_sqlite_store_keeps_the_in_process_pacing(state_url: str) -> None:
    if POSTGRES:
        pytest.skip("the SQLite pass")
    store = Store(state_url)
    try:
        assert isinstance(limiter_for(store.engine, RATE), LocalRateBucket)
    finally:
        store.close()


def test_the_local_bucket_grants_the_rate_to_many_threads() -> None:
    clock = Recorded(SteppingClock())
    bucket = LocalRateBucket(RATE, clock=clock)
    with ThreadPoolExecutor(4) as pool:
        grants = [g for part in pool.map(lambda _: take(bucket, clock, 50), range(4)) for g in part]
    assert len(grants) == 200 and most_in_one_second(grants) <= RATE + 1
