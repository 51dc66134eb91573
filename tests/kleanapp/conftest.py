"""Fixtures for talking to the KleanApp emulator as a contract-only client.

Every response the ``client`` fixture receives is validated against
``../shared/kleanapp/openapi.yaml`` by the shared ``SpecChecker`` (an httpx
response hook), so a test that passes also proves the emulator answered in
the contract's shape. The checker is session-wide: its ``covered`` set lets
the last test assert that every path and method of the contract was met.

Webhook deliveries go in-process to a :class:`Receiver` (a small Starlette
app behind ``httpx.ASGITransport``); retries wait 0 s so tests stay fast.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.kleanapp import KleanappSandbox, create_app

TESTS = Path(__file__).resolve().parents[1]
SPEC = TESTS.parents[1] / "shared" / "kleanapp" / "openapi.yaml"
BASE = "http://kleanapp.test"
API = f"{BASE}/api/v1"
TOKEN = "test-kleanapp-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOOK_URL = "http://receiver.test/hooks"


def _spec_checker_class() -> Any:
    """tests/spec_check.py's SpecChecker, loaded by path (tests/ is no package)."""
    module = sys.modules.get("spec_check")
    if module is None:
        spec = importlib.util.spec_from_file_location("spec_check", TESTS / "spec_check.py")
        assert spec and spec.loader, "tests/spec_check.py is missing"
        module = importlib.util.module_from_spec(spec)
        sys.modules["spec_check"] = module
        spec.loader.exec_module(module)
    return module.SpecChecker


def contract_conventions(spec: dict[str, Any]) -> None:
    """Spell out, per operation, the error answers the contract's conventions promise.

    The contract states once, in prose, that every call needs the bearer token
    and is rate-limited (429) and that errors share one body; a record id that
    does not exist is 404. Only some operations list these statuses, so they
    are added (with the shared Error body, never relaxing a success schema)
    where missing: 401 and 429 everywhere, 422 where a query or body is
    checked, 404 on /{id} paths. Nothing else is changed.
    """
    error = {"$ref": "#/components/responses/error"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            if "default" in responses:
                continue
            extra = ["401", "429"]
            if operation.get("parameters") or operation.get("requestBody"):
                extra.append("422")
            if "{id}" in path:
                extra.append("404")
            for status in extra:
                responses.setdefault(status, error)


@pytest.fixture(scope="session")
def checker() -> Any:
    return _spec_checker_class()(SPEC, server_url=API, overlay=contract_conventions)


@pytest.fixture(scope="session")
def tests_run() -> set[str]:
    """Names of the tests of this directory that ran (for the coverage test)."""
    return set()


@pytest.fixture(autouse=True)
def _record_run(request: pytest.FixtureRequest, tests_run: set[str]) -> None:
    tests_run.add(request.node.originalname)


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint that records what it got and fails on request."""

    calls: list[Call] = field(default_factory=list)
    fail_next: int = 0
    url: str = HOOK_URL

    async def endpoint(self, request: Request) -> Response:
        self.calls.append(Call(dict(request.headers), await request.body()))
        if self.fail_next > 0:
            self.fail_next -= 1
            return Response("boom", status_code=500)
        return Response(status_code=204)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.endpoint, methods=["POST"])])


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def emulator(receiver: Receiver) -> KleanappSandbox:
    """The emulator without its rate limit (tests of paging would trip it)."""
    return create_app(
        TOKEN,
        rate_limit_rps=None,
        webhook_transport=httpx.ASGITransport(app=receiver.app),
        webhook_retry_delays=(0, 0, 0),
    )


@pytest.fixture
def api_client(checker: Any) -> Callable[..., httpx.AsyncClient]:
    """Makes spec-checked contract clients for any emulator app and headers."""

    def make(app: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=API,
            headers=AUTH if headers is None else headers,
            event_hooks={"response": [checker.hook]},
        )

    return make


@pytest.fixture
async def client(
    emulator: KleanappSandbox, api_client: Callable[..., httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A contract client: base_url is /api/v1, every response spec-checked."""
    async with api_client(emulator) as c:
        yield c


@pytest.fixture(scope="session")
def contract_operations() -> set[tuple[str, str]]:
    """Every (METHOD, path template) the contract defines."""
    spec = yaml.safe_load(SPEC.read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


@pytest.fixture
async def sandbox(emulator: KleanappSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """The /_sandbox/ controls (not part of the contract, so not spec-checked)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url=f"{BASE}/_sandbox"
    ) as c:
        yield c
