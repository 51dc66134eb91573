"""A run's report as one plain dict (the "view"): what every format shows, built from stored data.

Why from a plain dict (the ``RunResult.as_dict()`` shape stored in the run
history) and never from live objects: a report of a run from last month
must still render after the code moved on, so ``kleansync report RUN_ID``
re-renders from the stored dict exactly as the run itself did. Keys the dict
lacks (older runs, failed runs) simply show as "not recorded" instead of
failing. The view *is* the JSON report; ``reporting.render`` turns it into
HTML, CSV and Markdown, ``reporting.files`` writes them.

Every string in the view passes through ``reconciler.log.redact``, so a
registered secret (API token, SMTP password) can never reach a report.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from reconciler.domain.bounds import MAX_ITEMS, bounded
from reconciler.domain.i18n import using
from reconciler.log import redact
from reconciler.reporting import words

REPORT_VERSION = 1
SECTIONS = ("conflicts", "parked", "tasks", "quarantined", "errors", "skipped", "recovered")


class RunResult(Protocol):
    """What a report reads of a run that just finished (``reconciler.sync.report.RunResult``).

    Described here rather than imported: the reports sit below the sync, which
    writes them after every run.
    """

    plan: Any
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]: ...


def result_data(result: RunResult, *, trigger: str | None = None) -> dict[str, Any]:
    """``result.as_dict()`` plus what a report needs and as_dict() may not (yet) hold.

    The planned actions are added when ``as_dict()`` does not carry them, so
    the changes tables work whatever the stored shape is.
    """
    data = dict(result.as_dict())
    if "actions" not in data:
        data["actions"] = [action_dict(a) for a in result.plan.actions]
    for name in ("started_at", "finished_at"):
        if data.get(name) is None and getattr(result, name, None) is not None:
            data[name] = getattr(result, name)
    data.setdefault("created_at", result.plan.created_at)
    if trigger is not None:
        data.setdefault("trigger", trigger)
    return data


def run_data(run: Any) -> dict[str, Any]:
    """A stored ``state.tables.Run`` as renderer input: its result plus the row's facts.

    Works for runs that ended without a result (failed, interrupted), so
    their report (and e-mail) can still say what happened.
    """
    data: dict[str, Any] = dict(run.result or {})
    if not data:
        data = {
            "run_id": run.id,
            "dry_run": run.dry_run,
            "full": run.full,
            "outcome": run.outcome,
            "counts": dict(run.counts or {}),
        }
    data.setdefault("run_id", run.id)
    for name in ("started_at", "finished_at", "trigger", "error"):
        if data.get(name) is None:
            data[name] = getattr(run, name, None)
    return data


def action_dict(action: Any) -> dict[str, Any]:
    """The stored form of one planned ``Action`` (see the lead's as_dict proposal)."""
    return {
        "id": action.id,
        "entity": action.entity,
        "side": action.side,
        "op": action.op,
        "key": action.key,
        "target_id": action.target_id,
        "fields": dict(action.fields),
        "reason": action.reason,
    }


def file_stem(view: dict[str, Any]) -> str:
    """``20261125-171334-<run id>``: sorts by time in a file manager, names the run."""
    run = view["run"]
    stamp = as_time(run["at"])
    prefix = stamp.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S-") if stamp else ""
    return f"{prefix}{run['run_id']}"


def as_time(value: Any) -> dt.datetime | None:
    """A stored timestamp (datetime or ISO text, naive meaning UTC) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _action_status(
    action: dict[str, Any], dry_run: bool, failed: set[str], skipped: set[str]
) -> str:
    if dry_run:
        return "planned"
    if action["id"] in failed:
        return "failed"
    if action["id"] in skipped:
        return "skipped"
    return "done"


def _label(fields: dict[str, Any]) -> str | None:
    """A human name for a customer/unit from the written fields, when they carry one."""
    if fields.get("company_name"):
        return str(fields["company_name"])
    person = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
    if person:
        return person
    return str(fields["name"]) if fields.get("name") else None


def _redact_deep(value: Any) -> Any:
    """Every string in ``value`` with registered secrets masked (before rendering/escaping)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redact_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_deep(v) for v in value]
    return value


def build_view(data: dict[str, Any], *, max_rows: int = MAX_ITEMS) -> dict[str, Any]:
    """The report's content from a stored run dict (``as_dict()`` + optional ``actions``).

    This dict *is* the JSON report; HTML, CSV and Markdown are renderings of it.
    Each list holds at most ``max_rows`` rows and each value at most
    ``bounds.MAX_VALUE`` characters; ``summary.omitted`` counts what was left out
    (here, or already when the run was stored).
    """
    omitted: dict[str, int] = {k: int(v) for k, v in (data.get("omitted") or {}).items()}
    dry_run = bool(data.get("dry_run"))
    errors = [dict(e) for e in data.get("errors") or []]
    skipped = [dict(s) for s in data.get("skipped") or []]
    failed_ids = {str(e.get("action")) for e in errors}
    skipped_ids = {str(s.get("action")) for s in skipped}
    actions = data.get("actions")
    changes = []
    for raw in actions or []:
        action = {
            "id": raw.get("id")
            or f"{raw.get('entity')}:{raw.get('key')}:{raw.get('side')}:{raw.get('op')}",
            **raw,
        }
        fields = dict(action.get("fields") or {})
        changes.append(
            {
                "action": action["id"],
                "entity": action.get("entity"),
                "side": action.get("side"),
                "op": action.get("op"),
                "key": action.get("key"),
                "target_id": action.get("target_id"),
                "label": label if (label := _label(fields)) != action.get("key") else None,
                "fields": fields,
                "reason": action.get("reason") or "",
                "status": _action_status(action, dry_run, failed_ids, skipped_ids),
            }
        )
    conflicts = [dict(c) for c in data.get("conflicts") or []]
    counts = dict(data.get("counts") or {})
    count_rows = []
    for name, n in counts.items():
        entity, side, op = ([*name.split("."), "", ""])[:3]
        count_rows.append({"entity": entity, "side": side, "op": op, "n": n})
    started = as_time(data.get("started_at"))
    finished = as_time(data.get("finished_at"))
    view: dict[str, Any] = {
        "report": "kleansync-run",
        "version": REPORT_VERSION,
        "run": {
            "run_id": data.get("run_id"),
            #: "sync" (customers and units) or "invoices" (an export, ``invoice_data``).
            "kind": data.get("kind") or "sync",
            "dry_run": dry_run,
            "full": bool(data.get("full")),
            "outcome": data.get("outcome") or "unknown",
            "trigger": data.get("trigger"),
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "duration_s": round((finished - started).total_seconds(), 1)
            if started and finished
            else None,
            "created_at": _iso(as_time(data.get("created_at"))),
            #: When it ran, for display: the start, else when the plan was made.
            "at": _iso(started or as_time(data.get("created_at")) or finished),
            "error": data.get("error"),
        },
        "summary": {
            "counts": count_rows,
            "changes": sum(int(n) for n in counts.values()),
            "actions_recorded": actions is not None,
            "conflicts": len(conflicts) + omitted.get("conflicts", 0),
            "manual_conflicts": sum(1 for c in conflicts if c.get("decision") == "manual"),
            **{
                name: len(data.get(name) or []) + omitted.get(name, 0)
                for name in SECTIONS
                if name != "conflicts"
            },
            "waiting_for_fix": int(data.get("waiting_for_fix") or 0),
            #: Rows of ``changes`` per system before any bound (``reporting.shown``).
            "changes_by_side": {
                side: sum(1 for c in changes if c["side"] == side)
                for side in ("kleanapp", "sevdesk")
            },
        },
        "changes": changes,
        "conflicts": conflicts,
        "parked": [dict(p) for p in data.get("parked") or []],
        "tasks": [dict(t) for t in data.get("tasks") or []],
        "quarantined": [dict(q) for q in data.get("quarantined") or []],
        "errors": errors,
        "skipped": skipped,
        "recovered": [dict(r) for r in data.get("recovered") or []],
        #: The admins' answers the run carried out, each with who and when (``sync.decisions``).
        "decisions": [dict(d) for d in data.get("decisions") or []],
        "warnings": [str(w) for w in data.get("warnings") or []],
    }
    view["summary"]["headline"] = headline(view)
    view["summary"]["needs_attention"] = needs_attention(view)
    # Bounded: a 100 kB value or 50,000 rows must not make a 7 MB report every run.
    for name in ("changes", *SECTIONS):
        if len(view[name]) > max_rows:
            omitted[name] = omitted.get(name, 0) + len(view[name]) - max_rows
    view = bounded(view, max_items=max_rows)
    view["summary"]["omitted"] = omitted
    return _redact_deep(view)


#: Outcomes of runs that ended without a result (see ``engine.run_sync``).
BROKEN_OUTCOMES = ("failed", "interrupted")


def needs_attention(view: dict[str, Any]) -> bool:
    """Does this run leave something for an admin (what the e-mail is sent for)?"""
    s = view["summary"]
    broken = view["run"]["outcome"] in BROKEN_OUTCOMES
    return bool(broken or s["conflicts"] or s["tasks"] or s["errors"] or s["parked"])


def headline(view: dict[str, Any]) -> str:
    """The JSON report's headline: ``reporting.words.headline`` in English (an API)."""
    with using("en"):
        return words.headline(view)
