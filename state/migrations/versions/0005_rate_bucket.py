"""The fleet's shared request budgets per API token (``state.rate_bucket``), default schema only.

Revision ID: 0005_rate_bucket
Revises: 0004_tenants

Like the tenant registry, the buckets are the fleet's (one per token, whichever tenant's
worker sends), so a tenant's schema gets none; a single-company store gets the (empty)
table and never reads it. Written out here, not taken from ``state.rate_bucket`` (a
migration stays what it was).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.tenancy import schema_of

revision = "0005_rate_bucket"
down_revision = "0004_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if schema_of(bind) is not None:
        return
    # Add only what is missing (a store upgraded again from before Alembic keeps its table).
    if "rate_bucket" in sa.inspect(bind).get_table_names():
        return
    op.create_table(
        "rate_bucket",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("burst", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("a state store is never migrated down; restore a backup instead")
