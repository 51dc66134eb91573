"""A request budget per API token, shared by every worker of a fleet, in PostgreSQL.

Why in the database: a service limits requests per *token* (KleanApp: 10/s), and in a
fleet one tenant's jobs run on whichever worker picks them up, on any machine. Each
process pacing itself (``reconciler.connectors.http.TokenBucket``) keeps one process
polite; two workers on one tenant's token send twice its limit. So a fleet takes each
request's slot from one bucket per token, a row of ``rate_bucket``, in one statement
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``): PostgreSQL locks the row for the
statement, so any number of takers on any number of machines are served one after the
other and together never get more than the bucket's rate (plus its burst).

The bucket *reserves*: a taker always gets a slot, and the answer is how long to wait
before using it (the tokens go below zero, the next taker's slot is later still). One
round trip per request, no polling; a taker that dies after reserving wastes a slot,
which only ever makes the fleet slower, never over the limit.

The row is keyed by a hash of the service and the token (``rate_limits.rate_key``), never the
token: secrets are not for a database that many workers and backups read, and a key
that is not a 64-digit hex digest is refused, so a raw token cannot be stored by
mistake. The time is the database's (``clock_timestamp()``), one clock for all
machines; tests inject one instead.

SQLite has no shared bucket (one file is one company, served by one process): there the
default is the in-process pacing, and ``LocalRateBucket`` answers the same question.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from reconciler.domain.rate_limits import Limiter
from state.tenancy import require_postgresql, schema_of

_DIGEST = re.compile(r"[0-9a-f]{64}")


class RateBucket(SQLModel, table=True):
    """One token's bucket (default schema only: a token is not a tenant's state)."""

    __tablename__ = "rate_bucket"
    #: ``rate_key(service, token)``: a sha256 digest, never the token.
    key: str = Field(primary_key=True, max_length=64)
    #: Tokens left after the last slot taken (negative: slots reserved ahead).
    tokens: float
    #: When the bucket was last refilled, seconds since the epoch (the database's clock).
    stamp: float
    #: Requests per second and the burst the last taker asked for.
    rate: float
    burst: float


def _checked(key: str) -> str:
    if not _DIGEST.fullmatch(key):
        # Not the key itself in the message: it might be a token passed by mistake.
        raise ValueError("a rate bucket key must be rate_key(service, token), a sha256 digest")
    return key


# One statement: the row is locked for it, so concurrent takers queue on the row. The refill
# uses the newer of the stored and the given time, so a taker whose clock reading is a little
# older (read before another's, which was served first) neither refills twice nor turns time
# back; its wait counts from its own reading (``_wait``), so it does not send early either.
_TAKE = text(
    """
    WITH t AS (
        SELECT COALESCE(CAST(:now AS double precision),
                        CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS double precision)) AS now
    ), taken AS (
        INSERT INTO rate_bucket (key, tokens, stamp, rate, burst)
        SELECT :key, CAST(:burst AS double precision) - 1, t.now, :rate, :burst FROM t WHERE true
        ON CONFLICT (key) DO UPDATE SET
            tokens = LEAST(EXCLUDED.burst,
                           rate_bucket.tokens
                           + GREATEST(0, EXCLUDED.stamp - rate_bucket.stamp) * EXCLUDED.rate) - 1,
            stamp = GREATEST(rate_bucket.stamp, EXCLUDED.stamp),
            rate = EXCLUDED.rate,
            burst = EXCLUDED.burst
        RETURNING tokens, stamp, rate
    )
    SELECT taken.tokens, taken.stamp, taken.rate, t.now FROM taken, t
    """
)


def _wait(tokens: float, stamp: float, rate: float, now: float) -> float:
    """Seconds from ``now`` until the slot: the bucket's time plus the debt of reserved slots."""
    return max(0.0, stamp + max(0.0, -tokens) / rate - now)


class SharedRateBucket:
    """The fleet's buckets in the PostgreSQL database of ``engine`` (its default schema).

    ``rate`` requests per second per key, bursts up to ``burst`` (1: a service that counts
    a sliding second never sees more than ``rate + 1``). ``clock``: seconds since the
    epoch; None (the default) takes the database's, the same for every machine.
    """

    def __init__(
        self,
        engine: Engine,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        require_postgresql(engine.dialect.name)
        if schema_of(engine) is not None:
            raise ValueError("the rate buckets live in the default schema, not a tenant's")
        if rate <= 0 or burst < 1:
            raise ValueError("a rate bucket needs rate > 0 and burst >= 1")
        # READ COMMITTED whatever the database's default: under REPEATABLE READ concurrent
        # takers of one row would fail with a serialization error instead of queueing.
        self.engine = engine.execution_options(isolation_level="READ COMMITTED")
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock

    def acquire(self, key: str) -> float:
        params = {
            "key": _checked(key),
            "now": self.clock() if self.clock is not None else None,
            "rate": self.rate,
            "burst": self.burst,
        }
        with self.engine.begin() as conn:
            tokens, stamp, rate, now = conn.execute(_TAKE, params).one()
        return _wait(float(tokens), float(stamp), float(rate), float(now))


class LocalRateBucket:
    """The same buckets in this process's memory: one process, or a test without a database."""

    def __init__(
        self, rate: float, *, burst: float = 1.0, clock: Callable[[], float] | None = None
    ) -> None:
        import time

        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock or time.monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        _checked(key)
        with self._lock:
            now = self.clock()
            tokens, stamp = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + max(0.0, now - stamp) * self.rate) - 1
            stamp = max(stamp, now)
            self._buckets[key] = (tokens, stamp)
        return _wait(tokens, stamp, self.rate, now)


def limiter_for(engine: Engine, rate: float, *, burst: float = 1.0) -> Limiter:
    """The shared bucket on PostgreSQL, the in-process one on SQLite (one company, one process)."""
    if engine.dialect.name == "postgresql":
        return SharedRateBucket(engine, rate, burst=burst)
    return LocalRateBucket(rate, burst=burst)
