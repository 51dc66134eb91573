"""The schema as kleansync made it before Alembic (``schema_info`` version 4), for every store.

Revision ID: 0001_baseline
Revises: (none)

Until this revision a store was made by ``create_all`` with numbered steps for changed
columns (``schema_info.version`` 1 to 4). This revision meets three kinds of database:

* an empty one (a new install): every table below is created;
* one made by that code at any version: its tables and rows stay, the tables added since
  its version are created, and the columns of versions 2 to 4 are added where missing
  (``run_lock.token``, ``link``'s fingerprints, the invoice ledger's status columns);
* either way ``schema_info`` ends at version 5, so a kleansync from before Alembic that opens
  the store refuses it ("written by a newer kleansync") instead of writing into a schema it
  does not know.

The tables are written out here, not taken from ``state.tables``: a migration must stay what
it was when later revisions change those modules.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.tenancy import schema_of

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

#: What ``schema_info`` says after this revision (pre-Alembic code knows up to 4).
SCHEMA_INFO_VERSION = 5

META = sa.MetaData()

sa.Table(
    "alert",
    META,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("message", sa.String(), nullable=False),
    sa.Column("since", sa.DateTime(), nullable=False),
    sa.Column("mailed_at", sa.DateTime(), nullable=True),
)
sa.Table(
    "applied_plan",
    META,
    sa.Column("plan_id", sa.String(), primary_key=True),
    sa.Column("run_id", sa.String(), nullable=False),
    sa.Column("applied_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "conflict",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("run_id", sa.String(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("link_id", sa.Integer(), nullable=True),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("field", sa.String(), nullable=False),
    sa.Column("base", sa.JSON(), nullable=True),
    sa.Column("kleanapp", sa.JSON(), nullable=True),
    sa.Column("sevdesk", sa.JSON(), nullable=True),
    sa.Column("rule", sa.String(), nullable=False),
    sa.Column("decision", sa.String(), nullable=False),
    sa.Column("reason", sa.String(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("resolution", sa.JSON(), nullable=True),
    sa.Column("resolved_by", sa.String(), nullable=True),
    sa.Column("resolved_at", sa.DateTime(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index("ix_conflict_link_id", "link_id"),
    sa.Index("ix_conflict_run_id", "run_id"),
    sa.Index("ix_conflict_status", "status"),
)
sa.Table(
    "cursor",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("value", sa.DateTime(), nullable=False),
    sa.UniqueConstraint("side", "entity"),
)
sa.Table(
    "invoice_export",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("kleanapp_id", sa.String(), nullable=False),
    sa.Column("number", sa.String(), nullable=False),
    sa.Column("customer_id", sa.String(), nullable=True),
    sa.Column("sevdesk_id", sa.String(), nullable=True),
    sa.Column("sevdesk_number", sa.String(), nullable=True),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("held_reason", sa.String(), nullable=True),
    sa.Column("task", sa.String(), nullable=True),
    sa.Column("error", sa.String(), nullable=True),
    sa.Column("format", sa.String(), nullable=True),
    sa.Column("payload_hash", sa.String(), nullable=True),
    sa.Column("kleanapp_version", sa.String(), nullable=True),
    sa.Column("kleanapp_updated_at", sa.DateTime(), nullable=True),
    sa.Column("total_net", sa.String(), nullable=True),
    sa.Column("total_gross", sa.String(), nullable=True),
    sa.Column("changed_after_export_at", sa.DateTime(), nullable=True),
    sa.Column("last_run_id", sa.String(), nullable=True),
    sa.Column("exported_at", sa.DateTime(), nullable=True),
    sa.Column("accounting_status", sa.String(), nullable=True),
    sa.Column("paid_amount", sa.String(), nullable=True),
    sa.Column("status_checked_at", sa.DateTime(), nullable=True),
    sa.Column("reported_status", sa.String(), nullable=True),
    sa.Column("reported_paid", sa.String(), nullable=True),
    sa.Column("reported_number", sa.String(), nullable=True),
    sa.Column("einvoice_sha256", sa.String(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Index("ix_invoice_export_kleanapp_id", "kleanapp_id", unique=True),
    sa.Index("ix_invoice_export_number", "number"),
    sa.Index("ix_invoice_export_sevdesk_id", "sevdesk_id"),
    sa.Index("ix_invoice_export_state", "state"),
)
sa.Table(
    "invoice_run",
    META,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("trigger", sa.String(), nullable=False),
    sa.Column("format", sa.String(), nullable=False),
    sa.Column("filters", sa.JSON(), nullable=True),
    sa.Column("counts", sa.JSON(), nullable=True),
    sa.Column("outcome", sa.String(), nullable=False),
    sa.Column("error", sa.String(), nullable=True),
    sa.Column("pid", sa.Integer(), nullable=True),
    sa.Column("result", sa.JSON(), nullable=True),
    sa.Index("ix_invoice_run_started_at", "started_at"),
)
sa.Table(
    "journal",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("run_id", sa.String(), nullable=False),
    sa.Column("action_id", sa.String(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("op", sa.String(), nullable=False),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("target_id", sa.String(), nullable=True),
    sa.Column("payload", sa.JSON(), nullable=True),
    sa.Column("expected_version", sa.String(), nullable=True),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("result_id", sa.String(), nullable=True),
    sa.Column("error", sa.String(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Index("ix_journal_action_id", "action_id"),
    sa.Index("ix_journal_run_id", "run_id"),
    sa.Index("ix_journal_state", "state"),
)
sa.Table(
    "link",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("kleanapp_id", sa.String(), nullable=False),
    sa.Column("sevdesk_id", sa.String(), nullable=False),
    sa.Column("base", sa.JSON(), nullable=True),
    sa.Column("kleanapp_raw", sa.JSON(), nullable=True),
    sa.Column("sevdesk_raw", sa.JSON(), nullable=True),
    sa.Column("kleanapp_version", sa.String(), nullable=True),
    sa.Column("sevdesk_version", sa.String(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.UniqueConstraint("entity", "sevdesk_id"),
    sa.UniqueConstraint("entity", "kleanapp_id"),
    sa.Index("ix_link_entity", "entity"),
    sa.Index("ix_link_key", "key"),
)
sa.Table(
    "mail_memory",
    META,
    sa.Column("channel", sa.String(), primary_key=True),
    sa.Column("items", sa.JSON(), nullable=True),
    sa.Column("sent_at", sa.DateTime(), nullable=True),
)
sa.Table(
    "parked",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("run_id", sa.String(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("record_id", sa.String(), nullable=False),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("reason", sa.String(), nullable=False),
    sa.Column("candidates", sa.JSON(), nullable=True),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index("ix_parked_status", "status"),
)
sa.Table(
    "parked_resolution",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("parked_id", sa.Integer(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("record_id", sa.String(), nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("with_id", sa.String(), nullable=True),
    sa.Column("with_parked_id", sa.Integer(), nullable=True),
    sa.Column("by", sa.String(), nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("applied", sa.Boolean(), nullable=False),
    sa.Column("applied_at", sa.DateTime(), nullable=True),
    sa.Column("applied_run_id", sa.String(), nullable=True),
    sa.Index("ix_parked_resolution_applied", "applied"),
    sa.Index("ix_parked_resolution_parked_id", "parked_id", unique=True),
)
sa.Table(
    "part_inventory",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("parts", sa.JSON(), nullable=True),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.UniqueConstraint("side", "entity"),
)
sa.Table(
    "quarantine",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("run_id", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("record_id", sa.String(), nullable=True),
    sa.Column("reason", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index("ix_quarantine_run_id", "run_id"),
)
sa.Table(
    "refusal",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("action_id", sa.String(), nullable=False),
    sa.Column("entity", sa.String(), nullable=False),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("side", sa.String(), nullable=False),
    sa.Column("op", sa.String(), nullable=False),
    sa.Column("records", sa.JSON(), nullable=True),
    sa.Column("field", sa.String(), nullable=True),
    sa.Column("message", sa.String(), nullable=False),
    sa.Column("fingerprint", sa.String(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("first_run_id", sa.String(), nullable=False),
    sa.Column("last_run_id", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Index("ix_refusal_action_id", "action_id"),
    sa.Index("ix_refusal_status", "status"),
)
sa.Table(
    "run",
    META,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("trigger", sa.String(), nullable=False),
    sa.Column("dry_run", sa.Boolean(), nullable=False),
    sa.Column("full", sa.Boolean(), nullable=False),
    sa.Column("options", sa.JSON(), nullable=True),
    sa.Column("counts", sa.JSON(), nullable=True),
    sa.Column("outcome", sa.String(), nullable=False),
    sa.Column("error", sa.String(), nullable=True),
    sa.Column("pid", sa.Integer(), nullable=True),
    sa.Column("result", sa.JSON(), nullable=True),
    sa.Index("ix_run_started_at", "started_at"),
)
sa.Table(
    "run_lock",
    META,
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("holder", sa.String(), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("token", sa.Integer(), nullable=False),
    sa.Column("since", sa.DateTime(), nullable=False),
    sa.Column("heartbeat", sa.DateTime(), nullable=False),
)
sa.Table(
    "schema_info",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
)
sa.Table(
    "store_identity",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("store_id", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "webhook_delivery",
    META,
    sa.Column("delivery_id", sa.String(200), primary_key=True),
    sa.Column("event", sa.String(), nullable=False),
    sa.Column("record_id", sa.String(), nullable=True),
    sa.Column("received_at", sa.DateTime(), nullable=False),
    sa.Index("ix_webhook_delivery_received_at", "received_at"),
)
sa.Table(
    "webhook_inbox",
    META,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("delivery_id", sa.String(200), nullable=False),
    sa.Column("event", sa.String(), nullable=False),
    sa.Column("record_id", sa.String(), nullable=True),
    sa.Column("occurred_at", sa.DateTime(), nullable=False),
    sa.Column("received_at", sa.DateTime(), nullable=False),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.String(), nullable=True),
    sa.Column("settled_at", sa.DateTime(), nullable=True),
    sa.UniqueConstraint("content_sha256"),
    sa.Index("ix_webhook_inbox_received_at", "received_at"),
    sa.Index("ix_webhook_inbox_state", "state"),
)


def later_columns() -> dict[str, list[sa.Column]]:
    """Columns that schema versions 2-4 added to older tables (new objects on every call)."""
    status = (
        "accounting_status",
        "paid_amount",
        "status_checked_at",
        "reported_status",
        "reported_paid",
        "reported_number",
        "einvoice_sha256",
    )
    return {
        "run_lock": [sa.Column("token", sa.Integer(), nullable=False, server_default="0")],
        "link": [sa.Column("kleanapp_raw", sa.JSON()), sa.Column("sevdesk_raw", sa.JSON())],
        "invoice_export": [
            sa.Column(name, sa.DateTime() if name.endswith("_at") else sa.String())
            for name in status
        ],
    }


def upgrade() -> None:
    bind = op.get_bind()
    schema = schema_of(bind)  # a tenant's schema: reflection is not translated
    existing = set(sa.inspect(bind).get_table_names(schema=schema))
    META.create_all(bind, tables=[t for t in META.sorted_tables if t.name not in existing])
    for table, columns in later_columns().items():
        if table not in existing:
            continue  # just created, with them
        have = {c["name"] for c in sa.inspect(bind).get_columns(table, schema=schema)}
        for column in columns:
            if column.name not in have:
                op.add_column(table, column)
    schema_info = META.tables["schema_info"]
    if bind.execute(sa.select(schema_info.c.id)).first() is None:
        op.execute(schema_info.insert().values(id=1, version=SCHEMA_INFO_VERSION))
    else:
        op.execute(schema_info.update().values(version=SCHEMA_INFO_VERSION))


def downgrade() -> None:
    raise NotImplementedError("a state store is never migrated down; restore a backup instead")
