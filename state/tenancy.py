"""One PostgreSQL schema per tenant: the same tables, the same code, no tenant column.

A fleet installation serves many companies from one PostgreSQL database; each
company (tenant) gets a schema of its own (``tenant_<name>``) holding every state
table, and a ``Store`` opened for a tenant reaches only that schema. Why a schema per
tenant and not a tenant column on every row (docs/TENANTS.md has the whole reasoning):

* isolation is structural: a query of tenant B's store cannot name a row of tenant A,
  whatever a store function forgets, so no function needs a ``WHERE tenant = …`` that
  one omission would leak through (today's uniqueness rules, like one link per remote
  id, stay exactly as they are, per tenant);
* SQLAlchemy's ``schema_translate_map`` puts the schema into every statement the
  engine compiles, so it survives PgBouncer's transaction pooling, where a
  ``search_path`` set on a connection (or in the URL) leaks to whichever client gets
  the connection next;
* a tenant is removed or restored as a unit (``DROP SCHEMA … CASCADE``, ``pg_dump -n``).

SQLite stays one file per company; a tenant there is refused (one file *is* a tenant).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Connection, Engine

from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _

#: A tenant's name: lower-case letters, digits and ``_``, starting with a letter (it becomes
#: part of an SQL identifier, so nothing else is allowed; PostgreSQL's limit is 63 bytes).
TENANT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
SCHEMA_PREFIX = "tenant_"
#: Tables of the fleet, in the default schema only, never in a tenant's (the registry, the
#: shared request budgets per API token).
FLEET_TABLES = frozenset({"tenant", "rate_bucket"})


def schema_for(tenant: str) -> str:
    """The schema of ``tenant``; ``ConfigError`` for a name that cannot be one."""
    if not TENANT_NAME.fullmatch(tenant):
        raise ConfigError(
            _(
                "tenant name %(name)r: use lower-case letters, digits and _ (starting with a "
                "letter, at most 40 characters)",
                name=tenant,
            )
        )
    return SCHEMA_PREFIX + tenant


def scoped(engine: Engine, tenant: str) -> Engine:
    """``engine`` (same pool) with every table of its statements in ``tenant``'s schema."""
    require_postgresql(engine.dialect.name, tenant)
    return engine.execution_options(schema_translate_map={None: schema_for(tenant)})


def require_postgresql(backend: str, tenant: str | None = None) -> None:
    """``ConfigError`` unless ``backend`` (a dialect's name) is PostgreSQL."""
    if backend == "postgresql":
        return
    if tenant is None:
        raise ConfigError(
            _(
                "[state] url: tenants need a PostgreSQL state store (an SQLite store is one "
                "company's file)"
            )
        )
    raise ConfigError(
        _(
            "tenant %(name)s: tenants need a PostgreSQL state store (an SQLite store is "
            "one company's file)",
            name=tenant,
        )
    )


def schema_of(bind: Engine | Connection) -> str | None:
    """The tenant schema ``bind`` is scoped to; None for an unscoped store.

    Needed where SQLAlchemy does not translate: reflection (``inspect(bind)`` reads the
    default schema) and Alembic's version table.
    """
    options: dict[str, Any] = dict(bind.get_execution_options())
    translate = options.get("schema_translate_map") or {}
    schema = translate.get(None)
    return str(schema) if schema else None
