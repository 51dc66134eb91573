"""The console's Starlette app: login, logout, the guard every page and action passes.

``Console(...).app`` is mounted at ``/console`` of ``kleansync serve``
(``reconciler.console.attach``); /healthz, /metrics and the webhook receiver
stay as they are. The pages themselves live in ``pages_*`` modules, each a
list of routes whose handlers take the request and the logged-in admin.

The guard (``Console.guard``): without a valid session a page answers with a
redirect to the login page, an htmx or ``/api/`` request with 401; a request
that changes something (POST) without the session's CSRF token answers 403
and does nothing. Closed by default: with no account in the store the login
page says how to make one, and nothing else opens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.config import Config
from reconciler.console.accounts import Gate
from reconciler.console.actions import Actions
from reconciler.console.render import SECURITY_HEADERS, page, plain, static
from reconciler.console.sessions import CSRF_FIELD, CSRF_HEADER, Current, Sessions
from reconciler.domain.i18n import _, format_number
from state import Store
from state.console_tables import ConsoleTables, utcnow

PREFIX = "/console"

Handler = Callable[[Request, Current], Awaitable[Response]]


@dataclass(frozen=True)
class ConsoleSettings:
    """``[console]``: the idle timeout, the cookie's Secure flag and the throttle."""

    enabled: bool = True
    idle: dt.timedelta = dt.timedelta(minutes=30)
    secure_cookie: bool = False
    max_failures: int = 10
    window: dt.timedelta = dt.timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Config) -> ConsoleSettings:
        section = config.console
        return cls(
            enabled=section.enabled,
            idle=dt.timedelta(minutes=section.idle_minutes),
            secure_cookie=section.secure_cookie,
            max_failures=section.max_failures,
            window=dt.timedelta(minutes=section.throttle_minutes),
        )


#: The largest form body read (the console's forms are a few fields).
MAX_FORM_BYTES = 64 * 1024


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """The posted form's (name, value) pairs (urlencoded; the console sends nothing else),
    read once per request.

    Parsed with the standard library: Starlette's own form parser needs another
    package (python-multipart) for what ``parse_qsl`` does for these forms.
    """
    cached = getattr(request.state, "form_pairs", None)
    if cached is not None:
        return list(cached)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            body = b""
            break
    pairs: list[tuple[str, str]] = []
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    request.state.form_pairs = pairs
    return list(pairs)


async def form_of(request: Request) -> dict[str, str]:
    """The posted form, the first value of each name."""
    form: dict[str, str] = {}
    for name, value in await form_pairs(request):
        form.setdefault(name, value)
    return form


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _safe_next(target: str | None) -> str:
    """Only a console path: a login link must never send the admin to another site."""
    bad = not target or not target.startswith(PREFIX + "/") or "\\" in target or "//" in target
    return PREFIX + "/" if bad or target is None else target


class Console:
    """Everything behind ``/console``; ``actions`` does what needs the two services."""

    def __init__(
        self,
        config: Config,
        store: Store,
        actions: Actions,
        *,
        settings: ConsoleSettings | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.actions = actions
        self.settings = settings = settings or ConsoleSettings.from_config(config)
        self.clock = clock
        self.tables = ConsoleTables(store)
        self.sessions = Sessions(
            self.tables, idle=settings.idle, secure_cookie=settings.secure_cookie
        )
        self.gate = Gate(store, max_failures=settings.max_failures, window=settings.window)
        from reconciler.console import pages_conflicts, pages_overview, pages_queue, pages_work

        routes: list[BaseRoute] = [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.guard(self.logout), methods=["POST"]),
            Route("/static/{name}", self.static_file, methods=["GET"]),
        ]
        for module in (pages_overview, pages_conflicts, pages_queue, pages_work):
            for path, handler, methods in module.routes(self):
                routes.append(Route(path, self.guard(handler), methods=methods))
        self.app = Starlette(routes=routes)

    # -- rendering --------------------------------------------------------------------------
    def render(
        self, name: str, current: Current | None, *, status: int = 200, **ctx: Any
    ) -> Response:
        """A page, with what every page shows (who is logged in, the CSRF token for htmx)."""
        return page(
            name,
            status=status,
            user=current.user if current else None,
            csrf=current.csrf if current else "",
            prefix=PREFIX,
            tz=self.config.schedule.timezone,
            **ctx,
        )

    # -- the guard --------------------------------------------------------------------------
    def guard(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            current = (
                self.sessions.current(request, self.clock()) if self.settings.enabled else None
            )
            if current is None:
                return self.refuse(request)
            if request.method != "GET":
                sent = request.headers.get(CSRF_HEADER)
                if sent is None:
                    sent = (await form_of(request)).get(CSRF_FIELD)
                if not self.sessions.csrf_ok(current, sent):
                    return plain(_("The form has expired; reload the page."), status=403)
            return await handler(request, current)

        return endpoint

    def refuse(self, request: Request) -> Response:
        """No session: htmx and API calls get 401, pages the way to the login."""
        if is_htmx(request) or request.url.path.startswith(PREFIX + "/api/"):
            response = plain(_("Not logged in (or the session ended)."), status=401)
            response.headers["HX-Redirect"] = PREFIX + "/login"
            return response
        target = request.url.path if request.method == "GET" else PREFIX + "/"
        location = f"{PREFIX}/login?next={quote(target)}"
        return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)

    # -- login and logout -------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        return self._login_page(request, next_url=request.query_params.get("next"))

    def _login_page(
        self,
        request: Request,
        *,
        next_url: str | None,
        problem: str | None = None,
        status: int = 200,
    ) -> Response:
        closed = not self.settings.enabled or self.tables.user_count() == 0
        token, cookie = ("", None) if closed else self.sessions.login_token(request)
        response = self.render(
            "login.html.j2",
            None,
            status=status,
            closed=closed,
            disabled=not self.settings.enabled,
            problem=problem,
            next_url=_safe_next(next_url),
            login_token=token,
        )
        self.sessions.set_login_cookie(request, response, cookie)
        return response

    async def login(self, request: Request) -> Response:
        form = await form_of(request)
        name, password = form.get("name", ""), form.get("password", "")
        next_url = form.get("next", "")
        if not self.settings.enabled or self.tables.user_count() == 0:
            return self._login_page(request, next_url=next_url, status=403)
        if not self.sessions.login_token_ok(request, form.get(CSRF_FIELD)):
            return plain(_("The form has expired; reload the page."), status=403)
        address = request.client.host if request.client else "unknown"
        now = self.clock()
        verdict = self.gate.attempt(name, password, address, now)
        if verdict.outcome == "throttled":
            minutes = max(1, round((verdict.retry_after or dt.timedelta()).total_seconds() / 60))
            problem = _(
                "Too many wrong passwords. Try again in %(minutes)s minutes.",
                minutes=format_number(minutes),
            )
            return self._login_page(request, next_url=next_url, problem=problem, status=429)
        if verdict.outcome != "ok" or verdict.user is None:
            problem = _("Name or password is wrong.")
            return self._login_page(request, next_url=next_url, problem=problem, status=401)
        response = RedirectResponse(_safe_next(next_url), status_code=303, headers=SECURITY_HEADERS)
        self.sessions.open(request, response, verdict.user, now)
        return response

    async def logout(self, request: Request, current: Current) -> Response:
        response = RedirectResponse(PREFIX + "/login", status_code=303, headers=SECURITY_HEADERS)
        self.sessions.end(response, current)
        if is_htmx(request):
            response.headers["HX-Redirect"] = PREFIX + "/login"
        return response

    async def static_file(self, request: Request) -> Response:
        return static(request.path_params["name"])


__all__ = ["PREFIX", "Console", "ConsoleSettings"]
