"""Alembic's entry point: run the migrations on the connection ``state.database`` hands over.

``state.database.migrate`` opens the transaction (and, on PostgreSQL, takes the advisory
lock) before it calls Alembic, so every step and the new revision are committed together
or not at all. Run by hand (``alembic -c state/migrations/alembic.ini …``), the URL comes
from ``KLEANSYNC_STATE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    # Batch mode: SQLite cannot ALTER most things in place; Alembic copies the table instead.
    # A tenant's store (state.tenancy) keeps its revision in its own schema.
    context.configure(
        connection=conn,
        target_metadata=None,
        render_as_batch=True,
        version_table_schema=config.attributes.get("version_table_schema"),
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # pragma: no cover - by hand, for writing a new revision
    url = os.environ.get("KLEANSYNC_STATE_URL", "sqlite:///kleansync.db")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
