"""What ``kleansync conflicts show`` prints: one conflict or parked record, for a person.

Its own module so ``reconciler.cli.admin`` stays the commands themselves.
The stored item is English (``--json`` prints it as it is); here its code
words, field names, the planner's "why" and its times are said in the
reader's language and time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconciler.domain.i18n import _, format_datetime
from reconciler.domain.labels import entity_word, field_label
from reconciler.domain.models import SIDE_LABEL

__all__ = ["show_lines", "status_word", "value_text"]


def status_word(status: Any) -> str:
    from reconciler.admin.status import status_word as word

    return word(status)


def value_text(value: Any) -> str:
    return _("(not set)") if value is None else repr(value)


def _when(value: Any, tz: str) -> str:
    if not value:
        return "-"
    try:
        return format_datetime(dt.datetime.fromisoformat(str(value)), tz)
    except ValueError:
        return str(value)


def _conflict_lines(data: dict[str, Any], tz: str) -> list[str]:
    from reconciler.reporting.phrases import Phrases
    from reconciler.reporting.words import decision, label

    lines = [
        _(
            "%(id)s: %(entity)s %(key)s, field %(field)s (%(status)s)",
            id=data["id"],
            entity=entity_word(data["entity"]),
            key=data["key"],
            field=field_label(data["field"]),
            status=status_word(data["status"]),
        ),
        "  " + _("base (last agreed): %(value)s", value=value_text(data["base"])),
        f"  KleanApp:           {value_text(data['kleanapp'])}",
        f"  sevDesk:            {value_text(data['sevdesk'])}",
        "  "
        + _(
            "rule: %(rule)s; decision: %(decision)s",
            rule=label(data["rule"], "rule"),
            decision=decision(data["decision"]),
        ),
        "  " + _("why: %(why)s", why=Phrases(tz=tz)(data["reason"])),
        "  "
        + _(
            "seen in run %(run)s at %(when)s",
            run=data["run_id"],
            when=_when(data["created_at"], tz),
        ),
    ]
    resolution = data["resolution"]
    if resolution:
        take = resolution.get("take")
        value = value_text(resolution.get("value"))
        args = {"by": data["resolved_by"], "when": _when(data["resolved_at"], tz), "value": value}
        lines.append(
            "  "
            + (
                _(
                    "resolved by %(by)s at %(when)s: %(value)s (taken from %(side)s)",
                    side=SIDE_LABEL[take],
                    **args,
                )
                if take
                else _("resolved by %(by)s at %(when)s: %(value)s", **args)
            )
        )
    return lines


def _parked_lines(data: dict[str, Any], tz: str) -> list[str]:
    from reconciler.reporting.phrases import Phrases

    why = Phrases(tz=tz)
    lines = [
        _(
            "%(id)s: %(entity)s %(record)s, number %(key)s (%(status)s)",
            id=data["id"],
            entity=entity_word(data["entity"]),
            record=data["record"],
            key=data["key"],
            status=status_word(data["status"]),
        ),
        "  " + _("why: %(why)s", why=why(data["reason"])),
    ]
    if data.get("evidence") or data.get("details"):
        from reconciler.reporting.evidence import evidence_lines

        lines += evidence_lines(data.get("details"), data.get("evidence") or [])
    else:
        candidates = ", ".join(data["candidates"]) or _("none")
        lines.append("  " + _("candidates: %(candidates)s", candidates=candidates))
    lines.append(
        "  "
        + _(
            "seen in run %(run)s at %(when)s",
            run=data["run_id"],
            when=_when(data["created_at"], tz),
        )
    )
    res = data["resolution"]
    if res:
        what = (
            _("link with %(other)s", other=res["with"])
            if res["action"] == "link"
            else _("create anew")
        )
        done = _("applied") if res["applied"] else _("applied by the next run")
        lines.append(
            "  "
            + _(
                "settled by %(by)s at %(when)s: %(what)s (%(done)s)",
                by=res["by"],
                when=_when(res["at"], tz),
                what=what,
                done=done,
            )
        )
    return lines


def show_lines(data: dict[str, Any], tz: str = "UTC") -> list[str]:
    """``conflicts show`` for people: the item, its values, why, and how it was answered."""
    if data["kind"] == "conflict":
        return _conflict_lines(data, tz)
    return _parked_lines(data, tz)
