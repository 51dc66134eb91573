"""An in-process world for engine tests: both emulators, both connectors, a store.

Everything goes through the emulators' public APIs (the connectors use
nothing else); only the sandbox statistics are read through ``/_sandbox/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.config import Config, parse_config
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.models import Customer, Remote
from reconciler.sync.engine import SyncOptions, run_sync
from reconciler.sync.report import RunResult
from rules.normalize import normalize_record
from sandbox import kleanapp as kleanapp_sandbox
from sandbox import sevdesk as sevdesk_sandbox
from state import Store


@pytest.fixture(autouse=True)
def small_link_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full runs walk the links two at a time here (``StoredLinks``), not 2,000: every
    engine test then crosses batch edges, where a link lost or read twice would show."""
    import state.link_queries

    monkeypatch.setattr(state.link_queries, "READ_BATCH", 2)


K_URL = "http://kleanapp.test/api/v1"
S_URL = "http://sevdesk.test/api/v1"
K_TOKEN = "engine-test-kleanapp-token"
S_TOKEN = "engine-test-sevdesk-token-0123456"


@dataclass
class SyncEnv:
    tmp: Path
    kleanapp_app: Any
    sevdesk_app: Any
    k: KleanappConnector
    s: SevdeskConnector
    store: Store
    config: Config

    def configure(self, **sections: dict[str, Any]) -> None:
        """Replace config sections, e.g. ``rules={"default": "manual"}``."""
        data: dict[str, Any] = {
            "kleanapp": {"base_url": K_URL},
            "sevdesk": {"base_url": S_URL},
            "state": {"url": self.store.url},
            "report": {"dir": str(self.tmp / "reports")},
        }
        data.update(sections)
        self.config = parse_config(data)

    async def sync(self, **options: Any) -> RunResult:
        return await run_sync(
            self.config,
            SyncOptions(**options),
            connectors={"kleanapp": self.k, "sevdesk": self.s},
            store=self.store,
        )

    async def customers(self, side: str) -> dict[str, Remote[Customer]]:
        """Active customers of one side by customer number."""
        conn = self.k if side == "kleanapp" else self.s
        listing = await conn.customers.list_changed()
        out: dict[str, Remote[Customer]] = {}
        for remote in listing.records:
            if remote.record.archived:
                continue
            number = remote.record.customer_number
            assert number not in out, f"duplicate customer number {number} in {side}"
            out[number] = remote
        return out

    async def normalised(self, side: str) -> dict[str, dict[str, Any]]:
        return {
            n: normalize_record(r.record).model_dump(exclude={"archived"})
            for n, r in (await self.customers(side)).items()
        }

    async def unit_names(self, side: str) -> list[str]:
        conn = self.k if side == "kleanapp" else self.s
        return sorted(r.record.name for r in (await conn.units.list_changed()).records)

    async def writes(self) -> int:
        total = 0
        for app, base in ((self.kleanapp_app, K_URL), (self.sevdesk_app, S_URL)):
            root = base.removesuffix("/api/v1")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
                total += (await c.get(f"{root}/_sandbox/stats")).json()["total_writes"]
        return total

    async def dump(self) -> bytes:
        """Every record of both sides as the APIs return them (for byte comparisons)."""
        out = b""
        calls = [
            (
                self.kleanapp_app,
                K_URL,
                {"Authorization": f"Bearer {K_TOKEN}"},
                ["customers?include_archived=true&per_page=500", "units?per_page=500"],
            ),
            (
                self.sevdesk_app,
                S_URL,
                {"Authorization": S_TOKEN},
                [
                    "Contact?depth=1&limit=1000",
                    "ContactAddress?limit=1000",
                    "CommunicationWay?limit=1000",
                    "Unity?limit=1000",
                ],
            ),
        ]
        for app, base, headers, paths in calls:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), headers=headers
            ) as c:
                for path in paths:
                    r = await c.get(f"{base}/{path}")
                    assert r.status_code == 200
                    out += path.encode() + b"\n" + r.content + b"\n"
        return out


def customer(number: str, **fields: Any) -> Customer:
    base: dict[str, Any] = {
        "customer_number": number,
        "kind": "company",
        "company_name": f"Praxis {number}",
        "email": f"info@{number.lower()}.example.de",
        "phone": "030 1234567",
        "street": "Hauptstraße 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    base.update(fields)
    return Customer(**base)


def sync_env(tmp: Path, store: Store) -> SyncEnv:
    """A fresh pair of in-process emulators and their connectors, syncing into ``store``.

    Not yet configured (``configure`` writes the config); the caller closes the connectors
    and the store.
    """
    kleanapp_app = kleanapp_sandbox.create_app(K_TOKEN, rate_limit_rps=None)
    sevdesk_app = sevdesk_sandbox.create_app(S_TOKEN, legacy_unity_write=True)
    k = KleanappConnector(
        K_URL, K_TOKEN, requests_per_second=1000, transport=httpx.ASGITransport(app=kleanapp_app)
    )
    s = SevdeskConnector(
        S_URL, S_TOKEN, requests_per_second=1000, transport=httpx.ASGITransport(app=sevdesk_app)
    )
    return SyncEnv(tmp, kleanapp_app, sevdesk_app, k, s, store, None)  # type: ignore[arg-type]


@pytest.fixture
async def env(tmp_path: Path, state_url: str) -> AsyncIterator[SyncEnv]:
    store = Store(state_url)
    world = sync_env(tmp_path, store)
    world.configure()
    yield world
    await world.k.aclose()
    await world.s.aclose()
    store.close()


def future(minutes: int) -> dt.datetime:
    """A wall-clock instant ahead of now, for ordering edits with freezegun."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=minutes)
