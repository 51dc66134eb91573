"""``resync`` rebuilds links and bases from both sides (in-process, both emulators)."""

from __future__ import annotations

import pytest

from reconciler.domain.errors import NeedsResync
from reconciler.sync.resync import run_resync
from state import Store

from .conftest import customer
from .test_stable_ids import sevdesk_stats, stable_ids_in_emulator

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


async def resync(env, *, dry_run: bool = False):
    return await run_resync(
        env.config,
        connectors={"kleanapp": env.k, "sevdesk": env.s},
        store=env.store,
        dry_run=dry_run,
    )


def lose_store(env, state_urls, name: str = "fresh.db") -> None:
    env.store.close()
    env.store = Store(state_urls(name, fresh=True))
    env.configure()


async def customer_writes(env) -> dict[str, int]:
    """sevDesk writes other than the stable-id fields, plus every KleanApp write."""
    writes = (await sevdesk_stats(env))["writes"]
    return {k: n for k, n in writes.items() if "ContactCustomField" not in k}


async def test_stable_ids_relink_even_a_renumbered_customer_and_one_sided_ones_wait(
    env, state_urls
):
    for n in ("K-00001", "K-00002", "K-00003"):
        await env.k.customers.create(customer(n))
    await env.sync()
    old = {link.kleanapp_id: link.sevdesk_id for link in env.store.links("customer")}
    lose_store(env, state_urls)
    renumbered = old[next(iter(old))]
    await env.s.customers.update(renumbered, {"customer_number": "9999"})
    await env.k.customers.create(customer("K-00004"))  # new since: only in KleanApp
    only_sev = await env.s.customers.create(customer("5001"))
    before = (await sevdesk_stats(env))["total_writes"]

    result = await resync(env)

    assert result.errors == []
    assert {(x["kleanapp_id"], x["sevdesk_id"]) for x in result.linked} == set(old.items())
    assert result.by() == {"stable id": 3}
    assert [x["key"] for x in result.only_kleanapp] == ["K-00004"]
    assert [x["id"] for x in result.only_sevdesk] == [only_sev.id]
    differ = [x for x in result.linked if not x["agreed"]]
    assert [x["sevdesk_id"] for x in differ] == [renumbered]
    assert (await sevdesk_stats(env))["total_writes"] == before  # every id was there already
    lines = result.summary_lines()
    assert "linked 3 customers (3 by stable id)" in lines[0]
    assert "2 agree on both sides; 1 differ" in lines[1]
    assert any(line.startswith("  only in KleanApp: 1 (K-00004 ") for line in lines)
    assert any(line.startswith("  only in sevDesk: 1 (5001 ") for line in lines)
    links = {link.sevdesk_id: link for link in env.store.links("customer")}
    assert links[renumbered].base is None and all(
        link.base for sid, link in links.items() if sid != renumbered
    )

    after = await env.sync()  # the one-sided ones are created now, the number is a conflict
    assert after.counts.get("customer.kleanapp.create") == 1
    assert after.counts.get("customer.sevdesk.create") == 1
    assert [c.field for c in after.plan.conflicts] == ["customer_number"]
    assert len(await env.customers("sevdesk")) == 5


async def test_customer_numbers_link_what_carries_no_id_and_the_ids_are_recorded(env):
    """Customers that were linked before stable ids existed: resync links and tags them."""
    for n in ("K-00001", "K-00002"):
        await env.k.customers.create(customer(n))
        await env.s.customers.create(customer(n, email=f"INFO@{n}.example.de"))
    customer_before = await customer_writes(env)

    dry = await resync(env, dry_run=True)
    assert dry.by() == {"customer number": 2} and dry.stable_ids_missing == 2
    assert env.store.links("customer") == [] and stable_ids_in_emulator(env) == {}

    result = await resync(env)

    assert result.by() == {"customer number": 2} and result.stable_ids_written == 2
    assert all(x["agreed"] for x in result.linked)  # e-mail case is no difference
    links = env.store.links("customer")
    assert stable_ids_in_emulator(env) == {x.sevdesk_id: [x.kleanapp_id] for x in links}
    assert await customer_writes(env) == customer_before
    again = await env.sync()
    assert [k for k in again.counts if k.startswith("customer.")] == [] and again.errors == []


async def test_two_contacts_claiming_one_kleanapp_customer_are_parked(env, state_urls):
    await env.k.customers.create(customer("K-00001"))
    await env.sync()
    (link,) = env.store.links("customer")
    copy = await env.s.customers.create(customer("K-00001-copy"))  # copied in sevDesk's UI
    await env.s.stable_ids.write(copy.id, link.kleanapp_id)
    lose_store(env, state_urls)

    result = await resync(env)

    assert result.linked == []
    parked = {(p["side"], p["record_id"]) for p in result.parked}
    assert parked == {
        ("kleanapp", link.kleanapp_id),
        ("sevdesk", link.sevdesk_id),
        ("sevdesk", copy.id),
    }
    assert result.only_kleanapp == [] and result.only_sevdesk == []
    assert {(p.side, p.record_id) for p in env.store.open_parked()} == parked


async def test_a_sync_after_resync_no_longer_refuses(env, state_urls):
    await env.k.customers.create(customer("K-00001"))
    await env.sync()
    lose_store(env, state_urls)
    with pytest.raises(NeedsResync):
        await env.sync()
    await resync(env)
    result = await env.sync()
    assert result.counts == {} and result.errors == []
