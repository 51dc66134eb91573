"""A partial answer is never read as deletions (issue 14, finding 1).

One empty page, one empty part list: before, a full run read the contacts
on an empty second page as deleted in sevDesk (and archived them in
KleanApp, just under the brake), and an empty ContactAddress or
CommunicationWay list as cleared addresses, e-mails and phones. Now a list
must add up to the service's total to count, a suspected removal is read
again by id, and vanished parts count towards the mass-delete brake.

Both emulators run in-process; faults are the sandbox's own (``empty_list``
matched on one page's query string).
"""

from __future__ import annotations

import json

import httpx
import pytest

from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.errors import IncompleteListing, MassDeleteBrake
from tests.engine import conftest as engine_world
from tests.engine.conftest import S_TOKEN, S_URL, customer

#: The in-process world of the engine tests (both emulators, connectors, a store).
env = engine_world.env
SEVDESK = "http://sevdesk.test"


async def sevdesk_fault(env, **rule) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.sevdesk_app)) as c:
        r = await c.post(f"{SEVDESK}/_sandbox/faults", json={"method": "GET", **rule})
        assert r.status_code == 201, r.text


async def sevdesk_call(env, method: str, path: str) -> list[dict]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.sevdesk_app), headers={"Authorization": S_TOKEN}
    ) as c:
        r = await c.request(method, f"{S_URL}/{path}")
        assert r.status_code < 300, r.text
        objects = r.json()["objects"]
        return objects if isinstance(objects, list) else [objects]


async def linked(env, count: int) -> list[str]:
    """``count`` equal customers on both sides (bulk), linked by one sync."""
    numbers = [f"K-{i:05d}" for i in range(1, count + 1)]
    items = [customer(n).model_dump(exclude={"archived"}, exclude_none=True) for n in numbers]
    for app, root, body in (
        (env.kleanapp_app, "http://kleanapp.test", {"customers": items}),
        (env.sevdesk_app, SEVDESK, {"contacts": items}),
    ):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
            (await c.post(f"{root}/_sandbox/bulk", json=body)).raise_for_status()
    result = await env.sync()
    assert result.errors == [] and len(env.store.links("customer")) == count
    return numbers


async def active_in_kleanapp(env) -> int:
    return len(await env.customers("kleanapp"))


async def test_an_empty_second_page_of_sevdesk_contacts_archives_nobody(env):
    await linked(env, 1100)  # sevDesk pages hold 1,000: the second has 100
    await sevdesk_fault(env, kind="empty_list", path="/Contact$", query="offset=1000")

    result = await env.sync(full=True)

    assert result.errors == []
    assert result.counts == {}, result.counts  # before: customer.kleanapp.archive = 100
    assert await active_in_kleanapp(env) == 1100
    assert len(env.store.links("customer")) == 1100


async def test_a_sevdesk_contact_list_that_never_adds_up_stops_the_run_before_writing(env):
    await linked(env, 1100)
    await sevdesk_fault(env, kind="empty_list", path="/Contact$", query="offset=1000", times=None)
    before = await env.dump()

    with pytest.raises(IncompleteListing, match=r"sevDesk .*/Contact.* 1000 of 1100 rows"):
        await env.sync(full=True)

    assert await env.dump() == before
    assert env.store.runs(1)[0].outcome == "failed"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/ContactAddress$", ("street", "postal_code", "city")),
        ("/CommunicationWay$", ("email", "phone")),
    ],
)
async def test_an_empty_part_list_clears_nothing_in_kleanapp(env, path, fields):
    numbers = await linked(env, 20)
    await sevdesk_fault(env, kind="empty_list", path=path)

    result = await env.sync(full=True)

    assert result.errors == [] and result.counts == {}, result.counts
    klean = await env.normalised("kleanapp")
    for n in numbers:
        assert all(klean[n][f] for f in fields), (n, klean[n])


async def test_a_part_list_that_never_adds_up_stops_the_run_before_writing(env):
    await linked(env, 20)
    await sevdesk_fault(env, kind="empty_list", path="/CommunicationWay$", times=None)
    before = await env.dump()

    with pytest.raises(IncompleteListing, match="CommunicationWay"):
        await env.sync(full=True)
    with pytest.raises(IncompleteListing):
        await env.sync()  # incremental runs read every part too

    assert await env.dump() == before


async def test_vanished_parts_count_towards_the_mass_delete_brake(env):
    numbers = await linked(env, 10)
    contacts = {
        c["customerNumber"]: c["id"] for c in await sevdesk_call(env, "GET", "Contact?depth=1")
    }
    for n in numbers[:2]:  # 2 of 10 > 10 %
        owner = f"contact[id]={contacts[n]}&contact[objectName]=Contact"
        [address] = await sevdesk_call(env, "GET", f"ContactAddress?{owner}")
        await sevdesk_call(env, "DELETE", f"ContactAddress/{address['id']}")
    before = await env.dump()

    with pytest.raises(MassDeleteBrake, match="addresses or communication ways of 2 of 10"):
        await env.sync()  # incremental: nothing but the deleted parts tells

    assert await env.dump() == before
    dry = await env.sync(dry_run=True)
    assert any(t.kind == "brake" for t in dry.plan.tasks)
    allowed = await env.sync(allow_mass_delete=True)
    assert allowed.counts == {"customer.kleanapp.update": 2}
    klean = await env.normalised("kleanapp")
    assert [klean[n]["street"] for n in numbers[:3]] == [None, None, "Hauptstraße 1"]


async def test_a_deletion_and_a_vanished_part_together_count_once_per_customer(env):
    numbers = await linked(env, 10)
    sev = await env.customers("sevdesk")
    await env.s.customers.delete(sev[numbers[0]].id)  # its parts vanish with it

    result = await env.sync()  # 1 of 10: within the brake

    assert result.counts == {"customer.kleanapp.archive": 1}
    assert numbers[0] not in await env.customers("kleanapp")


class HideFromLists:
    """Pass-through ASGI wrapper: GET ``path`` answers leave out the rows ``hidden``,
    their ``total`` lowered to match, as a lagging replica would answer. Reads
    by id still find them."""

    def __init__(self, app, path: str) -> None:
        self.app = app
        self.path = path
        self.hidden: set[str] = set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        messages: list[dict] = []

        async def keep(message: dict) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
        data = json.loads(body)
        rows = [r for r in data.get("objects") or [] if str(r.get("id")) not in self.hidden]
        if "total" in data:
            data["total"] = str(int(data["total"]) - (len(data["objects"]) - len(rows)))
        data["objects"] = rows
        new = json.dumps(data).encode()
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(new)).encode())]})
        await send({"type": "http.response.body", "body": new})


async def test_a_contact_missing_from_a_list_that_adds_up_is_archived_only_if_it_is_gone(env):
    numbers = await linked(env, 10)
    lagging = HideFromLists(env.sevdesk_app, "/api/v1/Contact")
    await env.s.aclose()
    env.s = SevdeskConnector(
        S_URL, S_TOKEN, requests_per_second=1000, transport=httpx.ASGITransport(app=lagging)
    )
    sev = await env.customers("sevdesk")
    lagging.hidden = {sev[numbers[0]].id}

    kept = await env.sync(full=True)  # read again by id: it is there

    assert kept.errors == [] and kept.counts == {}, kept.counts  # before: archived
    assert numbers[0] in await env.customers("kleanapp")
    await env.s.customers.delete(sev[numbers[0]].id)
    gone = await env.sync(full=True)  # now reading it by id finds nothing either
    assert gone.counts == {"customer.kleanapp.archive": 1}
    await env.s.aclose()
