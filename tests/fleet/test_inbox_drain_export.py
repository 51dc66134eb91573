"""A webhook in a tenant's inbox becomes that tenant's invoice export, on a worker.

What fleet-mode ``kleansync serve`` will do per delivery: store it in the tenant's inbox
and call ``defer_inbox_drain``. The drain job hands the pending ``invoice.saved`` event to
an on-save export job of the same tenant; the export sends the invoice (its customer
along) to *that* tenant's sevDesk, locks it in KleanApp and settles the inbox row. The
other tenant's sevDesk gets nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from reconciler.fleet.app import make_app
from reconciler.fleet.jobs import defer_inbox_drain
from state.inbox_tables import Inbox
from tests.fleet.conftest import (
    FleetWorld,
    TenantWorld,
    kleanapp_client,
    on_postgres,
    save_invoice,
    wait_for,
)
from tests.fleet.test_two_tenants_two_workers import customer


def sev_invoices(world: TenantWorld) -> list[dict]:
    r = httpx.get(
        f"{world.sevdesk.base_url}/Invoice",
        params={"limit": 1000},
        headers={"Authorization": world.sevdesk.token},
        timeout=10,
    )
    r.raise_for_status()
    return [i for i in r.json()["objects"] if i["invoiceType"] == "RE"]


async def drain(world: FleetWorld, tenant: str) -> int | None:
    app = make_app(world.url, tasks=False)
    async with app.open_async():
        return await defer_inbox_drain(app, tenant)


@on_postgres
def test_a_drained_invoice_event_is_exported_to_its_own_tenants_sevdesk(
    fleet: FleetWorld,
) -> None:
    alpha, beta = fleet.tenants["alpha"], fleet.tenants["beta"]
    alpha.bulk("kleanapp", {"customers": [customer("K-00001", "Praxis Alpha 1")]})
    klean = kleanapp_client(alpha)
    (ka_customer,) = klean.get("customers").json()["data"]
    invoice_id = save_invoice(alpha, ka_customer["id"], description="laut Leistungsnachweis")

    store = fleet.store("alpha")
    try:
        Inbox(store).accept(
            delivery_id="d-1",
            content_sha256="a" * 64,
            event="invoice.saved",
            record_id=invoice_id,
            occurred_at=dt.datetime.now(dt.UTC),
        )
    finally:
        store.close()

    fleet.start_worker("w1")
    fleet.wait_workers(1)
    assert asyncio.run(drain(fleet, "alpha")) is not None
    exported = wait_for(
        lambda: [
            i for i in sev_invoices(alpha) if i["customerInternalNote"] == f"kleanapp:{invoice_id}"
        ],
        "the invoice in alpha's sevDesk",
        world=fleet,
    )
    assert len(exported) == 1
    tasks = {j["task_name"] for j in fleet.jobs()}
    assert tasks >= {"kleansync.drain_inbox", "kleansync.export_invoice"}
    wait_for(
        lambda: not [j for j in fleet.jobs() if j["status"] in ("todo", "doing")],
        "every job done",
        world=fleet,
    )
    store = fleet.store("alpha")
    try:
        assert Inbox(store).pending() == []  # the event is settled
    finally:
        store.close()
    assert sev_invoices(beta) == []
