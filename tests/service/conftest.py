"""An in-process world for the service: both emulators, a ``Service`` wired to them.

Everything runs in the test's event loop over ``httpx.ASGITransport``:
the connectors talk to the emulators, and KleanApp's webhook deliveries go
to the service's own Starlette app (``Forward`` lets KleanApp's emulator be
created before the service that receives its deliveries). Nothing is mocked:
the service registers its webhook through KleanApp's API and KleanApp signs
and delivers events exactly as it would over the network.

``eventually`` waits for a condition with a deadline (never a fixed sleep).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.config import Config, parse_config
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.service.runner import Service, ServiceSettings
from sandbox import kleanapp as kleanapp_sandbox
from sandbox import sevdesk as sevdesk_sandbox
from state import Store

SEV_TOKEN = "5e3d1c0ffee0ddba11c0ffee0ddba11a"
KA_TOKEN = "service-test-kleanapp-token"
SEV_ROOT, KA_ROOT = "http://sevdesk.test", "http://kleanapp.test"
SEV_API, KA_API = f"{SEV_ROOT}/api/v1", f"{KA_ROOT}/api/v1"
PUBLIC_URL = "http://kleansync.test"
SECRET = "whsec-service-tests-0123456789"

CUSTOMERS = [
    {"customer_number": "K-00001", "kind": "company", "company_name": "Praxis Dr. Weber"},
    {"customer_number": "K-00002", "kind": "person", "first_name": "Eva", "last_name": "Schulz"},
]
for _i, _c in enumerate(CUSTOMERS, 1):
    _c.update(street=f"Hauptstraße {_i}", postal_code=f"5067{_i}", city="Köln", country="DE")


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, what: str = "condition"
) -> Any:
    """Await ``check()`` until it returns something truthy; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()  # the loop's clock: real even under freezegun
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def invoice_body(customer_id: int, **changes: Any) -> dict[str, Any]:
    body = {
        "customer_id": customer_id,
        "invoice_date": "2026-03-02",
        "delivery_date": "2026-02-27",
        "status": "open",
        "positions": [
            {
                "product_name": "Unterhaltsreinigung",
                "quantity": 4,
                "unit_name": "Std",
                "unit_price_net": 38,
                "tax_rate": 19,
            }
        ],
    }
    body.update(changes)
    return body


class Forward(httpx.AsyncBaseTransport):
    """A transport whose target is plugged in later (KleanApp → the service)."""

    def __init__(self) -> None:
        self.target: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.target is None:
            return httpx.Response(503)
        return await self.target.handle_async_request(request)


@dataclass
class World:
    tmp: Path
    sev_app: Any
    ka_app: Any
    ka: KleanappConnector
    sev: SevdeskConnector
    store: Store
    config: Config
    hooks: Forward
    sev_http: httpx.AsyncClient
    ka_ctl: httpx.AsyncClient
    customer_ids: dict[str, int] = field(default_factory=dict)
    service: Service | None = None

    @property
    def connectors(self) -> dict[str, Any]:
        return {"kleanapp": self.ka, "sevdesk": self.sev}

    def settings(self, **changes: Any) -> ServiceSettings:
        base = ServiceSettings(
            public_url=PUBLIC_URL,
            secret=SECRET,
            listen_port=0,
            debounce_seconds=0.2,
            poll_interval_seconds=3600,
        )
        return replace(base, **changes)

    async def start(self, **settings: Any) -> Service:
        """Start a service on this world (stopped by the fixture)."""
        service = Service(
            self.config,
            settings=self.settings(**settings),
            connectors=self.connectors,
            store=self.store,
        )
        self.hooks.target = httpx.ASGITransport(app=service.app)
        await service.start()
        await service.registration.ensure()
        self.service = service
        return service

    def receiver(self) -> httpx.AsyncClient:
        """A client posting straight to the service's receiver (as a forger would)."""
        assert self.service is not None
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.service.app), base_url=PUBLIC_URL
        )

    async def save_invoice(self, number: str = "K-00001", **changes: Any) -> dict[str, Any]:
        body = invoice_body(self.customer_ids[number], **changes)
        response = await self.ka_ctl.post("/invoices", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def sev_invoices_for(self, kleanapp_id: int | str) -> list[dict[str, Any]]:
        response = await self.sev_http.get("/Invoice", params={"limit": 1000})
        note = f"kleanapp:{kleanapp_id}"
        return [i for i in response.json()["objects"] if i.get("customerInternalNote") == note]

    async def deliveries(self) -> list[dict[str, Any]]:
        await self.ka_app.drain()
        return (await self.ka_ctl.get("/deliveries")).json()["data"]


def make_config(state_url: str, *, report_dir: Path, **sections: Any) -> Config:
    """The service's config; run reports go to ``report_dir`` (a test's own folder)."""
    data: dict[str, Any] = {
        "kleanapp": {"base_url": KA_API},
        "sevdesk": {"base_url": SEV_API},
        "state": {"url": state_url},
        "sync": {"units": "off"},
        "report": {"dir": str(report_dir)},
    }
    data.update(sections)
    return parse_config(data)


@pytest.fixture
async def world(tmp_path: Path, state_url: str) -> AsyncIterator[World]:
    hooks = Forward()
    sev_app = sevdesk_sandbox.create_app(SEV_TOKEN)
    ka_app = kleanapp_sandbox.create_app(
        KA_TOKEN, rate_limit_rps=None, webhook_transport=hooks, webhook_retry_delays=(0, 0)
    )
    sev_t, ka_t = httpx.ASGITransport(app=sev_app), httpx.ASGITransport(app=ka_app)
    store = Store(state_url)
    config = make_config(store.url, report_dir=tmp_path / "reports")
    async with (
        SevdeskConnector(SEV_API, SEV_TOKEN, requests_per_second=10_000, transport=sev_t) as sev,
        KleanappConnector(KA_API, KA_TOKEN, requests_per_second=10_000, transport=ka_t) as ka,
        httpx.AsyncClient(
            transport=sev_t, base_url=SEV_API, headers={"Authorization": SEV_TOKEN}
        ) as sev_http,
        httpx.AsyncClient(transport=ka_t, base_url=f"{KA_ROOT}/_sandbox") as ka_ctl,
    ):
        world = World(tmp_path, sev_app, ka_app, ka, sev, store, config, hooks, sev_http, ka_ctl)
        seeded = await ka_ctl.post("/bulk", json={"customers": CUSTOMERS})
        assert seeded.status_code == 201, seeded.text
        world.customer_ids = dict(
            zip((c["customer_number"] for c in CUSTOMERS), seeded.json()["customers"], strict=True)
        )
        try:
            yield world
        finally:
            if world.service is not None:
                await world.service.stop()
            await ka_app.drain()
    store.close()


@pytest.fixture
async def synced(world: World) -> World:
    """The world with its customers created in sevDesk and linked by one sync run."""
    from reconciler.sync.engine import SyncOptions, run_sync

    result = await run_sync(
        world.config, SyncOptions(), connectors=world.connectors, store=world.store
    )
    assert not result.errors, result.errors
    assert len(world.store.links("customer")) == len(CUSTOMERS)
    return world
