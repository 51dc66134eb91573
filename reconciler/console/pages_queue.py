"""Zuordnungen prüfen (parked matches) and Aufgaben (tasks) in the console.

A parked record is shown as ``kleansync conflicts show P…`` shows it
(``reconciler.admin.queue.show``: the record, each candidate with name,
address, e-mail, phone, customer number and the per-field evidence, as the
run saw them) and settled through ``link_parked``, the function behind
``kleansync conflicts link``: "ist derselbe Kunde" links it with that
candidate, "ist ein neuer Kunde" creates it anew on the other side.

Tasks are the one task list of ``kleansync status`` (``history.open_tasks``).
Only a person can do them (create a unit in sevDesk, fix an invoice), so
"erledigt" cannot do them either: it records who said so, and asks the
service for the run that checks (a sync, and the invoice poll that retries
held invoices). A task that the next run still finds is listed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reconciler.admin.history import open_tasks
from reconciler.admin.queue import QueueError, link_parked, show
from reconciler.admin.values import InvalidValue
from reconciler.console.app import form_of
from reconciler.console.render import SECURITY_HEADERS
from reconciler.console.sessions import Current
from reconciler.domain.i18n import _
from reconciler.reporting.phrases import Phrases
from state.console_tables import ConsoleTables, token_digest

if TYPE_CHECKING:
    from reconciler.console.app import Console


def _why(console: Console, items: list[dict[str, Any]] | None = None) -> Phrases:
    """The planner's sentences for people; with parked ``items``, records are named as the
    evidence knows them ("9001 „Hotel Adler GmbH“", never sevDesk's internal id)."""
    return Phrases.for_view({"parked": items or []}, console.config.schedule.timezone)


async def matches_page(console: Console, request: Request, current: Current) -> Response:
    items = [show(console.store, f"P{row.id}") for row in console.store.parked(("open",))]
    settled = request.query_params.get("settled")
    return console.render(
        "matches.html.j2",
        current,
        page="matches",
        items=items,
        why=_why(console, items),
        settled=settled if settled and settled[1:].isdigit() else None,
        problem=request.query_params.get("problem"),
    )


async def settle(console: Console, request: Request, current: Current) -> Response:
    ident = request.path_params["parked_id"]
    form = await form_of(request)
    with_id = form.get("with") or None
    try:
        link_parked(
            console.store,
            ident,
            with_id=with_id,
            create_new=with_id is None,
            by=current.user,
            via="console",
        )
    except (InvalidValue, QueueError) as exc:
        items = [show(console.store, f"P{row.id}") for row in console.store.parked(("open",))]
        return console.render(
            "matches.html.j2",
            current,
            status=400,
            page="matches",
            items=items,
            why=_why(console, items),
            problem=str(exc),
        )
    if console.actions.jobs is not None:
        console.actions.jobs.request_reconcile()  # the answer is carried out soon
    location = f"/console/matches?settled={ident.upper()}"
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


def task_list(console: Console) -> list[dict[str, Any]]:
    done = ConsoleTables(console.store).tasks_done()
    latest = console.store.last_run(with_result=True)
    since = latest.started_at if latest else None
    tasks = []
    for task in open_tasks(console.store, latest):
        mark = done.get(token_digest(str(task.get("message"))))
        # Said to be done after the last run: waiting for the next run's check.
        if mark is not None and (since is None or mark.at > since):
            tasks.append({**task, "done_by": mark.by, "done_at": mark.at})
        else:
            tasks.append({**task, "done_by": None, "done_at": None})
    return tasks


async def tasks_page(console: Console, request: Request, current: Current) -> Response:
    return console.render(
        "tasks.html.j2", current, page="tasks", tasks=task_list(console), why=_why(console)
    )


async def task_done(console: Console, request: Request, current: Current) -> Response:
    form = await form_of(request)
    message = form.get("message", "")
    known = {str(t.get("message")) for t in task_list(console)}
    if message not in known:
        return console.render(
            "message.html.j2", current, status=404, text=_("This task is no longer open.")
        )
    ConsoleTables(console.store).task_done(message, current.user, console.clock())
    jobs = console.actions.jobs
    if jobs is not None:
        jobs.request_reconcile()
        jobs.enqueue_export("poll", None)  # held invoices are tried again
    return RedirectResponse("/console/tasks", status_code=303, headers=SECURITY_HEADERS)


def routes(console: Console) -> list[tuple[str, Any, list[str]]]:
    async def matches(request: Request, current: Current) -> Response:
        return await matches_page(console, request, current)

    async def settle_action(request: Request, current: Current) -> Response:
        return await settle(console, request, current)

    async def tasks(request: Request, current: Current) -> Response:
        return await tasks_page(console, request, current)

    async def done_action(request: Request, current: Current) -> Response:
        return await task_done(console, request, current)

    return [
        ("/matches", matches, ["GET"]),
        ("/matches/{parked_id}/settle", settle_action, ["POST"]),
        ("/tasks", tasks, ["GET"]),
        ("/tasks/done", done_action, ["POST"]),
    ]


__all__ = ["routes", "task_list"]
