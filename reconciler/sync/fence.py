"""Holding the run lock safely: a heartbeat that cannot be starved, and a fence.

``run_lock`` is how every writing job holds its lock (a sync run, an invoice
export, a resync): one at a time across processes, fenced, heartbeaten.

Why a thread: the engine is one asyncio loop, but the state store is
synchronous and planning is CPU-bound. A heartbeat on the loop stops
beating whenever either runs for long (a database stall of a few seconds
was enough), another process then takes over a lock whose holder is alive,
and two runs write at once. ``Heartbeat`` beats from its own thread over its
own database connection, so a busy loop no longer makes a live run look
dead.

Why a fence as well: a process can still be paused (SIGSTOP, a suspended
VM, a frozen container) longer than the lock timeout and be taken over
rightly. When it wakes up, its next step would be a write from a plan that
is no longer true. Every write to an outside system goes through
``Fence.check`` first (``fenced`` makes ``check_write`` the HTTP layer's
``WRITE_GUARD``, called for every request that is not a read): it compares
the lock row's fencing token with this run's and raises ``LockLost`` when
another run holds the lock now.
That costs one small read of the state store per write.

What cannot be fenced: a request already on the wire when the process was
paused. Its journal row stays ``pending`` and the run that took over reads
it back first (``reconciler.sync.recovery``), so it is neither lost nor repeated.

``KLEANSYNC_PAUSE_AT`` (test instrumentation, like ``KLEANSYNC_CRASH_AT``):
``"POST CommunicationWay"`` makes the process SIGSTOP itself just before
its first write whose method and path start so, i.e. mid-apply.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import os
import signal
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from loguru import logger
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from reconciler.config import Config
from reconciler.connectors.http import WRITE_GUARD
from reconciler.domain.errors import LockLost
from state import Store
from state import run_lock as lock_rows
from state.tables import RunLock
from state.tenancy import scoped

PAUSE_ENV = "KLEANSYNC_PAUSE_AT"

#: The fence of the run this task belongs to (set by ``run_lock``).
FENCE: contextvars.ContextVar[Fence | None] = contextvars.ContextVar(
    "kleansync_fence", default=None
)


class Fence:
    """Knows this run's lock token; refuses every write once it is stale."""

    def __init__(
        self,
        store: Store,
        name: str,
        holder: str,
        token: int,
        grant: lock_rows.Grant | None = None,
    ) -> None:
        self.store = store
        self.grant = grant
        self.name = name
        self.holder = holder
        self.token = token
        #: Requests that wrote to KleanApp or sevDesk since the lock was taken.
        self.writes = 0
        self.lost = threading.Event()  # set by the heartbeat thread, or by a check
        self._taken_by: RunLock | None = None
        self._pause_at = os.environ.get(PAUSE_ENV)

    def ensure(self) -> None:
        """Raise ``LockLost`` unless the lock is still this run's (no write counted)."""
        if not self.lost.is_set():
            row = self.store.lock_row(self.name)
            if row is not None and row.holder == self.holder and row.token == self.token:
                return
            self._taken_by = row
            self.lost.set()
        if self._taken_by is None:
            self._taken_by = self.store.lock_row(self.name)
        row = self._taken_by
        raise LockLost(row.since if row else None, row.holder if row else "", self.writes)

    def check(self, what: str) -> None:
        """Called right before a write (``what``: "METHOD path"); counts it if allowed."""
        if self._pause_at and what.startswith(self._pause_at):
            self._pause_at = None
            logger.debug("{}={!r}: pausing before {}", PAUSE_ENV, what, what)
            os.kill(os.getpid(), signal.SIGSTOP)
        self.ensure()
        self.writes += 1


def check_write(method: str, path: str, *, retry: bool = False) -> None:
    """The HTTP layer's hook before every non-read request (no-op outside a run).

    ``retry``: the same request again (after a 429 or no connection), checked
    but not counted twice.
    """
    fence = FENCE.get()
    if fence is None:
        return
    if retry:
        fence.ensure()
    else:
        fence.check(f"{method} {path.lstrip('/')}")


def ensure_fence() -> None:
    """Raise ``LockLost`` if this task runs under a lock that is no longer its own."""
    fence = FENCE.get()
    if fence is not None:
        fence.ensure()


def current_writes() -> int:
    """Writes sent so far under the current fence (0 outside a run)."""
    fence = FENCE.get()
    return fence.writes if fence is not None else 0


@contextmanager
def fenced(fence: Fence) -> Iterator[Fence]:
    """Make ``fence`` the current task's fence, and guard every write, for the block."""
    reset = FENCE.set(fence)
    guard = WRITE_GUARD.set(check_write)
    try:
        yield fence
    finally:
        WRITE_GUARD.reset(guard)
        FENCE.reset(reset)


class Heartbeat(threading.Thread):
    """Renews the lock every ``interval`` seconds from its own thread and connection.

    Stops by itself once the lock is lost (and tells the fence). A failed
    beat (database briefly unavailable) is logged and tried again on the
    next interval: only the lock row decides whether the lock is lost.
    """

    def __init__(self, store: Store, fence: Fence, interval: float) -> None:
        super().__init__(name=f"kleansync-heartbeat-{fence.name}", daemon=True)
        self.store = store
        self.fence = fence
        self.interval = interval
        self._halt = threading.Event()

    def run(self) -> None:
        engine = _own_engine(self.store.url)
        if self.store.tenant is not None:
            # A tenant's lock row is in the tenant's schema (issue 20): an unscoped engine
            # would beat the default schema's row, find none and take the lock for lost.
            engine = scoped(engine, self.store.tenant)
        try:
            while not self._halt.wait(self.interval):
                try:
                    alive = lock_rows.heartbeat(
                        engine, self.fence.name, self.fence.holder, self.fence.token
                    )
                except Exception as exc:  # noqa: BLE001 - try again on the next beat
                    logger.warning("the run lock's heartbeat failed ({})", type(exc).__name__)
                    continue
                if not alive:
                    logger.warning(
                        "the run lock was taken over by another run; "
                        "this run stops before its next write"
                    )
                    self.fence.lost.set()
                    return
        finally:
            engine.dispose()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)


def in_memory(url: str) -> bool:
    """An in-memory store lives in this process only: nobody else can take its lock."""
    return url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url


def _own_engine(url: str):  # noqa: ANN202 - an sqlalchemy Engine
    """A connection of the heartbeat's own, never shared with the run's."""
    if url.startswith("sqlite"):
        return create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})
    return create_engine(url, poolclass=NullPool)


@asynccontextmanager
async def run_lock(store: Store, config: Config, name: str = "sync") -> AsyncIterator[Fence]:
    """Hold the store's run lock for the duration of the block, fenced.

    The heartbeat beats from its own thread (``Heartbeat``), so a
    busy event loop never makes this run look dead; every write inside the
    block is checked against the lock's fencing token first, so a run whose
    lock was taken over stops before its next write. On the way out the lock
    is released only if it is still this run's.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    timeout = config.state.lock_timeout_seconds
    grant = store.acquire_lock(name, holder, os.getpid(), dt.timedelta(seconds=timeout))
    fence = Fence(store, name, holder, grant.token, grant)
    beat = None if in_memory(store.url) else Heartbeat(store, fence, timeout / 4)
    if beat is not None:
        beat.start()
    try:
        with fenced(fence):
            yield fence
    finally:
        if beat is not None:
            beat.stop()
        if not store.release_lock(name, holder, grant.token):
            logger.debug("the run lock {} was no longer ours; left to its holder", name)
