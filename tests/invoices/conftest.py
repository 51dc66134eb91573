"""A KleanApp and a sevDesk emulator, in-process, with customers linked, for the export.

``World`` holds both emulators, both real connectors (over
``httpx.ASGITransport``), a state store on ``tmp_path`` and plain HTTP
clients to read what each service now holds, the way a user would see it.
Customers are seeded on both sides with the same numbers and linked by one
run of the sync engine, as in production.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.config import Config, parse_config
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.invoices.runner import ExportFilters, ExportResult, export_invoices
from sandbox import kleanapp as kleanapp_sandbox
from sandbox import sevdesk as sevdesk_sandbox
from state import Store

SEV_TOKEN = "b7794de0085f5cd00560f160f290af38"
KA_TOKEN = "test-kleanapp-token"
SEV_ROOT, KA_ROOT = "http://sevdesk.test", "http://kleanapp.test"
SEV_API, KA_API = f"{SEV_ROOT}/api/v1", f"{KA_ROOT}/api/v1"

CUSTOMERS = [
    {"customer_number": "K-00001", "kind": "company", "company_name": "Praxis Dr. Weber"},
    {"customer_number": "K-00002", "kind": "company", "company_name": "Kanzlei Brandt & Söhne"},
    {"customer_number": "K-00003", "kind": "person", "first_name": "Eva", "last_name": "Schulz"},
    {"customer_number": "K-00004", "kind": "company", "company_name": "Autohaus Nord GmbH"},
    {"customer_number": "K-00005", "kind": "company", "company_name": "Kita Sonnenschein"},
    {"customer_number": "K-00006", "kind": "company", "company_name": "Hotel am See"},
]
for _i, _c in enumerate(CUSTOMERS, 1):
    _c.update(street=f"Hauptstraße {_i}", postal_code=f"5067{_i}", city="Köln", country="DE")


def config(report_dir: Path, fmt: str = "draft") -> Config:
    """The export's config; its run reports go to ``report_dir`` (a test's own folder)."""
    return parse_config(
        {
            "kleanapp": {"base_url": KA_API},
            "sevdesk": {"base_url": SEV_API},
            "invoices": {"format": fmt},
            "report": {"dir": str(report_dir)},
        }
    )


@dataclass
class World:
    sev_app: Any
    ka_app: Any
    sev: SevdeskConnector
    ka: KleanappConnector
    store: Store
    sev_http: httpx.AsyncClient  # sevDesk API, raw
    sev_ctl: httpx.AsyncClient  # sevDesk /_sandbox
    ka_http: httpx.AsyncClient  # KleanApp API, raw
    ka_ctl: httpx.AsyncClient  # KleanApp /_sandbox
    #: Where the runs' report files go: inside the test's tmp_path, never the checkout.
    report_dir: Path
    customer_ids: dict[str, int] = field(default_factory=dict)
    #: ``[invoices] format`` of the config the export runs with.
    config_format: str = "draft"

    @property
    def config(self) -> Config:
        return config(self.report_dir, self.config_format)

    @property
    def connectors(self) -> dict[str, Any]:
        return {"kleanapp": self.ka, "sevdesk": self.sev}

    async def export(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        statuses: tuple[str, ...] | None = None,
        since_last: bool = False,
        dry_run: bool = False,
        fmt: str | None = None,
    ) -> ExportResult:
        filters = ExportFilters(
            date_from=date_from, date_to=date_to, statuses=statuses, since_last=since_last
        )
        return await export_invoices(
            self.config,
            filters,
            dry_run=dry_run,
            fmt=fmt,
            connectors=self.connectors,
            store=self.store,
        )

    async def invoice(
        self,
        customer: str,
        date: dt.date,
        positions: list[tuple[str, str, str, str, str]],
        *,
        status: str = "open",
        delivery: dt.date | None = None,
    ) -> dict[str, Any]:
        """Save an invoice as KleanApp's UI would; positions: (name, qty, unit, price, rate)."""
        body = {
            "customer_id": self.customer_ids[customer],
            "invoice_date": date.isoformat(),
            "delivery_date": (delivery or date - dt.timedelta(days=3)).isoformat(),
            "status": status,
            "header_text": "Vielen Dank für Ihren Auftrag.",
            "positions": [
                {
                    "product_name": name,
                    "description": f"{name}, laut Leistungsnachweis",
                    "quantity": qty,
                    "unit_name": unit,
                    "unit_price_net": price,
                    "tax_rate": rate,
                }
                for name, qty, unit, price, rate in positions
            ],
        }
        response = await self.ka_ctl.post("/invoices", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def ka_invoice(self, invoice_id: int | str) -> dict[str, Any]:
        response = await self.ka_http.get(f"/invoices/{invoice_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def sev_invoices(self) -> list[dict[str, Any]]:
        """Every regular (non-cancellation) invoice sevDesk holds."""
        response = await self.sev_http.get("/Invoice", params={"limit": 1000})
        return [i for i in response.json()["objects"] if i["invoiceType"] == "RE"]

    async def sev_invoice_for(self, kleanapp_id: int | str) -> list[dict[str, Any]]:
        note = f"kleanapp:{kleanapp_id}"
        return [i for i in await self.sev_invoices() if i["customerInternalNote"] == note]

    async def sev_positions(self, invoice_id: str) -> list[dict[str, Any]]:
        response = await self.sev_http.get(f"/Invoice/{invoice_id}/getPositions")
        return response.json()["objects"]

    async def sev_units(self) -> dict[str, str]:
        response = await self.sev_http.get("/Unity", params={"limit": 1000})
        return {u["id"]: u["name"] for u in response.json()["objects"]}

    @staticmethod
    def money(value: Any) -> Decimal:
        """An amount from either service, to the cent."""
        return Decimal(str(value)).quantize(Decimal("0.01"))

    async def writes(self) -> tuple[int, int]:
        """Successful writes so far on (sevDesk, KleanApp)."""
        sev = (await self.sev_ctl.get("/stats")).json()["total_writes"]
        ka = (await self.ka_ctl.get("/stats")).json()["total_writes"]
        return sev, ka


async def seed_customers(world: World, *, link: bool = True) -> None:
    """Same customers on both sides; with ``link`` one engine run links them."""
    ka = await world.ka_ctl.post("/bulk", json={"customers": CUSTOMERS})
    assert ka.status_code == 201, ka.text
    sev = await world.sev_ctl.post("/bulk", json={"contacts": CUSTOMERS})
    assert sev.status_code == 201, sev.text
    world.customer_ids = dict(
        zip((c["customer_number"] for c in CUSTOMERS), ka.json()["customers"], strict=True)
    )
    if link:
        from reconciler.sync.engine import SyncOptions, run_sync

        result = await run_sync(
            config(world.report_dir), SyncOptions(), connectors=world.connectors, store=world.store
        )
        assert not result.errors, result.errors
        assert len(world.store.links("customer")) == len(CUSTOMERS)


@pytest.fixture
async def world(
    tmp_path: Path, state_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    # Indirect parametrisation passes options for the emulated sevDesk account.
    sev_app = sevdesk_sandbox.create_app(SEV_TOKEN, **getattr(request, "param", {}))
    ka_app = kleanapp_sandbox.create_app(KA_TOKEN, rate_limit_rps=None)
    sev_t, ka_t = httpx.ASGITransport(app=sev_app), httpx.ASGITransport(app=ka_app)
    store = Store(state_url)
    async with (
        SevdeskConnector(SEV_API, SEV_TOKEN, requests_per_second=10_000, transport=sev_t) as sev,
        KleanappConnector(KA_API, KA_TOKEN, requests_per_second=10_000, transport=ka_t) as ka,
        httpx.AsyncClient(
            transport=sev_t, base_url=SEV_API, headers={"Authorization": SEV_TOKEN}
        ) as sev_http,
        httpx.AsyncClient(transport=sev_t, base_url=f"{SEV_ROOT}/_sandbox") as sev_ctl,
        httpx.AsyncClient(
            transport=ka_t, base_url=KA_API, headers={"Authorization": f"Bearer {KA_TOKEN}"}
        ) as ka_http,
        httpx.AsyncClient(transport=ka_t, base_url=f"{KA_ROOT}/_sandbox") as ka_ctl,
    ):
        yield World(
            sev_app,
            ka_app,
            sev,
            ka,
            store,
            sev_http,
            sev_ctl,
            ka_http,
            ka_ctl,  # type: ignore[arg-type]
            tmp_path / "reports",
        )
    store.close()


@pytest.fixture
async def linked(world: World) -> World:
    """The world with six customers on both sides, linked by the engine."""
    await seed_customers(world)
    return world


@pytest.fixture
async def unlinked(world: World) -> World:
    """The same six customers on both sides, never synced: no links yet."""
    await seed_customers(world, link=False)
    return world


@pytest.fixture
def customer_rows() -> list[dict[str, Any]]:
    """The seed customers (canonical-ish), for tests that seed services themselves."""
    return [dict(c) for c in CUSTOMERS]
