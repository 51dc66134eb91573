"""Incremental reads that cannot lose an edit (issue 12: gap-free cursors, deleted parts).

Edits land while a run pages through a side: a record on an already-read
page is edited, then one on a later page. The later page shows the newer
stamp; a cursor set to the newest stamp seen would make the next run skip
the first edit for good. Time is steered with freezegun (edits stamped
minutes apart), and the page being read is held back by the emulator's
``latency`` fault matched on its query string, so nothing depends on how
fast the machine is.
"""

from __future__ import annotations

import asyncio

import httpx
from freezegun import freeze_time

from .conftest import K_TOKEN, K_URL, S_TOKEN, S_URL, customer, future


def _wire(number: str) -> dict:
    return customer(number).model_dump(exclude={"archived"}, exclude_none=True)


async def _control(app, root: str, method: str, path: str, json=None) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        r = await c.request(method, f"{root}/_sandbox/{path}", json=json)
        assert r.status_code < 300, r.text
        return r.json() if r.content else {}


async def kleanapp(env, path: str, method: str = "GET", **kw) -> dict:
    headers = {"Authorization": f"Bearer {K_TOKEN}", **kw.pop("headers", {})}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.kleanapp_app), headers=headers
    ) as c:
        r = await c.request(method, f"{K_URL}/{path}", **kw)
        assert r.status_code < 300, r.text
        return r.json()


async def sevdesk(env, path: str, method: str = "GET", **kw) -> list[dict]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.sevdesk_app), headers={"Authorization": S_TOKEN}
    ) as c:
        r = await c.request(method, f"{S_URL}/{path}", **kw)
        assert r.status_code < 300, r.text
        objects = r.json()["objects"]
        return objects if isinstance(objects, list) else [objects]


async def seed_many(env, count: int) -> list[str]:
    """``count`` equal customers on both sides (bulk endpoints: one call per side)."""
    numbers = [f"K-{i:05d}" for i in range(1, count + 1)]
    items = [_wire(n) for n in numbers]
    await _control(env.kleanapp_app, "http://kleanapp.test", "POST", "bulk", {"customers": items})
    await _control(env.sevdesk_app, "http://sevdesk.test", "POST", "bulk", {"contacts": items})
    return numbers


async def requests_to(app, root: str, key: str) -> int:
    stats = await _control(app, root, "GET", "stats")
    return stats["requests"].get(key, 0)


async def while_page_is_read(app, root: str, key: str, pages_before: int, edits) -> None:
    """Run ``edits`` once the listing's request ``pages_before + 1`` is being answered."""
    while await requests_to(app, root, key) <= pages_before:
        await asyncio.sleep(0.005)  # waiting for the run under test, not timing logic
    await edits()


async def test_a_kleanapp_edit_made_while_a_later_page_is_read_reaches_sevdesk(env):
    numbers = await seed_many(env, 600)  # KleanApp pages hold 500: two pages
    by_number = {
        row["customer_number"]: row["id"]
        for page in (1, 2)
        for row in (await kleanapp(env, f"customers?per_page=500&page={page}"))["data"]
    }
    first, later = by_number[numbers[0]], by_number[numbers[-1]]  # page 1, page 2
    await _control(
        env.kleanapp_app,
        "http://kleanapp.test",
        "POST",
        "faults",
        {"kind": "latency", "path": "/customers$", "query": "page=2", "latency_ms": 300},
    )

    async def edits() -> None:
        # Two people at work during the nightly run: page 1's customer first.
        with freeze_time(future(1), real_asyncio=True):
            await kleanapp(env, f"customers/{first}", "PATCH", json={"city": "Potsdam"})
        with freeze_time(future(2), real_asyncio=True):
            await kleanapp(env, f"customers/{later}", "PATCH", json={"city": "Leipzig"})

    key = "GET /api/v1/customers"
    listed = await requests_to(env.kleanapp_app, "http://kleanapp.test", key)
    run = asyncio.create_task(env.sync())
    await while_page_is_read(env.kleanapp_app, "http://kleanapp.test", key, listed + 1, edits)
    result = await run
    assert result.errors == [] and result.full
    assert len(env.store.links("customer")) == 600

    nxt = await env.sync()

    assert not nxt.full and nxt.errors == []
    sev = await env.customers("sevdesk")
    assert sev[numbers[0]].record.city == "Potsdam"  # the edit on the already-read page
    assert sev[numbers[-1]].record.city == "Leipzig"
    assert (await env.sync()).plan.actions == []


async def test_a_sevdesk_edit_made_while_a_later_page_is_read_reaches_kleanapp(env):
    numbers = await seed_many(env, 1100)  # sevDesk pages hold 1,000: two pages
    await env.sync()  # links them all
    contacts = {
        c["customerNumber"]: c["id"]
        for offset in (0, 1000)
        for c in await sevdesk(env, f"Contact?depth=1&limit=1000&offset={offset}")
    }
    first, later = contacts[numbers[0]], contacts[numbers[-1]]
    await _control(
        env.sevdesk_app,
        "http://sevdesk.test",
        "POST",
        "faults",
        {"kind": "latency", "path": "/Contact$", "query": "offset=1000", "latency_ms": 300},
    )

    async def edits() -> None:
        with freeze_time(future(1), real_asyncio=True):
            await sevdesk(env, f"Contact/{first}", "PUT", json={"name": "Praxis Erste"})
        with freeze_time(future(2), real_asyncio=True):
            await sevdesk(env, f"Contact/{later}", "PUT", json={"name": "Praxis Letzte"})

    key = "GET /api/v1/Contact"
    listed = await requests_to(env.sevdesk_app, "http://sevdesk.test", key)
    run = asyncio.create_task(env.sync(full=True))
    await while_page_is_read(env.sevdesk_app, "http://sevdesk.test", key, listed + 1, edits)
    assert (await run).errors == []

    nxt = await env.sync()

    assert not nxt.full and nxt.errors == []
    klean = await env.customers("kleanapp")
    assert klean[numbers[0]].record.company_name == "Praxis Erste"
    assert klean[numbers[-1]].record.company_name == "Praxis Letzte"
    assert (await env.sync()).plan.actions == []


async def sevdesk_reads(env) -> int:
    stats = await _control(env.sevdesk_app, "http://sevdesk.test", "GET", "stats")
    return sum(n for key, n in stats["requests"].items() if key.startswith("GET "))


async def test_deleting_an_address_and_an_email_in_sevdesk_clears_both_on_the_next_incremental_run(
    env,
):
    numbers = await seed_many(env, 12)  # one customer of 12 stays below the 10 % brake
    await env.sync()
    contacts = {c["customerNumber"]: c["id"] for c in await sevdesk(env, "Contact?depth=1")}
    target = contacts[numbers[0]]
    with freeze_time(future(1), real_asyncio=True):
        before = await sevdesk_reads(env)
        quiet = await env.sync()
        quiet_cost = await sevdesk_reads(env) - before
    assert quiet.plan.actions == [] and not quiet.full

    filter_ = f"contact[id]={target}&contact[objectName]=Contact"
    [address] = await sevdesk(env, f"ContactAddress?{filter_}")
    [email] = [w for w in await sevdesk(env, f"CommunicationWay?{filter_}") if w["type"] == "EMAIL"]
    with freeze_time(future(2), real_asyncio=True):
        await sevdesk(env, f"ContactAddress/{address['id']}", "DELETE")
        await sevdesk(env, f"CommunicationWay/{email['id']}", "DELETE")
        before = await sevdesk_reads(env)
        result = await env.sync()
        cost = await sevdesk_reads(env) - before

    assert not result.full and result.errors == []
    assert result.counts == {"customer.kleanapp.update": 1}
    k = (await env.normalised("kleanapp"))[numbers[0]]
    assert (k["street"], k["postal_code"], k["city"], k["email"]) == (None, None, None, None)
    assert k["phone"] is not None  # the phone number was not deleted
    # Noticing it costs three sevDesk reads: the contact, its addresses, its ways.
    assert cost == quiet_cost + 3, (cost, quiet_cost)
    again = await env.sync()
    assert again.plan.actions == [] and again.errors == []


async def test_a_vanished_part_whose_clear_failed_is_cleared_by_the_next_run(env):
    numbers = await seed_many(env, 12)
    await env.sync()
    contacts = {c["customerNumber"]: c["id"] for c in await sevdesk(env, "Contact?depth=1")}
    owner = f"contact[id]={contacts[numbers[0]]}&contact[objectName]=Contact"
    [address] = await sevdesk(env, f"ContactAddress?{owner}")
    with freeze_time(future(1), real_asyncio=True):
        assert (await env.sync()).plan.actions == []  # the cursor passes the seed's stamps
    with freeze_time(future(2), real_asyncio=True):
        await sevdesk(env, f"ContactAddress/{address['id']}", "DELETE")
        await _control(
            env.kleanapp_app,
            "http://kleanapp.test",
            "POST",
            "faults",
            {"kind": "status", "status": 422, "method": "PATCH", "path": "/customers/"},
        )
        failed = await env.sync()
        assert len(failed.errors) == 1 and failed.counts == {}

        retried = await env.sync()

    assert retried.errors == [] and retried.counts == {"customer.kleanapp.update": 1}
    assert (await env.normalised("kleanapp"))[numbers[0]]["street"] is None
