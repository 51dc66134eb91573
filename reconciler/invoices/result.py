"""What an invoice export is asked to do (``ExportFilters``) and what it did (``ExportResult``).

``ExportResult.as_dict()`` is the ``invoices export --json`` object, a
documented contract::

    {"run_id", "dry_run", "format", "exported": [...], "held": [...],
     "skipped": [...], "errors": [...], "tasks": [...], "recovered": [...]}

``run_id`` is null on a dry run (nothing is recorded). Every item names the
KleanApp invoice by ``kleanapp_id`` and ``number``; amounts are strings
("119.00") so no JSON reader turns them into floats.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from reconciler.domain.i18n import N_
from reconciler.domain.models import Invoice

#: KleanApp's invoice statuses (Rechnungsstatus).
STATUSES = ("draft", "open", "paid", "cancelled")
#: Exported unless ``--status`` says otherwise: a KleanApp draft may still
#: change (exporting it would lock it), and an invoice cancelled before it
#: was ever exported has nothing to book.
DEFAULT_STATUSES = ("open", "paid")
FORMATS = ("draft", "final")


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
        }

    def summary_lines(self) -> list[str]:
        """A short human summary for the terminal, in the reader's language."""
        from reconciler.domain.i18n import _, format_money, ngettext
        from reconciler.reporting.phrases import Phrases

        why = Phrases()

        fmt = _(_FORMATS.get(self.format, self.format))
        n = len(self.exported)
        head = (
            ngettext(
                "%(num)d invoice would be exported to sevDesk as %(format)s",
                "%(num)d invoices would be exported to sevDesk as %(format)s",
                n,
                format=fmt,
            )
            if self.dry_run
            else ngettext(
                "%(num)d invoice exported to sevDesk as %(format)s",
                "%(num)d invoices exported to sevDesk as %(format)s",
                n,
                format=fmt,
            )
        )
        run = _("run %(run)s", run=self.run_id) if self.run_id else _("dry run")
        lines = [f"{run}: {head}"]
        for item in self.exported:
            target = f" → sevDesk {item['sevdesk_id']}" if item.get("sevdesk_id") else ""
            action = _(_ACTIONS.get(item["action"], item["action"]))
            gross = item.get("total_gross")
            amount = format_money(gross) if gross is not None else "-"
            lines.append(f"  {action:<15} {item['number']} ({amount}){target}")
        held, error, skipped, changed_word = _("held"), _("error"), _("skipped"), _("changed")
        lines += [f"  {held:<15} {h['number']}: {why(h['reason'])}" for h in self.held]
        lines += [
            f"  {error:<15} {e['number'] or e['kleanapp_id']}: {e['error']}" for e in self.errors
        ]
        if self.skipped:
            changed = [s for s in self.skipped if s.get("changed_after_export")]
            lines.append(
                f"  {skipped:<15} "
                + _("%(count)s (already exported or not due)", count=len(self.skipped))
            )
            lines += [f"  {changed_word:<15} {s['number']}: {why(s['reason'])}" for s in changed]
        lines += [
            "  "
            + _(
                "task: %(task)s (%(invoices)s)",
                task=why(t["message"]),
                invoices=", ".join(t["invoices"]),
            )
            for t in self.tasks
        ]
        lines += ["  " + _("settled: %(outcome)s", outcome=r["outcome"]) for r in self.recovered]
        return lines


#: Code words of the export (English in ``--json``), as the reader says them.
_FORMATS = {"draft": N_("draft"), "final": N_("final")}
_ACTIONS = {
    "created": N_("created"),
    "linked existing": N_("linked existing"),
    "would create": N_("would create"),
    "would link": N_("would link"),
}
