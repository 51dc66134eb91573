"""Issue 14, item 5: hostile and unlucky webhook deliveries, against the service's receiver.

* a huge body is refused without being read: 413 after at most the 1 MB cap
  (or before a byte, when ``Content-Length`` says so or no signature header
  came); the signature is checked over the streamed body;
* a signed event outside the freshness window (``occurred_at`` too old or too
  far ahead) is refused; a signed body replayed under new delivery ids is
  processed once;
* an accepted event is in the state store's inbox before the 2xx, and an event
  whose sync could not start (run lock held elsewhere) is done once the lock
  is free, without anyone starting a run.

The bytes a body generator hands out are counted, so "not buffered" is
asserted on what the receiver read, not on memory or timing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator

from freezegun import freeze_time

from reconciler.service.webhooks import MAX_BODY_BYTES, sign
from state.inbox_tables import DONE, PENDING, Inbox
from tests.service.conftest import SECRET, World, eventually

RECEIVER = "/webhooks/kleanapp"
CHUNK = 64 * 1024
MB = 1024 * 1024


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(name: str, record_id: int, *, at: dt.datetime | None = None, **data: object) -> bytes:
    occurred = _stamp(at or dt.datetime.now(dt.UTC))
    payload = {"event": name, "id": record_id, "occurred_at": occurred, "data": {"id": record_id}}
    payload["data"].update(data)  # type: ignore[union-attr]
    return json.dumps(payload, separators=(",", ":")).encode()


def _headers(body: bytes, delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-KleanApp-Signature": sign(SECRET, body),
        "X-KleanApp-Delivery": delivery or uuid.uuid4().hex,
    }


class Counted:
    """A request body of ``size`` bytes handed out in chunks; ``.sent`` = bytes taken."""

    def __init__(self, size: int, prefix: bytes = b"") -> None:
        self.size, self.prefix, self.sent = size, prefix, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        first = True
        while self.sent < self.size:
            chunk = (self.prefix if first else b"") + b" " * CHUNK
            first = False
            chunk = chunk[: self.size - self.sent]
            self.sent += len(chunk)
            yield chunk


# -- the body cap and the streamed signature check --------------------------------------------


async def test_a_300_mb_unsigned_body_is_refused_without_being_read(world: World) -> None:
    await world.start()
    unsigned = Counted(300 * MB)
    forged = Counted(300 * MB, prefix=b'{"event":"customer.saved",')
    declared = Counted(300 * MB)
    async with world.receiver() as client:
        no_signature = await client.post(RECEIVER, content=unsigned)
        bad_signature = await client.post(
            RECEIVER, content=forged, headers={"X-KleanApp-Signature": "sha256=" + "0" * 64}
        )
        too_long = await client.post(
            RECEIVER,
            content=declared,
            headers={
                "X-KleanApp-Signature": "sha256=" + "0" * 64,
                "Content-Length": str(300 * MB),
            },
        )

    assert no_signature.status_code == 401 and unsigned.sent <= CHUNK
    assert bad_signature.status_code == 413 and forged.sent <= MAX_BODY_BYTES + 2 * CHUNK
    assert too_long.status_code == 413 and declared.sent <= CHUNK
    assert "at most 1048576" in too_long.json()["error"]
    assert Inbox(world.store).counts() == {}
    assert world.service.metrics.webhooks.labels("too_large")._value.get() == 2


async def test_eight_concurrent_100_mb_bodies_are_each_read_at_most_up_to_the_cap(
    world: World,
) -> None:
    await world.start()
    bodies = [Counted(100 * MB) for _ in range(8)]
    header = {"X-KleanApp-Signature": "sha256=" + "ab" * 32}
    async with world.receiver() as client:
        answers = await asyncio.gather(
            *(client.post(RECEIVER, content=b, headers=header) for b in bodies)
        )
    assert [a.status_code for a in answers] == [413] * 8
    assert sum(b.sent for b in bodies) <= 8 * (MAX_BODY_BYTES + 2 * CHUNK)


async def test_the_signature_is_checked_over_the_streamed_body(synced: World) -> None:
    world = synced
    await world.start(debounce_seconds=0.05)
    body = _event("customer.saved", world.customer_ids["K-00001"])
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]  # many small chunks

    async def stream(parts: list[bytes]) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    tampered = [*pieces[:-1], pieces[-1].replace(b"}", b" }", 1)]
    async with world.receiver() as client:
        good = await client.post(RECEIVER, content=stream(pieces), headers=_headers(body))
        bad = await client.post(RECEIVER, content=stream(tampered), headers=_headers(body))
    assert (good.status_code, bad.status_code) == (202, 401)


async def test_a_body_of_exactly_the_cap_is_read_and_one_byte_more_is_refused(
    world: World,
) -> None:
    await world.start()
    event = _event("customer.saved", 1)
    filler = b" " * (MAX_BODY_BYTES - len(event))  # JSON allows trailing whitespace
    at_cap, over = event + filler, event + filler + b" "
    async with world.receiver() as client:
        ok = await client.post(RECEIVER, content=at_cap, headers=_headers(at_cap))
        refused = await client.post(RECEIVER, content=over, headers=_headers(over))
    assert (ok.status_code, refused.status_code) == (202, 413)


# -- freshness and content dedupe ------------------------------------------------------------


async def test_events_outside_the_freshness_window_are_refused(world: World) -> None:
    await world.start(max_event_age_seconds=3600, max_clock_skew_seconds=300)
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    cases = {
        "2019": dt.datetime(2019, 5, 4, 9, 30, tzinfo=dt.UTC),
        "61 min ago": now - dt.timedelta(minutes=61),
        "59 min ago": now - dt.timedelta(minutes=59),
        "4 min ahead": now + dt.timedelta(minutes=4),
        "6 min ahead": now + dt.timedelta(minutes=6),
    }
    status = {}
    with freeze_time(now, real_asyncio=True):
        async with world.receiver() as client:
            for n, (name, at) in enumerate(cases.items()):
                body = _event("customer.saved", n + 1, at=at)
                status[name] = await client.post(RECEIVER, content=body, headers=_headers(body))
    assert {k: r.status_code for k, r in status.items()} == {
        "2019": 400,
        "61 min ago": 400,
        "59 min ago": 202,
        "4 min ahead": 202,
        "6 min ahead": 400,
    }
    assert "stale" in status["2019"].json()["error"]
    assert "in the future" in status["6 min ahead"].json()["error"]
    assert Inbox(world.store).counts() == {PENDING: 2}  # only the two fresh ones were kept
    assert world.service.metrics.webhooks.labels("stale")._value.get() == 3


async def test_a_signed_body_replayed_with_new_delivery_ids_is_processed_once(
    synced: World,
) -> None:
    world = synced
    await world.start()
    await world.ka_ctl.post("/webhooks", json={"enabled": False})
    invoice = await world.save_invoice()
    body = _event("invoice.saved", invoice["id"], **invoice)
    async with world.receiver() as client:
        answers = [
            (await client.post(RECEIVER, content=body, headers=_headers(body))).status_code
            for _ in range(30)
        ]
    assert answers == [202] + [200] * 29
    await eventually(lambda: _inbox_done(world, 1), what="the export settled in the inbox")
    assert len(await world.sev_invoices_for(invoice["id"])) == 1
    assert world.service.metrics.webhooks.labels("duplicate")._value.get() == 29
    runs = [r for r in world.store.runs(100)]  # no sync run was asked for by an invoice
    assert runs == [r for r in runs if r.trigger != "webhook"]


async def _inbox_done(world: World, n: int) -> bool:
    return Inbox(world.store).counts().get(DONE, 0) >= n


# -- the durable inbox ---------------------------------------------------------------------


async def test_an_accepted_event_is_in_the_inbox_before_it_is_answered(synced: World) -> None:
    world = synced
    await world.start(debounce_seconds=60)  # nothing runs during the test
    body = _event("customer.saved", world.customer_ids["K-00002"])
    async with world.receiver() as client:
        answer = await client.post(RECEIVER, content=body, headers=_headers(body, "d-77"))
    assert answer.status_code == 202
    (row,) = Inbox(world.store).pending()
    assert (row.event, row.record_id, row.delivery_id) == (
        "customer.saved",
        str(world.customer_ids["K-00002"]),
        "d-77",
    )


async def test_an_event_whose_sync_could_not_start_is_retried_until_done(synced: World) -> None:
    world = synced
    holder = "other-host:99:x"  # a long hand-started sync on another host
    grant = world.store.acquire_lock("sync", holder, 99, dt.timedelta(minutes=10))
    await world.start(debounce_seconds=0.05, inbox_retry_seconds=0.1)
    customer = world.customer_ids["K-00001"]
    edited = await world.ka.http.request(
        "PATCH", f"customers/{customer}", json={"email": "buero@praxis-weber.de"}
    )
    assert edited.status_code == 200
    assert len(await world.deliveries()) == 1  # KleanApp delivered it; we answered 202

    (row,) = await eventually(lambda: _attempted(world), what="a sync refused by the lock")
    assert row.state == PENDING and "could not start" in (row.last_error or "")
    assert world.store.release_lock("sync", holder, grant.token)  # the other run ends

    await eventually(lambda: _inbox_done(world, 1), what="the retried sync")
    sev = {
        c.record.customer_number: c.record
        for c in (await world.sev.customers.list_changed()).records
    }
    assert sev["K-00001"].email == "buero@praxis-weber.de"
    assert [r.trigger for r in world.store.runs() if r.trigger == "webhook"] == ["webhook"]


async def _attempted(world: World) -> list:
    return [r for r in Inbox(world.store).pending() if r.attempts > 0]


async def test_healthz_shows_the_inbox_and_turns_red_when_an_event_waits_an_hour(
    synced: World,
) -> None:
    world = synced
    await world.start(debounce_seconds=3600)  # accepted, never acted on during the test
    await world.service.jobs.sync("manual")
    body = _event("customer.saved", world.customer_ids["K-00001"])
    async with world.receiver() as client:
        assert (
            await client.post(RECEIVER, content=body, headers=_headers(body))
        ).status_code == 202
    report, healthy = world.service.health.check()
    assert healthy and report["inbox"]["pending"] == 1

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    report, healthy = world.service.health.check(now=later)
    assert not healthy
    assert report["problems"] == ["1 accepted webhook event(s) waiting for 2 h"]
