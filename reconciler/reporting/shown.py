"""What a person's report shows of a big run: the summary, the first rows of each kind, a count.

Why: a first sync of 10,000 customers plans 10,000 creates, and a report
listing each of them is megabytes of HTML that neither a browser on a phone
nor an e-mail client opens gladly, while nobody reads past the first rows.
So the HTML and Markdown reports and the e-mail show the counts, the first
``[report] shown_rows`` rows of each kind (changes per system), and a line
"… und 9.950 weitere (vollständig in der JSON-Datei …)"; the JSON file next
to them holds every row (up to ``[report] max_rows`` and ``max_kb``, the
bound of every file; when it holds fewer, the line says how many).
"""

from __future__ import annotations

from typing import Any

from reconciler.domain.i18n import _, format_number

__all__ = ["SHOWN_ROWS", "more_line", "shown_view"]

#: Rows per kind in the HTML and Markdown report and the e-mail (``[report] shown_rows``).
SHOWN_ROWS = 50

#: The lists of a view shown as rows, with the summary key that counts all of them.
_SECTIONS = (
    ("errors", "errors"),
    ("conflicts", "conflicts"),
    ("decisions", None),
    ("parked", "parked"),
    ("tasks", "tasks"),
    ("quarantined", "quarantined"),
    ("skipped", "skipped"),
    ("recovered", "recovered"),
)


def shown_view(view: dict[str, Any], rows: int, json_file: str) -> dict[str, Any]:
    """``view`` with each list cut to its first ``rows`` rows and ``more`` saying what is not shown.

    ``more`` maps a section (``changes.kleanapp`` and ``changes.sevdesk`` for
    the changes) to ``{"more": not shown, "kept": rows in the JSON file,
    "total": rows the run had}``; sections shown whole are not in it.
    """
    out = dict(view)
    more: dict[str, dict[str, int]] = {}
    summary = view.get("summary") or {}
    for name, counted in _SECTIONS:
        items = view.get(name) or []
        total = max(int(summary.get(counted, 0) or 0), len(items)) if counted else len(items)
        if total > rows:
            out[name] = items[:rows]
            more[name] = {"more": total - min(rows, len(items)), "kept": len(items), "total": total}
    changes = view.get("changes") or []
    by_side = summary.get("changes_by_side") or {}
    kept: list[dict[str, Any]] = []
    for side in ("kleanapp", "sevdesk"):
        mine = [c for c in changes if c.get("side") == side]
        total = max(int(by_side.get(side, 0) or 0), len(mine))
        kept += mine[:rows]
        if total > rows:
            shown = min(rows, len(mine))
            more[f"changes.{side}"] = {"more": total - shown, "kept": len(mine), "total": total}
    kept += [c for c in changes if c.get("side") not in ("kleanapp", "sevdesk")][:rows]
    out["changes"] = kept
    out["more"] = more
    out["json_file"] = json_file
    return out


def more_line(more: dict[str, int] | None, json_file: str) -> str:
    """ "… und 9.950 weitere (vollständig in der JSON-Datei …)" for one section; "" if none."""
    if not more:
        return ""
    n = format_number(more["more"])
    if more["kept"] >= more["total"]:
        return _(
            "… and %(more)s more (all of them in the JSON file %(file)s)", more=n, file=json_file
        )
    return _(
        "… and %(more)s more (the JSON file %(file)s holds %(kept)s of all %(total)s, "
        "the rest is only counted)",
        more=n,
        file=json_file,
        kept=format_number(more["kept"]),
        total=format_number(more["total"]),
    )
