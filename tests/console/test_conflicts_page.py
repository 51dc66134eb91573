"""Konflikte in the console: both sides and the last agreed value, one click decides, the answer
can be changed until the next run writes it to both sides; a bulk answer for one field; a typed
value checked like ``conflicts resolve --value``; a customer called <script> stays text.
"""

from __future__ import annotations

from tests.engine.test_sync_engine import _same_field_edit, seed_linked

from .conftest import ConsoleWorld, csrf_of

HTMX = {"HX-Request": "true"}


async def city_conflict(world: ConsoleWorld, name: str | None = None) -> int:
    env = world.env
    await seed_linked(env)
    if name is not None:
        for side, conn in (("kleanapp", env.k), ("sevdesk", env.s)):
            record = (await env.customers(side))["K-00001"]
            await conn.customers.update(record.id, {"company_name": name})
        await env.sync()
    env.configure(rules={"default": "manual"})
    await _same_field_edit(env, kleanapp_first=True)
    await env.sync()
    [row] = env.store.open_conflicts()
    assert row.id is not None
    return row.id


async def test_decide_with_one_click_change_it_and_the_next_run_writes_it(
    console_world: ConsoleWorld,
):
    cid = await city_conflict(console_world)
    console_world.add_user()
    async with console_world.logged_in() as browser:
        page = await browser.get("/conflicts")
        assert page.status_code == 200
        text = page.text
        assert "Potsdam" in text and "Cottbus" in text and "Berlin" in text  # both, and the base
        assert "KleanApp übernehmen" in text and "sevDesk übernehmen" in text
        token = csrf_of(text)
        # htmx sends the token as a header; the card comes back in place
        card = await browser.post(
            f"/conflicts/C{cid}/decide",
            data={"take": "sevdesk"},
            headers={**HTMX, "X-CSRF-Token": token},
        )
        assert card.status_code == 200
        assert card.text.lstrip().startswith('<article class="card" id="conflict-C')
        assert "Entschieden von anna" in card.text and "Cottbus" in card.text
        changed = await browser.post(
            f"/conflicts/C{cid}/decide", data={"take": "kleanapp", "csrf": token}
        )
        assert changed.status_code == 303
    row = console_world.env.store.get_conflict(cid)
    assert row.status == "resolved" and row.resolved_by == "anna"
    assert row.resolution == {"value": "Potsdam", "take": "kleanapp"}

    await console_world.env.sync()
    for side in ("kleanapp", "sevdesk"):
        assert (await console_world.env.normalised(side))["K-00001"]["city"] == "Potsdam"
    assert console_world.env.store.get_conflict(cid).status == "applied"
    async with console_world.logged_in() as browser:
        assert "Keine Konflikte" in (await browser.get("/conflicts")).text or (
            "Kein Konflikt" in (await browser.get("/conflicts")).text
        )
        refused = await browser.post(
            f"/conflicts/C{cid}/decide",
            data={"take": "sevdesk"},
            headers={**HTMX, "X-CSRF-Token": csrf_of((await browser.get("/")).text)},
        )
        assert "bereits" in refused.text  # applied answers stay as they are


async def test_a_typed_value_is_checked_like_the_cli_and_without_csrf_nothing_happens(
    console_world: ConsoleWorld,
):
    cid = await city_conflict(console_world)
    console_world.add_user()
    async with console_world.logged_in() as browser:
        token = csrf_of((await browser.get("/conflicts")).text)
        forged = await browser.post(f"/conflicts/C{cid}/decide", data={"take": "sevdesk"})
        assert forged.status_code == 403
        assert console_world.env.store.get_conflict(cid).status == "open"
        typed = await browser.post(
            f"/conflicts/C{cid}/decide",
            data={"value": "  Frankfurt (Oder) ", "csrf": token},
            headers=HTMX,
        )
        assert "Frankfurt (Oder)" in typed.text
    row = console_world.env.store.get_conflict(cid)
    assert row.resolution == {"value": "Frankfurt (Oder)"}


async def test_bulk_answer_for_every_city_conflict(console_world: ConsoleWorld):
    env = console_world.env
    await seed_linked(env)
    env.configure(rules={"default": "manual"})
    for number, (k_city, s_city) in {
        "K-00001": ("Potsdam", "Cottbus"),
        "K-00002": ("Jena", "Gera"),
    }.items():
        k = (await env.customers("kleanapp"))[number]
        s = (await env.customers("sevdesk"))[number]
        await env.k.customers.update(k.id, {"city": k_city})
        await env.s.customers.update(s.id, {"city": s_city})
    await env.sync()
    assert len(env.store.open_conflicts()) == 2
    console_world.add_user()
    async with console_world.logged_in() as browser:
        page = await browser.get("/conflicts?field=city")
        answer = await browser.post(
            "/conflicts/bulk", data={"field": "city", "take": "sevdesk", "csrf": csrf_of(page.text)}
        )
        assert answer.status_code == 303
        done = await browser.get(answer.headers["location"].removeprefix("/console"))
        assert "2 Konflikte beantwortet" in done.text
    assert env.store.open_conflicts() == []
    assert {r.resolution["value"] for r in env.store.conflicts(("resolved",))} == {
        "Cottbus",
        "Gera",
    }


async def test_a_script_name_on_the_conflicts_page_is_text(console_world: ConsoleWorld):
    await city_conflict(console_world, name="<script>alert(1)</script>")
    console_world.add_user()
    async with console_world.logged_in() as browser:
        page = await browser.get("/conflicts")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
