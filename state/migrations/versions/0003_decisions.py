"""Who decided, how, and which answer a run carried out: columns for the admins' decisions.

Revision ID: 0003_decisions
Revises: 0002_console

* ``conflict.label``: the customer's name as the run saw it, so a conflict of a first link
  (no agreed base yet, hence no name in the link) is still shown with the name.
* ``conflict.revision``: grows with every answer; the run that carries an answer out marks
  the conflict applied only if the revision is still the one it planned with, so an answer
  changed in the console meanwhile is carried out by the next run instead of being lost.
* ``conflict.resolved_via`` / ``parked_resolution.via``: ``console`` or ``cli``: the console
  names its admin account, the command line says "von Hand (Befehlszeile)".
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from state.tenancy import schema_of

revision = "0003_decisions"
down_revision = "0002_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Alembic names the table itself (schema_translate_map does not reach it): a tenant's
    # store is altered in its own schema. A store upgraded again from before Alembic (its
    # tables made from today's models, its alembic_version lost) has the columns already.
    bind = op.get_bind()
    schema = schema_of(bind)
    inspector = sa.inspect(bind)

    def missing(table: str, *columns: sa.Column[Any]) -> list[sa.Column[Any]]:
        have = {c["name"] for c in inspector.get_columns(table, schema=schema)}
        return [c for c in columns if c.name not in have]

    conflict = missing(
        "conflict",
        sa.Column("label", sa.String(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("resolved_via", sa.String(), nullable=True),
    )
    if conflict:
        with op.batch_alter_table("conflict", schema=schema) as batch:
            for column in conflict:
                batch.add_column(column)
    parked = missing("parked_resolution", sa.Column("via", sa.String(), nullable=True))
    if parked:
        with op.batch_alter_table("parked_resolution", schema=schema) as batch:
            for column in parked:
                batch.add_column(column)


def downgrade() -> None:
    raise NotImplementedError("a state store is never migrated down; restore a backup instead")
