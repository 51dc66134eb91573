"""Konflikte: each open conflict side by side, decided with one click, changeable until applied.

The answers go through ``reconciler.admin.queue.resolve_conflict``, the function
behind ``kleansync conflicts resolve`` (a typed value is checked by the same
``validate_value``), with the logged-in admin as ``by``; the next sync writes
the value to both sides. An answer can be changed while it waits (status
"resolved"), but not while a run holds the lock: that run may be carrying it
out right now. (Should one slip in anyway, the run marks the conflict applied only
if the answer's ``revision`` is still the one it planned with, so the changed
answer waits for the next run instead of being lost.)

The bulk decision answers every open conflict of one field (the filter) with
one side's value, one ``resolve_conflict`` call each, so each is recorded
like a single answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reconciler.admin.queue import QueueError, conflict_view, resolve_conflict
from reconciler.admin.values import InvalidValue
from reconciler.console.app import form_of, is_htmx
from reconciler.console.render import SECURITY_HEADERS, page
from reconciler.console.sessions import Current
from reconciler.domain.i18n import _
from reconciler.domain.labels import field_label
from reconciler.domain.models import SIDES
from reconciler.reporting.phrases import Phrases
from state.tables import ConflictRow

if TYPE_CHECKING:
    from reconciler.console.app import Console

#: What the page lists: open conflicts and answers the next run has not carried out yet.
SHOWN = ("open", "resolved")


def _name(console: Console, row: ConflictRow) -> str:
    """The customer's name for the heading: as the run saw it (``label``), else as both sides
    last agreed (the link's base). A first link has no base yet, so the label comes first."""
    if row.label:
        return row.label
    link = console.store.get_link(row.link_id) if row.link_id is not None else None
    base = (link.base or {}) if link else {}
    if base.get("company_name"):
        return str(base["company_name"])
    return " ".join(str(base[k]) for k in ("first_name", "last_name") if base.get(k))


def card(console: Console, row: ConflictRow) -> dict[str, Any]:
    view = conflict_view(row)
    view["name"] = _name(console, row) if row.entity == "customer" else ""
    view["take"] = (row.resolution or {}).get("take") if row.status == "resolved" else None
    return view


def _context(console: Console, current: Current) -> dict[str, Any]:
    return {
        "why": Phrases(tz=console.config.schedule.timezone),
        "user": current.user,
        "csrf": current.csrf,
        "prefix": "/console",
        "tz": console.config.schedule.timezone,
    }


async def conflicts_page(console: Console, request: Request, current: Current) -> Response:
    rows = console.store.conflicts(SHOWN)
    fields: dict[str, int] = {}
    for row in rows:
        if row.status == "open":
            fields[row.field] = fields.get(row.field, 0) + 1
    chosen = request.query_params.get("field") or ""
    shown = [r for r in rows if not chosen or r.field == chosen]
    done = request.query_params.get("done")
    return console.render(
        "conflicts.html.j2",
        current,
        page="conflicts",
        cards=[card(console, r) for r in shown],
        fields=sorted(fields.items(), key=lambda item: field_label(item[0])),
        chosen=chosen,
        done=int(done) if done and done.isdigit() else None,
        why=Phrases(tz=console.config.schedule.timezone),
    )


def _answer_card(
    console: Console, current: Current, row: ConflictRow, *, problem: str | None, status: int
) -> Response:
    return page(
        "conflict_card.html.j2",
        status=status,
        c=card(console, row),
        problem=problem,
        **_context(console, current),
    )


async def decide(console: Console, request: Request, current: Current) -> Response:
    ident = request.path_params["conflict_id"]
    form = await form_of(request)
    take = form.get("take") or None
    value = form.get("value") if take is None else None
    problem = None
    row = None
    number = int(ident[1:]) if ident[:1] in "Cc" and ident[1:].isdigit() else 0
    existing = console.store.get_conflict(number) if number else None
    if existing is None:
        text = _("No such conflict.")
        return page("message.html.j2", status=404, text=text, **_context(console, current))
    holder = console.actions.lock_holder()
    try:
        if existing.status == "resolved" and holder is not None:
            raise QueueError(
                _("A run is carrying out the answers right now; change it after that run.")
            )
        row = resolve_conflict(
            console.store,
            f"C{number}",
            take=take,
            value=value,
            by=current.user,
            change=True,
            via="console",
        )
    except (InvalidValue, QueueError) as exc:
        problem = str(exc)
    row = row or console.store.get_conflict(number) or existing
    if is_htmx(request):
        return _answer_card(console, current, row, problem=problem, status=200)
    if problem:
        return _answer_card(console, current, row, problem=problem, status=400)
    return RedirectResponse(
        f"/console/conflicts#conflict-C{number}", status_code=303, headers=SECURITY_HEADERS
    )


async def bulk(console: Console, request: Request, current: Current) -> Response:
    """One side's value for every open conflict of one field (the page's filter)."""
    form = await form_of(request)
    field, take = form.get("field", ""), form.get("take", "")
    if take not in SIDES or not field:
        text = _("Choose a field and a side.")
        return page("message.html.j2", status=400, text=text, **_context(console, current))
    done = 0
    for row in console.store.conflicts(("open",)):
        if row.field != field:
            continue
        try:
            resolve_conflict(console.store, f"C{row.id}", take=take, by=current.user, via="console")
            done += 1
        except (InvalidValue, QueueError):
            continue  # answered meanwhile by someone else: theirs stands
    location = f"/console/conflicts?field={quote(field)}&done={done}"
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


def routes(console: Console) -> list[tuple[str, Any, list[str]]]:
    async def list_page(request: Request, current: Current) -> Response:
        return await conflicts_page(console, request, current)

    async def decide_action(request: Request, current: Current) -> Response:
        return await decide(console, request, current)

    async def bulk_action(request: Request, current: Current) -> Response:
        return await bulk(console, request, current)

    return [
        ("/conflicts", list_page, ["GET"]),
        ("/conflicts/bulk", bulk_action, ["POST"]),
        ("/conflicts/{conflict_id}/decide", decide_action, ["POST"]),
    ]


__all__ = ["routes"]
