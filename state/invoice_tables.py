"""What kleansync remembers about invoice exports (KleanApp → sevDesk).

* ``InvoiceExport``  one row per KleanApp invoice the exporter has looked at:
                     where it stands (``pending`` → ``created`` → ``linked``,
                     or ``held``/``failed`` with the reason), which sevDesk
                     invoice it became, and a hash of the content that was
                     sent, so a later change in KleanApp is noticed and
                     reported instead of silently re-sent.
* ``InvoiceRun``     every non-dry export run: filters, format, counts, outcome.
                     Kept apart from the sync engine's ``Run`` table because
                     the engine counts its own runs to decide when to read
                     everything (``[sync] full_every``).

Writes to the services themselves are journaled in ``state.tables.Journal``
(entity ``"invoice"``) like every other write; these rows are the exporter's
bookkeeping on top. ``InvoiceLedger`` is the small typed access layer; each
method is its own committed transaction, like ``Store``'s.

Amounts are kept as text (``"119.00"``): the column must round-trip a
``Decimal`` exactly on every database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel, col, select

from state.store import Store
from state.tables import utcnow, when

#: Ledger states: where one KleanApp invoice stands in its export.
PENDING = "pending"  # a create is about to be (or was maybe) sent to sevDesk
CREATED = "created"  # the sevDesk invoice exists; the KleanApp link is still missing
LINKED = "linked"  # linked and locked in KleanApp: done
HELD = "held"  # not sent: waits for something an admin must do (see held_reason)
FAILED = "failed"  # tried and failed (see error); tried again on the next run
UNFINISHED = (PENDING, CREATED)
RETRY = (PENDING, CREATED, HELD, FAILED)
#: Accounting states that no longer change (the status poll stops asking).
SETTLED = ("paid", "cancelled")
#: The ledger columns of schema 4 (``state.database``): the status poll's, the XML's hash.
STATUS_COLUMNS = {
    "accounting_status": "VARCHAR",
    "paid_amount": "VARCHAR",
    "status_checked_at": "TIMESTAMP",
    "reported_status": "VARCHAR",
    "reported_paid": "VARCHAR",
    "reported_number": "VARCHAR",
    "einvoice_sha256": "VARCHAR",
}


class InvoiceExport(SQLModel, table=True):
    __tablename__ = "invoice_export"
    id: int | None = Field(default=None, primary_key=True)
    kleanapp_id: str = Field(index=True, unique=True)
    number: str = Field(index=True)
    customer_id: str | None = None
    sevdesk_id: str | None = Field(default=None, index=True)
    sevdesk_number: str | None = None
    state: str = Field(default=PENDING, index=True)
    held_reason: str | None = None
    task: str | None = None
    error: str | None = None
    format: str | None = None
    #: sha256 over the invoice content as it was sent (status and link excluded).
    payload_hash: str | None = None
    kleanapp_version: str | None = None
    kleanapp_updated_at: dt.datetime | None = when()
    total_net: str | None = None
    total_gross: str | None = None
    #: First time the exporter saw the KleanApp invoice differ from what was sent.
    changed_after_export_at: dt.datetime | None = when()
    last_run_id: str | None = None
    exported_at: dt.datetime | None = when()
    #: The invoice in sevDesk as the status poll last saw it (draft, open,
    #: partially_paid, paid, cancelled), what was paid then, and when.
    accounting_status: str | None = None
    paid_amount: str | None = None
    status_checked_at: dt.datetime | None = when()
    #: What KleanApp was last told (``PUT /invoices/{id}/export``): written again
    #: while it differs from what sevDesk says, so a failed write is not lost.
    reported_status: str | None = None
    reported_paid: str | None = None
    reported_number: str | None = None
    #: SHA-256 of the e-invoice XML sevDesk answered (``--format einvoice``), as checked.
    einvoice_sha256: str | None = None
    created_at: dt.datetime = when(default_now=True)
    updated_at: dt.datetime = when(default_now=True)


#: Export runs that did nothing are kept this long (see ``prune_quiet_runs``).
QUIET_RUNS_KEPT = dt.timedelta(days=7)


class InvoiceRun(SQLModel, table=True):
    __tablename__ = "invoice_run"
    id: str = Field(primary_key=True)
    started_at: dt.datetime = when(default_now=True, index=True)
    finished_at: dt.datetime | None = when()
    trigger: str = "manual"  # manual | serve
    format: str = "draft"
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    outcome: str = "running"  # running | ok | errors | failed | interrupted
    error: str | None = None
    pid: int | None = None
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class InvoiceLedger:
    """Typed access to ``InvoiceExport``/``InvoiceRun`` rows of one ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, kleanapp_id: str) -> InvoiceExport | None:
        with self.store.session() as s:
            return s.exec(
                select(InvoiceExport).where(InvoiceExport.kleanapp_id == str(kleanapp_id))
            ).first()

    def rows(self, states: tuple[str, ...] | None = None) -> list[InvoiceExport]:
        with self.store.session() as s:
            query = select(InvoiceExport).order_by(col(InvoiceExport.id))
            if states is not None:
                query = query.where(col(InvoiceExport.state).in_(states))
            return list(s.exec(query))

    def save(self, kleanapp_id: str, number: str, **values: Any) -> InvoiceExport:
        """Create or update the row of one KleanApp invoice with ``values``."""
        with self.store.session() as s:
            row = s.exec(
                select(InvoiceExport).where(InvoiceExport.kleanapp_id == str(kleanapp_id))
            ).first()
            if row is None:
                row = InvoiceExport(kleanapp_id=str(kleanapp_id), number=number)
            row.number = number
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            s.add(row)
            s.flush()
            s.refresh(row)
            return row

    def start_run(self, run: InvoiceRun) -> InvoiceRun:
        with self.store.session() as s:
            s.add(run)
        self.prune_quiet_runs()
        return run

    def prune_quiet_runs(self, keep: dt.timedelta = QUIET_RUNS_KEPT) -> int:
        """Forget old runs that found nothing to do.

        The service polls every few minutes; a row per empty poll would grow
        the store by thousands of rows a month and tell nobody anything. Runs
        that exported, held or failed anything are kept as the history.
        """
        cutoff = utcnow() - keep
        with self.store.session() as s:
            old = s.exec(
                select(InvoiceRun).where(InvoiceRun.outcome == "ok", InvoiceRun.started_at < cutoff)
            ).all()
            quiet = [run for run in old if not any((run.counts or {}).values())]
            for run in quiet:
                s.delete(run)
            return len(quiet)

    def finish_run(self, run_id: str, **values: Any) -> None:
        with self.store.session() as s:
            run = s.get(InvoiceRun, run_id)
            if run is None:
                return
            for name, value in values.items():
                setattr(run, name, value)
            run.finished_at = utcnow()
            s.add(run)

    def mark_interrupted(self, *, except_pid: int | None = None) -> int:
        """Runs still marked running were killed mid-way (call while holding the lock).

        ``except_pid``: a process still alive whose lock was taken over (it was
        paused); its run stops before its next write and records its own end.
        """
        with self.store.session() as s:
            rows = list(s.exec(select(InvoiceRun).where(InvoiceRun.outcome == "running")))
            rows = [run for run in rows if except_pid is None or run.pid != except_pid]
            for run in rows:
                run.outcome = "interrupted"
                run.error = "the process ended before the run finished"
                s.add(run)
            return len(rows)

    def open_tasks(self) -> list[dict[str, Any]]:
        """What held invoices wait for, one task per cause with its invoices' numbers.

        Read from the ledger, not from the last run: a held invoice stays held
        (and its task open) until a later run exports it, whichever run that is.
        """
        tasks: dict[str, dict[str, Any]] = {}
        for row in self.rows((HELD,)):
            # The exporter keeps a held invoice's tasks joined by "; " (``Exporter._hold``).
            for message in (row.task or row.held_reason or "held").split("; "):
                task = tasks.setdefault(
                    message,
                    {"kind": "invoice", "message": message, "invoices": [], "run_id": None},
                )
                task["invoices"].append(row.number)
                task["run_id"] = row.last_run_id
        return list(tasks.values())

    def get_run(self, run_id: str) -> InvoiceRun | None:
        with self.store.session() as s:
            return s.get(InvoiceRun, run_id)

    def runs(self, limit: int = 20) -> list[InvoiceRun]:
        with self.store.session() as s:
            query = select(InvoiceRun).order_by(InvoiceRun.started_at.desc()).limit(limit)  # type: ignore[attr-defined]
            return list(s.exec(query))
