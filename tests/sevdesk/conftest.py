"""Fixtures for talking to the sevDesk emulator as a client that knows only sevDesk's docs.

Every response of the ``client`` fixture is validated against the vendored
``../shared/sevdesk/openapi.yaml`` plus the documented overlay
(``tests/sevdesk_overlay.py``) by the shared ``SpecChecker``, hooked in as an
httpx response hook. The checker is session-wide, so its ``covered`` set
lets the last test of ``test_emulator.py`` prove that every spec'd operation
the emulator implements was exercised.

``/_sandbox/`` controls go through the separate ``sandbox`` client: they are
not part of sevDesk's API, so nothing there is spec-checked.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from sandbox.common import SandboxControl
from sandbox.sevdesk import create_app

TESTS = Path(__file__).resolve().parents[1]
SPEC = TESTS.parents[1] / "shared" / "sevdesk" / "openapi.yaml"
ROOT = "http://sevdesk.test"
API = f"{ROOT}/api/v1"
TOKEN = "b7794de0085f5cd00560f160f290af38"


def load_test_module(name: str) -> ModuleType:
    """A module from tests/ by file path (tests/ is not a package)."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, TESTS / f"{name}.py")
        assert spec and spec.loader, f"tests/{name}.py is missing"
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def path_template(path: str) -> str:
    """``/Invoice/{invoiceId}/getXml`` -> ``/Invoice/{}/getXml``: spec and routes compared alike."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def served_operations(app: Any) -> set[tuple[str, str]]:
    """(METHOD, path template) of every API route the emulator serves."""
    starlette = app.app.app
    mount = next(r for r in starlette.routes if isinstance(r, Mount))
    return {
        (method, path_template(route.path))
        for route in mount.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


@pytest.fixture(scope="session")
def checker() -> Any:
    """One SpecChecker for the whole run (the spec is compiled once per process)."""
    spec_check = load_test_module("spec_check")
    overlay = load_test_module("sevdesk_overlay")
    return spec_check.SpecChecker(SPEC, server_url=API, overlay=overlay.apply)


@pytest.fixture(scope="session")
def tests_run() -> set[str]:
    """Names of the tests that ran (the coverage test only judges a full run)."""
    return set()


@pytest.fixture(autouse=True)
def _record_run(request: pytest.FixtureRequest, tests_run: set[str]) -> None:
    tests_run.add(request.node.originalname)


@pytest.fixture
def emulator() -> SandboxControl:
    return create_app(TOKEN)


@pytest.fixture
def api_client(checker: Any) -> Callable[..., httpx.AsyncClient]:
    """Makes spec-checked sevDesk clients for any emulator app and headers."""

    def make(app: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=API,
            headers={"Authorization": TOKEN} if headers is None else headers,
            event_hooks={"response": [checker.hook]},
        )

    return make


@pytest.fixture
async def client(
    emulator: SandboxControl, api_client: Callable[..., httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """base_url is /api/v1 with the raw token header; every response spec-checked."""
    async with api_client(emulator) as c:
        yield c


@pytest.fixture
async def sandbox(emulator: SandboxControl) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's /_sandbox/ control API."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url=f"{ROOT}/_sandbox"
    ) as c:
        yield c
