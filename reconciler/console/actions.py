"""What the console starts that talks to KleanApp and sevDesk: runs, exports, reachability.

Always the CLI's own functions (``run_sync``, ``export_invoices``), never a copy:
``sync --dry-run`` is ``dry_run()``, ``sync`` is ``sync_now()``, ``invoices export
[--dry-run]`` is ``export()``. Inside ``kleansync serve`` they take turns with the
service's own jobs (``Jobs.exclusive``: one write job at a time); across processes
the run lock still decides, so "Jetzt synchronisieren" while a hand-started sync
runs is refused with the lock's holder named (``lock_holder``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler.config import Config
from reconciler.connectors.base import Connector
from reconciler.domain.errors import AuthError, KleansyncError
from reconciler.domain.models import Side
from reconciler.invoices.result import ExportFilters, ExportResult
from reconciler.invoices.runner import export_invoices
from reconciler.service.jobs import Jobs
from reconciler.sync.engine import SyncOptions, run_sync
from reconciler.sync.report import RunResult
from state import Store
from state.tables import RunLock

T = TypeVar("T")

#: How long a reachability answer is kept (the overview is reloaded often).
REACH_TTL = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Reach:
    """One service as the overview shows it: ``ok``, ``key`` (refused) or ``down``."""

    state: str
    checked_at: dt.datetime


class Actions:
    """The runs and exports the console starts, on the service's connectors and store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        connectors: Mapping[Side, Connector],
        *,
        jobs: Jobs | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.connectors = dict(connectors)
        self.jobs = jobs
        self._reach: dict[str, Reach] = {}

    async def _exclusive(self, work: Callable[[], Awaitable[T]]) -> T:
        if self.jobs is None:
            return await work()
        return await self.jobs.exclusive(work)

    def lock_holder(self) -> RunLock | None:
        """Who holds the run lock now (a sync or export running), or None."""
        return self.store.lock_holder("sync")

    async def dry_run(self) -> RunResult:
        """``kleansync sync --dry-run``: the plan, written nowhere (``RunInProgress`` if locked)."""

        async def work() -> RunResult:
            return await run_sync(
                self.config,
                SyncOptions(dry_run=True, trigger="console"),
                connectors=self.connectors,
                store=self.store,
            )

        return await self._exclusive(work)

    async def sync_now(self) -> RunResult:
        """``kleansync sync``: one real run now (``RunInProgress`` if another holds the lock)."""

        async def work() -> RunResult:
            return await run_sync(
                self.config,
                SyncOptions(trigger="console"),
                connectors=self.connectors,
                store=self.store,
            )

        result = await self._exclusive(work)
        if self.jobs is not None:
            self.jobs.after_sync(result)
        return result

    async def export(self, filters: ExportFilters, fmt: str, *, dry_run: bool) -> ExportResult:
        """``kleansync invoices export --from --to --status --format [--dry-run]``."""
        connectors: dict[str, Any] = {str(k): c for k, c in self.connectors.items()}

        async def work() -> ExportResult:
            return await export_invoices(
                self.config,
                filters,
                dry_run=dry_run,
                fmt=fmt,
                connectors=connectors,
                store=self.store,
                trigger="console",
            )

        return await self._exclusive(work)

    async def reachability(self, now: dt.datetime) -> dict[str, Reach]:
        """Each service: reachable with its key accepted, key refused, or not reachable."""
        stale = [
            s
            for s in self.connectors
            if s not in self._reach or now - self._reach[s].checked_at > REACH_TTL
        ]

        async def check(side: str) -> tuple[str, str]:
            try:
                await asyncio.wait_for(self.connectors[side].check_auth(), 10)  # type: ignore[index]
            except AuthError:
                return side, "key"
            except (KleansyncError, TimeoutError, OSError):
                return side, "down"
            return side, "ok"

        for side, state in await asyncio.gather(*(check(s) for s in stale)):
            self._reach[side] = Reach(state, now)
        return dict(self._reach)


__all__ = ["Actions", "Reach"]
