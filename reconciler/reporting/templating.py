"""The one Jinja2 setup of every page kleansync renders: the run reports and the admin console.

Why one: the console shows the same records, fields, values and times as the
HTML report, so it must name them the same way, in the reader's language,
through the same catalogue. ``environment(package)`` gives each its own
templates (``<package>/templates``) with the same settings, gettext and
filters; nothing else builds a ``jinja2.Environment``.

The settings: autoescape for HTML (a customer called ``<script>`` is text),
``jinja2.ext.i18n`` with the catalogue's gettext/ngettext (new style: ``{{
_("…", name=value) }}``), and ``ChainableUndefined``: a key missing from an old
or odd stored run renders empty rather than losing the whole report (the run
already happened, its report must still come out).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import jinja2

from reconciler.domain.i18n import (
    _,
    current_language,
    format_datetime,
    format_number,
    gettext,
    translations,
)
from reconciler.domain.labels import entity_label, field_label, side_label, value_label
from reconciler.reporting.evidence import facts_line
from reconciler.reporting.phrases import known_as
from reconciler.reporting.view import as_time
from reconciler.reporting.words import decision, label

__all__ = ["FILTERS", "environment", "show"]


def show(value: Any) -> str:
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
        return show(value)


def _value(value: Any, field: Any = None) -> str:
    """A field value as the admin reads it (``kind`` company -> Firma, yes/no)."""
    return show(value_label(field, value))


def _changed_fields(change: dict[str, Any]) -> dict[str, Any]:
    """What a change writes, as shown: a create lists only the fields it sets."""
    fields = change.get("fields") or {}
    if change.get("op") == "create":
        return {k: v for k, v in fields.items() if v is not None and v is not False}
    return dict(fields)


def _md(value: Any) -> str:
    """A value safe inside a Markdown table cell."""
    text = show(value) if not isinstance(value, str) else value
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


#: The filters every template has (``{{ c.key|record(c.label) }}``, ``{{ at|local(tz) }}``, …).
FILTERS: dict[str, Callable[..., Any]] = {
    "show": show,
    "local": _local,
    "decision": decision,
    "side": side_label,
    "entity": entity_label,
    "field": field_label,
    "value": _value,
    "record": _record,
    "label": label,
    "number": _number,
    "known": lambda r: known_as(dict(r)) if r else "",
    "changed_fields": _changed_fields,
    "md": _md,
    "facts": lambda r: facts_line(dict(r)) if r else "",
    "decided": _decided,
}


def environment(
    package: str,
    *,
    autoescape: bool | Callable[[str | None], bool] = True,
    keep_trailing_newline: bool = False,
) -> jinja2.Environment:
    """The templates of ``package`` (its ``templates`` folder) with the shared settings,
    the catalogue's gettext and ``FILTERS``."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=autoescape,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=keep_trailing_newline,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext,
        lambda one, many, n: translations(current_language()).ngettext(one, many, n),
        newstyle=True,
    )
    env.filters.update(FILTERS)
    return env
