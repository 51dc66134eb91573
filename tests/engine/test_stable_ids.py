"""Stable ids: every customer link leaves the KleanApp id on its sevDesk contact (in-process)."""

from __future__ import annotations

import httpx
import pytest

from reconciler.domain.errors import NeedsResync
from state import Store

from .conftest import S_TOKEN, S_URL, customer


async def sevdesk_stats(env) -> dict:
    root = S_URL.removesuffix("/api/v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.sevdesk_app)) as c:
        return (await c.get(f"{root}/_sandbox/stats")).json()


def stable_ids_in_emulator(env) -> dict[str, list[str]]:
    """sevDesk contact id -> every custom-field value it holds (duplicates would show)."""
    out: dict[str, list[str]] = {}
    for field in env.sevdesk_app.store.custom_fields.values():
        out.setdefault(field["contact"]["id"], []).append(field["value"])
    return out


async def test_creates_and_matched_pairs_get_the_kleanapp_id_in_one_extra_request_each(env):
    await env.k.customers.create(customer("K-00001"))  # only in KleanApp: created in sevDesk
    await env.s.customers.create(customer("1001"))  # only in sevDesk: created in KleanApp
    await env.k.customers.create(customer("K-00002"))  # on both: matched at activation
    await env.s.customers.create(customer("K-00002", email="INFO@k-00002.example.de"))
    before = (await sevdesk_stats(env))["writes"]

    result = await env.sync()

    assert result.errors == []
    links = env.store.links("customer")
    assert len(links) == 3
    assert stable_ids_in_emulator(env) == {link.sevdesk_id: [link.kleanapp_id] for link in links}
    writes = (await sevdesk_stats(env))["writes"]
    assert (
        writes.get("POST /api/v1/ContactCustomField", 0)
        - before.get("POST /api/v1/ContactCustomField", 0)
        == 3
    )
    assert writes.get("POST /api/v1/ContactCustomFieldSetting") == 1
    settings = list(env.sevdesk_app.store.custom_field_settings.values())
    assert [s["name"] for s in settings] == ["KleanApp-ID"]
    kinds = [j.op for j in env.store.journal() if j.entity == "stable_id"]
    assert kinds == ["create_setting", "write", "write", "write"]
    assert all(j.state == "done" for j in env.store.journal())

    again = await env.sync()
    assert again.counts == {} and again.errors == []
    assert (await sevdesk_stats(env))["writes"] == writes  # nothing written the second time


async def test_a_sync_with_an_empty_state_store_refuses_to_duplicate(env, state_urls):
    for n in ("K-00001", "K-00002"):
        await env.k.customers.create(customer(n))
    assert (await env.sync()).counts["customer.sevdesk.create"] == 2
    writes = (await sevdesk_stats(env))["total_writes"]

    env.store.close()
    env.store = Store(state_urls("fresh.db", fresh=True))  # the old store is lost
    env.configure()
    with pytest.raises(NeedsResync, match="run `kleansync resync`"):
        await env.sync()
    with pytest.raises(NeedsResync):
        await env.sync(dry_run=True)
    assert (await sevdesk_stats(env))["total_writes"] == writes
    assert len(await env.customers("sevdesk")) == 2
    assert env.store.links("customer") == []


async def test_a_first_sync_without_stable_ids_still_links_and_creates(env):
    """Customers that merely share numbers (no ids recorded yet) are an ordinary activation."""
    await env.k.customers.create(customer("K-00001"))
    await env.s.customers.create(customer("K-00001"))
    result = await env.sync()
    assert result.errors == [] and len(env.store.links("customer")) == 1


async def test_a_full_sync_records_ids_that_went_missing_once_and_never_twice(env):
    """Links made before stable ids existed (or whose write failed) are healed on full runs."""
    for n in ("K-00001", "K-00002"):
        await env.k.customers.create(customer(n))
    await env.sync()  # the connector now knows both fields
    gone = next(iter(env.sevdesk_app.store.custom_fields))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.sevdesk_app), headers={"Authorization": S_TOKEN}
    ) as c:
        assert (await c.delete(f"{S_URL}/ContactCustomField/{gone}")).status_code == 200

    result = await env.sync(full=True)

    assert result.errors == [] and result.counts == {}
    links = env.store.links("customer")
    assert stable_ids_in_emulator(env) == {link.sevdesk_id: [link.kleanapp_id] for link in links}


async def test_an_account_that_refuses_contact_fields_still_syncs(env):
    root = S_URL.removesuffix("/api/v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.sevdesk_app)) as c:
        # 400, not 403: a 403 would read as a wrong key and stop the run.
        fault = {"kind": "status", "status": 400, "path": "ContactCustomField", "times": None}
        assert (await c.post(f"{root}/_sandbox/faults", json=fault)).status_code < 300
    await env.k.customers.create(customer("K-00001"))

    result = await env.sync()

    assert result.errors == [] and result.counts["customer.sevdesk.create"] == 1
    assert len(env.store.links("customer")) == 1 and stable_ids_in_emulator(env) == {}
