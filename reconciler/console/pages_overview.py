"""Übersicht (the console's start page) and each run's report.

The health a person asks about first: when the sync last completed and how
long ago, when it runs next, whether both services answer and accept their
keys, and how much waits for someone (conflicts, parked matches, tasks,
errors, unreadable records); then the last 20 runs, each linked to its report.
The figures are ``kleansync status``'s (``reconciler.admin.status.status``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.admin.history import INVOICES, RunNotFound, find, kind_of
from reconciler.admin.status import status
from reconciler.console.render import SECURITY_HEADERS, plain
from reconciler.console.sessions import Current
from reconciler.domain.i18n import _, format_datetime, ngettext, using
from reconciler.reporting.invoice_data import invoice_run_data
from reconciler.reporting.render import render
from reconciler.reporting.view import build_view, run_data
from reconciler.sync import rejected_keys
from state.console_tables import quarantined_count

if TYPE_CHECKING:
    from reconciler.console.app import Console

COMPLETED = ("ok", "errors")


def age_text(delta: dt.timedelta) -> str:
    """ "vor 5 Minuten", "vor 3 Stunden", "vor 2 Tagen": how long ago, roughly."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return _("just now")
    if minutes < 120:
        return ngettext("%(num)d minute ago", "%(num)d minutes ago", minutes)
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(num)d hour ago", "%(num)d hours ago", hours)
    return ngettext("%(num)d day ago", "%(num)d days ago", hours // 24)


def overview_data(console: Console, now: dt.datetime) -> dict[str, Any]:
    store, config = console.store, console.config
    data = status(store, config, limit=20)
    runs = data["runs"]
    success = next(
        (
            r
            for r in runs
            if r.get("kind") != INVOICES and r["outcome"] in COMPLETED and not r["dry_run"]
        ),
        None,
    )
    last_success = None
    if success is not None:
        at = dt.datetime.fromisoformat(success["finished_at"] or success["started_at"])
        last_success = {
            "at": at.isoformat(),
            "age": age_text(now - at),
            "run_id": success["run_id"],
        }
    latest_sync = next((r for r in runs if r.get("kind") != INVOICES and not r["dry_run"]), None)
    refused = {
        a.key.removeprefix(rejected_keys.PREFIX).lower() for a in rejected_keys.rejected(store)
    }
    return {
        **data,
        "last_success": last_success,
        "errors": latest_sync["errors"] if latest_sync else 0,
        "quarantined": quarantined_count(store),
        "refused_keys": refused,
        "holder": console.actions.lock_holder(),
    }


async def overview(console: Console, request: Request, current: Current) -> Response:
    now = console.clock()
    data = overview_data(console, now)
    reach = await console.actions.reachability(now)
    services = []
    for side, name in (("kleanapp", "KleanApp"), ("sevdesk", "sevDesk")):
        state = reach[side].state if side in reach else "down"
        if side in data["refused_keys"]:
            state = "key"
        services.append({"name": name, "state": state})
    return console.render("overview.html.j2", current, page="overview", d=data, services=services)


async def report(console: Console, request: Request, current: Current) -> Response:
    """A run's HTML report, rendered again from the run history (``kleansync report ID``)."""
    try:
        run = find(console.store, request.path_params["run_id"])
    except RunNotFound as exc:
        return plain(str(exc), status=404)
    view = build_view(invoice_run_data(run) if kind_of(run) == INVOICES else run_data(run))
    text = render(view, "html", tz=console.config.schedule.timezone)
    # The report forbids every script and outside resource itself (its own CSP).
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"}
    headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(text, media_type="text/html", headers=headers)


def routes(console: Console) -> list[tuple[str, Any, list[str]]]:
    async def overview_page(request: Request, current: Current) -> Response:
        return await overview(console, request, current)

    async def report_page(request: Request, current: Current) -> Response:
        return await report(console, request, current)

    async def api_status(request: Request, current: Current) -> Response:
        with using("en"):  # like ``status --json``: English and stable
            data = status(console.store, console.config, limit=20)
        return JSONResponse(data, headers=SECURITY_HEADERS)

    return [
        ("/", overview_page, ["GET"]),
        ("/api/status", api_status, ["GET"]),
        ("/runs/{run_id}/report", report_page, ["GET"]),
    ]


__all__ = ["age_text", "format_datetime", "overview_data", "routes"]
