"""Which database the tests' state stores live in: SQLite files (the default) or PostgreSQL.

``KLEANSYNC_TEST_STATE=postgres`` with ``KLEANSYNC_TEST_PG_URL`` (an admin URL of a server
the tests may create databases on, e.g. the private cluster of ``.ci/postgres.sh``) puts
every store a test asks for through the ``state_url`` fixture (tests/conftest.py) into a
database of its own, dropped after the test. Why a database per test, made from a template:
a test must find the store exactly as a fresh install leaves it, whatever the test before it
wrote, and copying a template that was migrated once (``CREATE DATABASE … TEMPLATE``,
~0.1 s) is several times cheaper than migrating an empty database for every test.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import make_url

ENV_BACKEND = "KLEANSYNC_TEST_STATE"
ENV_PG_URL = "KLEANSYNC_TEST_PG_URL"
BACKEND = os.environ.get(ENV_BACKEND, "sqlite").strip().lower() or "sqlite"
POSTGRES = BACKEND == "postgres"


def sqlite_url(directory: Path, name: str = "state.db") -> str:
    return f"sqlite:///{directory / name}"


class PgServer:
    """Makes and drops the tests' databases on one PostgreSQL server (``admin_url``)."""

    def __init__(self, admin_url: str) -> None:
        import psycopg  # only the PostgreSQL pass needs the driver

        self.admin_url = make_url(admin_url)
        if not self.admin_url.drivername.startswith("postgresql"):
            raise ValueError(f"{ENV_PG_URL} is no PostgreSQL URL: {admin_url}")
        plain = self.admin_url.set(drivername="postgresql")
        self._admin = psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True)
        #: One template per process (an xdist worker has its own), migrated once.
        self.template: str | None = None

    def url(self, database: str) -> str:
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def create(self, *, template: str = "template0") -> str:
        """A new database (a copy of ``template``); its SQLAlchemy URL."""
        name = f"kleansync_t_{uuid.uuid4().hex[:20]}"
        self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return self.url(name)

    def migrated(self) -> str:
        """A new database holding the schema as ``Store`` creates it (made once, then copied)."""
        if self.template is None:
            from state import Store

            url = self.create()
            Store(url).close()
            self.template = str(make_url(url).database)
        return self.create(template=self.template)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.template is not None:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self._admin.close()


def pg_server() -> PgServer:
    url = os.environ.get(ENV_PG_URL)
    if not url:
        raise RuntimeError(
            f"{ENV_BACKEND}=postgres needs {ENV_PG_URL}, an admin URL of a PostgreSQL server "
            "(start one with .ci/postgres.sh start DIR)"
        )
    return PgServer(url)
