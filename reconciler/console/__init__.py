"""The admin console in the browser: ``/console`` of ``kleansync serve``, German by default.

A face like ``reconciler.cli``: every answer it records and every run or export
it starts goes through the same functions the CLI calls (``reconciler.admin``,
``reconciler.sync.engine``, ``reconciler.invoices.runner``), on the same state
store, so the CLI and the console always agree. Server-rendered pages
(``render.py``, templates beside it) with htmx for in-page actions; accounts,
sessions and the CSRF check in ``accounts.py``/``sessions.py``; the routes and
the guard in ``app.py``; one ``pages_*`` module per page.

May import: reconciler.service and everything below it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route

if TYPE_CHECKING:
    from reconciler.service.runner import Service


def attach(service: Service) -> None:
    """Mount the console at ``/console`` of the service's app (and ``/`` leads there)."""
    from reconciler.console.actions import Actions
    from reconciler.console.app import PREFIX, Console

    actions = Actions(service.config, service.store, service.connectors, jobs=service.jobs)
    console = Console(service.config, service.store, actions)
    if not console.settings.enabled:
        return

    async def home(request: object) -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=303)

    service.app.router.routes.extend(
        [Route("/", home, methods=["GET"]), Mount(PREFIX, app=console.app)]
    )
    service.console = console  # type: ignore[attr-defined]


__all__ = ["attach"]
