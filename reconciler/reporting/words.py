"""The report's own words: the headline, the e-mail subject, and the names of its code words.

Why here and not in the view: the view is the JSON report (an API, English
and stable); these are what a person reads, in the current language
(``reconciler.domain.i18n``). The view's English ``headline`` is this same
function, run in English, so the two can never say different things.
"""

from __future__ import annotations

from typing import Any

from reconciler.domain.i18n import N_, _, ngettext
from reconciler.domain.labels import side_label

__all__ = ["decision", "headline", "label", "subject"]

OUTCOMES = {
    "ok": N_("completed"),
    "errors": N_("completed with errors"),
    "failed": N_("failed"),
    "interrupted": N_("interrupted"),
    "running": N_("still running"),
    "unknown": N_("not recorded"),
}
TRIGGERS = {
    "manual": N_("by hand (command line)"),
    "schedule": N_("schedule"),
    "cron": N_("schedule"),
    "poll": N_("regular check for changes"),
    "webhook": N_("change notice from KleanApp"),
    "demo": N_("demo"),
    "test": N_("test"),
    "resync": N_("re-sync"),
    "invoice": N_("invoice export"),  # the sync that carries an invoice's customer over first
}
OPERATIONS = {
    "create": N_("create"),
    "update": N_("update"),
    "delete": N_("delete"),
    "archive": N_("archive"),
    # an exported invoice (reporting/invoice_data.py: exported[].action)
    "created": N_("created"),
    "linked": N_("linked"),
}
STATUSES = {
    "done": N_("done"),
    "planned": N_("planned"),
    "failed": N_("failed"),
    "skipped": N_("skipped"),
}
RULES = {
    "manual": N_("you decide"),
    "last-write-wins": N_("the later change counts"),
    "kleanapp-authoritative": N_("KleanApp decides"),
    "sevdesk-authoritative": N_("sevDesk decides"),
}
TASK_KINDS = {
    "missing_unit": N_("unit missing"),
    "deleted": N_("deleted in sevDesk"),
    "archived": N_("archived in KleanApp"),
    "brake": N_("safety stop"),
    "refused": N_("refused"),
    "tax": N_("tax rate"),
    "dates": N_("invoice dates"),
    "customer": N_("customer of the invoice"),
    "invoice": N_("invoice"),
}
SECTIONS = {
    "changes": N_("changes"),
    "conflicts": N_("conflicts"),
    "parked": N_("matches to check"),
    "tasks": N_("tasks"),
    "quarantined": N_("unreadable records"),
    "errors": N_("errors"),
    "skipped": N_("skipped"),
    "recovered": N_("settled"),
}
#: The accounting statuses (sevDesk's ``sevdesk_status``, KleanApp's ``kleanapp_status``; English in
#: ``--json``) as the masks show them.
INVOICE_STATUSES = {
    "deactivated": N_("deactivated"),
    "draft": N_("draft"),
    "open": N_("open"),
    "partially paid": N_("partially paid"),
    "partially_paid": N_("partially paid"),  # KleanApp's spelling (accounting_status)
    "paid": N_("paid"),
    "cancelled": N_("cancelled"),
}
_TABLES = {
    "section": SECTIONS,
    "outcome": OUTCOMES,
    "trigger": TRIGGERS,
    "op": OPERATIONS,
    "status": STATUSES,
    "rule": RULES,
    "task": TASK_KINDS,
    "invoice_status": INVOICE_STATUSES,
}


def label(value: Any, table: str) -> str:
    """A stored code word (an outcome, trigger, operation, ...) as the reader's word."""
    words = _TABLES[table]
    text = "" if value is None else str(value)
    return _(words[text]) if text in words else text


def decision(value: Any) -> str:
    """A conflict's decision: who won, or that it waits for the reader."""
    if value == "manual":
        return _("waits for your decision")
    return _("value from %(side)s", side=side_label(value))


def waiting(s: dict[str, Any]) -> list[str]:
    """What waits for a person, counted: the same words in the headline and the subject."""
    parts = []
    if s["manual_conflicts"]:
        parts.append(
            ngettext(
                "%(num)d conflict to decide", "%(num)d conflicts to decide", s["manual_conflicts"]
            )
        )
    if s["parked"]:
        parts.append(ngettext("%(num)d match to check", "%(num)d matches to check", s["parked"]))
    if s["tasks"]:
        parts.append(ngettext("%(num)d task", "%(num)d tasks", s["tasks"]))
    if s["errors"]:
        parts.append(ngettext("%(num)d error", "%(num)d errors", s["errors"]))
    return parts


def headline(view: dict[str, Any]) -> str:
    """One sentence a phone shows first: what happened and whether someone must act."""
    run, s = view["run"], view["summary"]
    details = run.get("error") or _("no details recorded")
    if run["outcome"] == "failed":
        return _("The run failed: %(error)s.", error=details)
    if run["outcome"] == "interrupted":
        return _(
            "The run was interrupted (%(error)s); the next run settles what it left unfinished.",
            error=details,
        )
    if run["outcome"] == "running":
        return _("The run has not finished yet.")
    n = s["changes"]
    if run["dry_run"]:
        text = ngettext(
            "Dry-run: kleansync would make %(num)d change",
            "Dry-run: kleansync would make %(num)d changes",
            n,
        )
    else:
        text = ngettext("kleansync made %(num)d change", "kleansync made %(num)d changes", n)
    todo = waiting(s)
    if todo:
        return _("%(done)s; needs you: %(todo)s.", done=text, todo=", ".join(todo))
    return _("%(done)s; nothing needs you.", done=text)


def subject(view: dict[str, Any]) -> str:
    """The e-mail's subject: what waits, counted (``[kleansync] Lauf abc: 2 Konflikte …``)."""
    s, run = view["summary"], view["run"]
    parts = waiting(s)
    if (
        not s["manual_conflicts"] and s["conflicts"]
    ):  # decided by rules: worth a word, not a "to do"
        parts.insert(0, ngettext("%(num)d conflict", "%(num)d conflicts", s["conflicts"]))
    if run["outcome"] in ("failed", "interrupted"):
        parts.insert(0, label(run["outcome"], "outcome").upper())
    what = ", ".join(parts) or _("report")
    if run["dry_run"]:
        return _("[kleansync] dry-run %(run)s: %(what)s", run=run["run_id"], what=what)
    return _("[kleansync] run %(run)s: %(what)s", run=run["run_id"], what=what)
