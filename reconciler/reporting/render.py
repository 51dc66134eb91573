"""Run reports for admins: one HTML page, plus the same content as JSON and CSV.

Why everything is rendered from a plain dict (the ``RunResult.as_dict()``
shape stored in the run history) and never from live objects: a report of a
run from last month must still render after the code moved on, so
``kleansync report RUN_ID`` re-renders from the stored dict exactly as the
run itself did. Keys the dict lacks (older runs, failed runs) simply show
as "not recorded" instead of failing.

Why Jinja2 with autoescape: customer names are typed by people, and a
customer called ``<script>`` must be text in the report, never markup. The
page additionally forbids scripts through its Content-Security-Policy, and
every output passes through ``reconciler.log.redact`` so a registered
secret (API token, SMTP password) can never end up in a report file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import jinja2

from reconciler.domain.bounds import MAX_ITEMS, bounded
from reconciler.domain.models import SIDE_LABEL
from reconciler.log import redact
from reconciler.reporting.evidence import facts_line

REPORT_VERSION = 1
FORMATS = ("html", "json", "csv", "md")
#: Columns of the CSV: changes and conflicts share one sheet, told apart by ``section``.
CSV_COLUMNS = (
    "section",
    "entity",
    "key",
    "side",
    "op",
    "field",
    "base",
    "kleanapp",
    "sevdesk",
    "value",
    "decision",
    "rule",
    "status",
    "reason",
    "action",
)
SECTIONS = ("conflicts", "parked", "tasks", "quarantined", "errors", "skipped", "recovered")


@dataclass(frozen=True)
class ReportFiles:
    """Where one run's report went: the run's own files and the ``latest.*`` copies."""

    html: Path
    json: Path
    csv: Path
    latest_html: Path
    latest_json: Path
    latest_csv: Path


# -- from RunResult / stored dict to the report's view ------------------------------------------
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


def _time(value: Any) -> dt.datetime | None:
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
    started = _time(data.get("started_at"))
    finished = _time(data.get("finished_at"))
    view: dict[str, Any] = {
        "report": "kleansync-run",
        "version": REPORT_VERSION,
        "run": {
            "run_id": data.get("run_id"),
            "dry_run": dry_run,
            "full": bool(data.get("full")),
            "outcome": data.get("outcome") or "unknown",
            "trigger": data.get("trigger"),
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "duration_s": round((finished - started).total_seconds(), 1)
            if started and finished
            else None,
            "created_at": _iso(_time(data.get("created_at"))),
            #: When it ran, for display: the start, else when the plan was made.
            "at": _iso(started or _time(data.get("created_at")) or finished),
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
        },
        "changes": changes,
        "conflicts": conflicts,
        "parked": [dict(p) for p in data.get("parked") or []],
        "tasks": [dict(t) for t in data.get("tasks") or []],
        "quarantined": [dict(q) for q in data.get("quarantined") or []],
        "errors": errors,
        "skipped": skipped,
        "recovered": [dict(r) for r in data.get("recovered") or []],
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
    """One sentence a phone shows first: what happened and whether someone must act."""
    run, s = view["run"], view["summary"]
    if run["outcome"] == "failed":
        return f"The run failed: {run['error'] or 'no details recorded'}."
    if run["outcome"] == "interrupted":
        return (
            f"The run was interrupted ({run['error'] or 'no details recorded'}); "
            "the next run settles what it left unfinished."
        )
    if run["outcome"] == "running":
        return "The run has not finished yet."
    verb = "would make" if run["dry_run"] else "made"
    parts = [
        f"{'Dry-run: ' if run['dry_run'] else ''}kleansync {verb} {_n(s['changes'], 'change')}"
    ]
    todo = []
    if s["manual_conflicts"]:
        todo.append(_n(s["manual_conflicts"], "conflict") + " to decide")
    if s["parked"]:
        todo.append(_n(s["parked"], "parked record"))
    if s["tasks"]:
        todo.append(_n(s["tasks"], "admin task"))
    if s["errors"]:
        todo.append(_n(s["errors"], "error"))
    if todo:
        parts.append("needs you: " + ", ".join(todo))
    else:
        parts.append("nothing needs you")
    return "; ".join(parts) + "."


def _n(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- rendering ----------------------------------------------------------------------------------
def _show(value: Any) -> str:
    """A field value as text: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _local(value: str | None, tz: str = "UTC") -> str:
    stamp = _time(value)
    if stamp is None:
        return "not recorded"
    zone = ZoneInfo(tz)
    return stamp.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S ") + (
        "UTC" if tz == "UTC" else stamp.astimezone(zone).tzname() or tz
    )


def _decision(decision: str | None) -> str:
    if decision == "manual":
        return "waits for an admin"
    return f"{SIDE_LABEL.get(str(decision), str(decision))} wins"


def _changed_fields(change: dict[str, Any]) -> dict[str, Any]:
    """What a change writes, as shown: a create lists only the fields it sets."""
    fields = change.get("fields") or {}
    if change.get("op") == "create":
        return {k: v for k, v in fields.items() if v is not None and v is not False}
    return dict(fields)


def _md(value: Any) -> str:
    """A value safe inside a Markdown table cell."""
    text = _show(value) if not isinstance(value, str) else value
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _autoescape(name: str | None) -> bool:
    # HTML (and anything unknown) is escaped; only text formats are not.
    return not (name or "").endswith((".md.j2", ".txt.j2"))


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("reconciler.reporting", "templates"),
    autoescape=_autoescape,
    # A key missing from an old or odd stored run renders empty rather than losing the
    # whole report: the run already happened, its report must still come out.
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters.update(
    show=_show,
    local=_local,
    decision=_decision,
    side=lambda s: SIDE_LABEL.get(str(s), str(s)),
    changed_fields=_changed_fields,
    md=_md,
    n=_n,
    facts=lambda r: facts_line(dict(r)) if r else "",
)


def render(view: dict[str, Any], fmt: str, *, tz: str = "UTC") -> str:
    """One report format as text (``html``, ``json``, ``csv`` or ``md``)."""
    if fmt == "json":
        text = json.dumps(view, indent=2, ensure_ascii=False, default=str) + "\n"
    elif fmt == "csv":
        text = render_csv(view)
    elif fmt in ("html", "md"):
        text = _env.get_template(f"report.{fmt}.j2").render(view=view, tz=tz, side_label=SIDE_LABEL)
    else:
        raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    return redact(text)


def render_mail_text(view: dict[str, Any], *, tz: str = "UTC", limit: int = 20) -> str:
    """The plain-text e-mail body: the summary and what needs an admin."""
    return redact(_env.get_template("mail.txt.j2").render(view=view, tz=tz, limit=limit))


def csv_rows(view: dict[str, Any]) -> list[dict[str, str]]:
    """The CSV rows: one per change, one per conflict (same order as in the JSON)."""
    rows: list[dict[str, str]] = []
    for c in view["changes"]:
        rows.append(
            {
                "section": "change",
                "entity": _show(c["entity"]),
                "key": _show(c["key"]),
                "side": _show(c["side"]),
                "op": _show(c["op"]),
                "field": ",".join(c["fields"]),
                "value": _show(c["fields"]) if c["fields"] else "",
                "status": c["status"],
                "reason": _show(c["reason"]),
                "action": _show(c["action"]),
            }
        )
    for c in view["conflicts"]:
        rows.append(
            {
                "section": "conflict",
                "entity": _show(c.get("entity")),
                "key": _show(c.get("key")),
                "field": _show(c.get("field")),
                "base": _show(c.get("base")),
                "kleanapp": _show(c.get("kleanapp")),
                "sevdesk": _show(c.get("sevdesk")),
                "decision": _show(c.get("decision")),
                "rule": _show(c.get("rule")),
                "reason": _show(c.get("reason")),
            }
        )
    return [{col: row.get(col, "") for col in CSV_COLUMNS} for row in rows]


def render_csv(view: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in csv_rows(view):
        # A cell starting with = + - @ is a formula in spreadsheet programs; a customer
        # name must never become one.
        writer.writerow({k: _defuse(v) for k, v in row.items()})
    return out.getvalue()


def _defuse(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# -- files --------------------------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so nobody ever opens half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_stem(view: dict[str, Any]) -> str:
    """``20261125-171334-<run id>``: sorts by time in a file manager, names the run."""
    run = view["run"]
    stamp = _time(run["at"])
    prefix = stamp.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S-") if stamp else ""
    return f"{prefix}{run['run_id']}"


def write_report_files(
    data: dict[str, Any],
    report_dir: Path,
    *,
    tz: str = "UTC",
    max_rows: int = MAX_ITEMS,
    max_bytes: int | None = None,
) -> ReportFiles:
    """Render a stored run dict into ``report_dir`` (HTML, JSON, CSV and ``latest.*``).

    With ``max_bytes``, no file is larger: rows per section are halved until
    each format fits (the summary still counts every row).
    """
    while True:
        view = build_view(data, max_rows=max_rows)
        texts = {fmt: render(view, fmt, tz=tz) for fmt in ("html", "json", "csv")}
        biggest = max(len(t.encode("utf-8", "replace")) for t in texts.values())
        if max_bytes is None or biggest <= max_bytes or max_rows == 0:
            break
        max_rows //= 2
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(view)
    paths = {fmt: report_dir / f"{stem}.{fmt}" for fmt in texts}
    for fmt, text in texts.items():
        _write(paths[fmt], text)
    # Copies, not symlinks: they work on every filesystem and survive a copied folder.
    latest = {fmt: report_dir / f"latest.{fmt}" for fmt in texts}
    for fmt, text in texts.items():
        _write(latest[fmt], text)
    return ReportFiles(
        html=paths["html"],
        json=paths["json"],
        csv=paths["csv"],
        latest_html=latest["html"],
        latest_json=latest["json"],
        latest_csv=latest["csv"],
    )


def write_reports(
    result: RunResult, report_dir: Path, *, trigger: str | None = None, tz: str = "UTC"
) -> ReportFiles:
    """Write the report of a run that just finished (called by the engine after every run)."""
    return write_report_files(result_data(result, trigger=trigger), Path(report_dir), tz=tz)
