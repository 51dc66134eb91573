"""Per-side digests on a link: a quiet pair is told by one hash per side (issue 21).

Revision ID: 0006_link_digests
Revises: 0005_rate_bucket

* ``link.kleanapp_digest`` / ``link.sevdesk_digest``: the digest of each side's raw
  record (``rules.fingerprints.record_digest``) as a run last found the pair quiet, against
  this very base. A later run that reads the same two digests knows the pair is still
  quiet without normalising either record; any write of the link clears them.

Both nullable: a link without them takes the planner's full path once, as before.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from state.tenancy import schema_of

revision = "0006_link_digests"
down_revision = "0005_rate_bucket"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # As 0003: in the tenant's own schema, and only what a store does not have yet.
    bind = op.get_bind()
    schema = schema_of(bind)
    have = {c["name"] for c in sa.inspect(bind).get_columns("link", schema=schema)}
    columns: list[sa.Column[Any]] = [
        sa.Column(name, sa.String(), nullable=True)
        for name in ("kleanapp_digest", "sevdesk_digest")
        if name not in have
    ]
    if columns:
        with op.batch_alter_table("link", schema=schema) as batch:
            for column in columns:
                batch.add_column(column)


def downgrade() -> None:
    raise NotImplementedError("a state store is never migrated down; restore a backup instead")
