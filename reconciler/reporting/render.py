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
import re
from typing import Any

import jinja2

from reconciler.domain.i18n import (
    _,
    current_language,
    format_datetime,
    format_number,
    gettext,
    translations,
    using,
)
from reconciler.domain.labels import entity_label, field_label, side_label, value_label
from reconciler.log import redact
from reconciler.reporting.evidence import facts_line
from reconciler.reporting.phrases import Phrases, known_as
from reconciler.reporting.view import as_time
from reconciler.reporting.words import decision, headline, label

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
    """A stored time in the configured zone and the reader's form (``01.12.2026 09:53``)."""
    stamp = as_time(value)
    return _("not recorded") if stamp is None else format_datetime(stamp, tz)


def _decided(entry: Any, tz: str = "UTC", *, start: bool = False) -> str:
    """Who gave an admin's answer and when: "entschieden von anna am 03.12.2026 10:15".

    ``entry`` is a decision of a run (``by``, ``via``, ``at``) or a queue view
    (``resolved_by``, ``resolved_via``, ``resolved_at``). An answer given on the
    command line names the login as the hand that typed it: the console's
    accounts are people the office created, a login name may be a shared one.
    ``start``: the phrase begins a sentence (its first letter capitalised).
    """
    data = dict(entry or {})
    who = data.get("by") or data.get("resolved_by") or _("unknown")
    when = _local(data.get("at") or data.get("resolved_at"), tz)
    if (data.get("via") or data.get("resolved_via")) == "console":
        text = _("decided by %(who)s on %(when)s", who=who, when=when)
    else:
        text = _("decided by hand on the command line (%(who)s) on %(when)s", who=who, when=when)
    return text[:1].upper() + text[1:] if start else text


#: A key made of a side and an internal id (``kleanapp:17``): a record with no customer number.
_INTERNAL_KEY = re.compile(r"^(kleanapp|sevdesk):\S+$")


def _record(key: Any, label: Any = None, entity: Any = "customer") -> str:
    """A record as a person knows it: its customer number (or name), never an internal id.

    A unit is known by its name alone (its key is the matcher's canonical unit).
    """
    text = "" if key is None else str(key)
    if str(entity).lower() == "unit" and label:
        return str(label)
    if _INTERNAL_KEY.match(text) or not text:
        return str(label) if label else _("(no customer number)")
    return f"{text} {label}" if label and label != text else text


def _number(value: Any, decimals: int | None = None) -> str:
    try:
        return format_number(float(value), decimals=decimals)
    except (TypeError, ValueError):
        return _show(value)


def _value(value: Any, field: Any = None) -> str:
    """A field value as the admin reads it (``kind`` company -> Firma, yes/no)."""
    return _show(value_label(field, value))


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
    extensions=["jinja2.ext.i18n"],
    # A key missing from an old or odd stored run renders empty rather than losing the
    # whole report: the run already happened, its report must still come out.
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext,
    lambda one, many, n: translations(current_language()).ngettext(one, many, n),
    newstyle=True,
)
_env.filters.update(
    show=_show,
    local=_local,
    decision=decision,
    side=side_label,
    entity=entity_label,
    field=field_label,
    value=_value,
    record=_record,
    label=label,
    number=_number,
    known=lambda r: known_as(dict(r)) if r else "",
    changed_fields=_changed_fields,
    md=_md,
    facts=lambda r: facts_line(dict(r)) if r else "",
    decided=_decided,
)


def template_filters() -> dict[str, Any]:
    """The report's template filters (the admin console names records and values alike)."""
    return dict(_env.filters)


def _template(name: str, view: dict[str, Any], tz: str, **extra: Any) -> str:
    return _env.get_template(name).render(
        view=view,
        tz=tz,
        lang=current_language(),
        why=Phrases.for_view(view, tz),
        headline=headline(view),
        **extra,
    )


def render(view: dict[str, Any], fmt: str, *, tz: str = "UTC", lang: str | None = None) -> str:
    """One report format as text (``html``, ``json``, ``csv`` or ``md``).

    HTML and Markdown speak ``lang`` (default: the current language,
    ``reconciler.domain.i18n``); JSON and CSV are machine formats and stay English.
    """
    with using(lang):
        return _render(view, fmt, tz)


def _render(view: dict[str, Any], fmt: str, tz: str) -> str:
    if fmt == "json":
        text = json.dumps(view, indent=2, ensure_ascii=False, default=str) + "\n"
    elif fmt == "csv":
        text = render_csv(view)
    elif fmt in ("html", "md"):
        text = _template(f"report.{fmt}.j2", view, tz)
    else:
        raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    return redact(text)


def render_mail_text(
    view: dict[str, Any], *, tz: str = "UTC", limit: int = 20, lang: str | None = None
) -> str:
    """The plain-text e-mail body: the summary and what needs an admin (in ``lang``)."""
    with using(lang):
        return redact(_template("mail.txt.j2", view, tz, limit=limit))


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
