"""The tenant registry of a fleet installation: one row per company, in the default schema.

A row says where a tenant's two services are, the *names* of the environment
variables (or secret files) that hold its tokens, its rules and its schedule, and
whether it is enabled; never a token (tokens are not for a database that many
workers and backups read). Each tenant's own state lives in its schema
(``state.tenancy``), which the row's name selects. The single-company ``config.toml``
mode never reads this table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column
from sqlmodel import JSON, Field, SQLModel, select

from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _
from state.tables import UTCDateTime, utcnow
from state.tenancy import schema_for, schema_of


class Tenant(SQLModel, table=True):
    __tablename__ = "tenant"
    name: str = Field(primary_key=True, max_length=40)
    kleanapp_base_url: str
    sevdesk_base_url: str
    #: Names of the environment variables (or files of the secrets directory) with the tokens.
    kleanapp_token_env: str
    sevdesk_token_env: str
    #: ``[rules]`` and ``[schedule]`` of config.toml, as validated there.
    rules: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    schedule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    enabled: bool = True
    created_at: dt.datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


def webhook_secret_name(tenant: Tenant) -> str:
    """The name of the variable (or secret file) with the tenant's KleanApp webhook secret.

    The row names no webhook secret (yet): by convention it is
    ``KLEANAPP_WEBHOOK_SECRET_<NAME>``, like the tokens' defaults ``KLEANAPP_TOKEN_<NAME>``;
    a row that gains a ``kleanapp_webhook_secret_env`` column names its own.
    """
    named = getattr(tenant, "kleanapp_webhook_secret_env", None)
    return str(named) if named else f"KLEANAPP_WEBHOOK_SECRET_{tenant.name.upper()}"


class Tenants:
    """The registry (``store`` must be the unscoped store of the fleet's database)."""

    def __init__(self, store: Any) -> None:
        if schema_of(store.engine) is not None:
            raise ValueError("the tenant registry lives in the default schema, not a tenant's")
        self.store = store

    def add(self, tenant: Tenant) -> Tenant:
        schema_for(tenant.name)  # a name that can be a schema
        with self.store.session() as s:
            if s.get(Tenant, tenant.name) is not None:
                raise ConfigError(_("tenant %(name)s exists already", name=tenant.name))
            s.add(tenant)
        return tenant

    def all(self) -> list[Tenant]:
        with self.store.session() as s:
            return list(s.exec(select(Tenant).order_by(Tenant.name)))

    def get(self, name: str) -> Tenant:
        with self.store.session() as s:
            tenant = s.get(Tenant, name)
        if tenant is None:
            raise ConfigError(_("there is no tenant %(name)s", name=name))
        return tenant

    def set_enabled(self, name: str, enabled: bool) -> Tenant:
        with self.store.session() as s:
            tenant = s.get(Tenant, name)
            if tenant is None:
                raise ConfigError(_("there is no tenant %(name)s", name=name))
            tenant.enabled = enabled
            tenant.updated_at = utcnow()
            s.add(tenant)
        return tenant
