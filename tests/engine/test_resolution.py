"""Admin answers from the queue are carried out by the next sync, exactly once."""

from __future__ import annotations

import pytest

from reconciler.admin import queue as admin

from .conftest import customer
from .test_sync_engine import _same_field_edit, seed_linked

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


async def manual_city_conflict(env):
    await seed_linked(env)
    env.configure(rules={"default": "manual"})
    await _same_field_edit(env, kleanapp_first=True)
    result = await env.sync()
    [row] = env.store.open_conflicts()
    assert (row.field, row.kleanapp, row.sevdesk) == ("city", "Potsdam", "Cottbus")
    return result, row


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"take": "sevdesk"}, "Cottbus"),
        ({"take": "kleanapp"}, "Potsdam"),
        ({"value": "  Frankfurt (Oder) "}, "Frankfurt (Oder)"),
    ],
)
async def test_resolve_then_sync_writes_exactly_that_value_to_both_sides(env, answer, expected):
    _, row = await manual_city_conflict(env)
    admin.resolve_conflict(env.store, f"C{row.id}", by="anna", **answer)

    result = await env.sync()

    assert result.plan.conflicts == ()
    for side in ("kleanapp", "sevdesk"):
        record = (await env.normalised(side))["K-00001"]
        assert record["city"] == expected
    applied = env.store.get_conflict(row.id)
    assert applied.status == "applied" and applied.resolved_by == "anna"
    assert env.store.open_conflicts() == []
    again = await env.sync()
    assert again.counts == {} and again.plan.conflicts == ()


async def test_a_conflict_cannot_be_resolved_twice(env):
    _, row = await manual_city_conflict(env)
    admin.resolve_conflict(env.store, f"C{row.id}", take="kleanapp")
    with pytest.raises(admin.QueueError, match="already"):
        admin.resolve_conflict(env.store, f"C{row.id}", take="sevdesk")


async def test_an_invalid_email_is_refused_with_a_clear_message(env):
    await seed_linked(env)
    env.configure(rules={"default": "manual"})
    k1 = (await env.customers("kleanapp"))["K-00001"]
    s1 = (await env.customers("sevdesk"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "a@example.de"})
    await env.s.customers.update(s1.id, {"email": "b@example.de"})
    await env.sync()
    [row] = env.store.open_conflicts()
    with pytest.raises(admin.InvalidValue, match="e-mail"):
        admin.resolve_conflict(env.store, f"C{row.id}", value="not-an-address")
    assert env.store.get_conflict(row.id).status == "open"


async def test_parked_records_are_linked_or_created_as_the_admin_says(env):
    # Two KleanApp customers of one name share the address and e-mail of one sevDesk
    # contact: ambiguous.
    await env.k.customers.create(
        customer("K-00001", company_name="Hotel Adler", email="info@adler.de")
    )
    await env.k.customers.create(
        customer("K-00002", company_name="Hotel Adler", email="info@adler.de")
    )
    await env.s.customers.create(
        customer("9001", company_name="Hotel Adler GmbH", email="info@adler.de")
    )
    env.configure(sync={"units": "off"}, rules={"default": "kleanapp-authoritative"})
    first = await env.sync()
    assert len(first.plan.parked) == 3 and first.counts == {}
    klean = {r.record.customer_number: r for r in (await env.k.customers.list_changed()).records}
    sev = (await env.s.customers.list_changed()).records[0]
    parked = {(p.side, p.record_id): p for p in env.store.open_parked()}

    admin.link_parked(
        env.store,
        f"P{parked[('kleanapp', klean['K-00001'].id)].id}",
        with_id=f"sevdesk:{sev.id}",
        by="anna",
    )
    admin.link_parked(
        env.store, f"P{parked[('kleanapp', klean['K-00002'].id)].id}", create_new=True, by="anna"
    )
    second = await env.sync()

    assert second.counts == {"customer.sevdesk.create": 1, "customer.sevdesk.update": 1}
    links = {(link.kleanapp_id, link.sevdesk_id) for link in env.store.links("customer")}
    assert (klean["K-00001"].id, sev.id) in links
    assert await env.normalised("kleanapp") == await env.normalised("sevdesk")
    assert env.store.open_parked() == []
    assert all(r.applied for r in env.store.parked_resolutions())
    assert (await env.sync()).counts == {}


async def test_an_answer_changed_while_a_run_writes_the_old_one_is_carried_out_next(
    env, monkeypatch
):
    """The race: the run planned with "Cottbus", the console changed it to "Potsdam" before the
    run wrote. The run writes "Cottbus" (what it planned), but the conflict stays answered
    with "Potsdam" (not marked applied), and the next run writes "Potsdam" to both sides."""
    from reconciler.sync.apply import Applier

    _, row = await manual_city_conflict(env)
    admin.resolve_conflict(env.store, f"C{row.id}", by="anna", take="sevdesk")
    planned_with = env.store.get_conflict(row.id).revision
    original = Applier.apply

    async def apply_after_a_change(self, plan):
        admin.resolve_conflict(env.store, f"C{row.id}", by="bernd", take="kleanapp", change=True)
        return await original(self, plan)

    monkeypatch.setattr(Applier, "apply", apply_after_a_change)
    await env.sync()
    monkeypatch.setattr(Applier, "apply", original)

    changed = env.store.get_conflict(row.id)
    assert changed.revision == planned_with + 1
    assert changed.status == "resolved"  # not lost: still waiting to be carried out
    assert (changed.resolution["value"], changed.resolved_by) == ("Potsdam", "bernd")

    await env.sync()
    for side in ("kleanapp", "sevdesk"):
        assert (await env.normalised(side))["K-00001"]["city"] == "Potsdam"
    assert env.store.get_conflict(row.id).status == "applied"


async def test_marking_applied_needs_the_planned_revision(env):
    _, row = await manual_city_conflict(env)
    admin.resolve_conflict(env.store, f"C{row.id}", take="sevdesk")
    first = env.store.get_conflict(row.id).revision
    admin.resolve_conflict(env.store, f"C{row.id}", take="kleanapp", change=True)
    assert env.store.mark_conflict_applied(row.id, first) is False
    assert env.store.get_conflict(row.id).status == "resolved"
    assert env.store.mark_conflict_applied(row.id, first + 1) is True
    assert env.store.get_conflict(row.id).status == "applied"
