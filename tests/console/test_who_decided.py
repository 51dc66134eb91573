"""Every answer says who gave it and when, in local time and German form: on the console's card
("Entschieden von anna am 03.12.2026 10:15"), and in the report of the run that carried it out;
an answer typed on the command line says so ("von Hand auf der Befehlszeile entschieden (root)").
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from reconciler.admin import queue as admin
from reconciler.reporting.render import render
from reconciler.reporting.view import build_view, result_data

from .conftest import ConsoleWorld, csrf_of
from .test_conflicts_page import city_conflict
from .test_matches_and_names import _office, _text


def _local(world: ConsoleWorld, stamp) -> str:
    zone = ZoneInfo(world.console.config.schedule.timezone)
    return stamp.astimezone(zone).strftime("%d.%m.%Y %H:%M")


async def test_a_console_answer_shows_its_admin_and_local_time_on_card_and_report(
    console_world: ConsoleWorld,
):
    cid = await city_conflict(console_world)
    console_world.add_user()
    async with console_world.logged_in() as browser:
        page = await browser.get("/conflicts")
        card = await browser.post(
            f"/conflicts/C{cid}/decide",
            data={"take": "sevdesk", "csrf": csrf_of(page.text)},
            headers={"HX-Request": "true"},
        )
    row = console_world.env.store.get_conflict(cid)
    assert row.resolved_via == "console"
    when = _local(console_world, row.resolved_at)
    assert f"Entschieden von anna am {when}: Cottbus" in _text("<main>" + card.text)

    result = await console_world.env.sync()
    report = _text(
        render(build_view(result_data(result)), "html", tz=_tz(console_world), lang="de")
    )
    section = report[report.index("Ihre Antworten, die dieser Lauf ausgeführt hat") :]
    assert re.search(rf"Ort: Cottbus entschieden von anna am {re.escape(when)}", section), section
    assert "UTC" not in section


async def test_a_command_line_answer_says_it_was_given_by_hand(console_world: ConsoleWorld):
    cid = await city_conflict(console_world)
    admin.resolve_conflict(console_world.env.store, f"C{cid}", take="kleanapp", by="root")
    row = console_world.env.store.get_conflict(cid)
    assert row.resolved_via == "cli"
    console_world.add_user()
    async with console_world.logged_in() as browser:
        text = _text((await browser.get("/conflicts")).text)
    when = _local(console_world, row.resolved_at)
    assert f"Von Hand auf der Befehlszeile entschieden (root) am {when}: Potsdam" in text


async def test_a_parked_match_linked_in_the_console_is_in_the_next_report_with_its_admin(
    console_world: ConsoleWorld,
):
    await _office(console_world)
    console_world.add_user()
    store = console_world.env.store
    parked = next(p for p in store.parked(("open",)) if p.key == "K-00002")
    async with console_world.logged_in() as browser:
        page = await browser.get("/matches")
        answer = await browser.post(
            f"/matches/P{parked.id}/settle",
            data={"csrf": csrf_of(page.text), "with": parked.candidates[0]},
        )
        assert answer.status_code == 303
    (res,) = store.parked_resolutions()
    assert (res.by, res.via) == ("anna", "console")
    result = await console_world.env.sync()
    (decision,) = [d for d in result.as_dict()["decisions"] if d["kind"] == "parked"]
    assert decision["by"] == "anna" and decision["key"] == "K-00002"
    report = _text(
        render(build_view(result_data(result)), "html", tz=_tz(console_world), lang="de")
    )
    when = _local(console_world, res.at)
    assert f"mit dem Gegenstück verknüpft entschieden von anna am {when}" in report


def _tz(world: ConsoleWorld) -> str:
    return world.console.config.schedule.timezone


async def test_a_task_said_done_is_in_the_next_report_with_who_said_so(
    console_world: ConsoleWorld,
):
    import datetime as dt

    from reconciler.console.pages_queue import task_list
    from reconciler.domain.models import Unit

    env = console_world.env
    await env.k.units.create(Unit(name="Palettenplatz"))
    await env.sync()
    console_world.add_user()
    console_world.clock.now = dt.datetime.now(dt.UTC)  # after that run
    message = next(
        t["message"] for t in task_list(console_world.console) if "Palettenplatz" in t["message"]
    )
    async with console_world.logged_in() as browser:
        page = await browser.get("/tasks")
        await browser.post("/tasks/done", data={"csrf": csrf_of(page.text), "message": message})
    result = await env.sync()  # the unit is still missing in sevDesk
    (decision,) = [d for d in result.as_dict()["decisions"] if d["kind"] == "task"]
    assert (decision["by"], decision["still_open"]) == ("anna", True)
    report = _text(
        render(build_view(result_data(result)), "html", tz=_tz(console_world), lang="de")
    )
    when = _local(console_world, console_world.clock.now)
    assert (
        "als erledigt gemeldet; dieser Lauf findet die Aufgabe noch "
        f"entschieden von anna am {when}" in report
    )
