"""What the race tests' processes do (tests/state): importable, so a spawned process finds it.

Each function waits at a barrier shared with the other processes, so they start the
contested step at the same moment, and returns what happened as a plain string.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from pathlib import Path
from threading import BrokenBarrierError
from typing import Any

from reconciler.domain.errors import RunInProgress
from state import Store

STALE = dt.timedelta(seconds=60)
#: The checkout: on the spawned processes' ``sys.path``, so they can import this module.
ROOT = Path(__file__).resolve().parents[2]


def open_store(url: str, barrier: Any) -> str:
    """Open the store at ``url`` (maybe empty) together with the other process."""
    barrier.wait(timeout=60)
    try:
        Store(url).close()
    except Exception as exc:  # noqa: BLE001 - the test reports what the loser met
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def take_lock(url: str, rounds: list[str], start: Any, tried: Any) -> list[str]:
    """For each lock name: try it at the same moment as the others; hold it until all tried.

    Returns, per round, "ran" (this process got the lock), "refused" (RunInProgress)
    or the error met.
    """
    store = Store(url)
    holder = f"{socket.gethostname()}:{os.getpid()}:racer"
    outcomes: list[str] = []
    try:
        for name in rounds:
            start.wait(timeout=60)
            grant = None
            try:
                grant = store.acquire_lock(name, holder, os.getpid(), STALE)
                outcomes.append("ran")
            except RunInProgress:
                outcomes.append("refused")
            except Exception as exc:  # noqa: BLE001 - reported, the test fails on it
                outcomes.append(f"{type(exc).__name__}: {exc}")
            try:
                tried.wait(timeout=60)  # the winner holds the lock until every process tried
            except BrokenBarrierError:
                outcomes.append("barrier broken")
                break
            if grant is not None:
                store.release_lock(name, holder, grant.token)
    finally:
        store.close()
    return outcomes


def take_slots(url: str, key: str, rate: float, n: int) -> list[float]:
    """Take ``n`` slots of the shared bucket ``key``; when each may be used (wall clock)."""
    from state.rate_bucket import SharedRateBucket

    store = Store(url)
    readings: list[float] = []

    def clock() -> float:
        readings.append(time.time())
        return readings[-1]

    bucket = SharedRateBucket(store.engine, rate, clock=clock)
    try:
        return [bucket.acquire(key) + readings[-1] for _ in range(n)]
    finally:
        store.close()
