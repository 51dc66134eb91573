"""A sevDesk contact with a second e-mail or phone number the sync never copied.

sevDesk lets a contact hold several communication ways of one type; kleansync
syncs the one marked main (``reconciler.connectors.sevdesk_mapping``). A second
one, not marked main, is the bookkeeper's: a clear coming from KleanApp removes
only the main one and stays a clear, and a value KleanApp types later is a new
main way, never written over the second one.
"""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from .conftest import future
from .test_adversarial import assert_quiet, ids, seed_linked, sevdesk_call

KINDS = {
    "EMAIL": ("email", "buchhaltung@k-00001.example.de", "neu@k-00001.example.de"),
    "PHONE": ("phone", "030 9999999", "030 5550123"),
    "MOBILE": ("mobile", "0171 9999999", "0171 5550123"),
}


async def ways_of(env, contact_id, kind):
    rows = await sevdesk_call(
        env,
        "GET",
        "CommunicationWay",
        params={"contact[id]": contact_id, "contact[objectName]": "Contact"},
    )
    return {(r["value"], r["main"]) for r in rows if r["type"] == kind}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_second_way_in_sevdesk_survives_a_clear_and_a_new_value_from_kleanapp(env, kind):
    field, second, typed_later = KINDS[kind]
    await seed_linked(env, mobile="0171 1234567")
    k1, s1 = await ids(env, "K-00001")
    await sevdesk_call(
        env,
        "POST",
        "CommunicationWay",
        json={
            "contact": {"id": int(s1), "objectName": "Contact"},
            "type": kind,
            "value": second,
            "key": {"id": 2, "objectName": "CommunicationWayKey"},
            "main": False,
        },
    )
    assert (await env.sync()).plan.actions == []  # a way not marked main is not the field

    with freeze_time(future(1), real_asyncio=True):
        await env.k.customers.update(k1, {field: None})
        cleared = await env.sync()
        assert cleared.errors == []
        assert getattr((await env.k.customers.get(k1)).record, field) is None
        assert await ways_of(env, s1, kind) == {(second, "0")}  # only the main one went
        await assert_quiet(env)

    with freeze_time(future(2), real_asyncio=True):
        await env.k.customers.update(k1, {field: typed_later})
        typed = await env.sync()
        assert typed.errors == []
        assert await ways_of(env, s1, kind) == {(second, "0"), (typed_later, "1")}
        assert getattr((await env.s.customers.get(s1)).record, field) == typed_later
        await assert_quiet(env)
