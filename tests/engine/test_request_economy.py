"""Requests are the scarce resource: what a create, an update and a quiet run cost (issue 16).

sevDesk may block a token that sends many requests (API-NOTES §8), and at the
default pace a first activation of 500 customers took ~13 minutes because a
sevDesk customer create cost 9 requests where its writes are 4. These tests
pin the costs a user relies on, counted with an httpx event hook on the
connectors' own clients against the in-process emulators (no mocked HTTP):

* a create sends exactly its writes, 1 Contact + 1 ContactAddress (if there
  is an address) + 1 CommunicationWay per e-mail/phone/mobile, and no reads
  (the customer is built from sevDesk's answers); the lookup by customer
  number happens only when recovering a create whose outcome is unknown;
* an update reads the customer once (the version check; sevDesk has no
  conditional writes) and writes only the parts that changed;
* a quiet run reads the listing pages and nothing else.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from freezegun import freeze_time

from reconciler.domain.models import Customer

from .conftest import customer, future


def tap(connector: Any) -> list[str]:
    """Every request the connector sends from now on, as "METHOD path?filter"."""
    sent: list[str] = []

    async def hook(request: httpx.Request) -> None:
        path = request.url.path.removeprefix("/api/v1/")
        number = request.url.params.get("customerNumber")
        sent.append(f"{request.method} {path}" + (f"?customerNumber={number}" if number else ""))

    connector.http._client.event_hooks["request"].append(hook)
    return sent


def kinds(sent: list[str]) -> Counter[str]:
    """Requests by method and resource, ids replaced by {id}."""
    out: Counter[str] = Counter()
    for line in sent:
        method, path = line.split(" ", 1)
        parts = path.split("/")
        out[" ".join([method, "/".join("{id}" if p.isdigit() else p for p in parts)])] += 1
    return out


PERSON = Customer(
    customer_number="K-7",
    kind="person",
    first_name="Anna",
    last_name="Müller",
    mobile="0171 5550123",
    country=None,
)


async def test_a_sevdesk_create_sends_only_its_writes_and_no_read(env):
    sent = tap(env.s)
    await env.s.customers.create(customer("K-1"))  # reads the account's country list once
    sent.clear()

    created = await env.s.customers.create(customer("K-2", mobile="0171 1234567"))
    person = await env.s.customers.create(PERSON)

    assert kinds(sent) == {
        "POST Contact": 2,
        "POST ContactAddress": 1,  # the person has no address
        "POST CommunicationWay": 4,  # e-mail, phone, mobile; the person's mobile
    }
    # Built from the answers, the customer is what a read shows.
    assert created == await env.s.customers.get(created.id)
    assert person == await env.s.customers.get(person.id)
    assert created.record == customer("K-2", mobile="0171 1234567")


async def test_the_number_lookup_is_only_sent_when_recovering_a_create(env):
    sent = tap(env.s)
    first = await env.s.customers.create(customer("K-1"))
    assert not [r for r in sent if "customerNumber=" in r]

    # Crash recovery: the outcome of an earlier attempt is unknown, so it looks first
    # and finds the customer that attempt wrote instead of writing a second one.
    sent.clear()
    env.s.customers._begun.clear()  # a new process: it remembers nothing
    again = await env.s.customers.create(customer("K-1"), resume=True)

    assert again.id == first.id
    assert kinds(sent)["GET Contact?customerNumber=K-1"] == 1
    assert not [r for r in sent if r.startswith(("POST", "PUT"))]


async def test_an_activation_costs_the_writes_plus_the_listing_pages(env):
    env.configure(sync={"units": "off"})
    for n in ("K-1", "K-2", "K-3"):
        await env.k.customers.create(customer(n))
    s_sent, k_sent = tap(env.s), tap(env.k)

    result = await env.sync()

    assert result.counts == {"customer.sevdesk.create": 3}
    assert kinds(k_sent) == {"GET customers": 1}
    assert kinds(s_sent) == {
        # the listing, and the account's lists read once per run
        "GET Contact": 1,
        "GET ContactAddress": 1,
        "GET CommunicationWay": 1,
        "GET StaticCountry": 1,
        "GET Category": 1,
        # three customers: contact, address, e-mail, phone
        "POST Contact": 3,
        "POST ContactAddress": 3,
        "POST CommunicationWay": 6,
        # the KleanApp id on each contact (one setting for the account, looked up first)
        "GET ContactCustomFieldSetting": 1,
        "POST ContactCustomFieldSetting": 1,
        "POST ContactCustomField": 3,
    }


async def test_an_update_reads_once_and_writes_only_the_changed_parts(env):
    created = await env.s.customers.create(customer("K-1"))
    sent = tap(env.s)

    updated = await env.s.customers.update(
        created.id, {"email": "neu@kunde.example"}, expected_version=created.version
    )

    assert kinds(sent) == {
        "GET Contact/{id}": 1,  # the version check: contact, addresses, ways
        "GET ContactAddress": 1,
        "GET CommunicationWay": 1,
        "PUT CommunicationWay/{id}": 1,
    }
    assert updated == await env.s.customers.get(created.id)
    assert updated.record.email == "neu@kunde.example"

    sent.clear()
    await env.s.customers.update(created.id, {"city": "Bonn", "note": "Schlüssel beim Hausmeister"})
    assert kinds(sent) == {
        "GET Contact/{id}": 1,
        "GET ContactAddress": 1,
        "GET CommunicationWay": 1,
        "PUT Contact/{id}": 1,
        "PUT ContactAddress/{id}": 1,
    }

    sent.clear()
    same = await env.s.customers.update(created.id, {"city": "Bonn"})
    assert kinds(sent) == {
        "GET Contact/{id}": 1,
        "GET ContactAddress": 1,
        "GET CommunicationWay": 1,
    }
    assert same.record.city == "Bonn"


async def test_a_quiet_run_reads_only_the_listing_pages(env):
    env.configure(sync={"units": "off"})
    await env.k.customers.create(customer("K-1"))
    await env.s.customers.create(customer("K-2"))
    with freeze_time(future(10), real_asyncio=True):
        await env.sync()
    s_sent, k_sent = tap(env.s), tap(env.k)

    with freeze_time(future(20), real_asyncio=True):
        quiet = await env.sync()
    with freeze_time(future(30), real_asyncio=True):
        full = await env.sync(full=True)

    assert quiet.counts == {} and full.counts == {}
    assert kinds(k_sent) == {"GET customers": 2}
    assert kinds(s_sent) == {
        "GET Contact": 2,
        "GET ContactAddress": 2,
        "GET CommunicationWay": 2,
        # the full run checks that every link's KleanApp id is on its contact
        "GET ContactCustomFieldSetting": 1,
        "GET ContactCustomField": 1,
    }


async def test_a_create_that_failed_half_way_is_finished_by_a_later_run_not_repeated(env):
    """No lookup before a create, yet no second contact: the next run sees the first one."""
    env.configure(sync={"units": "off"})
    created = await env.k.customers.create(customer("K-1"))
    refuse = {"kind": "status", "status": 400, "method": "POST", "path": "CommunicationWay$"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.sevdesk_app)) as c:
        assert (await c.post("http://s/_sandbox/faults", json=refuse)).status_code == 201
    first = await env.sync()  # the contact and its address are written, the e-mail refused
    assert [e["op"] for e in first.errors] == ["create"]
    # The bookkeeper edits the customer in KleanApp; the next run writes it again.
    await env.k.customers.update(created.id, {"note": "neu angelegt"})

    again = await env.sync()

    assert again.errors == []
    assert again.counts == {"customer.sevdesk.update": 1}  # matched by number, completed
    customers = await env.customers("sevdesk")  # (asserts one contact per number)
    assert customers["K-1"].record == customer("K-1", note="neu angelegt")
