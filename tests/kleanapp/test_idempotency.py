"""The emulator's ``Idempotency-Key`` on creates, exactly as the contract's conventions say.

Same key + same body: nothing new is created and the first answer (status and
body) comes back. Same key + a different body: 422 ``idempotency_key_reused``.
Keys are remembered for 24 hours per token. Every response is spec-checked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from freezegun import freeze_time

from sandbox.kleanapp import KleanappSandbox

NEW = {"kind": "company", "company_name": "Glanz & Gloria GmbH", "city": "Köln"}


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def customers(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return (await client.get("/customers", params={"include_archived": "true"})).json()["data"]


async def test_a_repeated_create_with_the_same_key_answers_the_first_customer_again(
    client: httpx.AsyncClient, receiver: Any, emulator: KleanappSandbox
) -> None:
    await client.post(
        "/webhooks", json={"url": receiver.url, "events": ["customer.saved"], "secret": "s" * 16}
    )
    first = await client.post("/customers", json=NEW, headers=keyed("create-1"))
    # The same request again, its JSON written differently (key order, spacing).
    again = await client.post(
        "/customers",
        content=b'{"city": "K\\u00f6ln", "company_name": "Glanz & Gloria GmbH", "kind": "company"}',
        headers={**keyed("create-1"), "Content-Type": "application/json"},
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert first.json()["customer_number"] == "K-00001"  # assigned by KleanApp
    assert [c["id"] for c in await customers(client)] == [first.json()["id"]]
    await emulator.drain()
    assert len(receiver.calls) == 1  # the replay changed nothing, so it fired nothing


async def test_without_a_key_or_with_another_key_a_create_creates(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/customers", json=NEW)
    await client.post("/customers", json=NEW)
    await client.post("/customers", json=NEW, headers=keyed("a"))
    await client.post("/customers", json=NEW, headers=keyed("b"))
    assert [c["customer_number"] for c in await customers(client)] == [
        "K-00001",
        "K-00002",
        "K-00003",
        "K-00004",
    ]


async def test_the_same_key_with_a_different_body_is_422_idempotency_key_reused(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/customers", json=NEW, headers=keyed("k-1"))
    other = await client.post("/customers", json={**NEW, "city": "Bonn"}, headers=keyed("k-1"))
    elsewhere = await client.post("/units", json={"name": "Fenster"}, headers=keyed("k-1"))

    assert first.status_code == 201
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert elsewhere.status_code == 422
    assert elsewhere.json()["error"]["code"] == "idempotency_key_reused"
    assert len(await customers(client)) == 1
    assert "Fenster" not in [u["name"] for u in (await client.get("/units")).json()["data"]]


async def test_an_error_answer_is_replayed_too(client: httpx.AsyncClient) -> None:
    """ "The first request's status and body": a refusal stays that refusal."""
    bad = {"kind": "person", "first_name": "Eva"}  # a person needs last_name
    first = await client.post("/customers", json=bad, headers=keyed("k-422"))
    again = await client.post("/customers", json=bad, headers=keyed("k-422"))
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json() and first.json()["error"]["fields"]["last_name"]


async def test_unit_creates_are_idempotent_by_key(client: httpx.AsyncClient) -> None:
    first = await client.post("/units", json={"name": "Fenster"}, headers=keyed("u-1"))
    again = await client.post("/units", json={"name": "Fenster"}, headers=keyed("u-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    names = [u["name"] for u in (await client.get("/units")).json()["data"]]
    assert names.count("Fenster") == 1


async def test_keys_are_remembered_24_hours(client: httpx.AsyncClient) -> None:
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    with freeze_time(start) as clock:
        first = await client.post("/customers", json=NEW, headers=keyed("day-key"))
        clock.tick(dt.timedelta(hours=23, minutes=59))
        within = await client.post("/customers", json=NEW, headers=keyed("day-key"))
        clock.tick(dt.timedelta(minutes=2))
        after = await client.post("/customers", json=NEW, headers=keyed("day-key"))
    assert within.json() == first.json()
    assert after.status_code == 201 and after.json()["id"] != first.json()["id"]


async def test_keys_are_per_token(emulator: KleanappSandbox, api_client: Any) -> None:
    """A key another token used means nothing to this one (here: a rotated token)."""
    from sandbox.kleanapp.idempotency import Answer

    async with api_client(emulator) as client:
        first = await client.post("/customers", json=NEW, headers=keyed("shared"))
        # Move the remembered answer to another token, as if that one had sent it.
        ((_token, key), answer), *_ = emulator.store.idempotency.answers.items()
        emulator.store.idempotency.answers = {("other-token", key): answer}
        assert isinstance(answer, Answer)
        again = await client.post("/customers", json=NEW, headers=keyed("shared"))
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]


async def test_a_malformed_key_is_refused_and_creates_nothing(client: httpx.AsyncClient) -> None:
    for key in ("x" * 201, "tab\there"):
        response = await client.post("/customers", json=NEW, headers=keyed(key))
        assert response.status_code == 422, key
        assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert await customers(client) == []


async def test_a_lost_answer_is_replayed_after_a_write_that_happened(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, emulator: KleanappSandbox
) -> None:
    """The emulator's after_write fault: the create happened, the client saw a 500."""
    fault = {"kind": "after_write", "method": "POST", "path": "^/api/v1/customers$"}
    await sandbox.post("/faults", json=fault)
    async with httpx.AsyncClient(  # not spec-checked: the injected 500 is not in the contract
        transport=httpx.ASGITransport(app=emulator),
        base_url=str(client.base_url),
        headers=dict(client.headers),
    ) as unchecked:
        lost = await unchecked.post("/customers", json=NEW, headers=keyed("lost-1"))
    again = await client.post("/customers", json=NEW, headers=keyed("lost-1"))
    assert lost.status_code == 500
    assert again.status_code == 201
    assert [c["id"] for c in await customers(client)] == [again.json()["id"]]
