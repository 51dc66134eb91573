"""One run history for both kinds of run: customer/unit syncs and invoice exports.

They are stored apart (``state.tables.Run`` and ``state.invoice_tables.InvoiceRun``:
the engine counts its own runs to decide when to read everything), but an
admin asks one question, "what ran, and what is left for me?". So
``status`` and ``report`` read both through here: ``runs`` merges them
newest first, each marked with its ``kind`` (``sync`` or ``invoices``),
``find`` looks a run id up in both, and ``open_tasks`` is the one task list
(the last sync's tasks and what held invoices wait for).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconciler.domain.errors import KleansyncError
from reconciler.domain.i18n import _
from state import Store
from state.invoice_tables import InvoiceLedger, InvoiceRun
from state.tables import Run

__all__ = [
    "INVOICES",
    "SYNC",
    "RunNotFound",
    "all_runs",
    "find",
    "kind_of",
    "open_tasks",
    "run_view",
]

SYNC, INVOICES = "sync", "invoices"


def kind_of(run: Run | InvoiceRun) -> str:
    return INVOICES if isinstance(run, InvoiceRun) else SYNC


def quiet(run: InvoiceRun) -> bool:
    """An export run that found nothing to do (``serve`` polls every few minutes)."""
    return run.outcome == "ok" and not any((run.counts or {}).values())


def all_runs(store: Store, limit: int, *, with_quiet: bool = True) -> list[Run | InvoiceRun]:
    """The newest ``limit`` runs of both kinds, newest first.

    ``with_quiet=False`` leaves out the export runs that did nothing: a week of
    the service's invoice polls would otherwise push every sync out of
    ``status`` (they stay findable by id, and are pruned after a week anyway).
    """
    exports = InvoiceLedger(store).runs(limit if with_quiet else 100_000)
    if not with_quiet:
        exports = [run for run in exports if not quiet(run)][:limit]
    runs: list[Run | InvoiceRun] = [*store.runs(limit), *exports]
    runs.sort(key=lambda r: r.started_at, reverse=True)
    return runs[:limit]


class RunNotFound(KleansyncError):
    """No run, or more than one, answers to the id (the message says which); exit code 1."""


def find(store: Store, run_id: str) -> Run | InvoiceRun:
    """``latest`` (of either kind; an export that did nothing does not count), a full
    run id, or a unique prefix of one."""
    ledger = InvoiceLedger(store)
    if run_id == "latest":
        newest = all_runs(store, 1, with_quiet=False)
        if not newest:
            raise RunNotFound(_("no run yet; start one with 'kleansync sync'"))
        return newest[0]
    exact = store.get_run(run_id) or ledger.get_run(run_id)
    if exact is not None:
        return exact
    matches = [r for r in all_runs(store, 100_000) if r.id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise RunNotFound(
            _(
                "run id %(run)r is ambiguous (%(count)s runs start with it)",
                run=run_id,
                count=len(matches),
            )
        )
    raise RunNotFound(_("no run %(run)r in the state store (see 'kleansync status')", run=run_id))


def open_tasks(store: Store, latest: Run | None) -> list[dict[str, Any]]:
    """The admins' one task list: the last sync's tasks, then the held invoices' tasks.

    Sync tasks are marked ``source: sync``; invoice tasks (``source: invoices``)
    come from the ledger, so a held invoice's task stays listed until a later
    export sends it, whichever run that is.
    """
    sync_tasks = list((latest.result or {}).get("tasks") or []) if latest else []
    tasks = [{**t, "source": SYNC} for t in sync_tasks]
    tasks += [{**t, "source": INVOICES} for t in InvoiceLedger(store).open_tasks()]
    return tasks


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _duration(run: Run | InvoiceRun) -> float | None:
    if run.finished_at and run.started_at:
        return round((run.finished_at - run.started_at).total_seconds(), 1)
    return None


def _invoice_run_view(run: InvoiceRun) -> dict[str, Any]:
    """An export run in the same shape as a sync run's (``changes``: invoices exported)."""
    result, counts = run.result or {}, dict(run.counts or {})
    return {
        "run_id": run.id,
        "kind": INVOICES,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": _duration(run),
        "trigger": run.trigger,
        "dry_run": False,
        "full": False,
        "outcome": run.outcome,
        "error": run.error,
        "counts": counts,
        "changes": int(counts.get("exported") or 0),
        "conflicts": 0,
        "parked": 0,
        "tasks": len(result.get("tasks") or []),
        "quarantined": 0,
        "errors": int(counts.get("errors") or 0),
        "format": run.format,
        "held": int(counts.get("held") or 0),
    }


def run_view(run: Run | InvoiceRun) -> dict[str, Any]:
    """One run of either kind as ``status`` lists it (``status --json``'s ``runs``, the
    console's Läufe and Übersicht): the same keys for a sync and an export."""
    if isinstance(run, InvoiceRun):
        return _invoice_run_view(run)
    result = run.result or {}
    duration = _duration(run)
    return {
        "run_id": run.id,
        "kind": SYNC,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": duration,
        "trigger": run.trigger,
        "dry_run": run.dry_run,
        "full": run.full,
        "outcome": run.outcome,
        "error": run.error,
        "counts": dict(run.counts or {}),
        "changes": sum(int(n) for n in (run.counts or {}).values()),
        "conflicts": len(result.get("conflicts") or []),
        "parked": len(result.get("parked") or []),
        "tasks": len(result.get("tasks") or []),
        "quarantined": len(result.get("quarantined") or []),
        "errors": len(result.get("errors") or []),
    }
