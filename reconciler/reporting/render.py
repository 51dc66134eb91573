"""A run report's formats: HTML and Markdown (Jinja2 templates), CSV and JSON, from the view.

Why Jinja2 with autoescape: customer names are typed by people, and a
customer called ``<script>`` must be text in the report, never markup. The
page additionally forbids scripts through its Content-Security-Policy, and
every output passes through ``reconciler.log.redact`` so a registered
secret (API token, SMTP password) can never end up in a report file. In the
CSV, a cell that a spreadsheet would read as a formula is defused.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from reconciler.domain.models import SIDE_LABEL
from reconciler.log import redact
from reconciler.reporting.evidence import facts_line
from reconciler.reporting.view import as_time, plural

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


def _show(value: Any) -> str:
    """A field value as text: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _local(value: str | None, tz: str = "UTC") -> str:
    stamp = as_time(value)
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
    n=plural,
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
