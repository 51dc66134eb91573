"""The sevDesk connector against the in-process emulator (no hand-mocked HTTP).

Each test drives the connector the way the engine does and checks what an
admin would notice in sevDesk: how many contacts exist, whether a person
stays a person, whether a failed run leaves duplicates behind.
"""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest
from freezegun import freeze_time

from reconciler.connectors.sevdesk.connector import (
    NotSupportedBySevdesk,
    ReferencedByDocuments,
    SevdeskConnector,
)
from reconciler.domain.errors import (
    AuthError,
    ChangedMeanwhile,
    KleansyncError,
    NotFound,
    RemoteValidationError,
    TransientError,
)
from reconciler.domain.models import Customer, Unit
from sandbox.sevdesk import create_app
from tests.conftest import COMPANY, PERSON

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

TOKEN = "0123456789abcdef0123456789abcdef"
ROOT = "http://sevdesk.test"
BASE = f"{ROOT}/api/v1"


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def app():
    return create_app(token=TOKEN)


def connector_for(app, token: str = TOKEN, **kwargs) -> SevdeskConnector:
    kwargs.setdefault("requests_per_second", 500)
    return SevdeskConnector(BASE, token, transport=httpx.ASGITransport(app=app), **kwargs)


@pytest.fixture
async def sevdesk(app):
    connector = connector_for(app)
    yield connector
    await connector.aclose()


@pytest.fixture
async def control(app):
    """The emulator's /_sandbox/ API and raw sevDesk calls (with the token)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=ROOT,
        headers={"Authorization": TOKEN},
    ) as client:
        yield client


async def no_sleep(seconds: float) -> None:
    return None


async def add_fault(control: httpx.AsyncClient, **rule) -> None:
    response = await control.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text


async def raw_objects(control: httpx.AsyncClient, path: str, **params):
    response = await control.get(f"/api/v1/{path}", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["objects"]


async def bulk(control: httpx.AsyncClient, contacts: list[dict]) -> list[str]:
    response = await control.post("/_sandbox/bulk", json={"contacts": contacts})
    assert response.status_code == 201, response.text
    return response.json()["contacts"]


async def contact_count(control: httpx.AsyncClient) -> int:
    return len(await raw_objects(control, "Contact", depth=1))


# -- round trip -------------------------------------------------------------------------


async def test_company_and_person_round_trip_with_address_and_communication_ways(sevdesk, control):
    company = await sevdesk.customers.create(COMPANY)
    person = await sevdesk.customers.create(PERSON)

    assert company.record == COMPANY
    assert person.record == PERSON
    assert company.side == "sevdesk" and company.version and company.updated_at.tzinfo
    listing = await sevdesk.customers.list_changed()
    assert {r.id: r.record for r in listing.records} == {company.id: COMPANY, person.id: PERSON}
    assert listing.quarantined == []
    assert (await sevdesk.customers.get(person.id)).record == PERSON

    # sevDesk itself sees a person: no name, so a list without depth=1 leaves it out.
    organisations = await raw_objects(control, "Contact")
    assert [c["id"] for c in organisations] == [company.id]
    ways = await raw_objects(control, "CommunicationWay", **{"contact[id]": company.id})
    assert sorted(w["type"] for w in ways) == ["EMAIL", "MOBILE", "PHONE"]


async def test_customer_without_number_gets_sevdesks_next_number(sevdesk):
    created = await sevdesk.customers.create(COMPANY.model_copy(update={"customer_number": None}))
    assert created.record.customer_number and created.record.customer_number.isdigit()
    assert created.record.company_name == COMPANY.company_name


async def test_only_customers_are_listed_and_unknown_filters_do_not_leak(sevdesk, control):
    await sevdesk.customers.create(COMPANY)
    supplier = await control.post(
        "/api/v1/Contact",
        json={"name": "Putzmittel AG", "category": {"id": 2, "objectName": "Category"}},
    )
    assert supplier.status_code == 201
    listing = await sevdesk.customers.list_changed()
    assert [r.record.company_name for r in listing.records] == [COMPANY.company_name]
    with pytest.raises(NotFound):
        await sevdesk.customers.get(supplier.json()["objects"]["id"])


# -- update / delete --------------------------------------------------------------------


async def test_update_writes_contact_and_parts_and_clears_removed_ones(sevdesk, control):
    created = await sevdesk.customers.create(COMPANY)
    updated = await sevdesk.customers.update(
        created.id,
        {
            "company_name": "Glanz GmbH",
            "email": "neu@glanz.example",
            "mobile": None,
            "city": "Potsdam",
        },
        expected_version=created.version,
    )
    expected = COMPANY.model_copy(
        update={
            "company_name": "Glanz GmbH",
            "email": "neu@glanz.example",
            "mobile": None,
            "city": "Potsdam",
        }
    )
    assert updated.record == expected
    assert (await sevdesk.customers.get(created.id)).record == expected
    ways = await raw_objects(control, "CommunicationWay", **{"contact[id]": created.id})
    assert sorted(w["type"] for w in ways) == ["EMAIL", "PHONE"]


async def test_update_turns_a_company_into_a_person(sevdesk, control):
    created = await sevdesk.customers.create(COMPANY)
    updated = await sevdesk.customers.update(
        created.id, {"kind": "person", "first_name": "Gloria", "last_name": "Glanz"}
    )
    assert updated.record.kind == "person"
    assert updated.record.display_name == "Gloria Glanz"
    assert await raw_objects(control, "Contact") == []  # no organisation left


async def test_update_refuses_when_an_address_changed_meanwhile(sevdesk, control):
    """An address edit does not bump the contact's `update`; the version still notices."""
    with freeze_time("2026-03-02 08:00:00", real_asyncio=True) as clock:
        created = await sevdesk.customers.create(COMPANY)
        clock.tick(60)
        address = (await raw_objects(control, "ContactAddress", **{"contact[id]": created.id}))[0]
        edit = await control.put(f"/api/v1/ContactAddress/{address['id']}", json={"city": "Bonn"})
        assert edit.status_code in (200, 201)
        with pytest.raises(ChangedMeanwhile) as caught:
            await sevdesk.customers.update(
                created.id, {"note": "stale"}, expected_version=created.version
            )
    assert caught.value.current.record.city == "Bonn"
    assert (await sevdesk.customers.get(created.id)).record.note == COMPANY.note


async def test_delete_removes_the_contact_and_then_reports_not_found(sevdesk):
    created = await sevdesk.customers.create(COMPANY)
    await sevdesk.customers.delete(created.id)
    with pytest.raises(NotFound):
        await sevdesk.customers.get(created.id)
    with pytest.raises(NotFound):
        await sevdesk.customers.delete(created.id)


async def test_delete_of_a_customer_with_invoices_says_it_is_referenced(sevdesk, control):
    created = await sevdesk.customers.create(COMPANY)
    invoice = {
        "objectName": "Invoice",
        "mapAll": True,
        "invoiceDate": "02.03.2026",
        "contact": {"id": created.id, "objectName": "Contact"},
        "contactPerson": {"id": await sevdesk.contact_person_id(), "objectName": "SevUser"},
        "discount": 0,
        "status": "100",
        "addressCountry": {"id": 1, "objectName": "StaticCountry"},
        "taxRule": {"id": "1", "objectName": "TaxRule"},
        "taxText": "Umsatzsteuer 19%",
        "taxRate": 0,
        "taxType": "default",
        "invoiceType": "RE",
        "currency": "EUR",
    }
    saved = await control.post("/api/v1/Invoice/Factory/saveInvoice", json={"invoice": invoice})
    assert saved.status_code == 201, saved.text

    with pytest.raises(ReferencedByDocuments) as caught:
        await sevdesk.customers.delete(created.id)
    assert isinstance(caught.value, RemoteValidationError)
    assert "referenced by documents" in str(caught.value)
    assert await contact_count(control) == 1


# -- failures the real sevDesk produces -------------------------------------------------


async def test_429_with_retry_after_is_waited_out(app, control):
    """sevDesk's answer to too many requests is waited out, not turned into an error."""
    await bulk(control, [COMPANY.model_dump(), PERSON.model_dump()])
    await add_fault(control, kind="rate_limit", rps=4)
    async with connector_for(app, requests_per_second=100) as sevdesk:
        started = time.monotonic()
        listing = await sevdesk.customers.list_changed()
    assert {r.record for r in listing.records} == {COMPANY, PERSON}
    assert sevdesk.http.stats["429"] >= 1
    assert 0.5 < time.monotonic() - started < 5  # Retry-After: 1 was honoured


async def test_500_after_contact_write_leaves_exactly_one_contact(sevdesk, control):
    await add_fault(control, kind="after_write", method="POST", path=r"/Contact$", status=500)
    created = await sevdesk.customers.create(COMPANY)

    assert created.record == COMPANY
    assert await contact_count(control) == 1
    stats = (await control.get("/_sandbox/stats")).json()
    assert stats["writes"].get("POST /api/v1/Contact") == 1


async def test_failure_halfway_is_completed_by_calling_create_again(sevdesk, control):
    await add_fault(
        control, kind="status", method="POST", path=r"/CommunicationWay$", status=500, times=None
    )
    with pytest.raises(TransientError):
        await sevdesk.customers.create(COMPANY)
    assert await contact_count(control) == 1  # contact and address written, ways not

    await control.delete("/_sandbox/faults")
    created = await sevdesk.customers.create(COMPANY)
    assert created.record == COMPANY
    assert await contact_count(control) == 1
    assert len(await raw_objects(control, "ContactAddress")) == 1
    assert len(await raw_objects(control, "CommunicationWay")) == 3


async def test_500_after_a_communication_way_write_is_read_back_not_resent(sevdesk, control):
    await add_fault(control, kind="after_write", method="POST", path=r"/CommunicationWay$")
    created = await sevdesk.customers.create(COMPANY)
    assert created.record == COMPANY
    assert len(await raw_objects(control, "CommunicationWay")) == 3


async def test_number_less_customer_is_not_duplicated_when_create_is_repeated(sevdesk, control):
    record = PERSON.model_copy(update={"customer_number": None})
    await add_fault(
        control, kind="status", method="POST", path=r"/ContactAddress$", status=503, times=None
    )
    with pytest.raises(TransientError):
        await sevdesk.customers.create(record)
    await control.delete("/_sandbox/faults")
    created = await sevdesk.customers.create(record)
    assert await contact_count(control) == 1
    assert created.record.street == PERSON.street


async def test_error_inside_http_200_surfaces_as_an_error(sevdesk, control):
    sevdesk.http.sleep = no_sleep  # reads are retried with backoff first
    await add_fault(control, kind="error_in_200", method="GET", path=r"/Contact$", times=None)
    with pytest.raises(TransientError) as caught:
        await sevdesk.customers.list_changed()
    assert "inside HTTP 200" in str(caught.value)


async def test_error_inside_http_200_on_create_is_read_back_before_retrying(sevdesk, control):
    await add_fault(control, kind="error_in_200", method="POST", path=r"/Contact$")
    with pytest.raises(TransientError) as caught:
        await sevdesk.customers.create(COMPANY)
    assert caught.value.maybe_written is False  # read back: nothing was written
    assert await contact_count(control) == 0
    await sevdesk.customers.create(COMPANY)
    assert await contact_count(control) == 1


async def test_validation_refusal_is_a_remote_validation_error(sevdesk):
    with pytest.raises(RemoteValidationError):
        await sevdesk.customers.create(COMPANY.model_copy(update={"country": "XX"}))
    with pytest.raises(RemoteValidationError):
        await sevdesk.customers.create(Customer(customer_number="K-9", kind="company"))


async def test_wrong_token_is_an_auth_error_and_no_message_carries_a_token(app, control):
    async with connector_for(app, token="f" * 32) as wrong:
        with pytest.raises(AuthError) as caught:
            await wrong.check_auth()
    assert str(caught.value).startswith("sevDesk rejected the API key (HTTP 401); sevDesk ")
    assert (caught.value.service, caught.value.status) == ("sevDesk", 401)

    async with connector_for(app) as sevdesk:
        for kind, status in (("error_in_200", 200), ("status", 422), ("status", 500)):
            await add_fault(
                control,
                kind=kind,
                method="POST",
                path=r"/Contact$",
                status=status,
                message=f"token {TOKEN} is blocked",
            )
            with pytest.raises(KleansyncError) as caught:
                await sevdesk.customers.create(COMPANY)
            assert TOKEN not in str(caught.value)
            assert "***" in str(caught.value)


# -- listing ----------------------------------------------------------------------------


async def test_2500_contacts_are_read_completely_across_pages(app, control):
    """Three pages of contacts, all their parts in bulk pages: no request per contact."""
    contacts = []
    for n in range(2500):
        if n % 2:
            contacts.append(
                {
                    "customer_number": f"P-{n}",
                    "kind": "person",
                    "first_name": "Vorname",
                    "last_name": f"Nachname {n}",
                    "email": f"p{n}@example.org",
                    "street": f"Weg {n}",
                    "postal_code": "10115",
                    "city": "Berlin",
                }
            )
        else:
            contacts.append(
                {
                    "customer_number": f"C-{n}",
                    "kind": "company",
                    "company_name": f"Firma {n}",
                    "phone": f"+49 30 {n:07d}",
                    "mobile": f"+49 170 {n:07d}",
                    "city": "Hamburg",
                }
            )
    await bulk(control, contacts)

    async with connector_for(app, requests_per_second=5) as sevdesk:  # the default pace
        started = time.monotonic()
        listing = await sevdesk.customers.list_changed()
        elapsed = time.monotonic() - started
    records = {r.record.customer_number: r.record for r in listing.records}
    assert len(records) == 2500 and listing.quarantined == []
    assert records["P-2499"].kind == "person" and records["P-2499"].email == "p2499@example.org"
    assert records["C-2498"].mobile == "+49 170 0002498" and records["C-2498"].city == "Hamburg"
    assert sevdesk.http.stats["requests"] <= 20
    assert elapsed < 10


async def test_incremental_since_includes_contacts_changed_only_through_a_part(sevdesk, control):
    with freeze_time("2026-03-02 08:00:00", real_asyncio=True) as clock:
        a = await sevdesk.customers.create(COMPANY)
        b = await sevdesk.customers.create(PERSON)
        c = await sevdesk.customers.create(COMPANY.model_copy(update={"customer_number": "K-102"}))
        clock.tick(3600)
        since = dt.datetime.now(dt.UTC)
        clock.tick(60)
        await sevdesk.customers.update(a.id, {"note": "neu"})
        ways = await raw_objects(control, "CommunicationWay", **{"contact[id]": b.id})
        edit = await control.put(
            f"/api/v1/CommunicationWay/{ways[0]['id']}", json={"value": "x@y.z"}
        )
        assert edit.status_code == 200
        listing = await sevdesk.customers.list_changed(since=since)
    assert sorted(r.id for r in listing.records) == sorted([a.id, b.id])
    assert c.id not in {r.id for r in listing.records}
    changed_b = next(r for r in listing.records if r.id == b.id)
    assert changed_b.updated_at == since + dt.timedelta(seconds=60)


async def test_malformed_rows_are_quarantined_and_the_others_are_listed(sevdesk, control):
    ids = await bulk(
        control,
        [
            {"customer_number": "K-1", "company_name": "Gut GmbH", "city": "Köln"},
            {
                "customerNumber": "K-2",
                "communicationWays": [{"type": "EMAIL", "value": "wer@example.org", "key": "2"}],
            },  # nobody's name
            {"customer_number": "K-3", "kind": "person", "last_name": "Gut"},
            {"customer_number": "K-1", "company_name": "Zweite Gut GmbH"},  # number taken
        ],
    )
    listing = await sevdesk.customers.list_changed()
    assert sorted(r.record.customer_number for r in listing.records) == ["K-1", "K-3"]
    reasons = {q.id: q.reason for q in listing.quarantined}
    assert set(reasons) == {ids[1], ids[3]}
    assert "no name" in reasons[ids[1]]
    assert f"also used by sevDesk contact {ids[0]}" in reasons[ids[3]]
    assert all(q.side == "sevdesk" and q.entity == "Customer" for q in listing.quarantined)


# -- units ------------------------------------------------------------------------------


async def test_units_are_listed_and_creating_them_is_refused_by_default(sevdesk):
    listing = await sevdesk.units.list_changed()
    names = {r.record.name for r in listing.records}
    assert {"Std", "m²", "pauschal"} <= names
    with pytest.raises(NotSupportedBySevdesk) as caught:
        await sevdesk.units.create(Unit(name="Einsatz"))
    assert "Einstellungen → System → Einheiten" in str(caught.value)
    unit = listing.records[0]
    with pytest.raises(NotSupportedBySevdesk):
        await sevdesk.units.update(unit.id, {"name": "x"})
    assert (await sevdesk.units.get(unit.id)).record == unit.record


async def test_units_are_created_once_when_allowed():
    app = create_app(token=TOKEN, legacy_unity_write=True)
    async with connector_for(app, create_units=True) as sevdesk:
        first = await sevdesk.units.create(Unit(name="Einsatz"))
        again = await sevdesk.units.create(Unit(name="Einsatz"))
        listing = await sevdesk.units.list_changed()
    assert first.id == again.id
    assert [r.record.name for r in listing.records].count("Einsatz") == 1


async def test_unit_creation_without_the_legacy_endpoint_points_to_the_ui(app):
    async with connector_for(app, create_units=True) as sevdesk:
        with pytest.raises(NotSupportedBySevdesk) as caught:
            await sevdesk.units.create(Unit(name="Einsatz"))
    assert "Einheiten" in str(caught.value)


async def test_contact_person_is_the_first_sevdesk_user(sevdesk):
    assert await sevdesk.contact_person_id()
