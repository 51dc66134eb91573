"""A NUL character (U+0000) from either service: removed at the boundary, the sync succeeds.

PostgreSQL cannot keep a NUL in any text column, SQLite can: one customer with a NUL in its
name made every PostgreSQL sync fail with ``DataError`` while SQLite synced it. The rule is
now one for both stores (``reconciler.domain.nul``): the NUL is removed where the answer is
decoded, said in a log line that names where, never the value. These tests run on both
stores (``KLEANSYNC_TEST_STATE=postgres`` for PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from loguru import logger

from reconciler.service.webhooks import parse_event

from .conftest import K_TOKEN, K_URL, S_TOKEN, S_URL, customer


async def raw(app, path: str) -> list[dict]:
    """The rows of a list endpoint as the emulator answers, not through a connector."""
    sevdesk = path == "Contact"
    headers = {"Authorization": S_TOKEN if sevdesk else f"Bearer {K_TOKEN}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=headers) as c:
        answer = await c.get(f"{S_URL if sevdesk else K_URL}/{path}")
        assert answer.status_code == 200, answer.text
        return answer.json()["objects" if sevdesk else "data"]


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    yield seen
    logger.remove(sink)


async def test_a_nul_in_a_customer_from_either_side_is_removed_and_the_sync_succeeds(env, warnings):
    await env.k.customers.create(customer("K-00001", company_name="Praxis\x00 Dr. Müller"))
    await env.s.customers.create(
        customer("K-00002", company_name="Hotel\x00 Adler", note="Schlüssel\x00 beim Hausmeister")
    )

    first = await env.sync()

    assert first.errors == [] and first.exit_code == 0, first.errors
    assert first.quarantined == []
    kleanapp, sevdesk = await env.normalised("kleanapp"), await env.normalised("sevdesk")
    assert sevdesk["K-00001"]["company_name"] == "Praxis Dr. Müller"
    assert kleanapp["K-00002"]["company_name"] == "Hotel Adler"
    assert kleanapp["K-00002"]["note"] == "Schlüssel beim Hausmeister"
    assert len(env.store.links("customer")) == 2
    # What was written carries no NUL (read raw, past the connectors' decoding).
    assert "Praxis Dr. Müller" in [c["name"] for c in await raw(env.sevdesk_app, "Contact")]
    written = next(
        c for c in await raw(env.kleanapp_app, "customers") if c["company_name"] == "Hotel Adler"
    )
    assert written["note"] == "Schlüssel beim Hausmeister"
    removed = [w for w in warnings if "NUL" in w]
    assert any("KleanApp GET" in w and "data[0].company_name" in w for w in removed), removed
    assert any("sevDesk" in w for w in removed), removed
    # where, never what: no customer's name in the log
    assert not any("Müller" in w or "Adler" in w or "Hausmeister" in w for w in removed)

    # The source keeps its NUL; its canonical form has none, so nothing ping-pongs.
    for full in (False, True):
        again = await env.sync(full=full)
        assert again.errors == [] and again.plan.actions == [], again.plan.actions


async def test_a_nul_in_a_unit_name_is_removed(env):
    # Typed in sevDesk's settings page (the emulator's legacy POST /Unity stands in for it).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.sevdesk_app), headers={"Authorization": S_TOKEN}
    ) as c:
        answer = await c.post(f"{S_URL}/Unity", json={"name": "Fens\x00ter"})
        assert answer.status_code == 201, answer.text

    result = await env.sync()

    assert result.errors == [], result.errors
    assert "Fenster" in await env.unit_names("kleanapp"), "|".join(await env.unit_names("kleanapp"))


def test_a_nul_in_a_webhook_event_is_removed_before_it_is_queued():
    body = (
        b'{"event": "invoice.saved", "id": "4\\u00002", "occurred_at": "2026-03-01T10:00:00Z",'
        b' "data": {"number": "RE-1\\u0000", "positions": [{"product_name": "Un\\u0000terhalt"}]}}'
    )
    event = parse_event(body)
    assert event.id == "42"
    assert event.data == {"number": "RE-1", "positions": [{"product_name": "Unterhalt"}]}
