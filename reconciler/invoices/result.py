"""What an invoice export is asked to do (``ExportFilters``) and what it did (``ExportResult``).

``ExportResult.as_dict()`` is the ``invoices export --json`` object, a
documented contract::

    {"run_id", "dry_run", "format", "exported": [...], "held": [...],
     "skipped": [...], "errors": [...], "tasks": [...], "recovered": [...],
     "customers": [...]}

``customers`` are the invoices' customers that were not linked yet and were
carried over first: ``{"kleanapp_id", "key", "outcome"}``, outcome one of
created, linked, parked (with ``parked``: "P3"), would create, would link,
not carried over (with ``problem``).

``run_id`` is null on a dry run (nothing is recorded). Every item names the
KleanApp invoice by ``kleanapp_id`` and ``number``; amounts are strings
("119.00") so no JSON reader turns them into floats.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from reconciler.domain.i18n import N_, _, format_money, ngettext
from reconciler.domain.models import Invoice
from reconciler.reporting.words import label

#: KleanApp's invoice statuses (Rechnungsstatus).
STATUSES = ("draft", "open", "paid", "cancelled")
#: Exported unless ``--status`` says otherwise: a KleanApp draft may still
#: change (exporting it would lock it), and an invoice cancelled before it
#: was ever exported has nothing to book.
DEFAULT_STATUSES = ("open", "paid")
FORMATS = ("draft", "final", "einvoice")
#: An export format (``--format``, English in ``--json``) as KleanApp's export mask names it.
FORMAT_WORDS = {
    "draft": N_("draft"),
    "final": N_("final invoice"),
    "einvoice": N_("e-invoice"),
}


def status_word(status: str | None) -> str:
    """``partially paid`` -> "teilweise bezahlt"; an unknown status as it is."""
    return label(status, "invoice_status")


def format_word(fmt: str) -> str:
    """``final`` -> "Rechnung (final)": the export format in the reader's words."""
    return _(FORMAT_WORDS[fmt]) if fmt in FORMAT_WORDS else fmt


#: What happened to an exported invoice (``exported[].action``), as the terminal says it.
ACTIONS = {
    "would create": N_("would create"),
    "would link": N_("would link"),
    "created": N_("created"),
    "linked existing": N_("linked existing"),
}
#: What carrying a customer over did (``customers[].outcome``), as the terminal says it.
CUSTOMER_OUTCOMES = {
    "created": N_("created in sevDesk first"),
    "linked": N_("linked with its sevDesk contact first"),
    "parked": N_("parked as a possible match: waits for an admin's decision"),
    "would create": N_("would be created in sevDesk first"),
    "would link": N_("would be linked with its sevDesk contact first"),
    "not carried over": N_("not carried over to sevDesk"),
}


@dataclass(frozen=True)
class ExportFilters:
    """KleanApp's "Rechnungsexport" filters (Von/Bis/Status) plus ``--since-last``."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    statuses: tuple[str, ...] | None = None
    since_last: bool = False

    @property
    def effective_statuses(self) -> tuple[str, ...]:
        return self.statuses or DEFAULT_STATUSES

    @property
    def narrowed(self) -> bool:
        """True when dates or statuses were given (then ``--since-last`` keeps its cursor)."""
        return bool(self.date_from or self.date_to or self.statuses)

    def matches(self, invoice: Invoice) -> bool:
        return not (
            (self.date_from and invoice.invoice_date < self.date_from)
            or (self.date_to and invoice.invoice_date > self.date_to)
            or invoice.status not in self.effective_statuses
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "status": list(self.effective_statuses),
            "since_last": self.since_last,
        }


@dataclass
class ExportResult:
    dry_run: bool
    format: str
    run_id: str | None = None
    exported: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[dict[str, Any]] = field(default_factory=list)
    #: Customers carried over to sevDesk first (``reconciler.invoices.customers``).
    customers: list[dict[str, Any]] = field(default_factory=list)
    #: KleanApp ids of the errors that may pass (no answer, 5xx): worth trying again soon,
    #: where nothing else would (a fleet's on-save export has no invoice poll behind it).
    transient: list[str] = field(default_factory=list)

    def add_task(self, kind: str, message: str, number: str | None) -> None:
        """One task per message; the invoices waiting for it are listed on it."""
        for task in self.tasks:
            if task["message"] == message:
                if number and number not in task["invoices"]:
                    task["invoices"].append(number)
                return
        self.tasks.append(
            {"kind": kind, "message": message, "invoices": [number] if number else []}
        )

    @property
    def outcome(self) -> str:
        return "errors" if self.errors else "ok"

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    @property
    def counts(self) -> dict[str, int]:
        return {
            "exported": len(self.exported),
            "held": len(self.held),
            "skipped": len(self.skipped),
            "errors": len(self.errors),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "format": self.format,
            "exported": self.exported,
            "held": self.held,
            "skipped": self.skipped,
            "errors": self.errors,
            "tasks": self.tasks,
            "recovered": self.recovered,
            "customers": self.customers,
        }

    def summary_lines(self) -> list[str]:
        """A short human summary for the terminal, in the reader's language.

        The items keep their English (``--json``); reasons and tasks are said
        again from the catalogue (``reconciler.reporting.phrases``).
        """
        from reconciler.reporting.phrases import Phrases

        say = Phrases()
        n = len(self.exported)
        if self.run_id:
            head = ngettext(
                "run %(run)s: exported %(num)d invoice to sevDesk as %(format)s",
                "run %(run)s: exported %(num)d invoices to sevDesk as %(format)s",
                n,
                run=self.run_id,
                format=format_word(self.format),
            )
        else:
            head = ngettext(
                "dry run: would export %(num)d invoice to sevDesk as %(format)s",
                "dry run: would export %(num)d invoices to sevDesk as %(format)s",
                n,
                format=format_word(self.format),
            )
        lines = [head]
        lines += [
            "  "
            + _(
                "customer %(customer)s: %(outcome)s",
                customer=c["key"],
                outcome=_(CUSTOMER_OUTCOMES.get(c["outcome"], c["outcome"])),
            )
            for c in self.customers
        ]
        for item in self.exported:
            target = f" → sevDesk {item['sevdesk_id']}" if item.get("sevdesk_id") else ""
            action = _(ACTIONS.get(item["action"], item["action"]))
            total = item.get("total_gross")
            amount = f" ({format_money(total)})" if total not in (None, "") else ""
            lines.append(f"  {action:<16} {item['number']}{amount}{target}")
        held, error, changed_label = _("held"), _("failed"), _("changed after export")
        lines += [f"  {held:<16} {h['number']}: {say(h['reason'])}" for h in self.held]
        lines += [
            f"  {error:<16} {e['number'] or e['kleanapp_id']}: {say.said(e, 'error')}"
            for e in self.errors
        ]
        if self.skipped:
            changed = [s for s in self.skipped if s.get("changed_after_export")]
            skipped = _("%(count)s skipped (already exported or not due)", count=len(self.skipped))
            lines.append(f"  {skipped}")
            lines += [
                f"  {changed_label:<16} {s['number']}: {say.said(s, 'reason')}" for s in changed
            ]
        lines += [
            "  "
            + _(
                "task: %(task)s (%(invoices)s)",
                task=say(t["message"]),
                invoices=", ".join(t["invoices"]),
            )
            for t in self.tasks
        ]
        lines += ["  " + _("recovered: %(outcome)s", outcome=r["outcome"]) for r in self.recovered]
        return lines
