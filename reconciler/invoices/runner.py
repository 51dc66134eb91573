"""Invoice export KleanApp → sevDesk: which invoices, one run, and where they stand.

Public API (the CLI and ``serve`` call only these):

* ``export_invoices(config, filters, *, dry_run, fmt, connectors, store)``
  one run over the invoices KleanApp's filters select (``ExportFilters``);
* ``export_one(invoice_id, config, *, connectors, store, ...)`` the same for
  one invoice id (what ``serve`` does on an ``invoice.saved`` webhook);
* ``invoice_status(*, connectors, store)`` every invoice the exporter knows,
  with its sevDesk status (draft/open/paid, cancelled = an SR invoice whose
  ``origin`` is it).

How one invoice is exported, journaled and recovered: ``invoices_export``.
The mapping rules (tax rule, units, body, totals): ``invoices_mapping``.

Which invoices a run looks at:

* the ones KleanApp's list returns for ``--from/--to/--status`` (statuses
  default to open and paid), exported ones included so they are reported
  (and a change since export noticed), never re-sent;
* with ``--since-last``: only unexported ones changed since the cursor of the
  last such run, plus every invoice still ``held`` or ``failed`` in the
  ledger, which is how a held invoice goes out by itself once its unit
  exists in sevDesk;
* always: invoices a killed run left half-way (sevDesk invoice created, link
  missing), whatever the filters, so that link is finished.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.config import Config
from reconciler.connectors.base import Connector
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.errors import ConfigError, NotFound, RemoteValidationError
from reconciler.domain.i18n import _
from reconciler.domain.models import Invoice, Remote
from reconciler.domain.problems import problem
from reconciler.invoices.customers import carry_customers
from reconciler.invoices.export import Exporter
from reconciler.invoices.mapping import money
from reconciler.invoices.recover import JournalRecovery
from reconciler.invoices.result import (
    DEFAULT_STATUSES,
    FORMATS,
    STATUSES,
    ExportFilters,
    ExportResult,
)
from reconciler.reporting.invoice_data import mail_invoice_run
from reconciler.sync.fence import run_lock
from state import Store
from state.db_errors import run_error_text
from state.invoice_tables import RETRY, UNFINISHED, InvoiceLedger, InvoiceRun

__all__ = [
    "DEFAULT_STATUSES",
    "FORMATS",
    "STATUSES",
    "ExportFilters",
    "ExportResult",
    "export_invoices",
    "export_one",
    "invoice_status",
]

CURSOR_SIDE, CURSOR_ENTITY = "kleanapp", "invoice"
#: The state store's run lock the export holds (the sync holds "sync").
LOCK_NAME = "invoices"


def _connectors(
    connectors: Mapping[str, Connector],
) -> tuple[KleanappConnector, SevdeskConnector]:
    kleanapp, sevdesk = connectors.get("kleanapp"), connectors.get("sevdesk")
    if not isinstance(kleanapp, KleanappConnector) or not isinstance(sevdesk, SevdeskConnector):
        raise TypeError("the invoice export needs the KleanApp and the sevDesk connector")
    return kleanapp, sevdesk


def _format(config: Config, fmt: str | None) -> str:
    fmt = fmt or config.invoices.format
    if fmt not in FORMATS:
        raise ConfigError(_("--format must be draft, final or einvoice, not %(given)r", given=fmt))
    return fmt


@dataclass
class _Job:
    """What one export run (many invoices or one) works with."""

    kleanapp: KleanappConnector
    sevdesk: SevdeskConnector
    store: Store
    fmt: str
    run_id: str
    result: ExportResult
    exporter: Exporter

    @classmethod
    def start(
        cls,
        config: Config,
        connectors: Mapping[str, Connector],
        store: Store,
        *,
        fmt: str | None,
        dry_run: bool,
    ) -> _Job:
        kleanapp, sevdesk = _connectors(connectors)
        fmt = _format(config, fmt)
        run_id = uuid.uuid4().hex[:12]
        result = ExportResult(dry_run=dry_run, format=fmt, run_id=None if dry_run else run_id)
        exporter = Exporter(
            kleanapp=kleanapp,
            sevdesk=sevdesk,
            store=store,
            fmt=fmt,
            dry_run=dry_run,
            run_id=run_id,
            result=result,
            payment_method=config.invoices.payment_method,
        )
        return cls(kleanapp, sevdesk, store, fmt, run_id, result, exporter)

    async def carry(
        self,
        config: Config,
        connectors: Mapping[str, Connector],
        invoices: list[Remote[Invoice]],
    ) -> None:
        """Carry the invoices' unlinked customers over first (``invoices.customers``)."""
        carried = await carry_customers(
            config, connectors, self.store, invoices, dry_run=self.result.dry_run
        )
        self.exporter.lookups.carried = carried
        linked = {link.kleanapp_id for link in self.store.link_ids("customer")}
        self.result.customers = carried.items(linked, self.result.dry_run)

    async def recover(self) -> None:
        """Settle what a killed export left pending (never in a dry run)."""
        if not self.result.dry_run:
            await JournalRecovery(
                kleanapp=self.kleanapp, sevdesk=self.sevdesk, store=self.store, result=self.result
            ).recover()


async def export_invoices(
    config: Config,
    filters: ExportFilters,
    *,
    dry_run: bool = False,
    fmt: str | None = None,
    connectors: Mapping[str, Connector],
    store: Store,
    trigger: str = "manual",
) -> ExportResult:
    """One export run over the invoices ``filters`` select; see the module docstring."""
    job = _Job.start(config, connectors, store, fmt=fmt, dry_run=dry_run)
    kleanapp, exporter, result = job.kleanapp, job.exporter, job.result

    async def run() -> None:
        await job.recover()
        candidates, cursor = await _candidates(kleanapp, store, filters, result)
        await job.carry(config, connectors, candidates)
        for remote in candidates:
            await exporter.process(remote)
        if cursor is not None and not dry_run and filters.since_last and not filters.narrowed:
            store.set_cursor(CURSOR_SIDE, CURSOR_ENTITY, cursor)

    await _recorded(store, config, job.run_id, trigger, job.fmt, filters.as_dict(), result, run)
    return result


async def export_one(
    invoice_id: str,
    config: Config,
    *,
    connectors: Mapping[str, Connector],
    store: Store,
    fmt: str | None = None,
    dry_run: bool = False,
    statuses: tuple[str, ...] = DEFAULT_STATUSES,
    trigger: str = "serve",
) -> ExportResult:
    """Export one KleanApp invoice by id (idempotent: safe on every ``invoice.saved``).

    An invoice whose status is not in ``statuses`` (by default a draft or a
    cancelled one) is skipped with the reason; it goes out on the save that
    makes it open or paid.
    """
    job = _Job.start(config, connectors, store, fmt=fmt, dry_run=dry_run)
    kleanapp, exporter, result = job.kleanapp, job.exporter, job.result

    async def run() -> None:
        await job.recover()
        try:
            remote = await kleanapp.get_invoice(str(invoice_id))
        except (NotFound, RemoteValidationError) as exc:
            result.errors.append(
                {
                    "kleanapp_id": str(invoice_id),
                    "number": None,
                    **problem("invoice_failed", "error", text=str(exc), detail=exc),
                }
            )
            return
        record = remote.record
        if record.status not in statuses and not record.exported_to:
            result.skipped.append(
                {
                    "kleanapp_id": remote.id,
                    "number": record.number,
                    **problem(
                        "invoice_not_due", status=record.status, statuses=" or ".join(statuses)
                    ),
                }
            )
            return
        await job.carry(config, connectors, [remote])
        await exporter.process(remote)

    filters = {"invoice_id": str(invoice_id), "status": list(statuses)}
    await _recorded(store, config, job.run_id, trigger, job.fmt, filters, result, run)
    return result


async def _recorded(
    store: Store,
    config: Config,
    run_id: str,
    trigger: str,
    fmt: str,
    filters: dict[str, Any],
    result: ExportResult,
    body: Any,
) -> None:
    """Run ``body`` holding the ``invoices`` run lock, inside an ``InvoiceRun`` row.

    One export at a time across processes (``serve`` and a hand-started
    command): a second one raises ``RunInProgress`` and touches nothing. The
    lock is not the sync's, so a sync and an export may run side by side. A
    dry run writes nothing, so it takes no lock and leaves no row. What the
    run leaves for an admin is mailed like a sync's (only what is new).
    """
    if result.dry_run:
        await body()
        return
    ledger = InvoiceLedger(store)
    async with run_lock(store, config, name=LOCK_NAME) as fence:
        # We hold the lock: a "running" run was killed, or paused and taken over.
        grant = fence.grant
        taken = grant.taken_from if grant and grant.previous_alive else None
        ledger.mark_interrupted(except_pid=taken.pid if taken else None)
        ledger.start_run(
            InvoiceRun(id=run_id, trigger=trigger, format=fmt, filters=filters, pid=os.getpid())
        )
        try:
            await body()
        except BaseException as exc:
            ledger.finish_run(run_id, outcome="failed", error=run_error_text(exc))
            raise
        ledger.finish_run(
            run_id, outcome=result.outcome, counts=result.counts, result=result.as_dict()
        )
    await mail_invoice_run(store, run_id, config.report, tz=config.schedule.timezone)


async def _candidates(
    kleanapp: KleanappConnector,
    store: Store,
    filters: ExportFilters,
    result: ExportResult,
) -> tuple[list[Remote[Invoice]], dt.datetime | None]:
    """The invoices of this run (see module docstring) and the new ``--since-last`` cursor."""
    since = store.cursor(CURSOR_SIDE, CURSOR_ENTITY) if filters.since_last else None
    listing = await kleanapp.list_invoices(
        date_from=filters.date_from,
        date_to=filters.date_to,
        statuses=filters.effective_statuses,
        exported=False if filters.since_last else None,
        since=since,
    )
    for bad in listing.quarantined:
        result.errors.append(
            {
                "kleanapp_id": bad.id,
                "number": None,
                **problem("invoice_unreadable", "error", detail=bad.reason),
            }
        )
    found = {remote.id: remote for remote in listing.records}
    stamps = [r.updated_at for r in listing.records if r.updated_at is not None]
    cursor = max(stamps) if stamps else None
    extra = RETRY if filters.since_last else UNFINISHED
    for row in InvoiceLedger(store).rows(extra):
        if row.kleanapp_id in found:
            continue
        try:
            remote = await kleanapp.get_invoice(row.kleanapp_id)
        except NotFound:
            result.skipped.append(
                {
                    "kleanapp_id": row.kleanapp_id,
                    "number": row.number,
                    **problem("invoice_gone"),
                }
            )
            continue
        if row.state in UNFINISHED or filters.matches(remote.record):
            found[remote.id] = remote
    ordered = sorted(found.values(), key=lambda r: (r.record.invoice_date, r.record.number))
    return ordered, cursor


async def invoice_status(
    *, connectors: Mapping[str, Connector], store: Store
) -> list[dict[str, Any]]:
    """Every invoice the exporter knows, where it stands in sevDesk and what KleanApp shows.

    Both read now, one listing each: sevDesk's status and paid amount, and
    the ``accounting_status`` on KleanApp's export link (what the status poll
    last wrote there), so a difference between the two is visible.
    """
    kleanapp, sevdesk = _connectors(connectors)
    rows = InvoiceLedger(store).rows()
    by_id: dict[str, Any] = {}
    cancelled: dict[str, Any] = {}
    shown: dict[str, Invoice] = {}
    if any(row.sevdesk_id for row in rows):
        for invoice in await sevdesk.all_invoices():
            by_id[invoice.id] = invoice
            if invoice.invoice_type == "SR" and invoice.origin_id:
                cancelled[invoice.origin_id] = invoice
        listing = await kleanapp.list_invoices(exported=True, statuses=STATUSES)
        shown = {remote.id: remote.record for remote in listing.records}
    items = []
    for row in rows:
        sev = by_id.get(row.sevdesk_id or "")
        if row.sevdesk_id is None:
            status = None
        elif row.sevdesk_id in cancelled:
            status = "cancelled"
        elif sev is None:
            status = "missing in sevDesk"
        else:
            status = sev.status_label
        storno = cancelled.get(row.sevdesk_id or "")
        items.append(
            {
                "kleanapp_id": row.kleanapp_id,
                "number": row.number,
                "state": row.state,
                "sevdesk_id": row.sevdesk_id,
                "sevdesk_number": (sev.number if sev else None) or row.sevdesk_number,
                "sevdesk_status": status,
                "cancelled_by": storno.number if storno else None,
                "total_gross": row.total_gross,
                "paid_amount": money(sev.paid_amount) if sev and sev.paid_amount else None,
                "kleanapp_status": (
                    shown[row.kleanapp_id].accounting_status if row.kleanapp_id in shown else None
                ),
                "exported_at": row.exported_at.isoformat() if row.exported_at else None,
                "changed_after_export": row.changed_after_export_at is not None,
                "reason": row.held_reason or row.error,
            }
        )
    return items
