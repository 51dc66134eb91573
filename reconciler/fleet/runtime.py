"""What the engine needs to run one tenant, built from the tenant's registry row.

A worker reads a tenant's row (``state.tenant_tables.Tenant``) each time one of its
jobs starts, so ``kleansync tenants disable`` and a changed row take effect with the
next job, no restart. The row gives the two base URLs, the *names* of the two token
secrets, ``[rules]`` and ``[schedule]``; the worker's own ``config.toml`` (the fleet's)
gives everything else, the same for every tenant: ``[state]`` (the fleet's database),
the services' pacing, ``[sync]``, ``[matching]``, ``[invoices]``. Per tenant:

* the config is the fleet's with the row's sections in place, validated by the
  ``config.toml`` models themselves (a bad row is one line naming the tenant);
* the tokens come from ``reconciler.domain.tenant_secrets`` (never the database);
* the store is ``Store(url, tenant=name)``'s schema, on the worker's one connection
  pool (``TenantStores``, by ``Store.sharing``): a worker serving hundreds of tenants
  must not open a pool per tenant (each would keep connections open; PostgreSQL's
  ``max_connections`` is shared by the whole fleet);
* requests are paced by the fleet's shared bucket per token (``state.rate_bucket``): a
  tenant's jobs may run on several workers on several machines, and only a budget kept in
  the database keeps all of them together within the service's limit;
* reports go to ``<[report] dir>/<tenant>``; the fleet's report e-mail recipients are
  not a tenant's (the row has none yet), so tenants send no report mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from reconciler.config import Config, KleanappConfig, RulesConfig, ScheduleConfig, SevdeskConfig
from reconciler.connectors import from_config
from reconciler.connectors.base import Connector
from reconciler.connectors.http import Limiter
from reconciler.domain.config_problems import first_problem
from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _
from reconciler.domain.models import Side
from reconciler.domain.tenant_secrets import Secrets
from state import Store
from state.rate_bucket import limiter_for
from state.tenant_tables import Tenant


@dataclass(frozen=True)
class TenantRuntime:
    """One tenant, ready to run: its config, its tokens, its store."""

    name: str
    config: Config
    kleanapp_token: str
    sevdesk_token: str
    store: Store
    #: KleanApp's and sevDesk's request budgets, shared by the fleet (keyed by token).
    limiters: tuple[Limiter, Limiter] | None = None

    def connectors(self) -> dict[Side, Connector]:
        """Fresh connectors with this tenant's tokens (the caller closes them)."""
        kleanapp, sevdesk = from_config(
            self.config,
            tokens=(self.kleanapp_token, self.sevdesk_token),
            limiters=self.limiters,
        )
        return {"kleanapp": kleanapp, "sevdesk": sevdesk}


def tenant_config(fleet: Config, tenant: Tenant) -> Config:
    """The fleet's config with ``tenant``'s row in place; ``ConfigError`` naming the tenant."""
    try:
        kleanapp = KleanappConfig.model_validate(
            fleet.kleanapp.model_dump(exclude_unset=True)
            | {"base_url": tenant.kleanapp_base_url, "token_env": tenant.kleanapp_token_env}
        )
        sevdesk = SevdeskConfig.model_validate(
            fleet.sevdesk.model_dump(exclude_unset=True)
            | {"base_url": tenant.sevdesk_base_url, "token_env": tenant.sevdesk_token_env}
        )
        rules = RulesConfig.model_validate(tenant.rules or {})
        schedule = ScheduleConfig.model_validate(
            fleet.schedule.model_dump(exclude={"cron", "timezone"}) | (tenant.schedule or {})
        )
    except ValidationError as exc:
        raise ConfigError(
            _("tenant %(name)s: %(problem)s", name=tenant.name, problem=first_problem(exc))
        ) from None
    report = fleet.report.model_copy(
        update={"dir": str(Path(fleet.report.dir) / tenant.name), "email_to": []}
    )
    return fleet.model_copy(
        update={
            "kleanapp": kleanapp,
            "sevdesk": sevdesk,
            "rules": rules,
            "schedule": schedule,
            "report": report,
        }
    )


class TenantStores:
    """Every tenant's ``Store`` of one worker process, on one connection pool.

    ``base`` is the fleet's unscoped store (the registry's). A tenant's store is the
    same engine with the tenant's ``schema_translate_map`` (``state.tenancy.scoped``),
    migrated the first time this process opens it (once, under the migration lock, as
    ``Store(url, tenant=…)`` does). Only ``close`` closes the pool. It also holds the
    fleet's request budgets (``limiters``): one per service, each keyed by token, in the
    same database.
    """

    def __init__(self, base: Store, config: Config | None = None) -> None:
        self.base = base
        self._stores: dict[str, Store] = {}
        #: None without a config: stores only (a tick needs no HTTP).
        self.limiters: tuple[Limiter, Limiter] | None = None
        if config is not None:
            self.limiters = (
                limiter_for(base.engine, _budget(config.kleanapp)),
                limiter_for(base.engine, _budget(config.sevdesk)),
            )

    def get(self, tenant: str) -> Store:
        store = self._stores.get(tenant)
        if store is None:
            store = self._stores[tenant] = Store.sharing(self.base, tenant)
        return store

    def close(self) -> None:
        self._stores.clear()
        self.base.close()


def runtime_for(
    fleet: Config, tenant: Tenant, secrets: Secrets, stores: TenantStores
) -> TenantRuntime:
    """``tenant`` ready to run; ``MissingSecret``/``ConfigError`` (one line) if it cannot."""
    config = tenant_config(fleet, tenant)
    kleanapp_token = secrets.require(tenant.name, tenant.kleanapp_token_env)
    sevdesk_token = secrets.require(tenant.name, tenant.sevdesk_token_env)
    return TenantRuntime(
        name=tenant.name,
        config=config,
        kleanapp_token=kleanapp_token,
        sevdesk_token=sevdesk_token,
        store=stores.get(tenant.name),
        limiters=stores.limiters,
    )


def _budget(service: KleanappConfig | SevdeskConfig) -> float:
    """A token's requests per second for all workers together: the service's ceiling."""
    return service.max_requests_per_second or service.requests_per_second
