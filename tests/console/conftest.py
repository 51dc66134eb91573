"""The console in process: the engine tests' world (both emulators, connectors, a store) plus
the console's Starlette app, reached through ``httpx.ASGITransport`` like a browser would
(cookies kept by the client). ``Clock`` is the console's time, moved by hand (no sleeps).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from reconciler.console.accounts import add_user
from reconciler.console.actions import Actions
from reconciler.console.app import Console, ConsoleSettings
from tests.engine.conftest import SyncEnv, customer, env  # noqa: F401 - env is a fixture

PASSWORD = "Putzplan-2026!"
CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    """The console's clock: starts now, moves only when told."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class ConsoleWorld:
    env: SyncEnv
    console: Console
    clock: Clock
    base_url: str = "http://kleansync.test/console"

    def client(self, base_url: str | None = None) -> httpx.AsyncClient:
        """A browser: its own cookies, no redirects followed (the tests look at them)."""
        app = Starlette(routes=[Mount("/console", app=self.console.app)])
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=(base_url or self.base_url),
            follow_redirects=False,
        )

    def add_user(self, name: str = "anna", password: str = PASSWORD) -> str:
        return add_user(self.env.store, name, password)

    async def login(
        self, browser: httpx.AsyncClient, name: str = "anna", password: str = PASSWORD
    ) -> httpx.Response:
        form = await browser.get("/login")
        token = csrf_of(form.text)
        return await browser.post(
            "/login", data={"csrf": token, "name": name, "password": password, "next": "/console/"}
        )

    @contextlib.asynccontextmanager
    async def logged_in(self, name: str = "anna") -> AsyncIterator[httpx.AsyncClient]:
        """A browser with ``name`` logged in."""
        async with self.client() as browser:
            answer = await self.login(browser, name)
            assert answer.status_code == 303, answer.text
            yield browser


def csrf_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def make_console(world: SyncEnv, clock: Clock, **settings: Any) -> Console:
    actions = Actions(world.config, world.store, {"kleanapp": world.k, "sevdesk": world.s})
    return Console(
        world.config, world.store, actions, settings=ConsoleSettings(**settings), clock=clock
    )


@pytest.fixture
async def console_world(env: SyncEnv) -> AsyncIterator[ConsoleWorld]:  # noqa: F811
    clock = Clock()
    yield ConsoleWorld(env, make_console(env, clock), clock)


__all__ = ["PASSWORD", "Clock", "ConsoleWorld", "csrf_of", "customer", "make_console"]
