"""The fleet's webhook receiver: every tenant's KleanApp events, each into its own inbox.

``kleansync serve --fleet`` answers ``POST /webhooks/kleanapp/{tenant}`` for every tenant
of the registry. What a user (an operator, KleanApp) would notice: an event that KleanApp
signed with the tenant's secret lands in that tenant's inbox and no one else's, and the
fleet's workers are told which tenant has work; an event signed with another tenant's
secret, or for a tenant that does not exist or is disabled, is refused and stored
nowhere. The deliveries come from the KleanApp emulator itself (its own signatures).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from reconciler.service.fleet_http import FleetReceiver
from reconciler.service.settings import ServiceSettings
from reconciler.service.webhooks import sign
from sandbox import kleanapp
from state import Store
from state.inbox_tables import Inbox
from state.tenant_tables import Tenant, Tenants, webhook_secret_name
from tests.state_backend import POSTGRES

pytestmark = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL (KLEANSYNC_TEST_STATE=postgres)")
SECRETS = {
    "KLEANAPP_WEBHOOK_SECRET_GLANZ": "glanz-webhook-secret-0123456789",
    "KLEANAPP_WEBHOOK_SECRET_BLITZ": "blitz-webhook-secret-9876543210",
}
FLEET = "http://fleet.test"


def tenant(name: str, *, enabled: bool = True) -> Tenant:
    return Tenant(
        name=name,
        kleanapp_base_url=f"http://{name}.kleanapp.test/api/v1",
        sevdesk_base_url="https://my.sevdesk.de/api/v1",
        kleanapp_token_env=f"KLEANAPP_TOKEN_{name.upper()}",
        sevdesk_token_env=f"SEVDESK_TOKEN_{name.upper()}",
        enabled=enabled,
    )


@dataclass
class Fleet:
    store: Store
    receiver: FleetReceiver
    client: httpx.AsyncClient
    told: list[str] = field(default_factory=list)

    def inbox(self, name: str) -> list[tuple[str, str | None]]:
        rows = Inbox(Store.sharing(self.store, name)).pending()
        return [(r.event, r.record_id) for r in rows]


@pytest.fixture
async def fleet(state_url: str) -> AsyncIterator[Fleet]:
    store = Store(state_url)
    registry = Tenants(store)
    for row in (tenant("glanz"), tenant("blitz"), tenant("alt", enabled=False)):
        registry.add(row)
    told: list[str] = []
    receiver = FleetReceiver(store, ServiceSettings(), secrets=SECRETS.get, on_delivery=told.append)
    transport = httpx.ASGITransport(app=receiver.app)
    async with httpx.AsyncClient(transport=transport, base_url=FLEET) as client:
        yield Fleet(store, receiver, client, told)
    store.close()


def event(record_id: int = 7, name: str = "customer.saved") -> bytes:
    at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {"event": name, "id": record_id, "occurred_at": at, "data": {"id": record_id}}
    return json.dumps(payload).encode()


def signed(body: bytes, secret: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-KleanApp-Signature": sign(secret, body),
        "X-KleanApp-Delivery": uuid.uuid4().hex,
    }


async def test_kleanapps_delivery_lands_in_its_tenants_inbox_and_the_workers_are_told(
    fleet: Fleet,
) -> None:
    """The emulator of tenant glanz signs and delivers; only glanz's inbox holds the event."""
    app = kleanapp.create_app(
        "glanz-token",
        rate_limit_rps=None,
        webhook_transport=httpx.ASGITransport(app=fleet.receiver.app),
        webhook_retry_delays=(0,),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://glanz.kleanapp.test/api/v1",
        headers={"Authorization": "Bearer glanz-token"},
    ) as api:
        hook = {
            "url": f"{FLEET}/webhooks/kleanapp/glanz",
            "events": ["customer.saved", "invoice.saved"],
            "secret": SECRETS["KLEANAPP_WEBHOOK_SECRET_GLANZ"],
        }
        assert (await api.post("/webhooks", json=hook)).status_code == 201
        made = await api.post(
            "/customers", json={"customer_number": "K-00001", "company_name": "Praxis Weber"}
        )
        assert made.status_code == 201, made.text
        await app.drain()
    delivered = app.store.webhooks.log()
    assert [(d["last_status"], d["state"]) for d in delivered] == [(202, "delivered")]
    assert fleet.inbox("glanz") == [("customer.saved", str(made.json()["id"]))]
    assert fleet.inbox("blitz") == []
    assert fleet.told == ["glanz"]


async def test_an_event_signed_with_another_tenants_secret_is_refused_and_stored_nowhere(
    fleet: Fleet,
) -> None:
    body = event()
    answer = await fleet.client.post(
        "/webhooks/kleanapp/glanz",
        content=body,
        headers=signed(body, SECRETS["KLEANAPP_WEBHOOK_SECRET_BLITZ"]),
    )
    assert answer.status_code == 401
    assert fleet.inbox("glanz") == [] and fleet.inbox("blitz") == []
    assert fleet.told == []
    # The same body with blitz's secret at blitz's address: accepted there.
    answer = await fleet.client.post(
        "/webhooks/kleanapp/blitz",
        content=body,
        headers=signed(body, SECRETS["KLEANAPP_WEBHOOK_SECRET_BLITZ"]),
    )
    assert answer.status_code == 202 and answer.json()["tenant"] == "blitz"
    assert fleet.inbox("blitz") == [("customer.saved", "7")] and fleet.told == ["blitz"]


@pytest.mark.parametrize("name", ["nobody", "alt", "Robert'); DROP TABLE tenant;--"])
async def test_an_unknown_or_disabled_tenant_is_404_json_for_machines_german_for_people(
    fleet: Fleet, name: str
) -> None:
    body = event()
    url = f"/webhooks/kleanapp/{name}"
    headers = signed(body, SECRETS["KLEANAPP_WEBHOOK_SECRET_GLANZ"])
    for_machines = await fleet.client.post(url, content=body, headers=headers)
    assert for_machines.status_code == 404
    assert for_machines.json() == {"error": "unknown or disabled tenant", "tenant": name}
    for_people = await fleet.client.post(
        url, content=body, headers={**headers, "Accept": "text/html"}
    )
    assert for_people.status_code == 404
    assert for_people.text.startswith("Es gibt keinen aktiven Mandanten")
    assert fleet.told == [] and fleet.inbox("glanz") == []


async def test_a_tenant_without_a_webhook_secret_is_503_so_kleanapp_retries(
    fleet: Fleet,
) -> None:
    Tenants(fleet.store).add(tenant("neu"))
    body = event()
    answer = await fleet.client.post(
        "/webhooks/kleanapp/neu", content=body, headers=signed(body, "any-secret-at-all-0000")
    )
    assert answer.status_code == 503
    assert webhook_secret_name(tenant("neu")) == "KLEANAPP_WEBHOOK_SECRET_NEU"
    assert fleet.inbox("neu") == []


async def test_a_repeated_delivery_is_stored_once_and_told_once(fleet: Fleet) -> None:
    body = event(name="invoice.saved")
    headers = signed(body, SECRETS["KLEANAPP_WEBHOOK_SECRET_GLANZ"])
    first = await fleet.client.post("/webhooks/kleanapp/glanz", content=body, headers=headers)
    again = await fleet.client.post("/webhooks/kleanapp/glanz", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert fleet.inbox("glanz") == [("invoice.saved", "7")]
    assert fleet.told == ["glanz"]


async def test_a_failing_hook_loses_nothing_the_event_is_stored_and_answered(
    fleet: Fleet,
) -> None:
    async def broken(tenant: str) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("the job queue is down")

    fleet.receiver.on_delivery = broken
    body = event()
    answer = await fleet.client.post(
        "/webhooks/kleanapp/glanz",
        content=body,
        headers=signed(body, SECRETS["KLEANAPP_WEBHOOK_SECRET_GLANZ"]),
    )
    assert answer.status_code == 202
    assert fleet.inbox("glanz") == [("customer.saved", "7")]
