"""The procrastinate ``App`` of a fleet: its jobs live in the fleet's PostgreSQL database.

Why procrastinate (issue 20): the job queue is a few tables in the database the state
already lives in, so there is no broker to run and no dual write; ``lock=`` serialises
one tenant's jobs across every worker on every machine, ``queueing_lock=`` coalesces
duplicates, periodic tasks and stalled-job detection (worker heartbeats) are built in.

The connector is procrastinate's psycopg 3 one (the driver the state store already
uses). Its tables are in the default schema (``public``), next to the tenant registry;
tenants' schemas hold none of it.

The schema is applied by ``apply_schema``: once, serialised, idempotently. procrastinate's
own ``schema --apply`` is neither (it fails with "type procrastinate_job_status already
exists" on a second run, and two workers starting at once would race); here it runs
under a PostgreSQL advisory lock, inside one transaction, and only when its tables are
absent, so any number of workers may start at the same moment.
"""

from __future__ import annotations

import procrastinate
import psycopg
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url

from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _

#: The advisory lock key of the schema's creation ("kleanjob"); the state store's own
#: migrations use another key (state.database.MIGRATION_LOCK).
SCHEMA_LOCK = 0x6B6C65616E6A6F62


def conninfo(url: str) -> str:
    """libpq's form of an SQLAlchemy URL (``postgresql+psycopg://…`` → ``postgresql://…``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            _(
                "[state] url: the worker fleet needs a PostgreSQL state store (its job queue "
                "lives there)"
            )
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(
    url: str, *, pool_size: int = 4, tasks: bool = True, schedule: bool = True
) -> procrastinate.App:
    """The fleet's ``App`` on ``url`` (not yet opened).

    ``tasks``: with every kleansync task registered (a worker's); an ``App`` only to
    enqueue needs none (``reconciler.fleet.jobs`` defers by name). ``schedule``: with the
    periodic tick (``reconciler.fleet.schedule``).
    """

    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(url),
        min_size=1,
        max_size=max(2, pool_size),
        # The LISTEN connection is one of the pool's; a pool of 1 would disable it.
        kwargs={"application_name": "kleansync-worker"},
    )
    app = procrastinate.App(connector=connector)
    if tasks:
        from reconciler.fleet.tasks import register

        register(app, schedule=schedule)
    return app


def apply_schema(url: str) -> bool:
    """Create procrastinate's tables if absent; True if this call created them."""
    schema_sql = SchemaManager.get_schema()
    with psycopg.connect(conninfo(url)) as conn, conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '10min'")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        present = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if present and present[0]:
            return False
        conn.execute(schema_sql)  # procrastinate's own SQL, as its schema --apply runs it
        return True
