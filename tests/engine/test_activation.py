"""Activation safety: the mass-delete brake, deletion policies, direction toggles."""

from __future__ import annotations

import httpx
import pytest

from reconciler.domain.errors import MassDeleteBrake
from reconciler.domain.models import Unit

from .conftest import S_URL, customer

NUMBERS = [f"K-{i:05d}" for i in range(1, 11)]


async def linked_world(env, numbers=NUMBERS):
    for n in numbers:
        await env.k.customers.create(customer(n))
        await env.s.customers.create(customer(n))
    assert (await env.sync()).errors == []


async def test_all_sevdesk_contacts_deleted_stops_the_run_and_changes_nothing(env):
    await linked_world(env)
    for remote in (await env.customers("sevdesk")).values():
        await env.s.customers.delete(remote.id)
    before = await env.dump()

    with pytest.raises(MassDeleteBrake, match="sevDesk returned no customers although 10"):
        await env.sync(full=True)
    assert await env.dump() == before
    assert len(await env.customers("kleanapp")) == 10
    assert env.store.runs(1)[0].outcome == "failed"

    dry = await env.sync(full=True, dry_run=True)  # the dry-run shows why, and what
    assert any(t.kind == "brake" for t in dry.plan.tasks)
    assert dry.counts == {"customer.kleanapp.archive": 10}

    overridden = await env.sync(full=True, allow_mass_delete=True)
    assert overridden.counts == {"customer.kleanapp.archive": 10}


async def test_an_api_answering_an_empty_list_trips_the_brake(env):
    await linked_world(env)
    before = await env.dump()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.kleanapp_app)) as c:
        r = await c.post(
            "http://kleanapp.test/_sandbox/faults",
            json={"kind": "empty_list", "method": "GET", "path": "/customers$", "times": None},
        )
        assert r.status_code == 201
    with pytest.raises(MassDeleteBrake, match="KleanApp returned no customers"):
        await env.sync(full=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.kleanapp_app)) as c:
        await c.delete("http://kleanapp.test/_sandbox/faults")
    assert await env.dump() == before


async def test_many_deletions_trip_the_brake_below_an_empty_side(env):
    await linked_world(env)
    sev = await env.customers("sevdesk")
    for n in NUMBERS[:2]:  # 2 of 10 > 10 %
        await env.s.customers.delete(sev[n].id)
    with pytest.raises(MassDeleteBrake, match="archive or delete 2 of 10"):
        await env.sync(full=True)
    env.configure(sync={"max_delete_fraction": 0.2})
    assert (await env.sync(full=True)).counts == {"customer.kleanapp.archive": 2}


async def test_kleanapp_archive_deletes_in_sevdesk_when_configured_and_allowed(env):
    await linked_world(env, NUMBERS[:3])
    env.configure(sync={"on_kleanapp_archive": "delete", "max_delete_fraction": 1})
    klean = await env.customers("kleanapp")
    await env.k.customers.delete(klean["K-00001"].id)

    result = await env.sync()
    assert result.counts == {"customer.sevdesk.delete": 1}
    assert "K-00001" not in await env.customers("sevdesk")
    assert (await env.sync(full=True)).counts == {}

    # Restored in KleanApp: it is re-created in sevDesk.
    await env.k.customers.update(klean["K-00001"].id, {"archived": False})
    restored = await env.sync()
    assert restored.counts == {"customer.sevdesk.create": 1}
    assert "K-00001" in await env.customers("sevdesk")


async def test_a_contact_with_documents_is_kept_and_not_retried(env):
    await linked_world(env, NUMBERS[:3])
    env.configure(sync={"on_kleanapp_archive": "delete", "max_delete_fraction": 1})
    sev = await env.customers("sevdesk")
    user = await env.s.contact_person_id()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.sevdesk_app),
        headers={"Authorization": "engine-test-sevdesk-token-0123456"},
    ) as c:
        units = (await c.get(f"{S_URL}/Unity")).json()["objects"]
        r = await c.post(
            f"{S_URL}/Invoice/Factory/saveInvoice",
            json={
                "invoice": {
                    "objectName": "Invoice",
                    "mapAll": True,
                    "invoiceDate": "01.11.2026",
                    "contact": {"id": sev["K-00002"].id, "objectName": "Contact"},
                    "contactPerson": {"id": user, "objectName": "SevUser"},
                    "discount": 0,
                    "status": "100",
                    "taxRate": 0,
                    "taxText": "USt",
                    "taxType": "default",
                    "invoiceType": "RE",
                    "currency": "EUR",
                    "addressCountry": {"id": 1, "objectName": "StaticCountry"},
                    "taxRule": {"id": "1", "objectName": "TaxRule"},
                },
                "invoicePosSave": [
                    {
                        "objectName": "InvoicePos",
                        "mapAll": True,
                        "quantity": 1,
                        "price": 100,
                        "name": "Reinigung",
                        "taxRate": 19,
                        "unity": {"id": units[0]["id"], "objectName": "Unity"},
                    }
                ],
            },
        )
        assert r.status_code in (200, 201), r.text
    klean = await env.customers("kleanapp")
    await env.k.customers.delete(klean["K-00002"].id)

    result = await env.sync()
    assert result.counts == {}
    assert "documents" in result.skipped[0]["reason"]
    assert "K-00002" in await env.customers("sevdesk")
    again = await env.sync()
    assert again.counts == {} and again.skipped == []


async def test_sevdesk_deletion_can_be_ignored(env):
    await linked_world(env, NUMBERS[:3])
    env.configure(sync={"on_sevdesk_delete": "ignore", "max_delete_fraction": 1})
    sev = await env.customers("sevdesk")
    await env.s.customers.delete(sev["K-00003"].id)
    for _ in range(2):
        result = await env.sync(full=True)
        assert result.counts == {}
        assert any("deleted in sevDesk" in t.message for t in result.plan.tasks)
    assert "K-00003" in await env.customers("kleanapp")
    assert "K-00003" not in await env.customers("sevdesk")


DIRECTIONS = ["both", "kleanapp-to-sevdesk", "sevdesk-to-kleanapp", "off"]


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_customer_direction_toggle(env, direction):
    await linked_world(env, NUMBERS[:2])
    env.configure(sync={"customers": direction, "units": "off"})
    klean, sev = await env.customers("kleanapp"), await env.customers("sevdesk")
    await env.k.customers.update(klean["K-00001"].id, {"note": "from KleanApp"})
    await env.s.customers.update(sev["K-00002"].id, {"note": "from sevDesk"})
    await env.k.customers.create(customer("K-00100"))
    await env.s.customers.create(customer("K-00200"))

    result = await env.sync()
    sides = {key.split(".")[1] for key in result.counts}
    allowed = {
        "both": {"kleanapp", "sevdesk"},
        "kleanapp-to-sevdesk": {"sevdesk"},
        "sevdesk-to-kleanapp": {"kleanapp"},
        "off": set(),
    }[direction]
    assert sides == allowed
    klean, sev = await env.normalised("kleanapp"), await env.normalised("sevdesk")
    assert (sev["K-00001"]["note"] == "from KleanApp") == ("sevdesk" in allowed)
    assert ("K-00100" in sev) == ("sevdesk" in allowed)
    assert (klean["K-00002"]["note"] == "from sevDesk") == ("kleanapp" in allowed)
    assert ("K-00200" in klean) == ("kleanapp" in allowed)
    assert (await env.sync()).counts == {}  # and no ping-pong in any direction


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_unit_direction_toggle(env, direction):
    env.configure(
        sync={"customers": "off", "units": direction},
        sevdesk={"base_url": S_URL, "create_units": True},
    )
    env.s.units.create_units = True
    await env.k.units.create(Unit(name="Einsatz"))
    result = await env.sync()
    sides = {key.split(".")[1] for key in result.counts}
    allowed = {
        "both": {"kleanapp", "sevdesk"},
        "kleanapp-to-sevdesk": {"sevdesk"},
        "sevdesk-to-kleanapp": {"kleanapp"},
        "off": set(),
    }[direction]
    assert sides == allowed
    assert ("Einsatz" in await env.unit_names("sevdesk")) == ("sevdesk" in allowed)
    assert ("lfm" in await env.unit_names("kleanapp")) == ("kleanapp" in allowed)
