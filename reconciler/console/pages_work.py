"""Läufe (history, "Probelauf jetzt", "Jetzt synchronisieren") and Rechnungen (exported invoices,
the backfill form with its dry-run preview) in the console.

Every run and export goes through ``reconciler.console.actions`` (the CLI's
``run_sync`` and ``export_invoices``). "Jetzt synchronisieren" is refused while
a run holds the lock, naming the holder and since when; the same refusal
comes back if a run took the lock between the check and the start
(``RunInProgress``). A backfill is previewed (the export's dry-run) before
anything is sent; the preview's form carries the same filters to "send".
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from reconciler.admin.history import all_runs, run_view
from reconciler.console.app import form_of, form_pairs
from reconciler.console.sessions import Current
from reconciler.domain.errors import KleansyncError, RunInProgress
from reconciler.domain.i18n import _, format_date
from reconciler.invoices.result import FORMATS, STATUSES, ExportFilters
from reconciler.invoices.runner import invoice_status

if TYPE_CHECKING:
    from reconciler.console.app import Console


def _holder_text(console: Console) -> str | None:
    holder = console.actions.lock_holder()
    if holder is None:
        return None
    return _(
        "A run holds the lock since %(since)s (%(holder)s, process %(pid)s); try again "
        "when it has finished.",
        since=holder.since.isoformat(),
        holder=holder.holder,
        pid=holder.pid,
    )


def _runs_page(console: Console, current: Current, *, status: int = 200, **ctx: Any) -> Response:
    runs = [run_view(r) for r in all_runs(console.store, 50, with_quiet=False)]
    holder = console.actions.lock_holder()
    return console.render(
        "runs.html.j2", current, status=status, page="runs", runs=runs, holder=holder, **ctx
    )


async def runs_page(console: Console, request: Request, current: Current) -> Response:
    return _runs_page(console, current)


async def dry_run(console: Console, request: Request, current: Current) -> Response:
    try:
        result = await console.actions.dry_run()
    except RunInProgress as exc:
        return _runs_page(console, current, status=409, problem=str(exc))
    except KleansyncError as exc:
        return _runs_page(console, current, status=502, problem=str(exc))
    lines = result.summary_lines(console.config.schedule.timezone)
    return _runs_page(console, current, plan=lines, plan_run=result.run_id)


async def sync_now(console: Console, request: Request, current: Current) -> Response:
    refused = _holder_text(console)
    if refused is not None:
        return _runs_page(console, current, status=409, problem=refused)
    try:
        result = await console.actions.sync_now()
    except RunInProgress as exc:
        return _runs_page(console, current, status=409, problem=str(exc))
    except KleansyncError as exc:
        return _runs_page(console, current, status=502, problem=str(exc))
    lines = result.summary_lines(console.config.schedule.timezone)
    return _runs_page(console, current, done=lines, done_run=result.run_id)


# -- invoices ---------------------------------------------------------------------------------
def _filters(form: dict[str, str], statuses: list[str]) -> tuple[ExportFilters, str]:
    """The backfill form as the export's filters and format; ``ValueError`` saying what is wrong."""
    try:
        start = dt.date.fromisoformat(form["from"]) if form.get("from") else None
        end = dt.date.fromisoformat(form["to"]) if form.get("to") else None
    except ValueError:
        raise ValueError(_("Enter the dates as the date fields offer them.")) from None
    if start and end and start > end:
        raise ValueError(
            _("Von %(start)s is after Bis %(end)s.", start=format_date(start), end=format_date(end))
        )
    wrong = [s for s in statuses if s not in STATUSES]
    fmt = form.get("format") or "draft"
    if wrong or fmt not in FORMATS:
        raise ValueError(_("Choose a status and a format from the lists."))
    return ExportFilters(date_from=start, date_to=end, statuses=tuple(statuses) or None), fmt


async def _invoices_page(
    console: Console, current: Current, *, status: int = 200, **ctx: Any
) -> Response:
    connectors = {str(k): c for k, c in console.actions.connectors.items()}
    try:
        items = await invoice_status(connectors=connectors, store=console.store)
        problem = ctx.pop("problem", None)
    except KleansyncError as exc:
        items, problem = [], str(exc)
    form = ctx.pop("form", None) or {"format": console.config.invoices.format}
    return console.render(
        "invoices.html.j2",
        current,
        status=status,
        page="invoices",
        items=items,
        problem=problem,
        form=form,
        statuses=STATUSES,
        formats=FORMATS,
        **ctx,
    )


async def invoices_page(console: Console, request: Request, current: Current) -> Response:
    return await _invoices_page(console, current)


async def export(console: Console, request: Request, current: Current, *, send: bool) -> Response:
    form = await form_of(request)
    chosen = [value for name, value in await form_pairs(request) if name == "status"]
    shown = {**form, "statuses": ",".join(chosen)}
    try:
        filters, fmt = _filters(form, chosen)
    except ValueError as exc:
        return await _invoices_page(console, current, status=400, problem=str(exc), form=shown)
    try:
        result = await console.actions.export(filters, fmt, dry_run=not send)
    except RunInProgress as exc:
        return await _invoices_page(console, current, status=409, problem=str(exc), form=shown)
    except KleansyncError as exc:
        return await _invoices_page(console, current, status=502, problem=str(exc), form=shown)
    lines = result.summary_lines()
    if send:
        return await _invoices_page(console, current, form=shown, sent=lines)
    return await _invoices_page(console, current, form=shown, preview=lines)


def routes(console: Console) -> list[tuple[str, Any, list[str]]]:
    async def runs(request: Request, current: Current) -> Response:
        return await runs_page(console, request, current)

    async def dry(request: Request, current: Current) -> Response:
        return await dry_run(console, request, current)

    async def real(request: Request, current: Current) -> Response:
        return await sync_now(console, request, current)

    async def invoices(request: Request, current: Current) -> Response:
        return await invoices_page(console, request, current)

    async def preview(request: Request, current: Current) -> Response:
        return await export(console, request, current, send=False)

    async def send(request: Request, current: Current) -> Response:
        return await export(console, request, current, send=True)

    return [
        ("/runs", runs, ["GET"]),
        ("/runs/dry-run", dry, ["POST"]),
        ("/runs/sync", real, ["POST"]),
        ("/invoices", invoices, ["GET"]),
        ("/invoices/preview", preview, ["POST"]),
        ("/invoices/export", send, ["POST"]),
    ]


__all__ = ["routes"]
