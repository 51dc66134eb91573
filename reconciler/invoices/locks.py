"""One asyncio lock per invoice id, so two triggers never export one invoice at once.

``serve`` may get the same ``invoice.saved`` twice while the poll is
exporting that invoice too; the ledger and the note lookup already prevent
a second sevDesk invoice, this keeps the two from racing in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class _KeyedLocks:
    """One asyncio lock per invoice id, so two triggers never export one invoice at once."""

    def __init__(self) -> None:
        self._locks: dict[tuple[int, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        slot = (id(asyncio.get_running_loop()), key)
        lock, users = self._locks.get(slot, (asyncio.Lock(), 0))
        self._locks[slot] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[slot]
            if users <= 1:
                del self._locks[slot]
            else:
                self._locks[slot] = (lock, users - 1)


LOCKS = _KeyedLocks()
