"""``kleansync status``: the run history, what waits for an admin, the next run.

Read-only: it shows what the store holds (runs, the open queue, refused
writes waiting for a fix at their source, the last run's admin tasks) and
when the scheduler fires next; answering lives in ``reconciler.admin.queue``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.admin.history import INVOICES, all_runs, open_tasks, run_view
from reconciler.admin.queue import conflict_view, iso, queue
from reconciler.domain.bounds import one_line
from reconciler.domain.i18n import N_, _, format_datetime, format_number, ngettext
from reconciler.domain.labels import entity_word, field_label
from reconciler.domain.models import SIDE_LABEL
from reconciler.reporting.words import label
from state import Store
from state.refusal_tables import Refusals

__all__ = ["next_run", "status", "status_lines"]


def next_run(cron: str, timezone: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the scheduler fires next (the same computation ``serve`` uses)."""
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(timezone)
    now = now or dt.datetime.now(zone)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return CronTrigger.from_crontab(cron, timezone=zone).get_next_fire_time(None, now)


def status(
    store: Store, config: Any = None, *, now: dt.datetime | None = None, limit: int = 10
) -> dict[str, Any]:
    """Everything ``kleansync status`` shows, as one JSON-able dict."""
    latest = store.last_run(with_result=True)
    schedule = getattr(config, "schedule", None)
    upcoming = None
    if schedule is not None and getattr(schedule, "cron", None):
        upcoming = next_run(schedule.cron, schedule.timezone, now)
    open_queue = queue(store)
    waiting = [conflict_view(r) for r in store.resolved_conflicts()]
    pending_links = store.parked_resolutions(applied=False)
    refused = sorted(Refusals(store).open().values(), key=lambda r: r.id or 0)
    return {
        "runs": [run_view(r) for r in all_runs(store, limit, with_quiet=False)],
        "waiting_for_fix": [
            {
                "entity": r.entity,
                "key": one_line(r.key, 80),
                "side": r.side,
                "op": r.op,
                "field": r.field,
                "message": r.message,
                "since": iso(r.created_at),
            }
            for r in refused
        ],
        "open_conflicts": open_queue["conflicts"],
        "parked": open_queue["parked"],
        "tasks": open_tasks(store, latest),
        "tasks_run_id": latest.id if latest else None,
        "waiting_to_apply": len(waiting) + len(pending_links),
        "next_run": iso(upcoming),
        "schedule": {"cron": schedule.cron, "timezone": schedule.timezone} if schedule else None,
    }


#: A queue item's status as the admin reads it (the stored word stays English: --json).
QUEUE_STATUSES = {
    "open": N_("open"),
    "resolved": N_("resolved"),
    "applied": N_("applied"),
    "closed": N_("closed"),
    "decided": N_("decided by the rule"),
}


def status_word(status: Any) -> str:
    text = str(status)
    return _(QUEUE_STATUSES[text]) if text in QUEUE_STATUSES else text


def _when(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return "-"
    return format_datetime(dt.datetime.fromisoformat(value), zone)


def _took(r: dict[str, Any]) -> str:
    return "-" if r["duration_s"] is None else f"{format_number(r['duration_s'], decimals=1)} s"


def _invoice_run_line(r: dict[str, Any], zone: ZoneInfo, trigger_width: int) -> str:
    """An export run in the history."""
    invoices = _("invoices")
    extra = f"; {r['error']}" if r["error"] else ""
    counts = _(
        "%(exported)s exported, %(held)s held, %(errors)s errors",
        exported=r["changes"],
        held=r["held"],
        errors=r["errors"],
    )
    return (
        f"  {_when(r['started_at'], zone)}  {_took(r):>7}  "
        f"{label(r['trigger'], 'trigger'):<{trigger_width}} "
        f"{invoices:<12}  {label(r['outcome'], 'outcome'):<7} {counts}  "
        + _("(run %(run)s)", run=r["run_id"])
        + extra
    )


def _sync_run_line(r: dict[str, Any], zone: ZoneInfo, trigger_width: int) -> str:
    kind = _("dry-run") if r["dry_run"] else _("real")
    scope = _("full") if r["full"] else _("incr")
    extra = f"; {r['error']}" if r["error"] else ""
    changes = (
        ngettext("%(num)d planned", "%(num)d planned", r["changes"])
        if r["dry_run"]
        else ngettext("%(num)d change", "%(num)d changes", r["changes"])
    )
    counts = ", ".join(
        (
            changes,
            ngettext("%(num)d conflict", "%(num)d conflicts", r["conflicts"]),
            ngettext("%(num)d error", "%(num)d errors", r["errors"]),
        )
    )
    return (
        f"  {_when(r['started_at'], zone)}  {_took(r):>7}  "
        f"{label(r['trigger'], 'trigger'):<{trigger_width}} "
        f"{kind:<7} {scope:<4}  {label(r['outcome'], 'outcome'):<7} {counts}  "
        + _("(run %(run)s)", run=r["run_id"])
        + extra
    )


def status_lines(data: dict[str, Any]) -> list[str]:
    """``kleansync status`` for people (the reader's language and time zone)."""
    from reconciler.reporting.phrases import Phrases

    zone = ZoneInfo((data.get("schedule") or {}).get("timezone") or "UTC")
    why = Phrases(tz=str(zone))
    lines = [_("Last runs:") if data["runs"] else _("No runs yet.")]
    # The trigger column is as wide as its longest word in the reader's language ("von Hand
    # (Befehlszeile)" is twice as long as "schedule"), so the columns after it stay aligned.
    trigger_width = max((len(label(r["trigger"], "trigger")) for r in data["runs"]), default=0)
    for r in data["runs"]:
        line = _invoice_run_line if r.get("kind") == INVOICES else _sync_run_line
        lines.append(line(r, zone, trigger_width))
    conflicts, parked, tasks = data["open_conflicts"], data["parked"], data["tasks"]
    lines.append(_("Open conflicts: %(count)s", count=len(conflicts)))
    for c in conflicts[:20]:
        lines.append(
            f"  {c['id']:<5} {entity_word(c['entity'])} {c['key']} {field_label(c['field'])}: "
            + _(
                "KleanApp %(kleanapp)r vs sevDesk %(sevdesk)r",
                kleanapp=c["kleanapp"],
                sevdesk=c["sevdesk"],
            )
        )
    lines.append(_("Parked records: %(count)s", count=len(parked)))
    for p in parked[:20]:
        lines.append(
            f"  {p['id']:<5} {entity_word(p['entity'])} {p['record']} ({p['key']}): "
            f"{why(p['reason'])}"
        )
    if len(conflicts) > 20 or len(parked) > 20:
        lines.append("  " + _("... see 'kleansync conflicts list' for all"))
    refused = data.get("waiting_for_fix") or []
    if refused:
        lines.append(_("Refused, waiting for a fix at the source: %(count)s", count=len(refused)))
        for r in refused[:20]:
            what = f"{field_label(r['field'])}: {r['message']}" if r["field"] else r["message"]
            where = _(
                "%(op)s in %(side)s",
                op=label(r["op"], "op"),
                side=SIDE_LABEL.get(r["side"], r["side"]),
            )
            lines.append(f"  {entity_word(r['entity'])} {r['key']} ({where}): {what}")
        if len(refused) > 20:
            lines.append("  " + _("... see 'kleansync status --json' for all"))
    lines.append(_("Open admin tasks: %(count)s", count=len(tasks)))
    for t in tasks:
        invoices = t.get("invoices") if t.get("source") == INVOICES else None
        lines.append(
            f"  - {why(t['message'])}"
            + (" " + _("(invoices %(numbers)s)", numbers=", ".join(invoices)) if invoices else "")
        )
    if data["waiting_to_apply"]:
        lines.append(
            _("Answers waiting for the next run: %(count)s", count=data["waiting_to_apply"])
        )
    if data["next_run"]:
        sched = data["schedule"]
        lines.append(
            _(
                "Next scheduled run: %(when)s (cron '%(cron)s', %(zone)s)",
                when=_when(data["next_run"], zone),
                cron=sched["cron"],
                zone=sched["timezone"],
            )
        )
    return lines
