"""The tenant registry (``state.tenant_tables``), in the default schema only.

Revision ID: 0004_tenants
Revises: 0003_decisions

A tenant's own schema (``state.tenancy``) runs the same revisions for its state tables
but gets no registry: the registry is the fleet's, one per database. A store of the
single-company mode gets the (empty) table and never reads it. Written out here, not
taken from ``state.tenant_tables`` (a migration stays what it was).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.tenancy import schema_of

revision = "0004_tenants"
down_revision = "0003_decisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if schema_of(bind) is not None:
        return
    # A store upgraded again from before Alembic (its alembic_version lost) keeps its table.
    if "tenant" in sa.inspect(bind).get_table_names():
        return
    op.create_table(
        "tenant",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("kleanapp_base_url", sa.String(), nullable=False),
        sa.Column("sevdesk_base_url", sa.String(), nullable=False),
        sa.Column("kleanapp_token_env", sa.String(), nullable=False),
        sa.Column("sevdesk_token_env", sa.String(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("a state store is never migrated down; restore a backup instead")
