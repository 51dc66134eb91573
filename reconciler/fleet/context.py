"""A worker process's view of the fleet: its config, its tenants, their secrets and stores.

One ``Fleet`` per worker process, handed to every job through procrastinate's
``additional_context`` (``context.additional_context["fleet"]``). It reads a tenant's
registry row each time a job of that tenant starts (a disabled tenant's jobs do
nothing, a changed row applies at once) and keeps the tenants' stores on one pool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from loguru import logger

from reconciler.config import Config
from reconciler.domain.errors import ConfigError
from reconciler.domain.tenant_secrets import Secrets
from reconciler.fleet.runtime import TenantRuntime, TenantStores, runtime_for
from state import Store
from state.tenant_tables import Tenant, Tenants


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures are tried again after ``base * 2**attempt`` seconds (capped)."""

    base_seconds: float = 30.0
    max_seconds: float = 1800.0
    #: Attempts after the first; then the job gives up (the next schedule or save retries).
    max_attempts: int = 6

    def delay(self, attempt: int) -> float | None:
        """Seconds until retry number ``attempt + 1``; None once attempts are used up."""
        if attempt >= self.max_attempts:
            return None
        return float(min(self.max_seconds, self.base_seconds * 2**attempt))


@dataclass
class Fleet:
    config: Config
    secrets: Secrets
    stores: TenantStores
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Set on the first SIGTERM: a sync in flight finishes its pair and applies no more.
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def open(
        cls, config: Config, secrets: Secrets | None = None, retry: RetryPolicy | None = None
    ) -> Fleet:
        base = Store(config.state.url, pool=config.state.pool)
        stores = TenantStores(base, config)
        return cls(config, secrets or Secrets(), stores, retry or RetryPolicy())

    @property
    def registry(self) -> Tenants:
        return Tenants(self.stores.base)

    def tenants(self) -> list[Tenant]:
        return self.registry.all()

    def runtime(self, name: str) -> TenantRuntime | None:
        """``name`` ready to run, or None (disabled, or it cannot run: said in one line)."""
        try:
            tenant = self.registry.get(name)
            if not tenant.enabled:
                logger.info("tenant {} is disabled; its job does nothing", name)
                return None
            return runtime_for(self.config, tenant, self.secrets, self.stores)
        except ConfigError as exc:
            logger.error("{}", exc)
            return None

    def close(self) -> None:
        self.stores.close()
