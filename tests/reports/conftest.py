"""A real engine run with everything an admin report must show.

Both emulators answer in-process (``httpx.ASGITransport``); the engine
(``reconciler.sync.engine.run_sync``) runs against them with a state store in
``tmp_path``. The seed gives one run:

* a conflict left for an admin (K-1's e-mail differs, rule "manual") and
  one decided by a rule (K-1's city, "kleanapp-authoritative");
* a parked match (KleanApp's K-2 and K-4 share the e-mail of one unnumbered
  sevDesk contact: which one is it?);
* an admin task (KleanApp's unit "Einsatz" is missing in sevDesk);
* a quarantined record (a sevDesk contact with no name at all).

K-3, new in KleanApp and created in sevDesk by the run, is called
``<script>…</script> & Söhne GmbH``, so every rendering is also an escaping test.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

import sandbox.kleanapp
import sandbox.sevdesk
from reconciler.cli.admin import register
from reconciler.config import Config, load_config
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.sync.engine import SyncOptions, run_sync
from reconciler.sync.report import RunResult
from state import Store

SEV_API = "http://sevdesk.test/api/v1"
KLEAN_API = "http://kleanapp.test/api/v1"
SEV_TOKEN = "5e7de5c0ffee0123456789abcdefcafe"
KLEAN_TOKEN = "kleanapp-report-test-token-4711"
EVIL_NAME = '<script>alert("pwned")</script> & Söhne GmbH'


@dataclass
class World:
    tmp: Path
    config_path: Path
    config: Config
    store: Store
    sev: Any
    klean: Any

    async def sync(self, *, dry_run: bool = False) -> RunResult:
        klean = KleanappConnector(
            KLEAN_API,
            KLEAN_TOKEN,
            requests_per_second=1000,
            transport=httpx.ASGITransport(app=self.klean),
        )
        sev = SevdeskConnector(
            SEV_API,
            SEV_TOKEN,
            requests_per_second=1000,
            transport=httpx.ASGITransport(app=self.sev),
        )
        async with klean, sev:
            return await run_sync(
                self.config,
                SyncOptions(dry_run=dry_run, trigger="test"),
                connectors={"kleanapp": klean, "sevdesk": sev},
                store=self.store,
            )

    async def sandbox(self, app: Any, path: str, body: Any) -> Any:
        root = SEV_API if app is self.sev else KLEAN_API
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=root.removesuffix("/api/v1")
        ) as client:
            response = await client.post(f"/_sandbox/{path}", json=body)
            assert response.status_code < 300, response.text
            return response.json()


def _config_text(tmp: Path) -> str:
    return textwrap.dedent(
        f"""
        [sevdesk]
        base_url = "{SEV_API}"
        token_env = "KLEANSYNC_REPORTS_SEVDESK_TOKEN"

        [kleanapp]
        base_url = "{KLEAN_API}"
        token_env = "KLEANSYNC_REPORTS_KLEANAPP_TOKEN"

        [state]
        url = "sqlite:///{tmp / "state.db"}"

        [rules.fields]
        email = "manual"
        city = "kleanapp-authoritative"

        [schedule]
        cron = "0 2 * * *"
        timezone = "Europe/Berlin"

        [report]
        dir = "{tmp / "reports"}"
        """
    )


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the reports' content in English, the catalogue's source language.

    German, the default, is what tests/i18n reads (same content, other words).
    """
    monkeypatch.setenv("KLEANSYNC_LANG", "en")


def new_world(tmp_path: Path) -> World:
    """Both emulators, empty, and a state store in ``tmp_path``: what every report test starts from.

    The caller closes ``world.store``.
    """
    config_path = tmp_path / "config.toml"
    config_path.write_text(_config_text(tmp_path), encoding="utf-8")
    config = load_config(config_path)
    return World(
        tmp=tmp_path,
        config_path=config_path,
        config=config,
        store=Store(config.state.url),
        sev=sandbox.sevdesk.create_app(SEV_TOKEN),
        klean=sandbox.kleanapp.create_app(KLEAN_TOKEN, rate_limit_rps=None),
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = new_world(tmp_path)
    address = {"street": "Hauptstr. 1", "postal_code": "10115", "country": "DE"}
    await w.sandbox(
        w.klean,
        "bulk",
        {
            "units": [{"name": "Einsatz"}],
            "customers": [
                {
                    "customer_number": "K-1",
                    "kind": "company",
                    "company_name": "Glanz & Gloria Gebäudereinigung GmbH",
                    "email": "buero@kleanapp-seite.de",
                    "city": "Berlin",
                    **address,
                },
                # Two KleanApp customers (one company's two sites) share the name and e-mail
                # of one unnumbered sevDesk contact: nothing tells which one it is.
                {
                    "customer_number": "K-2",
                    "kind": "company",
                    "company_name": "Doppelt AG",
                    "email": "info@doppelt.de",
                },
                {
                    "customer_number": "K-4",
                    "kind": "company",
                    "company_name": "Doppelt AG",
                    "email": "info@doppelt.de",
                },
                {
                    "customer_number": "K-3",
                    "kind": "company",
                    "company_name": EVIL_NAME,
                    "email": "erika@example.de",
                },
            ],
        },
    )
    await w.sandbox(
        w.sev,
        "bulk",
        {
            "contacts": [
                {
                    "customer_number": "K-1",
                    "kind": "company",
                    "company_name": "Glanz & Gloria Gebäudereinigung GmbH",
                    "email": "rechnung@sevdesk-seite.de",
                    "city": "Potsdam",
                    **address,
                },
                {"kind": "company", "company_name": "Doppelt AG", "email": "info@doppelt.de"},
                # sevDesk-shaped, with no name at all: quarantined, never touched.
                {"customerNumber": "K-9", "category": {"id": 3, "objectName": "Category"}},
            ]
        },
    )
    try:
        yield w
    finally:
        w.store.close()


@pytest.fixture
def cli(world: World) -> Any:
    """Runs an admin command against the world's config; returns click's Result."""
    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        pass

    register(app)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        argv = list(args)
        # Options of the (sub)command come after the command words.
        words = 2 if argv and argv[0] == "conflicts" else 1
        argv[words:words] = ["--config", str(world.config_path)]
        return runner.invoke(app, argv, env={**os.environ})

    return invoke
