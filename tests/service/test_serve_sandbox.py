"""``serve`` end to end over real sockets: emulators on loopback, uvicorn, KleanApp's webhooks.

The emulators run in a ``SandboxThread``; ``reconciler.service.runner.serve`` runs
in the test's event loop exactly as ``kleansync serve`` runs it (uvicorn on a
port of its own, the scheduler, the workers), with connectors built from the
config and tokens from the environment. KleanApp delivers its webhooks over
HTTP to the URL the service registered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.config import parse_config
from reconciler.service.runner import Service, ServiceSettings, serve
from reconciler.service.webhooks import sign
from sandbox.serve import Endpoint, SandboxThread, endpoints, free_port
from tests.service.conftest import CUSTOMERS, SECRET, eventually, invoice_body

SEV_TOKEN = "serve-test-sevdesk-token-012345"
KA_TOKEN = "serve-test-kleanapp-token"
SEV_ENV, KA_ENV = "KLEANSYNC_SERVE_TEST_SEVDESK_TOKEN", "KLEANSYNC_SERVE_TEST_KLEANAPP_TOKEN"


@dataclass
class Running:
    service: Service
    url: str
    sevdesk: Endpoint
    kleanapp: Endpoint
    ka_ctl: httpx.AsyncClient
    sev_api: httpx.AsyncClient
    http: httpx.AsyncClient
    customer_ids: dict[str, int]

    async def sev_invoices_for(self, kleanapp_id: int) -> list[dict[str, Any]]:
        rows = (await self.sev_api.get("Invoice", params={"limit": 1000})).json()["objects"]
        return [r for r in rows if r.get("customerInternalNote") == f"kleanapp:{kleanapp_id}"]


@pytest.fixture
async def running(tmp_path, monkeypatch, state_url) -> AsyncIterator[Running]:
    monkeypatch.setenv(SEV_ENV, SEV_TOKEN)
    monkeypatch.setenv(KA_ENV, KA_TOKEN)
    sev_ep, ka_ep = endpoints(
        sevdesk_port=0, kleanapp_port=0, sevdesk_token=SEV_TOKEN, kleanapp_token=KA_TOKEN
    )
    config = parse_config(
        {
            "sevdesk": {
                "base_url": sev_ep.base_url,
                "token_env": SEV_ENV,
                "requests_per_second": 100,
            },
            "kleanapp": {"base_url": ka_ep.base_url, "token_env": KA_ENV},
            "state": {"url": state_url},
            "sync": {"units": "off"},
            "report": {"dir": str(tmp_path / "reports")},
        }
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = ServiceSettings(
        public_url=url, secret=SECRET, listen_port=port, poll_interval_seconds=3600
    )
    ka_root = ka_ep.base_url.removesuffix("/api/v1")
    with SandboxThread([sev_ep, ka_ep]):
        async with (
            httpx.AsyncClient(base_url=f"{ka_root}/_sandbox") as ka_ctl,
            httpx.AsyncClient(
                base_url=sev_ep.base_url + "/", headers={"Authorization": SEV_TOKEN}
            ) as sev_api,
            httpx.AsyncClient(base_url=url) as http,
        ):
            seeded = await ka_ctl.post("/bulk", json={"customers": CUSTOMERS})
            assert seeded.status_code == 201
            service = Service(config, settings=settings)
            ready = asyncio.Event()
            task = asyncio.create_task(
                serve(config, service=service, handle_signals=False, on_ready=lambda s: ready.set())
            )
            await asyncio.wait_for(asyncio.shield(ready.wait()), 15)
            try:
                ids = dict(
                    zip(
                        (c["customer_number"] for c in CUSTOMERS),
                        seeded.json()["customers"],
                        strict=True,
                    )
                )
                yield Running(service, url, sev_ep, ka_ep, ka_ctl, sev_api, http, ids)
            finally:
                service.request_stop()
                assert await asyncio.wait_for(task, 30) == 0


async def test_serve_registers_and_exports_a_saved_invoice_within_seconds(
    running: Running,
) -> None:
    hooks = (await running.service.connectors["kleanapp"].http.request("GET", "webhooks")).json()[
        "data"
    ]
    assert [h["url"] for h in hooks] == [f"{running.url}/webhooks/kleanapp"]

    assert (await running.service.jobs.sync("manual")).counts == {"customer.sevdesk.create": 2}
    body = invoice_body(running.customer_ids["K-00001"])
    saved = await running.ka_ctl.post("/invoices", json=body)
    assert saved.status_code == 201, saved.text
    invoice_id = saved.json()["id"]

    async def linked() -> bool:
        response = await running.service.connectors["kleanapp"].get_invoice(str(invoice_id))
        return response.record.exported_to is not None

    await eventually(linked, what="the invoice exported and linked")
    (sev,) = await running.sev_invoices_for(invoice_id)
    assert (
        sev["id"]
        == (
            await running.service.connectors["kleanapp"].get_invoice(str(invoice_id))
        ).record.exported_to
    )

    # A forger reaching the public URL gets 401; nothing happens.
    body = b'{"event":"invoice.saved","id":1,"occurred_at":"2026-03-02T10:00:00Z","data":{}}'
    forged = await running.http.post(
        "/webhooks/kleanapp",
        content=body,
        headers={"X-KleanApp-Signature": sign("not-the-secret-at-all", body)},
    )
    assert forged.status_code == 401

    health = await running.http.get("/healthz")
    assert health.status_code == 200 and health.json()["last_run"]["outcome"] == "ok"

    async def samples() -> dict[tuple[str, str], float]:
        text = (await running.http.get("/metrics")).text
        return {
            (s.name, s.labels.get("result") or s.labels.get("outcome") or ""): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def exported() -> dict[tuple[str, str], float] | None:
        now = await samples()
        return now if now.get(("kleansync_invoice_exports_total", "exported")) == 1 else None

    now = await eventually(exported, what="the export counted in /metrics")
    assert now[("kleansync_webhook_deliveries_total", "rejected")] == 1
    assert now[("kleansync_webhook_deliveries_total", "accepted")] >= 1
