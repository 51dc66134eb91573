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

from reconciler.domain.i18n import current_language, using
from reconciler.log import redact
from reconciler.reporting.phrases import Phrases
from reconciler.reporting.shown import SHOWN_ROWS, more_line, shown_view
from reconciler.reporting.templating import environment, show
from reconciler.reporting.view import file_stem
from reconciler.reporting.words import headline

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


def _autoescape(name: str | None) -> bool:
    # HTML (and anything unknown) is escaped; only text formats are not.
    return not (name or "").endswith((".md.j2", ".txt.j2"))


_env = environment("reconciler.reporting", autoescape=_autoescape, keep_trailing_newline=True)


def _json_name(view: dict[str, Any]) -> str:
    """The name of the run's JSON file, which the human formats point to for every row."""
    try:
        return f"{file_stem(view)}.json"
    except (KeyError, TypeError, AttributeError):
        return "latest.json"


def _template(name: str, view: dict[str, Any], tz: str, **extra: Any) -> str:
    return _env.get_template(name).render(
        view=view,
        tz=tz,
        lang=current_language(),
        why=Phrases.for_view(view, tz),
        headline=headline(view),
        more=lambda name: more_line(
            (view.get("more") or {}).get(name), view.get("json_file") or ""
        ),
        **extra,
    )


def render(
    view: dict[str, Any],
    fmt: str,
    *,
    tz: str = "UTC",
    lang: str | None = None,
    shown_rows: int = SHOWN_ROWS,
) -> str:
    """One report format as text (``html``, ``json``, ``csv`` or ``md``).

    HTML and Markdown speak ``lang`` (default: the current language,
    ``reconciler.domain.i18n``) and show the first ``shown_rows`` rows of each
    kind (``reporting.shown``); JSON and CSV are machine formats, complete and English.
    """
    with using(lang):
        return _render(view, fmt, tz, shown_rows)


def _render(view: dict[str, Any], fmt: str, tz: str, shown_rows: int = SHOWN_ROWS) -> str:
    if fmt == "json":
        text = json.dumps(view, indent=2, ensure_ascii=False, default=str) + "\n"
    elif fmt == "csv":
        text = render_csv(view)
    elif fmt in ("html", "md"):
        shown = shown_view(view, shown_rows, _json_name(view))
        text = _template(f"report.{fmt}.j2", shown, tz)
    else:
        raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    return redact(text)


def render_mail_text(
    view: dict[str, Any], *, tz: str = "UTC", limit: int = 20, lang: str | None = None
) -> str:
    """The plain-text e-mail body: the summary and what needs an admin (in ``lang``).

    The first ``limit`` rows of each kind, then how many more there are.
    """
    with using(lang):
        shown = shown_view(view, limit, _json_name(view))
        return redact(_template("mail.txt.j2", shown, tz, limit=limit))


def csv_rows(view: dict[str, Any]) -> list[dict[str, str]]:
    """The CSV rows: one per change, one per conflict (same order as in the JSON)."""
    rows: list[dict[str, str]] = []
    for c in view["changes"]:
        rows.append(
            {
                "section": "change",
                "entity": show(c["entity"]),
                "key": show(c["key"]),
                "side": show(c["side"]),
                "op": show(c["op"]),
                "field": ",".join(c["fields"]),
                "value": show(c["fields"]) if c["fields"] else "",
                "status": c["status"],
                "reason": show(c["reason"]),
                "action": show(c["action"]),
            }
        )
    for c in view["conflicts"]:
        rows.append(
            {
                "section": "conflict",
                "entity": show(c.get("entity")),
                "key": show(c.get("key")),
                "field": show(c.get("field")),
                "base": show(c.get("base")),
                "kleanapp": show(c.get("kleanapp")),
                "sevdesk": show(c.get("sevdesk")),
                "decision": show(c.get("decision")),
                "rule": show(c.get("rule")),
                "reason": show(c.get("reason")),
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
