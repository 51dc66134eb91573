"""Läufe and Aufgaben in the console (in process): "Jetzt synchronisieren" is refused while
another run holds the lock, with the holder named, and nothing runs; a task said "erledigt" shows
who said so and waits for the next run, which lists it again while it is still not done.
"""

from __future__ import annotations

import datetime as dt

from .conftest import ConsoleWorld, csrf_of


async def test_sync_now_is_refused_while_another_run_holds_the_lock(console_world: ConsoleWorld):
    store = console_world.env.store
    store.acquire_lock("sync", "buero-pc:4242:abc", 4242, dt.timedelta(hours=1))
    console_world.add_user()
    runs_before = len(store.runs(100))
    async with console_world.logged_in() as browser:
        page = await browser.get("/runs")
        assert "buero-pc:4242:abc" in page.text  # the holder, shown before anyone clicks
        refused = await browser.post("/runs/sync", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 409
        assert "hält ein Lauf die Sperre" in refused.text and "4242" in refused.text
        dry = await browser.post("/runs/dry-run", data={"csrf": csrf_of(page.text)})
        assert dry.status_code == 409
    assert len(store.runs(100)) == runs_before


async def test_a_task_said_done_waits_for_the_next_run_which_checks_it(
    console_world: ConsoleWorld,
):
    env = console_world.env
    from reconciler.domain.models import Unit

    await env.k.units.create(Unit(name="Palettenplatz"))
    await env.sync()
    console_world.add_user()
    async with console_world.logged_in() as browser:
        page = await browser.get("/tasks")
        assert "Palettenplatz" in page.text and "Einstellungen" in page.text  # sevDesk's menu path
        console_world.clock.now = dt.datetime.now(dt.UTC)  # after that run
        tasks = _tasks(console_world)
        message = next(t["message"] for t in tasks if "Palettenplatz" in t["message"])
        done = await browser.post(
            "/tasks/done", data={"csrf": csrf_of(page.text), "message": message}
        )
        assert done.status_code == 303
        page = await browser.get("/tasks")
        assert "als erledigt gemeldet" in page.text and "anna" in page.text
        console_world.clock.advance(seconds=1)
        await env.sync()  # the unit is still missing in sevDesk: the task is open again
        page = await browser.get("/tasks")
        assert "Palettenplatz" in page.text and "als erledigt gemeldet" not in page.text


def _tasks(world: ConsoleWorld) -> list[dict]:
    from reconciler.console.pages_queue import task_list

    return task_list(world.console)
