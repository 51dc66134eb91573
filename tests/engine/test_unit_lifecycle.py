"""Units after the first sync: renames, deletions and re-adds on either side.

A unit edit used to end every later run with ``IntegrityError: UNIQUE
constraint failed: link…`` (issue 14, item 2): the planner paired names
afresh each run and tried to store a second link for a unit already linked.
Each scenario here is followed by a further run that must be quiet and "ok".
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.domain.models import Unit
from reconciler.sync.report import RunResult

from .conftest import S_URL


async def _units(env: Any, side: str) -> dict[str, str]:
    """name -> id of one side's units."""
    conn = env.k if side == "kleanapp" else env.s
    return {r.record.name: r.id for r in (await conn.units.list_changed()).records}


async def _sevdesk_admin(env: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """What an admin does in sevDesk's settings page (the emulator's /_sandbox/unity)."""
    root = S_URL.removesuffix("/api/v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.sevdesk_app)) as c:
        response = await c.request(method, f"{root}/_sandbox/{path}", **kwargs)
    assert response.status_code < 300, response.text
    return response


def _unit_tasks(result: RunResult) -> list[str]:
    return [t.message for t in result.plan.tasks if t.kind != "missing_unit"]


async def _quiet(env: Any, **options: Any) -> RunResult:
    result = await env.sync(**options)
    assert result.outcome == "ok", result.errors
    assert result.exit_code == 0
    assert result.counts == {}
    assert result.errors == [] and result.skipped == []
    assert _unit_tasks(result) == []
    return result


async def test_unit_renamed_in_kleanapp_becomes_a_task_and_later_runs_are_ok(env):
    await env.sync()
    lfm = (await _units(env, "kleanapp"))["lfm"]
    await env.k.units.update(lfm, {"name": "Laufmeter"})

    result = await env.sync()
    assert result.outcome == "ok", result.errors
    # sevDesk renames units only in its UI: the admin is told what to type there,
    # and KleanApp's new name is not pushed back as "lfm" nor created as a copy.
    assert _unit_tasks(result) == [
        "unit 'lfm' was renamed to 'Laufmeter' in KleanApp; rename it in sevDesk too: "
        "Einstellungen → System → Einheiten"
    ]
    assert result.counts == {}
    names = await _units(env, "kleanapp")
    assert "Laufmeter" in names and "lfm" not in names
    await _quiet(env)
    await _quiet(env, full=True)

    # The admin does it in sevDesk: the pair agrees again, nothing is written.
    s_lfm = (await _units(env, "sevdesk"))["lfm"]
    await _sevdesk_admin(env, "DELETE", f"unity/{s_lfm}")
    await _sevdesk_admin(env, "POST", "unity", json={"name": "Laufmeter"})
    await _quiet(env)
    assert "lfm" not in await _units(env, "kleanapp")


async def test_unit_deleted_in_kleanapp_is_reported_once_and_not_recreated(env):
    await env.sync()
    lfm = (await _units(env, "kleanapp"))["lfm"]
    await env.k.units.delete(lfm)

    result = await env.sync()
    assert result.outcome == "ok", result.errors
    assert result.counts == {}  # not created again in KleanApp
    assert _unit_tasks(result) == [
        "unit 'lfm' was deleted in KleanApp; sevDesk keeps it (on_kleanapp_unit_delete = "
        "report): delete it there if it is no longer used: Einstellungen → System → Einheiten"
    ]
    assert "lfm" not in await _units(env, "kleanapp")
    await _quiet(env)
    await _quiet(env, full=True)


async def test_unit_deleted_in_kleanapp_comes_back_with_recreate_policy(env):
    await env.sync()
    env.configure(sync={"on_kleanapp_unit_delete": "recreate"})
    await env.k.units.delete((await _units(env, "kleanapp"))["lfm"])

    result = await env.sync()
    assert result.counts == {"unit.kleanapp.create": 1}
    assert "lfm" in await _units(env, "kleanapp")
    await _quiet(env)


async def test_unit_deleted_and_re_added_in_sevdesk_repairs_the_link(env):
    await env.sync()
    s_lfm = (await _units(env, "sevdesk"))["lfm"]
    await _sevdesk_admin(env, "DELETE", f"unity/{s_lfm}")
    await _sevdesk_admin(env, "POST", "unity", json={"name": "lfm"})
    assert (await _units(env, "sevdesk"))["lfm"] != s_lfm

    result = await env.sync()
    assert result.outcome == "ok", result.errors
    assert result.counts == {}  # same unit: the link now points at the new sevDesk id
    assert "lfm" in await _units(env, "kleanapp")
    links = {link.key: link for link in env.store.links("unit")}
    assert links["running-metre"].sevdesk_id == (await _units(env, "sevdesk"))["lfm"]
    await _quiet(env)


async def test_unit_deleted_in_sevdesk_is_deleted_in_kleanapp(env):
    await env.sync()
    s_lfm = (await _units(env, "sevdesk"))["lfm"]
    await _sevdesk_admin(env, "DELETE", f"unity/{s_lfm}")

    result = await env.sync()
    assert result.outcome == "ok", result.errors
    assert result.counts == {"unit.kleanapp.delete": 1}
    assert "lfm" not in await _units(env, "kleanapp")
    await _quiet(env)


async def test_unit_deleted_in_sevdesk_is_kept_in_kleanapp_with_keep_policy(env):
    await env.sync()
    env.configure(sync={"on_sevdesk_unit_delete": "keep"})
    await _sevdesk_admin(env, "DELETE", f"unity/{(await _units(env, 'sevdesk'))['lfm']}")

    result = await env.sync()
    assert result.counts == {}
    assert _unit_tasks(result) == [
        "unit 'lfm' was deleted in sevDesk; KleanApp keeps it (on_sevdesk_unit_delete = keep)"
    ]
    assert "lfm" in await _units(env, "kleanapp")
    await _quiet(env)


async def test_unit_renamed_in_sevdesk_is_renamed_in_kleanapp(env):
    await env.sync()
    s_lfm = (await _units(env, "sevdesk"))["lfm"]
    # sevDesk's legacy PUT /Unity (the emulator serves it with legacy_unity_write).
    await env.s.api.call("PUT", f"Unity/{s_lfm}", json={"name": "Laufmeter"})

    result = await env.sync()
    assert result.outcome == "ok", result.errors
    assert result.counts == {"unit.kleanapp.update": 1}
    names = await _units(env, "kleanapp")
    assert "Laufmeter" in names and "lfm" not in names
    await _quiet(env)


async def test_a_second_spelling_of_a_linked_unit_is_neither_linked_twice_nor_copied(env):
    await env.sync()
    await env.k.units.create(Unit(name="Stück"))  # KleanApp now has "Stk" and "Stück"
    result = await env.sync()
    assert result.outcome == "ok", result.errors
    assert result.counts == {}
    await _quiet(env)


async def test_unit_deleted_in_sevdesk_but_used_by_kleanapp_invoices_stays_and_is_tried_once(env):
    from .conftest import K_URL, customer

    await env.sync()
    k1 = await env.k.customers.create(customer("K-00001"))
    root = K_URL.removesuffix("/api/v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.kleanapp_app)) as c:
        saved = await c.post(
            f"{root}/_sandbox/invoices",
            json={
                "customer_id": int(k1.id),
                "invoice_date": "2026-03-02",
                "positions": [
                    {
                        "product_name": "Grundreinigung Flur",
                        "quantity": 12,
                        "unit_name": "lfm",
                        "unit_price_net": 3,
                        "tax_rate": 19,
                    }
                ],
            },
        )
        assert saved.status_code < 300, saved.text
    await env.sync()
    await _sevdesk_admin(env, "DELETE", f"unity/{(await _units(env, 'sevdesk'))['lfm']}")

    result = await env.sync()
    assert result.errors == []
    assert [s["reason"] for s in result.skipped] == [
        "KleanApp keeps unit "
        + (await _units(env, "kleanapp"))["lfm"]
        + ": invoice positions still use it (unit 'lfm' is used by invoice(s) "
        + "RE-2026-00001)"
    ]
    assert "lfm" in await _units(env, "kleanapp")
    await _quiet(env)
