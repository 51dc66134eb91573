"""An invoice export run as report input, so ``kleansync report RUN_ID`` shows it too.

The reports are made for sync runs (``reporting.view.build_view`` reads a
``RunResult.as_dict()``); an export run stores its ``ExportResult.as_dict()``
(``reconciler.invoices.result``: exported, held, skipped, errors, tasks,
recovered). Rather than a second report, the export is said in the same
terms: each exported invoice is a change in sevDesk, a held invoice is
skipped with its reason and its task is an admin task, a failed one is an
error. Read from the stored dict, like every report, so an old run renders
after the code moved on.
"""

from __future__ import annotations

from typing import Any

from reconciler.domain.problems import problem
from state import Store
from state.invoice_tables import InvoiceLedger

__all__ = ["invoice_run_data", "mail_invoice_run"]


def _number(item: dict[str, Any]) -> str:
    return str(item.get("number") or item.get("kleanapp_id") or "?")


def _said(item: dict[str, Any], key: str) -> dict[str, Any]:
    """An item's stored text and, when it has them, its problem code and parts."""
    said: dict[str, Any] = {name: item[name] for name in ("code", "params") if name in item}
    return {**said, key: item.get(key) or ""}


def invoice_run_data(run: Any) -> dict[str, Any]:
    """A stored ``state.invoice_tables.InvoiceRun`` in the shape ``build_view`` reads."""
    result: dict[str, Any] = dict(run.result or {})
    exported = [dict(e) for e in result.get("exported") or []]
    counts: dict[str, int] = {}
    actions = []
    for item in exported:
        op = str(item.get("action") or "export")
        counts[f"invoice.sevdesk.{op}"] = counts.get(f"invoice.sevdesk.{op}", 0) + 1
        actions.append(
            {
                "id": f"invoice:{_number(item)}:sevdesk:{op}",
                "entity": "invoice",
                "side": "sevdesk",
                "op": op,
                "key": _number(item),
                "target_id": item.get("sevdesk_id"),
                "fields": {
                    name: item[name]
                    for name in ("invoice_date", "total_gross", "sevdesk_number")
                    if item.get(name)
                },
                "reason": "",
            }
        )
    skipped = [
        {"action": f"invoice:{_number(h)}", **problem("invoice_held", reason=h.get("reason"))}
        for h in result.get("held") or []
    ]
    skipped += [
        {"action": f"invoice:{_number(s)}", **_said(s, "reason")}
        for s in result.get("skipped") or []
    ]
    errors = [
        {
            "action": f"invoice:{_number(e)}:sevdesk:export",
            "entity": "invoice",
            "key": _number(e),
            "side": "sevdesk",
            "op": "export",
            **_said(e, "error"),
        }
        for e in result.get("errors") or []
    ]
    tasks = [
        {
            "kind": t.get("kind") or "invoice",
            "entity": "invoice",
            "key": ", ".join(t.get("invoices") or []),
            "message": t.get("message") or "",
            "invoices": list(t.get("invoices") or []),
        }
        for t in result.get("tasks") or []
    ]
    return {
        "run_id": run.id,
        "kind": "invoices",
        "dry_run": False,
        "full": False,
        "outcome": run.outcome,
        "error": run.error,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "format": result.get("format") or run.format,
        "counts": counts,
        "actions": actions,
        "tasks": tasks,
        "errors": errors,
        "skipped": skipped,
        "recovered": [dict(r) for r in result.get("recovered") or []],
    }


async def mail_invoice_run(store: Store, run_id: str, report_cfg: Any, *, tz: str = "UTC") -> bool:
    """Mail an export run's report when it brings something new (a held invoice's task,
    an error), the same decision as after a sync (``reporting.news``); True if sent."""
    from reconciler.reporting.mail import mail_report_async

    run = InvoiceLedger(store).get_run(run_id)
    if run is None:
        return False
    return await mail_report_async(invoice_run_data(run), report_cfg, tz=tz, store=store)
