"""Übersicht's count tiles speak German grammar: "1 offener Konflikt", "2 offene Konflikte",
"0 Aufgaben" (ngettext through the catalogue, not one plural for every number)."""

from __future__ import annotations

import re

from tests.engine.test_sync_engine import seed_linked

from .conftest import ConsoleWorld
from .test_conflicts_page import city_conflict


def _tiles(html: str) -> list[str]:
    """Each tile of "Was auf Sie wartet" as the admin reads it (tags gone, spaces joined)."""
    waiting = html[html.index('id="waiting"') : html.index('id="runs"')]
    items = re.findall(r"<li[^>]*>(.*?)</li>", waiting, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


async def test_one_open_conflict_is_singular(console_world: ConsoleWorld):
    await city_conflict(console_world)
    console_world.add_user()
    async with console_world.logged_in() as browser:
        tiles = _tiles((await browser.get("/")).text)
    assert "1 offener Konflikt" in tiles
    assert "0 Aufgaben" in tiles and "0 zu prüfende Zuordnungen" in tiles
    assert "0 Fehler im letzten Lauf" in tiles


async def test_two_open_conflicts_are_plural(console_world: ConsoleWorld):
    env = console_world.env
    await seed_linked(env)
    env.configure(rules={"default": "manual"})
    for number, (k_city, s_city) in {
        "K-00001": ("Jena", "Gera"),
        "K-00002": ("Ulm", "Hof"),
    }.items():
        await env.k.customers.update((await env.customers("kleanapp"))[number].id, {"city": k_city})
        await env.s.customers.update((await env.customers("sevdesk"))[number].id, {"city": s_city})
    await env.sync()
    console_world.add_user()
    async with console_world.logged_in() as browser:
        tiles = _tiles((await browser.get("/")).text)
    assert "2 offene Konflikte" in tiles
