"""The one connector contract (``reconciler/connectors/base.py``), checked for both connectors.

Every test runs twice: against the KleanApp connector and the sevDesk
connector, each talking to its emulator in-process. The engine relies on
exactly these promises and on nothing service-specific, so a connector that
passes here can be plugged in without the engine noticing. What differs by
nature between the services (delete archives or deletes; sevDesk units are
read-only by default) is stated per side in the ``Side`` fixtures below,
not hidden.

Where a test needs the side's own view it reads the emulator's store
directly, so a connector cannot vouch for itself.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from freezegun import freeze_time

from reconciler.connectors.base import Connector
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.errors import (
    AuthError,
    ChangedMeanwhile,
    KleansyncError,
    NotFound,
    RemoteValidationError,
)
from reconciler.domain.models import Customer, Remote, Unit
from rules.normalize import normalize_record
from sandbox import kleanapp, sevdesk
from tests.conftest import COMPANY, PERSON

TOKEN = "c0ffee00c0ffee00c0ffee00c0ffee00"


def numbered(number: str, **changes: Any) -> Customer:
    return COMPANY.model_copy(update={"customer_number": number, **changes})


def wire(customer: Customer) -> dict[str, Any]:
    """A customer for ``/_sandbox/bulk`` (both emulators take canonical field names)."""
    return customer.model_dump(exclude={"archived"}, exclude_none=True)


async def no_sleep(seconds: float) -> None:
    return None


class Tap:
    """Pass-through ASGI wrapper that can break what a real network or server breaks.

    * ``garble``: record ids whose rows in list answers come back unreadable;
    * ``fail_after(method, path)``: the next matching request is carried out,
      answered 500, and from then on the service is down (503) until ``heal()``.
    """

    def __init__(self, app: Any, list_path: str, envelope: str, garble_row: Any) -> None:
        self.app = app
        self.list_path = list_path
        self.envelope = envelope
        self.garble_row = garble_row
        self.garble: set[str] = set()
        self.armed: tuple[str, re.Pattern[str]] | None = None
        self.down = False

    def fail_after(self, method: str, path: str) -> None:
        self.armed = (method, re.compile(path))

    def heal(self) -> None:
        self.armed, self.down = None, False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if self.down:
            return await _answer(send, 503, {"error": "service unavailable"})
        if self.armed and method == self.armed[0] and self.armed[1].search(path):
            await self.app(scope, receive, _discard)
            self.armed, self.down = None, True
            return await _answer(send, 500, {"error": "connection reset after write"})
        if method == "GET" and path == self.list_path and self.garble:
            return await self.app(scope, receive, self._garbling(send))
        return await self.app(scope, receive, send)

    def _garbling(self, send: Any) -> Any:
        start: dict[str, Any] = {}

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body = json.loads(message["body"])
            for row in body.get(self.envelope) or []:
                if str(row.get("id")) in self.garble:
                    self.garble_row(row)
            raw = json.dumps(body).encode()
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(raw)).encode()))
            await send({**start, "headers": headers})
            await send({**message, "body": raw, "more_body": False})

        return rewrite


async def _discard(message: Any) -> None:
    return None


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class Side:
    """One service with its emulator, a connector to it and its own-terms helpers."""

    name: str
    label: str
    base = "http://service.test/api/v1"
    create_path: str  # regex of the request that creates a customer
    deletes: bool  # True: delete removes the record; False: it archives it
    creates_units: bool

    def __init__(self, app: Any, tap: Tap, connector: Connector, control: httpx.AsyncClient):
        self.app, self.tap, self.connector, self.control = app, tap, connector, control

    async def bulk(self, customers: list[Customer], at: dt.datetime) -> list[str]:
        raise NotImplementedError

    async def edit_note(self, id: str, note: str) -> None:
        """Change the customer's note the way a person using the service would."""
        raise NotImplementedError

    def count(self, number: str) -> int:
        """How many records the service itself holds with this customer number."""
        raise NotImplementedError

    async def add_malformed(self) -> str:
        """A record the service returns but that is no valid customer; its id."""
        raise NotImplementedError

    async def post(self, path: str, body: Any) -> Any:
        response = await self.control.post(path, json=body)
        assert response.status_code < 300, response.text
        return response.json()


class KleanappSide(Side):
    name, label = "kleanapp", "KleanApp"
    create_path = r"/customers$"
    deletes, creates_units = False, True

    async def bulk(self, customers: list[Customer], at: dt.datetime) -> list[str]:
        stamp = at.isoformat()
        items = [{**wire(c), "created_at": stamp, "updated_at": stamp} for c in customers]
        return [
            str(i) for i in (await self.post("/_sandbox/bulk", {"customers": items}))["customers"]
        ]

    async def edit_note(self, id: str, note: str) -> None:
        response = await self.control.patch(f"/api/v1/customers/{id}", json={"note": note})
        assert response.status_code == 200, response.text

    def count(self, number: str) -> int:
        return sum(c.fields["customer_number"] == number for c in self.app.store.customers.values())

    async def add_malformed(self) -> str:
        [id] = await self.bulk([numbered("K-66666")], dt.datetime.now(dt.UTC))
        self.tap.garble.add(id)  # KleanApp validates input, so it breaks on the way out
        return id


class SevdeskSide(Side):
    name, label = "sevdesk", "sevDesk"
    create_path = r"/Contact$"
    deletes, creates_units = True, False

    async def bulk(self, customers: list[Customer], at: dt.datetime) -> list[str]:
        stamp = int(at.timestamp())
        items = [{**wire(c), "create": stamp, "update": stamp} for c in customers]
        return (await self.post("/_sandbox/bulk", {"contacts": items}))["contacts"]

    async def edit_note(self, id: str, note: str) -> None:
        response = await self.control.put(f"/api/v1/Contact/{id}", json={"description": note})
        assert response.status_code == 200, response.text

    def count(self, number: str) -> int:
        return sum(c.get("customerNumber") == number for c in self.app.store.contacts.values())

    async def add_malformed(self) -> str:
        # sevDesk itself allows a contact nobody could address an invoice to.
        nameless = {"customerNumber": "K-66666", "description": "Name vergessen"}
        [id] = (await self.post("/_sandbox/bulk", {"contacts": [nameless]}))["contacts"]
        return id


def kleanapp_app() -> Any:
    return kleanapp.create_app(TOKEN, rate_limit_rps=None)


def sevdesk_app(legacy_unity_write: bool = False) -> Any:
    return sevdesk.create_app(TOKEN, legacy_unity_write=legacy_unity_write)


def connect(side: str, app: Any, token: str = TOKEN, **kwargs: Any) -> Connector:
    transport = httpx.ASGITransport(app=app)
    cls = KleanappConnector if side == "kleanapp" else SevdeskConnector
    connector = cls(Side.base, token, requests_per_second=1000, transport=transport, **kwargs)
    connector.http.sleep = no_sleep  # retries and backoff without waiting
    return connector


@pytest.fixture(params=["kleanapp", "sevdesk"])
async def side(request: pytest.FixtureRequest) -> AsyncIterator[Side]:
    if request.param == "kleanapp":
        app, cls = kleanapp_app(), KleanappSide
        tap = Tap(app, "/api/v1/customers", "data", lambda row: row.update(kind="alien"))
        auth = f"Bearer {TOKEN}"
    else:
        app, cls = sevdesk_app(), SevdeskSide
        tap = Tap(app, "/api/v1/Contact", "objects", lambda row: row.update(update="gestern"))
        auth = TOKEN
    async with (
        connect(request.param, tap) as connector,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://service.test",
            headers={"Authorization": auth},
        ) as control,
    ):
        yield cls(app, tap, connector, control)


def same_customer(remote: Remote[Customer], expected: Customer) -> None:
    assert normalize_record(remote.record) == normalize_record(expected)


# -- reading and writing ---------------------------------------------------------------


@pytest.mark.parametrize("record", [COMPANY, PERSON], ids=["company", "person"])
async def test_create_then_get_gives_back_the_canonical_record(side: Side, record) -> None:
    created = await side.connector.customers.create(record)
    fetched = await side.connector.customers.get(created.id)

    same_customer(created, record)
    same_customer(fetched, record)
    assert (fetched.side, fetched.id, fetched.version) == (side.name, created.id, created.version)
    assert fetched.updated_at is not None and fetched.updated_at.utcoffset() == dt.timedelta(0)
    assert side.count(record.customer_number) == 1


async def test_list_returns_every_created_record(side: Side) -> None:
    company = await side.connector.customers.create(COMPANY)
    person = await side.connector.customers.create(PERSON)

    listing = await side.connector.customers.list_changed()

    by_id = {r.id: r for r in listing.records}
    assert set(by_id) == {company.id, person.id} and listing.quarantined == []
    same_customer(by_id[company.id], COMPANY)
    same_customer(by_id[person.id], PERSON)
    assert by_id[person.id].version == person.version


async def test_list_reads_past_the_largest_page(side: Side) -> None:
    many = [numbered(f"B-{n:05d}", company_name=f"Firma {n}") for n in range(1001)]
    await side.bulk(many, dt.datetime.now(dt.UTC))

    listing = await side.connector.customers.list_changed()

    assert sorted(r.record.customer_number for r in listing.records) == [
        f"B-{n:05d}" for n in range(1001)
    ]


async def test_list_since_has_everything_changed_at_or_after_it_and_not_the_old(
    side: Side,
) -> None:
    [ancient] = await side.bulk([numbered("K-1")], dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC))
    with freeze_time("2026-03-02 08:00:00", real_asyncio=True) as clock:
        edited = await side.connector.customers.create(numbered("K-2"))
        untouched = await side.connector.customers.create(numbered("K-3"))
        clock.tick(3600)
        since = dt.datetime.now(dt.UTC)
        await side.connector.customers.update(edited.id, {"note": "edited exactly at since"})
        clock.tick(60)
        fresh = await side.connector.customers.create(numbered("K-4"))
        listing = await side.connector.customers.list_changed(since=since)

    ids = {r.id for r in listing.records}
    assert {edited.id, fresh.id} <= ids
    assert ancient not in ids and untouched.id not in ids
    assert next(r for r in listing.records if r.id == edited.id).record.note == (
        "edited exactly at since"
    )


async def test_update_writes_only_the_given_fields_and_moves_the_version(side: Side) -> None:
    created = await side.connector.customers.create(COMPANY)

    changes = {"city": "Potsdam", "postal_code": "14467", "phone": None}
    updated = await side.connector.customers.update(
        created.id, changes, expected_version=created.version
    )

    expected = COMPANY.model_copy(update=changes)
    same_customer(updated, expected)
    same_customer(await side.connector.customers.get(created.id), expected)
    assert updated.version != created.version


async def test_a_stale_version_is_refused_and_the_other_edit_survives(side: Side) -> None:
    created = await side.connector.customers.create(COMPANY)
    read = await side.connector.customers.get(created.id)
    await side.edit_note(created.id, "von Hand geändert")

    with pytest.raises(ChangedMeanwhile):
        await side.connector.customers.update(
            created.id, {"city": "Köln"}, expected_version=read.version
        )

    now = await side.connector.customers.get(created.id)
    assert (now.record.note, now.record.city) == ("von Hand geändert", "Berlin")
    fixed = await side.connector.customers.update(
        created.id, {"city": "Köln"}, expected_version=now.version
    )
    assert (fixed.record.note, fixed.record.city) == ("von Hand geändert", "Köln")


async def test_create_again_after_a_500_that_wrote_leaves_one_record(side: Side) -> None:
    rule = {"kind": "after_write", "method": "POST", "path": side.create_path, "status": 500}
    assert (await side.control.post("/_sandbox/faults", json=rule)).status_code == 201
    try:
        first: Remote[Customer] | None = await side.connector.customers.create(COMPANY)
    except KleansyncError:
        first = None

    again = await side.connector.customers.create(COMPANY)

    assert side.count(COMPANY.customer_number) == 1
    assert first is None or first.id == again.id
    same_customer(again, COMPANY)


async def test_create_again_after_the_service_went_down_mid_create_leaves_one_record(
    side: Side,
) -> None:
    side.tap.fail_after("POST", side.create_path)
    with pytest.raises(KleansyncError):
        await side.connector.customers.create(PERSON)
    assert side.count(PERSON.customer_number) == 1  # it was written, we were not told

    side.tap.heal()
    again = await side.connector.customers.create(PERSON)

    assert side.count(PERSON.customer_number) == 1
    same_customer(await side.connector.customers.get(again.id), PERSON)


async def test_delete_archives_or_deletes_as_the_service_does(side: Side) -> None:
    created = await side.connector.customers.create(COMPANY)

    await side.connector.customers.delete(created.id, expected_version=created.version)

    if side.deletes:
        with pytest.raises(NotFound):
            await side.connector.customers.get(created.id)
        assert (await side.connector.customers.list_changed()).records == []
        with pytest.raises(NotFound):
            await side.connector.customers.delete(created.id)
    else:
        assert (await side.connector.customers.get(created.id)).record.archived is True
        [listed] = (await side.connector.customers.list_changed()).records
        assert (listed.id, listed.record.archived) == (created.id, True)


@pytest.mark.parametrize("unknown", ["999999", "not-an-id"])
async def test_unknown_ids_are_not_found(side: Side, unknown: str) -> None:
    with pytest.raises(NotFound):
        await side.connector.customers.get(unknown)
    with pytest.raises(NotFound):
        await side.connector.customers.update(unknown, {"city": "Bonn"})
    with pytest.raises(NotFound):
        await side.connector.customers.delete(unknown)


async def test_a_malformed_record_is_quarantined_and_the_rest_listed(side: Side) -> None:
    good = await side.bulk([numbered("K-1"), numbered("K-2")], dt.datetime.now(dt.UTC))
    bad = await side.add_malformed()

    listing = await side.connector.customers.list_changed()

    assert sorted(r.id for r in listing.records) == sorted(good)
    [quarantined] = listing.quarantined
    assert (quarantined.side, quarantined.entity, quarantined.id) == (side.name, "Customer", bad)
    assert quarantined.reason


# -- units -------------------------------------------------------------------------------


async def test_units_are_listed_and_created_where_the_service_allows_it(side: Side) -> None:
    before = await side.connector.units.list_changed()
    assert "Std" in {r.record.name for r in before.records}

    if side.creates_units:
        unit = await side.connector.units.create(Unit(name="Fenster"))
        assert (await side.connector.units.create(Unit(name="Fenster"))).id == unit.id
        assert (await side.connector.units.get(unit.id)).record == Unit(name="Fenster")
        assert len((await side.connector.units.list_changed()).records) == len(before.records) + 1
    else:
        with pytest.raises(RemoteValidationError, match="web UI"):
            await side.connector.units.create(Unit(name="Fenster"))
        assert len((await side.connector.units.list_changed()).records) == len(before.records)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy POST /Unity", "no POST /Unity"])
async def test_sevdesk_creates_units_only_when_allowed_and_possible(legacy: bool) -> None:
    app = sevdesk_app(legacy_unity_write=legacy)
    async with connect("sevdesk", app, create_units=True) as connector:
        if not legacy:
            with pytest.raises(RemoteValidationError):
                await connector.units.create(Unit(name="Fenster"))
            return
        unit = await connector.units.create(Unit(name="Fenster"))
        assert (await connector.units.create(Unit(name="Fenster"))).id == unit.id
    assert [u["name"] for u in app.store.units.values()].count("Fenster") == 1


# -- auth --------------------------------------------------------------------------------


async def test_a_wrong_token_is_an_auth_error_naming_the_service_but_not_the_token(
    side: Side,
) -> None:
    await side.connector.check_auth()
    wrong = "deadbeefdeadbeefdeadbeefdeadbeef"
    async with connect(side.name, side.app, token=wrong) as connector:
        with pytest.raises(AuthError) as error:
            await connector.check_auth()
    message = str(error.value)
    assert side.label in message and "HTTP 401" in message
    assert wrong not in message and TOKEN not in message
