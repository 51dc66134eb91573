"""What went wrong with one record, as a stable code for machines and a sentence for people.

Why codes: a run's errors and skipped writes are stored in the run history
and printed by ``sync --json``; that form is an API and stays English. The
admin reads the same entries in German (``sync``, ``status``, ``report``, the
e-mail, tasks). An entry made here carries both::

    {"action": "…", "code": "changed_meanwhile", "params": {...},
     "reason": "the record changed since it was read; …"}   # English, as before

``code`` is one of ``PROBLEMS`` (stable, for scripts); ``params`` are the
parts of the sentence (English words, ids, the service's own detail); the
English text stays under its old key (``reason`` or ``error``). People get
``PROBLEMS[code]`` from the catalogue with the parts said again in their
words (``reconciler.reporting.phrases.Phrases.said``). An entry stored
before codes existed has none: its stored text is shown (translated where
its English is recognised).
"""

from __future__ import annotations

from typing import Any

from reconciler.domain.errors import NotFound, TransientError
from reconciler.domain.i18n import N_

__all__ = ["PROBLEMS", "english", "failure_code", "problem"]

#: code -> the sentence (an English message id with its parameters). Codes never change.
PROBLEMS: dict[str, str] = {
    # sync/apply.py: a write not sent, or not through
    "changed_meanwhile": N_(
        "the record changed since it was read; it is planned again on the next run"
    ),
    "waits_for": N_(
        "waits for %(after)s, which did not go through; it is planned again on the next run"
    ),
    "service_stopping": N_(
        "the service was asked to stop; the remaining changes are applied by the next run"
    ),
    "still_referenced": N_("%(side)s keeps it: other documents still refer to it (%(detail)s)"),
    "not_found": N_("the record no longer exists in %(side)s (%(detail)s)"),
    "temporary_failure": N_(
        "%(side)s did not take the write this time (%(detail)s); it is planned again on the "
        "next run"
    ),
    "write_failed": N_("the write to %(side)s failed: %(detail)s"),
    # sync/refusals.py: a service refused the record; it waits for a fix where it was typed
    "refused": N_("%(side)s refused the %(op)s of %(entity)s %(key)s: %(problem)s"),
    # sync/links.py, sync/stable_ids.py
    "link_clash": N_(
        "%(entity)s %(key)s: one of its records is already linked with another record; "
        "the links stay as they were"
    ),
    "stable_id_not_recorded": N_(
        "the KleanApp id could not be recorded on the sevDesk contact (%(detail)s); "
        "'kleansync resync' writes it later"
    ),
    # invoices/export.py, invoices/runner.py: an invoice not exported
    "invoice_held": N_("held: %(reason)s"),
    "invoice_failed": N_("the export failed: %(detail)s"),
    "invoice_changed_after_export": N_(
        "changed in KleanApp after it was exported to sevDesk invoice %(number)s; not sent again"
    ),
    "invoice_not_due": N_("status %(status)s; exported once it is %(statuses)s"),
    "invoice_gone": N_("no longer exists in KleanApp"),
    "invoice_unreadable": N_("cannot read the KleanApp invoice: %(detail)s"),
    "invoice_already_exported": N_("already exported to sevDesk invoice %(number)s"),
}


def failure_code(exc: BaseException) -> str:
    """The code of a write that failed with ``exc`` (the applier's error entries)."""
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, TransientError):
        return "temporary_failure"
    return "write_failed"


def english(code: str, params: dict[str, Any]) -> str:
    """The entry's English sentence (the message id filled in)."""
    return PROBLEMS[code] % params


def problem(
    code: str, into: str = "reason", /, *, text: str | None = None, **params: Any
) -> dict[str, Any]:
    """``{"code", "params", into: English}``: the fields an error or skipped entry adds.

    ``text`` keeps an entry's English as it always was where that names more
    than people need (internal ids, for whoever debugs); the sentence for
    people is the code's.
    """
    shown = {name: "" if value is None else str(value) for name, value in params.items()}
    return {"code": code, "params": shown, into: text or english(code, shown)}
