"""The admin console's tables (``state.console_tables``): accounts, sessions, failed logins,
tasks said to be done, the cookie signing key.

Revision ID: 0002_console
Revises: 0001_baseline

Written out here, not taken from ``state.console_tables`` (a migration stays what it was).
Tables that already exist (a store a console branch made with ``create_all``) are kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.tenancy import schema_of

revision = "0002_console"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

META = sa.MetaData()

sa.Table(
    "console_user",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, index=True, unique=True),
    sa.Column("password_hash", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("last_login_at", sa.DateTime(), nullable=True),
)
sa.Table(
    "console_session",
    META,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user", sa.String(), nullable=False, index=True),
    sa.Column("csrf", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "console_attempt",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("key", sa.String(200), nullable=False, index=True),
    sa.Column("at", sa.DateTime(), nullable=False, index=True),
)
sa.Table(
    "console_task_done",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("task_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("by", sa.String(), nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
)
sa.Table(
    "console_key",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("key_hex", sa.String(), nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names(schema=schema_of(bind)))
    META.create_all(bind, tables=[t for t in META.sorted_tables if t.name not in existing])


def downgrade() -> None:
    raise NotImplementedError("a state store is never migrated down; restore a backup instead")
