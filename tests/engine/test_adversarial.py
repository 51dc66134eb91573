"""Adversarial scenarios: edits a real office makes, run against both emulators.

Each scenario states what a user would expect and ends with the same check:
the following runs (incremental, incremental, full) plan and write nothing,
so nothing ping-pongs between the two systems.
"""

from __future__ import annotations

import httpx
import pytest
from freezegun import freeze_time

from .conftest import S_TOKEN, S_URL, customer, future

NUMBERS = ("K-00001", "K-00002", "K-00003")


async def seed_linked(env, numbers=NUMBERS, **fields):
    """The same customers on both sides, typed differently, linked by one sync."""
    for n in numbers:
        await env.k.customers.create(customer(n, **fields))
        await env.s.customers.create(
            customer(n, phone="+49 30 1234567", email=f"INFO@{n}.example.de", **fields)
        )
    result = await env.sync()
    assert result.errors == []
    assert not any(k.startswith("customer.") for k in result.counts), result.counts
    assert len(env.store.links("customer")) == len(numbers)


async def assert_quiet(env, runs=("incremental", "incremental", "full")):
    """Every further run plans nothing, writes nothing and reports no conflict."""
    writes = await env.writes()
    for kind in runs:
        again = await env.sync(full=kind == "full")
        assert again.errors == [], (kind, again.errors)
        assert again.plan.actions == [], (kind, again.plan.actions)
        assert again.plan.conflicts == (), (kind, again.plan.conflicts)
    assert await env.writes() == writes


async def ids(env, number):
    k = (await env.customers("kleanapp"))[number]
    s = (await env.customers("sevdesk"))[number]
    return k.id, s.id


async def both(env, number):
    """The customer as each side holds it (normalised, archive flag left out)."""
    return (await env.normalised("kleanapp"))[number], (await env.normalised("sevdesk"))[number]


async def sevdesk_call(env, method, path, **kwargs):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.sevdesk_app), headers={"Authorization": S_TOKEN}
    ) as c:
        r = await c.request(method, f"{S_URL}/{path}", **kwargs)
        assert r.status_code < 300, r.text
        objects = r.json()["objects"]
        return objects if isinstance(objects, list) else [objects]


# --- no-op edits ----------------------------------------------------------------


async def test_the_same_edit_on_both_sides_is_no_conflict_and_no_write(env):
    await seed_linked(env)
    k1, s1 = await ids(env, "K-00001")
    with freeze_time(future(5), real_asyncio=True):
        await env.k.customers.update(k1, {"city": "Potsdam", "email": "neu@example.de"})
    with freeze_time(future(10), real_asyncio=True):
        await env.s.customers.update(s1, {"city": "Potsdam", "email": "NEU@example.de"})
    writes = await env.writes()

    result = await env.sync()

    assert result.plan.actions == [] and result.plan.conflicts == ()
    assert await env.writes() == writes
    k, s = await both(env, "K-00001")
    assert k == s and k["city"] == "Potsdam"
    await assert_quiet(env)


async def test_an_edit_reverted_before_the_next_run_writes_nothing(env):
    await seed_linked(env)
    k1, s1 = await ids(env, "K-00001")
    await env.k.customers.update(k1, {"street": "Ring 4"})
    await env.k.customers.update(k1, {"street": "Hauptstraße 1"})
    await env.s.customers.update(s1, {"phone": "0171 5550123"})
    await env.s.customers.update(s1, {"phone": "+49 30 1234567"})
    writes = await env.writes()

    result = await env.sync()

    assert result.plan.actions == [] and result.plan.conflicts == ()
    assert await env.writes() == writes
    await assert_quiet(env)


async def test_whitespace_and_case_only_edits_cause_no_writes(env):
    await seed_linked(env)
    k1, s1 = await ids(env, "K-00001")
    await env.k.customers.update(
        k1,
        {
            "company_name": "  Praxis   K-00001 ",
            "email": "Info@K-00001.Example.DE",
            "vat_id": None,
            "phone": "(030) 123 45 67",
        },
    )
    await env.s.customers.update(s1, {"city": " Berlin\t", "phone": "+49 (0)30 1234567"})
    writes = await env.writes()

    result = await env.sync()

    assert result.plan.actions == [], result.plan.actions
    assert await env.writes() == writes
    await assert_quiet(env)


# --- clears ---------------------------------------------------------------------


async def test_clearing_a_field_travels_as_a_clear_in_both_directions(env):
    await seed_linked(env, note="Schlüssel beim Hausmeister", mobile="0171 5550123")
    # A cleared sevDesk address or number is a deleted part, which the brake
    # counts like a deletion: 1 of 3 is above the default 10 %.
    env.configure(sync={"max_delete_fraction": 0.5})
    k1, s1 = await ids(env, "K-00001")
    await env.k.customers.update(k1, {"email": None, "note": ""})
    await env.s.customers.update(s1, {"mobile": None, "street": None})

    result = await env.sync()

    assert result.errors == [] and result.plan.conflicts == ()
    assert result.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}
    k, s = await both(env, "K-00001")
    assert k == s
    assert (k["email"], k["note"], k["mobile"], k["street"]) == (None, None, None, None)
    assert k["city"] == "Berlin"
    await assert_quiet(env)


# --- identity fields --------------------------------------------------------------


async def test_kind_company_to_person_on_one_side_travels_once(env):
    await seed_linked(env)
    k1, _s1 = await ids(env, "K-00001")
    _k2, s2 = await ids(env, "K-00002")
    await env.k.customers.update(
        k1,
        {"kind": "person", "company_name": None, "first_name": "Anna", "last_name": "Müller"},
    )
    await env.s.customers.update(
        s2,
        {"kind": "person", "company_name": None, "first_name": "Bernd", "last_name": "Berg"},
    )

    result = await env.sync()

    assert result.errors == [] and result.plan.conflicts == ()
    assert result.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}
    for number, name in (("K-00001", ("Anna", "Müller")), ("K-00002", ("Bernd", "Berg"))):
        k, s = await both(env, number)
        assert k == s
        assert (k["kind"], k["company_name"], k["first_name"], k["last_name"]) == (
            "person",
            None,
            *name,
        )
    await assert_quiet(env)


async def test_a_changed_customer_number_travels_and_the_link_holds(env):
    await seed_linked(env)
    k1, s1 = await ids(env, "K-00001")
    _k2, s2 = await ids(env, "K-00002")
    await env.k.customers.update(k1, {"customer_number": "K-10001"})
    await env.s.customers.update(s2, {"customer_number": "K-20002"})

    result = await env.sync()

    assert result.errors == [] and result.plan.conflicts == ()
    assert result.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}
    k_side, s_side = await env.customers("kleanapp"), await env.customers("sevdesk")
    assert sorted(k_side) == sorted(s_side) == ["K-00003", "K-10001", "K-20002"]
    assert (k_side["K-10001"].id, s_side["K-10001"].id) == (k1, s1)
    assert s_side["K-20002"].id == s2
    assert len(env.store.links("customer")) == 3
    await assert_quiet(env)


# --- archive / restore ----------------------------------------------------------------


async def test_archive_then_restore_in_kleanapp_keeps_sevdesk_edits(env):
    await seed_linked(env)
    k3, s3 = await ids(env, "K-00003")
    await env.k.customers.delete(k3)  # KleanApp archives
    archived = await env.sync()
    assert archived.counts == {}
    assert any("archived in KleanApp" in t.message for t in archived.plan.tasks)

    await env.s.customers.update(s3, {"city": "Potsdam", "postal_code": "14467"})
    await env.sync()  # edits to the contact of an archived customer
    await env.k.customers.update(k3, {"archived": False})  # restored
    await env.s.customers.update(s3, {"email": "wieder@example.de"})

    result = await env.sync()

    assert result.errors == [] and result.plan.conflicts == ()
    k, s = await both(env, "K-00003")
    assert k == s
    assert (k["city"], k["postal_code"], k["email"]) == ("Potsdam", "14467", "wieder@example.de")
    assert len(env.store.links("customer")) == 3
    assert env.store.links("customer")[2].base["archived"] is False
    await assert_quiet(env)


# --- phone numbers and countries ------------------------------------------------------


async def test_an_unparseable_phone_number_stays_as_typed_without_ping_pong(env):
    await seed_linked(env)
    k1, _s1 = await ids(env, "K-00001")
    typed = "030 / 123 45 - 6 (Zentrale)"
    await env.k.customers.update(k1, {"phone": typed, "mobile": "0171 / 555 01 23 - 9"})

    result = await env.sync()

    assert result.counts == {"customer.sevdesk.update": 1}
    k, s = await both(env, "K-00001")
    assert k == s and k["phone"] == typed
    await assert_quiet(env)


async def test_austrian_customers_do_not_ping_pong(env):
    at = {"country": "AT", "postal_code": "1010", "city": "Wien", "phone": "0664 1234567"}
    await env.k.customers.create(customer("K-00001", **at))
    await env.s.customers.create(customer("K-00002", **{**at, "phone": "01 5123456"}))
    await env.k.customers.create(customer("K-00003", **{**at, "phone": "+43 664 7654321"}))

    first = await env.sync()

    assert first.errors == []
    assert first.counts == {
        "customer.kleanapp.create": 1,
        "customer.sevdesk.create": 2,
        "unit.kleanapp.create": 5,
    }
    klean, sev = await env.normalised("kleanapp"), await env.normalised("sevdesk")
    assert klean == sev
    assert klean["K-00001"]["phone"] == "+436641234567"
    assert klean["K-00002"]["phone"] == "+4315123456"
    assert klean["K-00003"]["phone"] == "+436647654321"

    # An Austrian number re-typed in the national format on either side changes nothing.
    k1, s1 = await ids(env, "K-00001")
    await env.s.customers.update(s1, {"phone": "0664 123 45 67"})
    await env.k.customers.update(k1, {"mobile": "0676 9876543"})
    edit = await env.sync()
    assert edit.counts == {"customer.sevdesk.update": 1}
    assert (await env.normalised("sevdesk"))["K-00001"]["mobile"] == "+436769876543"
    await assert_quiet(env)


async def test_moving_a_customer_abroad_writes_only_the_country(env):
    """A DE customer whose KleanApp phone is stored as typed ("030 1234567")
    moves to Austria in KleanApp: only the address should travel, the Berlin
    number must not be rewritten in sevDesk."""
    await seed_linked(env)
    k1, _s1 = await ids(env, "K-00001")
    await env.k.customers.update(
        k1, {"country": "AT", "postal_code": "1010", "city": "Wien", "street": "Ring 1"}
    )

    result = await env.sync()

    assert result.plan.conflicts == ()
    actions = {a.side: set(a.fields) for a in result.plan.actions}
    assert actions["sevdesk"] == {"country", "postal_code", "city", "street"}
    # KleanApp's "030 1234567" would read as Austrian now: it gets the number in
    # international form, so both sides keep meaning the same Berlin number; a
    # write of its own, with its own reason, not part of carrying the move.
    [reformat] = [a for a in result.plan.actions if a.side == "kleanapp"]
    assert (reformat.step, reformat.fields) == ("reformat", {"phone": "+49301234567"})
    assert "AT" in reformat.reason and "'030 1234567'" in reformat.reason
    k, s = await both(env, "K-00001")
    assert s["phone"] == k["phone"] == "+49301234567"
    await assert_quiet(env)


# --- records that are not ours ----------------------------------------------------------


async def test_a_sevdesk_supplier_is_never_imported_or_touched(env):
    await seed_linked(env)
    [supplier] = await sevdesk_call(
        env,
        "POST",
        "Contact",
        json={
            "name": "Reinigungsmittel Großhandel GmbH",
            "customerNumber": "L-0001",
            "category": {"id": 2, "objectName": "Category"},
        },
    )
    await sevdesk_call(
        env,
        "POST",
        "CommunicationWay",
        json={
            "contact": {"id": int(supplier["id"]), "objectName": "Contact"},
            "type": "EMAIL",
            "value": "info@k-00001.example.de",  # same address as a customer
            "key": {"id": 2, "objectName": "CommunicationWayKey"},
            "main": True,
        },
    )
    # A new KleanApp customer with the supplier's name must not be matched with it.
    await env.k.customers.create(
        customer("K-00004", company_name="Reinigungsmittel Großhandel GmbH")
    )
    before = await sevdesk_call(env, "GET", f"Contact/{supplier['id']}")

    result = await env.sync()
    full = await env.sync(full=True)

    assert result.errors == [] and full.errors == []
    assert result.counts == {"customer.sevdesk.create": 1}
    assert full.counts == {}
    assert "L-0001" not in await env.customers("kleanapp")
    assert await sevdesk_call(env, "GET", f"Contact/{supplier['id']}") == before
    links = env.store.links("customer")
    assert supplier["id"] not in {link.sevdesk_id for link in links}
    await assert_quiet(env)


# --- time and incremental reads ------------------------------------------------------------


async def test_incremental_runs_after_long_gaps_see_every_edit(env):
    await seed_linked(env)
    k1, s1 = await ids(env, "K-00001")
    k2, s2 = await ids(env, "K-00002")
    day = 24 * 60
    with freeze_time(future(3 * day), real_asyncio=True):
        await env.k.customers.update(k1, {"street": "Ring 4"})
    with freeze_time(future(5 * day), real_asyncio=True):
        await env.s.customers.update(s2, {"note": "Hund im Hof"})
    first = await env.sync()
    assert first.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}

    with freeze_time(future(40 * day), real_asyncio=True):
        await env.s.customers.update(s1, {"city": "Potsdam"})
    with freeze_time(future(41 * day), real_asyncio=True):
        await env.k.customers.update(k2, {"email": "neu@example.de"})
    second = await env.sync()
    assert second.full is False
    assert second.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}

    klean, sev = await env.normalised("kleanapp"), await env.normalised("sevdesk")
    assert klean == sev
    assert (klean["K-00001"]["street"], klean["K-00001"]["city"]) == ("Ring 4", "Potsdam")
    assert (klean["K-00002"]["note"], klean["K-00002"]["email"]) == (
        "Hund im Hof",
        "neu@example.de",
    )


async def test_an_edit_made_while_a_counterpart_is_fetched_is_not_skipped(env):
    """A KleanApp edit landing between the incremental list and a by-id fetch
    of another record must still be seen by the next incremental run."""
    await seed_linked(env)
    k1, s1 = await ids(env, "K-00001")
    k2, _s2 = await ids(env, "K-00002")
    await env.s.customers.update(s1, {"city": "Potsdam"})  # K-00001's KleanApp side is fetched
    typed: list[str] = []
    real_get = env.k.customers.get

    async def get_while_the_office_types(rid):
        if rid == k1 and not typed:
            typed.append(rid)
            await env.k.customers.update(k2, {"street": "Weg 2"})  # after the listing
            await env.k.customers.update(k1, {"note": "Tor-Code 1234"})
        return await real_get(rid)

    env.k.customers.get = get_while_the_office_types
    try:
        first = await env.sync()
    finally:
        env.k.customers.get = real_get
    assert typed and first.errors == []
    assert first.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}

    second = await env.sync()

    assert second.full is False
    assert second.counts == {"customer.sevdesk.update": 1}
    assert (await env.normalised("sevdesk"))["K-00002"]["street"] == "Weg 2"
    await assert_quiet(env)


# --- stale plans ------------------------------------------------------------------------


async def test_a_stale_plan_whose_target_was_deleted_fails_that_record_only(env, tmp_path):
    await seed_linked(env)
    env.configure(sync={"max_delete_fraction": 0.5})
    k1, s1 = await ids(env, "K-00001")
    k2, _s2 = await ids(env, "K-00002")
    await env.k.customers.update(k1, {"email": "neu@example.de"})
    await env.k.customers.update(k2, {"street": "Weg 2"})
    plan_file = tmp_path / "plan.json"
    await env.sync(dry_run=True, plan_out=plan_file)
    await env.s.customers.delete(s1)  # someone deletes the contact meanwhile

    applied = await env.sync(apply_plan=plan_file)

    assert applied.counts == {"customer.sevdesk.update": 1}
    assert [e["key"] for e in applied.errors] == ["K-00001"]
    assert (await env.normalised("sevdesk"))["K-00002"]["street"] == "Weg 2"
    # No contact was created again in the stale update's place.
    assert "K-00001" not in await env.customers("sevdesk")

    # The next run applies the deletion policy: the KleanApp customer is archived.
    follow = await env.sync()
    assert follow.errors == []
    assert follow.counts == {"customer.kleanapp.archive": 1}
    assert "K-00001" not in await env.customers("kleanapp")
    assert "K-00001" not in await env.customers("sevdesk")
    await assert_quiet(env)


@pytest.mark.parametrize("side", ["kleanapp", "sevdesk"])
async def test_three_runs_after_a_first_sync_with_differences_are_quiet(env, side):
    """First link with a differing field: decided once, then nothing moves."""
    env.configure(rules={"default": f"{side}-authoritative"})
    await env.k.customers.create(customer("K-00001", city="Potsdam", phone="030 1234567"))
    await env.s.customers.create(customer("K-00001", city="Cottbus", phone="+49301234567"))
    first = await env.sync()
    [conflict] = first.plan.conflicts
    assert conflict.field == "city"
    k, s = await both(env, "K-00001")
    assert k == s and k["city"] == ("Potsdam" if side == "kleanapp" else "Cottbus")
    await assert_quiet(env)


# --- second batch -------------------------------------------------------------------


async def test_a_person_keeping_a_company_name_in_kleanapp_does_not_bounce(env):
    """KleanApp lets a person keep its company name; sevDesk cannot hold one."""
    await seed_linked(env)
    k1, _s1 = await ids(env, "K-00001")
    await env.k.customers.update(k1, {"kind": "person", "first_name": "Anna", "last_name": "Ott"})

    result = await env.sync()

    assert result.errors == []
    assert result.counts == {"customer.sevdesk.update": 1}
    await assert_quiet(env)


async def test_a_sevdesk_contact_without_address_is_imported_once(env):
    [contact] = await sevdesk_call(
        env,
        "POST",
        "Contact",
        json={
            "name": "Bäckerei Korn",
            "customerNumber": "K-00042",
            "category": {"id": 3, "objectName": "Category"},
        },
    )
    first = await env.sync()
    assert first.errors == []
    assert first.counts.get("customer.kleanapp.create") == 1
    assert "K-00042" in await env.customers("kleanapp")
    await assert_quiet(env)
    assert contact["id"] in {link.sevdesk_id for link in env.store.links("customer")}


async def test_deleting_the_address_in_sevdesk_clears_it_in_kleanapp(env):
    await seed_linked(env)
    env.configure(sync={"max_delete_fraction": 0.5})  # 1 of 3 is above the default brake
    _k1, s1 = await ids(env, "K-00001")
    _k2, s2 = await ids(env, "K-00002")
    # Another customer's edit a minute later: the next cursor lies past every
    # stamp K-00001 has, whatever second the seeding ran in.
    with freeze_time(future(1), real_asyncio=True):
        await env.s.customers.update(s2, {"note": "Schlüssel beim Hausmeister"})
        assert (await env.sync()).counts == {"customer.kleanapp.update": 1}
    [address] = await sevdesk_call(
        env, "GET", "ContactAddress", params={"contact[id]": s1, "contact[objectName]": "Contact"}
    )
    with freeze_time(future(2), real_asyncio=True):
        await sevdesk_call(env, "DELETE", f"ContactAddress/{address['id']}")
        result = await env.sync()

    assert not result.full

    assert result.errors == []
    k, _s = await both(env, "K-00001")
    assert (k["street"], k["postal_code"], k["city"]) == (None, None, None)
    await assert_quiet(env)


async def test_clearing_the_email_in_kleanapp_is_not_undone_by_a_second_address(env):
    await seed_linked(env)
    k1, s1 = await ids(env, "K-00001")
    await sevdesk_call(
        env,
        "POST",
        "CommunicationWay",
        json={
            "contact": {"id": int(s1), "objectName": "Contact"},
            "type": "EMAIL",
            "value": "buchhaltung@k-00001.example.de",
            "key": {"id": 2, "objectName": "CommunicationWayKey"},
            "main": False,
        },
    )
    await env.sync()  # the extra, non-main address changes nothing
    await env.k.customers.update(k1, {"email": None})

    result = await env.sync()

    assert result.errors == []
    await assert_quiet(env)
    k, _s = await both(env, "K-00001")
    assert k["email"] is None


async def test_restoring_after_archive_with_delete_policy_recreates_the_contact_once(env):
    await seed_linked(env)
    env.configure(sync={"on_kleanapp_archive": "delete", "max_delete_fraction": 0.5})
    k3, _s3 = await ids(env, "K-00003")
    await env.k.customers.delete(k3)
    archived = await env.sync()
    assert archived.counts == {"customer.sevdesk.delete": 1}
    assert "K-00003" not in await env.customers("sevdesk")

    await env.k.customers.update(k3, {"archived": False, "city": "Potsdam"})
    restored = await env.sync()

    assert restored.errors == []
    assert restored.counts == {"customer.sevdesk.create": 1}
    k, s = await both(env, "K-00003")
    assert k == s and k["city"] == "Potsdam"
    await assert_quiet(env)


@pytest.mark.parametrize("side", ["kleanapp", "sevdesk"])
async def test_two_customers_swapping_numbers_on_one_side_travel(env, side):
    await seed_linked(env)
    conn = env.k if side == "kleanapp" else env.s
    first = (await ids(env, "K-00001"))[0 if side == "kleanapp" else 1]
    second = (await ids(env, "K-00002"))[0 if side == "kleanapp" else 1]
    await conn.customers.update(first, {"customer_number": "TMP-1"})
    await conn.customers.update(second, {"customer_number": "K-00001"})
    await conn.customers.update(first, {"customer_number": "K-00002"})

    result = await env.sync()

    assert result.errors == []
    klean, sev = await env.customers("kleanapp"), await env.customers("sevdesk")
    assert sorted(klean) == sorted(sev) == list(NUMBERS)
    names = {n: (klean[n].record.company_name, sev[n].record.company_name) for n in klean}
    assert names["K-00001"] == ("Praxis K-00002", "Praxis K-00002")
    await assert_quiet(env)


async def test_a_company_with_a_contact_person_in_kleanapp_does_not_bounce(env):
    """KleanApp may name a contact person for a company; sevDesk's organisation cannot."""
    await env.k.customers.create(customer("K-00001", first_name="Anna", last_name="Ott"))

    first = await env.sync()

    assert first.errors == [] and first.counts["customer.sevdesk.create"] == 1
    await assert_quiet(env)
    klean = (await env.customers("kleanapp"))["K-00001"].record
    assert (klean.first_name, klean.last_name) == ("Anna", "Ott")
