"""The reconciliation engine, end to end against both emulators (in-process)."""

from __future__ import annotations

import json

import pytest
from freezegun import freeze_time

from reconciler.domain.models import Unit

from .conftest import customer, future


async def seed_linked(env, numbers=("K-00001", "K-00002", "K-00003")):
    """The same customers on both sides, then one sync so they are linked."""
    for n in numbers:
        await env.k.customers.create(customer(n))
        # Typed differently in sevDesk: same meaning once normalised.
        await env.s.customers.create(
            customer(n, phone="+49 30 1234567", email=f"INFO@{n}.example.de")
        )
    result = await env.sync()
    assert result.errors == []
    assert not any(k.startswith("customer.") for k in result.counts), result.counts
    return result


async def test_first_sync_creates_missing_customers_and_units_on_each_side(env):
    await env.k.customers.create(customer("K-00001"))
    await env.k.customers.create(
        customer(
            "K-00002", kind="person", company_name=None, first_name="Anna", last_name="Müller"
        ),
    )
    await env.s.customers.create(customer("1001", company_name="Hotel Adler GmbH"))
    await env.k.units.create(Unit(name="Einsatz"))

    result = await env.sync()

    assert result.counts == {
        "customer.kleanapp.create": 1,
        "customer.sevdesk.create": 2,
        "unit.kleanapp.create": 5,  # m, kg, t, lfm, m³: sevDesk has them, KleanApp did not
    }
    assert await env.normalised("kleanapp") == await env.normalised("sevdesk")
    assert [t.message for t in result.plan.tasks] == [
        "create unit 'Einsatz' in sevDesk: Einstellungen → System → Einheiten"
    ]
    assert "Einsatz" not in await env.unit_names("sevdesk")
    assert {"m", "kg", "t", "lfm", "m³"} <= set(await env.unit_names("kleanapp"))


async def test_second_run_plans_nothing_and_writes_nothing(env):
    await seed_linked(env)
    await env.k.customers.create(customer("K-00009", phone="(030) 98 76 54"))
    await env.s.customers.create(customer("K-00010", mobile="0171/5550123"))
    first = await env.sync()
    assert first.counts == {"customer.kleanapp.create": 1, "customer.sevdesk.create": 1}

    writes = await env.writes()
    for full in (False, True):
        again = await env.sync(full=full)
        assert again.counts == {}
        assert again.plan.actions == []
    assert await env.writes() == writes


async def test_dry_run_writes_nothing_anywhere_and_predicts_the_real_run(env):
    await seed_linked(env)
    k1 = (await env.customers("kleanapp"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "neu@example.de"})
    s2 = (await env.customers("sevdesk"))["K-00002"]
    await env.s.customers.update(s2.id, {"city": "Potsdam"})
    await env.s.customers.create(customer("K-00077"))

    before = await env.dump()
    links_before = [link.model_dump() for link in env.store.links("customer")]
    dry = await env.sync(dry_run=True)
    assert await env.dump() == before
    assert [link.model_dump() for link in env.store.links("customer")] == links_before
    assert env.store.journal(dry.run_id) == []

    real = await env.sync()
    assert (
        dry.counts
        == real.counts
        == {
            "customer.kleanapp.create": 1,
            "customer.kleanapp.update": 1,
            "customer.sevdesk.update": 1,
        }
    )


async def test_one_sided_edits_travel_both_ways(env):
    await seed_linked(env)
    k1 = (await env.customers("kleanapp"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "buero@example.de", "street": "Ring 4"})
    s2 = (await env.customers("sevdesk"))["K-00002"]
    await env.s.customers.update(s2.id, {"mobile": "0151 22223333", "note": "Schlüssel im Büro"})

    result = await env.sync()

    assert result.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}
    sev = await env.normalised("sevdesk")
    klean = await env.normalised("kleanapp")
    assert sev["K-00001"]["email"] == "buero@example.de"
    assert sev["K-00001"]["street"] == "Ring 4"
    assert klean["K-00002"]["mobile"] == "+4915122223333"
    assert klean["K-00002"]["note"] == "Schlüssel im Büro"
    assert klean == sev
    assert result.plan.conflicts == ()


async def test_edits_on_different_fields_of_one_customer_are_both_kept(env):
    await seed_linked(env)
    k1 = (await env.customers("kleanapp"))["K-00001"]
    s1 = (await env.customers("sevdesk"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "neu@example.de"})
    await env.s.customers.update(s1.id, {"city": "Potsdam", "postal_code": "14467"})

    result = await env.sync()

    assert result.plan.conflicts == ()
    for side in ("kleanapp", "sevdesk"):
        record = (await env.normalised(side))["K-00001"]
        assert (record["email"], record["city"], record["postal_code"]) == (
            "neu@example.de",
            "Potsdam",
            "14467",
        )
    assert (await env.sync()).counts == {}


async def _same_field_edit(env, *, kleanapp_first: bool):
    """City set to different values on both sides, in a known order."""
    k1 = (await env.customers("kleanapp"))["K-00001"]
    s1 = (await env.customers("sevdesk"))["K-00001"]
    edits = [("kleanapp", env.k, k1.id, "Potsdam"), ("sevdesk", env.s, s1.id, "Cottbus")]
    if not kleanapp_first:
        edits.reverse()
    for minutes, (_side, conn, rid, city) in enumerate(edits, start=1):
        with freeze_time(future(minutes), real_asyncio=True):
            await conn.customers.update(rid, {"city": city})


@pytest.mark.parametrize(
    ("rule", "kleanapp_first", "expected"),
    [
        ("last-write-wins", True, "Cottbus"),  # sevDesk changed it later
        ("last-write-wins", False, "Potsdam"),  # KleanApp changed it later
        ("sevdesk-authoritative", False, "Cottbus"),
        ("kleanapp-authoritative", True, "Potsdam"),
    ],
)
async def test_same_field_conflict_is_decided_by_the_configured_rule(
    env, rule, kleanapp_first, expected
):
    await seed_linked(env)
    env.configure(rules={"default": rule})
    await _same_field_edit(env, kleanapp_first=kleanapp_first)

    result = await env.sync()

    [conflict] = result.plan.conflicts
    assert (conflict.field, conflict.kleanapp, conflict.sevdesk, conflict.rule) == (
        "city",
        "Potsdam",
        "Cottbus",
        rule,
    )
    assert conflict.decision == ("kleanapp" if expected == "Potsdam" else "sevdesk")
    for side in ("kleanapp", "sevdesk"):
        assert (await env.normalised(side))["K-00001"]["city"] == expected
    again = await env.sync()
    assert again.counts == {} and again.plan.conflicts == ()


async def test_manual_rule_changes_neither_side_and_lists_the_conflict(env):
    await seed_linked(env)
    env.configure(rules={"default": "last-write-wins", "fields": {"city": "manual"}})
    await _same_field_edit(env, kleanapp_first=True)
    k1 = (await env.customers("kleanapp"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "neu@example.de"})  # not in conflict

    result = await env.sync()
    out = result.as_dict()

    assert out["conflicts"] == [
        {
            "entity": "customer",
            "key": "K-00001",
            "label": "Praxis K-00001",  # the name, for people (additive to the contract)
            "field": "city",
            "base": "Berlin",
            "kleanapp": "Potsdam",
            "sevdesk": "Cottbus",
            "decision": "manual",
            "rule": "manual",
            "reason": out["conflicts"][0]["reason"],
        }
    ]
    assert (await env.normalised("kleanapp"))["K-00001"]["city"] == "Potsdam"
    assert (await env.normalised("sevdesk"))["K-00001"]["city"] == "Cottbus"
    assert (await env.normalised("sevdesk"))["K-00001"]["email"] == "neu@example.de"
    [open_conflict] = env.store.open_conflicts()
    assert open_conflict.field == "city"

    writes = await env.writes()
    again = await env.sync()
    assert again.counts == {}
    assert [c.field for c in again.plan.conflicts] == ["city"]  # still waiting
    assert len(env.store.open_conflicts()) == 1  # listed once, not once per run
    assert await env.writes() == writes

    # Someone aligns the two sides by hand: the conflict closes itself.
    s1 = (await env.customers("sevdesk"))["K-00001"]
    await env.s.customers.update(s1.id, {"city": "Potsdam"})
    await env.sync()
    assert env.store.open_conflicts() == []


async def test_plan_out_and_apply_plan_apply_exactly_that_plan(env, tmp_path):
    await seed_linked(env)
    k1 = (await env.customers("kleanapp"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "neu@example.de"})
    k2 = (await env.customers("kleanapp"))["K-00002"]
    await env.k.customers.update(k2.id, {"street": "Weg 2"})
    plan_file = tmp_path / "plan.json"

    dry = await env.sync(dry_run=True, plan_out=plan_file)
    assert json.loads(plan_file.read_text())["pairs"]
    assert dry.counts == {"customer.sevdesk.update": 2}

    # Meanwhile K-00002 changes again in sevDesk: that action must be skipped, not forced.
    s2 = (await env.customers("sevdesk"))["K-00002"]
    await env.s.customers.update(s2.id, {"street": "Gasse 9"})

    applied = await env.sync(apply_plan=plan_file)
    assert applied.counts == {"customer.sevdesk.update": 1}
    assert [s["action"] for s in applied.skipped] == ["customer:K-00002:sevdesk:update"]
    assert (await env.normalised("sevdesk"))["K-00001"]["email"] == "neu@example.de"
    assert (await env.normalised("sevdesk"))["K-00002"]["street"] == "Gasse 9"

    # The next run re-plans K-00002 from the unchanged base: a same-field conflict.
    follow = await env.sync()
    assert [c.field for c in follow.plan.conflicts] == ["street"]


async def test_kleanapp_412_is_replanned_not_overwritten(env, tmp_path):
    await seed_linked(env)
    s1 = (await env.customers("sevdesk"))["K-00001"]
    await env.s.customers.update(s1.id, {"note": "aus sevDesk"})
    plan_file = tmp_path / "plan.json"
    await env.sync(dry_run=True, plan_out=plan_file)
    k1 = (await env.customers("kleanapp"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "anders@example.de"})  # version moves on

    applied = await env.sync(apply_plan=plan_file)
    assert applied.counts == {}
    assert applied.skipped[0]["action"] == "customer:K-00001:kleanapp:update"
    assert (await env.normalised("kleanapp"))["K-00001"]["email"] == "anders@example.de"

    follow = await env.sync()
    assert follow.counts == {"customer.kleanapp.update": 1, "customer.sevdesk.update": 1}
    for side in ("kleanapp", "sevdesk"):
        record = (await env.normalised(side))["K-00001"]
        assert (record["note"], record["email"]) == ("aus sevDesk", "anders@example.de")


async def test_sevdesk_deletion_archives_the_kleanapp_customer_on_a_full_run(env):
    await seed_linked(env)
    env.configure(sync={"max_delete_fraction": 0.5})  # 1 of 3 is above the default brake
    s3 = (await env.customers("sevdesk"))["K-00003"]
    await env.s.customers.delete(s3.id)

    # An incremental read sees the deletion too: the contact's address and
    # communication ways went with it, and reading it by id confirms it is gone.
    incremental = await env.sync()
    assert incremental.counts == {"customer.kleanapp.archive": 1}
    assert "K-00003" not in await env.customers("kleanapp")
    assert (await env.sync(full=True)).counts == {}


async def test_kleanapp_archive_leaves_the_sevdesk_contact_and_reports_it(env):
    await seed_linked(env)
    k3 = (await env.customers("kleanapp"))["K-00003"]
    await env.k.customers.delete(k3.id)

    result = await env.sync()
    assert result.counts == {}
    assert any("archived in KleanApp" in t.message for t in result.plan.tasks)
    assert "K-00003" in await env.customers("sevdesk")
    assert (await env.sync(full=True)).counts == {}


async def test_sevdesk_units_missing_in_kleanapp_are_created_there_once(env):
    result = await env.sync()
    assert result.counts == {"unit.kleanapp.create": 5}
    assert (await env.sync()).counts == {}
    # Aliases match: KleanApp's "Stk" is sevDesk's "Stk", "m²" is "m²".
    assert sorted(await env.unit_names("kleanapp")) == sorted(
        ["Std", "m²", "pauschal", "Stk", "m", "kg", "t", "lfm", "m³"]
    )


async def test_with_create_units_the_legacy_unity_endpoint_is_used(env):
    env.configure(sevdesk={"base_url": "http://sevdesk.test/api/v1", "create_units": True})
    env.s.units.create_units = True  # what reconciler.connectors.from_config does with that config
    await env.k.units.create(Unit(name="Einsatz"))
    result = await env.sync()
    assert result.counts["unit.sevdesk.create"] == 1
    assert "Einsatz" in await env.unit_names("sevdesk")
    assert result.plan.tasks == ()


async def test_a_direction_toggle_never_writes_against_its_direction(env):
    await seed_linked(env)
    env.configure(sync={"customers": "kleanapp-to-sevdesk", "units": "off"})
    k1 = (await env.customers("kleanapp"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "von-kleanapp@example.de"})
    s2 = (await env.customers("sevdesk"))["K-00002"]
    await env.s.customers.update(s2.id, {"email": "von-sevdesk@example.de"})
    await env.s.customers.create(customer("K-00555"))

    result = await env.sync()
    assert result.counts == {"customer.sevdesk.update": 1}
    assert (await env.normalised("kleanapp"))["K-00002"]["email"] != "von-sevdesk@example.de"
    assert "K-00555" not in await env.customers("kleanapp")
    assert (await env.sync()).counts == {}
