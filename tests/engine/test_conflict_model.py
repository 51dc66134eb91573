"""One conflict, one model: what the rules decide is what the plan, the store and the queue show.

The diff's conflict travels through the plan (also saved and re-read with
``--plan-out``/``--apply-plan``), into the store for an admin and out again
through ``conflicts list``. Nothing on the way may drop, rename or retype a
field, or an admin would decide on other values than the ones the run saw.
"""

from __future__ import annotations

from reconciler.admin.queue import queue
from reconciler.domain.conflicts import Conflict
from reconciler.sync.plan_model import Plan
from state.tables import ConflictRow

from .test_sync_engine import _same_field_edit, seed_linked


async def _two_conflicts(env):
    """City left for an admin, e-mail decided by a rule, on one linked customer."""
    await seed_linked(env)
    env.configure(rules={"default": "manual", "fields": {"email": "kleanapp-authoritative"}})
    await _same_field_edit(env, kleanapp_first=True)
    k1 = (await env.customers("kleanapp"))["K-00001"]
    s1 = (await env.customers("sevdesk"))["K-00001"]
    await env.k.customers.update(k1.id, {"email": "buero@putz-k.de"})
    await env.s.customers.update(s1.id, {"email": "info@putz-s.de"})
    return await env.sync()


async def test_a_conflict_reaches_plan_store_and_queue_unchanged(env):
    result = await _two_conflicts(env)

    conflicts = {c.field: c for c in result.plan.conflicts}
    assert set(conflicts) == {"city", "email"}
    city, email = conflicts["city"], conflicts["email"]
    assert all(isinstance(c, Conflict) for c in conflicts.values())
    assert (city.kleanapp, city.sevdesk, city.decision) == ("Potsdam", "Cottbus", "manual")
    assert (email.decision, email.rule) == ("kleanapp", "kleanapp-authoritative")
    link_id = env.store.links("customer")[0].id
    assert city.link_id == email.link_id == link_id

    # A saved plan reads back as the same conflicts.
    again = Plan.model_validate_json(result.plan.model_dump_json())
    assert again.conflicts == result.plan.conflicts

    # The store keeps each of them whole, the manual one for an admin.
    rows = {r.field: r for r in env.store.conflicts()}
    assert {f: r.status for f, r in rows.items()} == {"city": "open", "email": "decided"}
    assert rows["city"].conflict() == city
    assert rows["email"].conflict() == email

    # The queue shows the admin the very same fields and values.
    views = {v["field"]: v for v in queue(env.store, everything=True)["conflicts"]}
    for name, conflict in conflicts.items():
        view = views[name]
        assert {k: view[k] for k in Conflict.model_fields} == conflict.model_dump()
        assert view["id"] == f"C{rows[name].id}"

    # `sync --json` shows the conflict without the store's link id.
    shown = {c["field"]: c for c in result.as_dict()["conflicts"]}
    assert shown["city"] == city.model_dump(exclude={"link_id"})


def test_the_store_row_has_a_column_for_every_field_of_the_conflict():
    """A field added to the model without a column would be lost on the way to the admin."""
    columns = set(ConflictRow.model_fields)
    assert set(Conflict.model_fields) <= columns
    conflict = Conflict(
        entity="customer",
        key="K-00001",
        link_id=7,
        field="phone",
        base=None,
        kleanapp="+49 30 1234567",
        sevdesk="+49 30 7654321",
        rule="manual",
        decision="manual",
        reason="no common base yet (first link); left for an admin",
    )
    row = ConflictRow.of(conflict, run_id="r1", status="open")
    assert (row.run_id, row.status) == ("r1", "open")
    assert row.conflict() == conflict
