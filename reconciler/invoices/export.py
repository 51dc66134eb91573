"""The export of one KleanApp invoice to sevDesk, step by step, journaled.

For each invoice (see ``reconciler.invoices.runner`` for how they are chosen)::

    exported in KleanApp already? → report (and notice a later change), never re-send
    sevDesk invoice with customerInternalNote "kleanapp:<id>"? → use it (never a second)
    else: prechecks (dates, totals sevDesk will compute, tax rule, units, customer;
          with --format einvoice the e-invoice's data, ``invoices.einvoice``) → held with
          a reason and one task per cause, or saveInvoice (journaled) → draft in sevDesk
    read back: sevDesk's sums == KleanApp's totals to the cent, else our draft is
          deleted again (journaled) and the invoice held, or (not a draft) an error
    --format final/einvoice: sendBy VPR without e-mail (journaled) → numbered, status 200
    --format einvoice: getXml must be CII with KleanApp's totals; its SHA-256 is kept
    PUT /invoices/{id}/export in KleanApp (journaled) → linked and locked there, with
          sevDesk's status (``invoices.status_poll`` keeps it current)

Every write has a ``Journal`` row committed before it is sent. A process
killed in between leaves it ``pending``; ``invoices_recover`` settles those at
the start of the next run by reading back, and the invoice itself is picked up
again from its ledger state, so the next run finishes the link without a
second sevDesk invoice. ``KLEANSYNC_CRASH_AT="after_request:invoice.sevdesk.create"``
(or ``after_intent:…``, ``invoice.sevdesk.finalise``, ``invoice.kleanapp.link``)
kills the process at that point, for crash tests (``reconciler.invoices.journal``).
What the export looks up once per run (units, customers, contacts) is in
``reconciler.invoices.lookups``.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.connectors.sevdesk.invoices import DRAFT, SevInvoice
from reconciler.domain.errors import (
    AuthError,
    KleansyncError,
    LockLost,
    RemoteValidationError,
    TransientError,
    Unreachable,
)
from reconciler.domain.models import Invoice, Remote
from reconciler.domain.problems import problem
from reconciler.invoices.einvoice import (
    check_after,
    check_before,
    einvoice_fields,
    refused,
    who,
)
from reconciler.invoices.journal import journaled
from reconciler.invoices.locks import LOCKS
from reconciler.invoices.lookups import ExportLookups
from reconciler.invoices.mapping import (
    TOTALS_DISCARDED,
    TOTALS_DISCARDED_TASK,
    Unexportable,
    address_text,
    check_dates,
    check_totals,
    content_hash,
    invoice_payload,
    money,
    note_for,
    tax_rule,
    totals_mismatch,
    unit_ids,
)
from reconciler.invoices.result import ExportResult
from reconciler.invoices.status_poll import accounting_status, status_fields
from state import Store
from state.invoice_tables import CREATED, FAILED, HELD, LINKED, PENDING, InvoiceLedger
from state.tables import utcnow


class TotalsMismatch(KleansyncError):
    """sevDesk's sums differ from KleanApp's totals: the invoice is not linked."""


class Exporter:
    """Exports invoices one by one into ``result``; one bad invoice never stops the others."""

    def __init__(
        self,
        *,
        kleanapp: KleanappConnector,
        sevdesk: SevdeskConnector,
        store: Store,
        fmt: str,
        dry_run: bool,
        run_id: str,
        result: ExportResult,
        payment_method: str = "SEPA Überweisung",
    ) -> None:
        self.kleanapp = kleanapp
        self.payment_method = payment_method
        self.sevdesk = sevdesk
        self.store = store
        self.ledger = InvoiceLedger(store)
        self.fmt = fmt
        self.dry_run = dry_run
        self.run_id = run_id
        self.result = result
        self.lookups = ExportLookups(kleanapp=kleanapp, sevdesk=sevdesk, store=store)

    # -- one invoice -------------------------------------------------------------
    async def process(self, remote: Remote[Invoice]) -> None:
        async with LOCKS.hold(remote.id):
            try:
                await self._process(remote)
            except Unexportable as exc:
                self._hold(remote, exc)
            except (AuthError, Unreachable, LockLost):
                raise
            except KleansyncError as exc:
                if isinstance(exc, TransientError):
                    self.result.transient.append(remote.id)
                self._fail(remote, str(exc))
            except Exception as exc:  # noqa: BLE001 - one bad invoice never stops the others
                logger.opt(exception=exc).debug("invoice {} failed", remote.record.number)
                self._fail(remote, f"internal error: {type(exc).__name__}: {exc}")

    async def _process(self, remote: Remote[Invoice]) -> None:
        inv, kid = remote.record, remote.id
        row = self.ledger.get(kid)
        digest = content_hash(inv)
        if inv.exported_to:
            self._already_exported(remote, digest)
            return
        note = note_for(kid)
        existing = await self.sevdesk.find_invoice_by_note(note)
        if existing is None:
            if row is not None and self._held_for_totals(row, digest):
                raise Unexportable(
                    row.held_reason or "", *(row.task or "").split("; "), kind="totals"
                )
            check_dates(inv)
            check_totals(inv)
            rule = tax_rule(inv.positions)
            units = unit_ids(inv.positions, await self.lookups.sevdesk_units())
            contact_id, customer = await self.lookups.contact(inv)
            extra: dict[str, Any] = {}
            if self.fmt == "einvoice":  # held with one task per missing cause, never plain
                method = await check_before(
                    self.lookups,
                    inv,
                    customer=customer,
                    contact_id=contact_id,
                    units=units,
                    rule=rule,
                    payment_method=self.payment_method,
                )
                extra = einvoice_fields(customer, method)
            if self.dry_run:
                self.result.exported.append(self._item(remote, "would create"))
                return
            payload = invoice_payload(
                inv,
                kid,
                contact_id=contact_id,
                contact_person_id=await self.sevdesk.contact_person_id(),
                country_id=await self.sevdesk.country_id(customer.country if customer else None),
                address=address_text(customer),
                units=units,
                rule=rule,
            )
            payload["invoice"].update({k: v for k, v in extra.items() if v is not None})
            self._save(remote, state=PENDING, payload_hash=digest, format=self.fmt)
            try:
                sev = await journaled(
                    self.store,
                    self.run_id,
                    remote,
                    "sevdesk",
                    "create",
                    lambda: self.sevdesk.save_invoice(payload, note),
                    payload={"note": note, "payload_hash": digest},
                )
            except RemoteValidationError as exc:  # sevDesk names what an e-invoice lacks
                held = refused(exc, who(customer, inv.customer_id)) if extra else None
                raise held or exc from None
            action = "created"
        else:
            if self.dry_run:
                self.result.exported.append(self._item(remote, "would link", existing))
                return
            sev, action = existing, "linked existing"
        sent_hash = row.payload_hash if row and row.payload_hash and existing else digest
        self._save(
            remote,
            state=CREATED,
            sevdesk_id=sev.id,
            payload_hash=sent_hash,
            held_reason=None,
            task=None,
            error=None,
        )

        sev = await self.sevdesk.get_invoice(sev.id)
        problem = totals_mismatch(inv, sev.sum_net, sev.sum_gross)
        if problem and sev.status == DRAFT:
            await self._discard(remote, sev, problem)
        if problem:
            raise TotalsMismatch(
                f"sevDesk invoice {sev.id} ({sev.status_label}) does not match KleanApp: "
                f"{problem}; it was not linked. Correct it in sevDesk; the next run links it "
                "once the totals agree"
            )
        if self.fmt in ("final", "einvoice") and sev.status == DRAFT:
            sev = await journaled(
                self.store,
                self.run_id,
                remote,
                "sevdesk",
                "finalise",
                lambda: self.sevdesk.finalise_invoice(sev.id),
                target_id=sev.id,
            )
        xml_sha256 = (
            await check_after(self.sevdesk, sev.id, inv) if self.fmt == "einvoice" else None
        )
        # KleanApp shows the sevDesk state from the start; the status poll keeps it current.
        checked = utcnow()
        status = accounting_status(sev)
        fields = status_fields(sev, status, checked)
        await journaled(
            self.store,
            self.run_id,
            remote,
            "kleanapp",
            "link",
            lambda: self.kleanapp.link_invoice(kid, sev.id, status=fields, exported_at=checked),
            target_id=sev.id,
        )
        paid = money(fields["paid_amount"])
        self._save(
            remote,
            state=LINKED,
            sevdesk_id=sev.id,
            sevdesk_number=sev.number,
            exported_at=checked,
            format=self.fmt if action == "created" else (row.format if row else None),
            accounting_status=status,
            paid_amount=paid,
            status_checked_at=checked,
            reported_status=status,
            reported_paid=paid,
            reported_number=sev.number,
            **({"einvoice_sha256": xml_sha256} if xml_sha256 else {}),
        )
        self.result.exported.append(self._item(remote, action, sev))
        logger.info("invoice {} {} as sevDesk invoice {}", inv.number, action, sev.id)

    async def _discard(self, remote: Remote[Invoice], sev: SevInvoice, problem: str) -> None:
        """Delete our draft whose sums are not KleanApp's and hold the invoice (no orphan).

        Held with the content hash: the next runs do not create and delete it
        again; a change of the invoice in KleanApp lets it be tried afresh.
        """
        await journaled(
            self.store,
            self.run_id,
            remote,
            "sevdesk",
            "discard",
            lambda: self.sevdesk.delete_draft_invoice(sev.id),
            target_id=sev.id,
        )
        self._save(remote, sevdesk_id=None, payload_hash=content_hash(remote.record))
        raise Unexportable(
            TOTALS_DISCARDED % {"problem": problem},
            TOTALS_DISCARDED_TASK % {"number": remote.record.number},
            kind="totals",
        )

    @staticmethod
    def _held_for_totals(row: Any, digest: str) -> bool:
        """Held because sevDesk's sums differed, and unchanged since: not tried again."""
        return bool(
            row is not None
            and row.state == HELD
            and row.payload_hash == digest
            and (row.held_reason or "").startswith("sevDesk computed other totals")
        )

    def _already_exported(self, remote: Remote[Invoice], digest: str) -> None:
        """Linked in KleanApp: never sent again; a change since export is reported."""
        inv = remote.record
        row = self.ledger.get(remote.id)
        sev_id = str(inv.exported_to)
        ours = row is not None and row.sevdesk_id == sev_id and row.payload_hash is not None
        if not self.dry_run and (row is None or row.state != LINKED or row.sevdesk_id != sev_id):
            # Linked by an earlier run that died before noting it, or by someone else.
            self._save(
                remote,
                state=LINKED,
                sevdesk_id=sev_id,
                payload_hash=row.payload_hash if ours and row else digest,
                exported_at=(row.exported_at if row else None) or utcnow(),
            )
        item = {"kleanapp_id": remote.id, "number": inv.number, "sevdesk_id": sev_id}
        if ours and row and row.payload_hash != digest:
            if not self.dry_run and row.changed_after_export_at is None:
                self._save(remote, changed_after_export_at=utcnow())
            said = problem("invoice_changed_after_export", number=sev_id)
            self.result.skipped.append({**item, **said, "changed_after_export": True})
            self.result.add_task(
                "changed_after_export",
                f"KleanApp invoice {inv.number} changed after export: compare it with sevDesk "
                f"invoice {row.sevdesk_number or sev_id} and correct sevDesk by hand",
                inv.number,
            )
            return
        self.result.skipped.append({**item, **problem("invoice_already_exported", number=sev_id)})

    # -- outcomes ------------------------------------------------------------------
    def _hold(self, remote: Remote[Invoice], exc: Unexportable) -> None:
        inv = remote.record
        task = "; ".join(exc.tasks) or None
        self.result.held.append(
            {"kleanapp_id": remote.id, "number": inv.number, "reason": exc.reason, "task": task}
        )
        for one in exc.tasks:
            self.result.add_task(exc.kind, one, inv.number)
        if not self.dry_run:
            self._save(remote, state=HELD, held_reason=exc.reason, task=task, error=None)
        logger.info("invoice {} held: {}", inv.number, exc.reason)

    def _fail(self, remote: Remote[Invoice], message: str) -> None:
        inv = remote.record
        row = self.ledger.get(remote.id)
        self.result.errors.append(
            {
                "kleanapp_id": remote.id,
                "number": inv.number,
                "sevdesk_id": row.sevdesk_id if row else None,
                **problem("invoice_failed", "error", text=message, detail=message),
            }
        )
        if not self.dry_run:
            self._save(remote, state=FAILED, error=message, held_reason=None, task=None)
        logger.warning("invoice {}: {}", inv.number, message)

    def _save(self, remote: Remote[Invoice], **values: Any) -> None:
        inv = remote.record
        self.ledger.save(
            remote.id,
            inv.number,
            customer_id=inv.customer_id,
            kleanapp_version=remote.version,
            kleanapp_updated_at=remote.updated_at,
            total_net=money(inv.total_net),
            total_gross=money(inv.total_gross),
            last_run_id=self.run_id,
            **values,
        )

    def _item(
        self, remote: Remote[Invoice], action: str, sev: SevInvoice | None = None
    ) -> dict[str, Any]:
        inv = remote.record
        return {
            "kleanapp_id": remote.id,
            "number": inv.number,
            "invoice_date": inv.invoice_date.isoformat(),
            "status": inv.status,
            "total_net": money(inv.total_net),
            "total_gross": money(inv.total_gross),
            "action": action,
            "sevdesk_id": sev.id if sev else None,
            "sevdesk_number": sev.number if sev else None,
            "sevdesk_status": sev.status_label if sev else None,
        }
