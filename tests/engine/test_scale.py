"""The engine at scale (issue 21): a quiet run costs what changed, an activation links in chunks.

Figures are bench/bench_scale.py's; these tests pin the behaviour behind them
that a user would notice: an incremental run reads only the links of the
records that came back (and still refuses to create a customer under a
number a linked one holds), and linking hundreds of identical pairs does not
cost a commit per link, while every link is stored and the next run is quiet.
"""

from __future__ import annotations

import datetime as dt

import httpx
from freezegun import freeze_time
from sqlalchemy import event

from state.tables import Link

from .conftest import customer, future


def _wire(number: str) -> dict:
    return customer(number).model_dump(exclude={"archived"}, exclude_none=True)


async def _bulk(app, root: str, body: dict) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        r = await c.post(f"{root}/_sandbox/bulk", json=body)
        assert r.status_code < 300, r.text


async def seed_linked(env, count: int) -> list[str]:
    """``count`` equal customers on both sides, stamped minutes ago, then linked by a run."""
    numbers = [f"K-{i:05d}" for i in range(1, count + 1)]
    items = [_wire(n) for n in numbers]
    with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10), real_asyncio=True):
        await _bulk(env.kleanapp_app, "http://kleanapp.test", {"customers": items})
        await _bulk(env.sevdesk_app, "http://sevdesk.test", {"contacts": items})
    result = await env.sync()
    assert result.errors == [] and len(env.store.links("customer")) == count
    return numbers


class LinkLoads:
    """Counts the customer links the store turns into objects (the ORM's ``load`` event).

    Unit links are few and always read whole, like the units themselves.
    """

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> LinkLoads:
        event.listen(Link, "load", self._loaded)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Link, "load", self._loaded)

    def _loaded(self, link: Link, *_args: object) -> None:
        self.count += link.entity == "customer"


async def test_a_quiet_incremental_run_reads_only_the_links_of_the_records_that_changed(env):
    numbers = await seed_linked(env, 300)
    ids = {r.record.customer_number: r.id for r in (await env.k.customers.list_changed()).records}
    with freeze_time(future(1), real_asyncio=True):
        await env.k.customers.update(ids[numbers[7]], {"city": "Potsdam"})

    with freeze_time(future(2), real_asyncio=True), LinkLoads() as loads:
        result = await env.sync()

    assert not result.full and result.errors == []
    assert result.counts == {"customer.sevdesk.update": 1}
    assert (await env.customers("sevdesk"))[numbers[7]].record.city == "Potsdam"
    assert loads.count < 10  # that pair's link (looked up, saved), not all 300


async def test_an_incremental_run_parks_a_new_customer_under_a_linked_customers_number(env):
    numbers = await seed_linked(env, 20)
    with freeze_time(future(1), real_asyncio=True):
        await env.s.customers.create(customer(numbers[3], company_name="Bäckerei Anders"))

    with freeze_time(future(2), real_asyncio=True):
        result = await env.sync()

    assert not result.full and result.errors == []
    assert [p.key for p in result.plan.parked] == [numbers[3]]
    assert len(await env.customers("kleanapp")) == 20  # not created a second time


async def test_an_activation_links_hundreds_of_identical_pairs_in_few_commits(env):
    # An account without contact fields: no stable id (a journaled sevDesk write) per link,
    # so what is counted is the linking itself.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.sevdesk_app)) as c:
        rule = {"kind": "status", "method": "POST", "path": "/ContactCustomFieldSetting$"}
        r = await c.post(
            "http://sevdesk.test/_sandbox/faults", json={**rule, "status": 400, "times": None}
        )
        assert r.status_code == 201
    commits = []
    event.listen(env.store.engine, "commit", lambda *_a: commits.append(1))
    numbers = await seed_linked(env, 1200)

    assert len(commits) < 120  # one chunk of links per transaction, not a commit per link
    links = env.store.links("customer")
    assert sorted(link.key for link in links) == numbers
    assert all(link.base and link.kleanapp_raw and link.sevdesk_raw for link in links)
    again = await env.sync(full=True)
    assert again.errors == [] and again.plan.actions == [] and again.plan.pairs == ()


def _digests(env) -> dict[str, tuple[str | None, str | None]]:
    return {lk.key: (lk.kleanapp_digest, lk.sevdesk_digest) for lk in env.store.links("customer")}


async def test_a_pair_remembered_as_quiet_still_carries_an_edit_made_on_either_side(env):
    # A quiet full run remembers each quiet pair by its two records' digests, so the next
    # one need not normalise them; an edit on either side must still be carried, and a
    # pair that was written is judged on its values again (its digests are dropped).
    numbers = await seed_linked(env, 12)
    linked = _digests(env)  # linked with nothing to write: known as quiet from the start
    assert all(k and s for k, s in linked.values())
    with LinkLoads() as loads:
        quiet = await env.sync(full=True)
    assert quiet.errors == [] and quiet.plan.pairs == ()
    assert loads.count == 0  # known by their digests: no base or fingerprints decoded
    remembered = _digests(env)
    assert remembered == linked

    k_ids = {r.record.customer_number: r.id for r in (await env.k.customers.list_changed()).records}
    s_ids = {r.record.customer_number: r.id for r in (await env.s.customers.list_changed()).records}
    with freeze_time(future(1), real_asyncio=True):
        await env.k.customers.update(k_ids[numbers[2]], {"city": "Potsdam"})
        await env.s.customers.update(s_ids[numbers[5]], {"email": "neu@praxis.example.de"})
    with freeze_time(future(2), real_asyncio=True):
        edited = await env.sync(full=True)

    assert edited.errors == []
    assert edited.counts == {"customer.sevdesk.update": 1, "customer.kleanapp.update": 1}
    assert (await env.customers("sevdesk"))[numbers[2]].record.city == "Potsdam"
    assert (await env.customers("kleanapp"))[numbers[5]].record.email == "neu@praxis.example.de"
    after = _digests(env)
    assert after[numbers[2]] == after[numbers[5]] == (None, None)  # written: no longer known
    assert {n: d for n, d in after.items() if n not in (numbers[2], numbers[5])} == {
        n: d for n, d in remembered.items() if n not in (numbers[2], numbers[5])
    }

    with freeze_time(future(3), real_asyncio=True):
        again = await env.sync(full=True)
    assert again.errors == [] and again.plan.pairs == ()
    assert all(k and s for k, s in _digests(env).values())  # quiet again, remembered again
