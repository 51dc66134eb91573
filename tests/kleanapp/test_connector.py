"""The KleanApp connector against the KleanApp emulator, in-process (no hand-made HTTP).

Each test states what the engine (and so an admin) would notice: records come
back as they were written, nothing is written twice after an unclear failure,
a record changed meanwhile is never overwritten, and so on.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from reconciler.connectors.kleanapp.connector import (
    CustomerNumberTaken,
    InvoiceAlreadyLinked,
    KleanappConnector,
    UnitInUse,
)
from reconciler.domain.errors import (
    AuthError,
    ChangedMeanwhile,
    NotFound,
    RemoteValidationError,
)
from reconciler.domain.models import Customer, Invoice, Unit
from sandbox.kleanapp import create_app
from tests.conftest import PERSON

TOKEN = "kleanapp-test-token-123"
ROOT = "http://kleanapp.test"
BASE = ROOT + "/api/v1"

ACME = Customer(
    customer_number="K-10001",
    kind="company",
    company_name="Acme Gebäudeservice GmbH",
    first_name="Erika",
    last_name="Musterfrau",
    email="buchhaltung@acme.example",
    phone="+49 30 1234567",
    mobile="+49 151 2345678",
    street="Hauptstraße 5",
    postal_code="10115",
    city="Berlin",
    country="AT",
    vat_id="DE123456789",
    note="Schlüssel beim Hausmeister",
)


# -- fixtures ----------------------------------------------------------------------
@pytest.fixture
def emulator() -> Any:
    # No rate limit by default so tests run fast; the pacing tests set their own.
    return create_app(token=TOKEN, rate_limit_rps=None)


@pytest.fixture
async def ka(emulator: Any) -> AsyncIterator[KleanappConnector]:
    connector = KleanappConnector(
        BASE, TOKEN, requests_per_second=1000, transport=httpx.ASGITransport(app=emulator)
    )
    yield connector
    await connector.aclose()


@pytest.fixture
async def control(emulator: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's /_sandbox/ API and raw /api/v1 access, for setting the scene."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator),
        base_url=ROOT,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield client


async def bulk(control: httpx.AsyncClient, **data: Any) -> dict[str, list[int]]:
    response = await control.post("/_sandbox/bulk", json=data)
    assert response.status_code == 201, response.text
    return response.json()


async def fault(control: httpx.AsyncClient, **rule: Any) -> None:
    response = await control.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text


async def stats(control: httpx.AsyncClient) -> dict[str, Any]:
    return (await control.get("/_sandbox/stats")).json()


async def all_customers(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await control.get(
        "/api/v1/customers", params={"include_archived": "true", "per_page": 500}
    )
    return response.json()["data"]


# -- customers -----------------------------------------------------------------------
@pytest.mark.parametrize("customer", [ACME, PERSON], ids=["company", "person"])
async def test_customer_round_trip_keeps_every_field(
    ka: KleanappConnector, customer: Customer
) -> None:
    created = await ka.customers.create(customer)
    assert created.record == customer
    assert created.side == "kleanapp"
    assert created.id.isdigit() and created.version == "1"
    assert created.updated_at is not None and created.updated_at.utcoffset() == dt.timedelta(0)

    fetched = await ka.customers.get(created.id)
    assert fetched == created
    listing = await ka.customers.list_changed()
    assert [r.record for r in listing.records] == [customer]
    assert listing.quarantined == []


async def test_create_without_number_gets_kleanapps_number(ka: KleanappConnector) -> None:
    created = await ka.customers.create(ACME.model_copy(update={"customer_number": None}))
    assert created.record.customer_number and created.record.customer_number.startswith("K-")


async def test_listing_reads_every_page_including_archived(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    rows = [
        {"customer_number": f"K-{n:05d}", "kind": "company", "company_name": f"Firma {n}"}
        for n in range(1, 1201)
    ]
    rows[7]["archived"] = True
    await bulk(control, customers=rows)

    listing = await ka.customers.list_changed()

    assert len(listing.records) == 1200
    assert {r.record.customer_number for r in listing.records} == {
        r["customer_number"] for r in rows
    }
    archived = [r.record.customer_number for r in listing.records if r.record.archived]
    assert archived == ["K-00008"]
    # 500 a page: three requests, not twelve.
    assert (await stats(control))["requests"]["GET /api/v1/customers"] == 3


async def test_since_returns_what_changed_at_or_after(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    old = "2025-01-01T08:00:00Z"
    ids = await bulk(
        control,
        customers=[
            {"kind": "company", "company_name": f"Alt {n}", "updated_at": old, "created_at": old}
            for n in range(5)
        ],
    )
    changed = await ka.customers.update(str(ids["customers"][2]), {"city": "Hamburg"})
    added = await ka.customers.create(PERSON)
    assert changed.updated_at is not None

    since_changed = await ka.customers.list_changed(since=changed.updated_at)
    assert {r.id for r in since_changed.records} == {changed.id, added.id}

    # A naive or non-UTC `since` means the same instant.
    cet = changed.updated_at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert {r.id for r in (await ka.customers.list_changed(since=cet)).records} == {
        changed.id,
        added.id,
    }

    everything = await ka.customers.list_changed(since=dt.datetime(2024, 12, 31, tzinfo=dt.UTC))
    assert len(everything.records) == 6


async def test_update_patches_only_the_given_fields(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    created = await ka.customers.create(ACME)
    updated = await ka.customers.update(
        created.id, {"city": "Potsdam", "email": None}, expected_version=created.version
    )
    assert updated.record == ACME.model_copy(update={"city": "Potsdam", "email": None})
    assert updated.version == "2"
    assert updated.updated_at is not None and updated.updated_at >= created.updated_at  # type: ignore[operator]


async def test_stale_version_is_changed_meanwhile_with_current_record_not_an_overwrite(
    ka: KleanappConnector,
) -> None:
    created = await ka.customers.create(ACME)
    office_edit = await ka.customers.update(created.id, {"phone": "+49 30 999"})

    with pytest.raises(ChangedMeanwhile) as info:
        await ka.customers.update(created.id, {"city": "Dresden"}, expected_version=created.version)

    current = info.value.current
    assert current.id == created.id and current.version == office_edit.version
    assert current.record.phone == "+49 30 999"
    assert (await ka.customers.get(created.id)).record.city == "Berlin"


async def test_delete_archives_and_update_restores(ka: KleanappConnector) -> None:
    created = await ka.customers.create(ACME)

    await ka.customers.delete(created.id, expected_version=created.version)
    archived = await ka.customers.get(created.id)
    assert archived.record.archived is True
    # Archived customers stay visible to the engine, which must notice archives.
    assert [r.record.archived for r in (await ka.customers.list_changed()).records] == [True]

    restored = await ka.customers.update(
        created.id, {"archived": False}, expected_version=archived.version
    )
    assert restored.record.archived is False
    assert restored.record == ACME

    again = await ka.customers.update(created.id, {"archived": True, "note": "gekündigt"})
    assert again.record.archived is True and again.record.note == "gekündigt"


async def test_delete_with_stale_version_does_not_archive(ka: KleanappConnector) -> None:
    created = await ka.customers.create(ACME)
    await ka.customers.update(created.id, {"phone": "+49 1"})
    with pytest.raises(ChangedMeanwhile) as info:
        await ka.customers.delete(created.id, expected_version=created.version)
    assert info.value.current.record.archived is False
    assert (await ka.customers.get(created.id)).record.archived is False


async def test_create_archived_customer(ka: KleanappConnector) -> None:
    created = await ka.customers.create(PERSON.model_copy(update={"archived": True}))
    assert created.record.archived is True
    assert (await ka.customers.get(created.id)).record.archived is True


async def test_number_taken_by_another_customer_is_a_typed_error(ka: KleanappConnector) -> None:
    await ka.customers.create(ACME)
    with pytest.raises(CustomerNumberTaken) as info:
        await ka.customers.create(PERSON.model_copy(update={"customer_number": "K-10001"}))
    assert isinstance(info.value, RemoteValidationError)
    assert info.value.customer_number == "K-10001"
    assert info.value.existing is not None
    assert info.value.existing.record.company_name == ACME.company_name
    assert "K-10001" in str(info.value)


async def test_creating_the_same_customer_again_returns_it(ka: KleanappConnector) -> None:
    first = await ka.customers.create(ACME)
    second = await ka.customers.create(ACME)
    assert second.id == first.id


async def test_create_after_500_that_wrote_does_not_duplicate(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    await fault(control, kind="after_write", method="POST", path="/customers$", status=500)

    created = await ka.customers.create(ACME)

    assert created.record == ACME
    customers = await all_customers(control)
    assert [c["id"] for c in customers] == [int(created.id)]
    # Read back instead of sending the POST again.
    assert (await stats(control))["requests"]["POST /api/v1/customers"] == 1


async def test_create_without_number_after_500_that_wrote_does_not_duplicate(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    await ka.customers.create(PERSON)
    await fault(control, kind="after_write", method="POST", path="/customers$", status=500)

    unnumbered = ACME.model_copy(update={"customer_number": None})
    created = await ka.customers.create(unnumbered)

    assert created.record.company_name == ACME.company_name
    assert created.record.customer_number == "K-10003"  # assigned by KleanApp
    assert len(await all_customers(control)) == 2


async def test_keyed_create_after_500_that_wrote_repeats_with_the_same_key(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    """With an Idempotency-Key the repeat is safe: KleanApp answers the first create."""
    await ka.customers.create(PERSON)
    await fault(control, kind="after_write", method="POST", path="/customers$", status=500)

    unnumbered = ACME.model_copy(update={"customer_number": None})
    created = await ka.customers.create(unnumbered, idempotency_key="journal-entry-7")

    assert created.record.customer_number == "K-10003"  # assigned on the first attempt
    assert len(await all_customers(control)) == 2
    assert (await stats(control))["requests"]["POST /api/v1/customers"] == 3  # PERSON + 2


async def test_a_create_repeated_later_with_its_key_gets_the_first_customer(
    ka: KleanappConnector, emulator: Any, control: httpx.AsyncClient
) -> None:
    """Crash recovery: another process, the same key, nothing in the record to find it by."""
    unnumbered = ACME.model_copy(update={"customer_number": None})
    first = await ka.customers.create(unnumbered, idempotency_key="journal-entry-8")
    async with KleanappConnector(
        BASE, TOKEN, requests_per_second=1000, transport=httpx.ASGITransport(app=emulator)
    ) as restarted:
        again = await restarted.customers.create(unnumbered, idempotency_key="journal-entry-8")
        other = await restarted.customers.create(unnumbered, idempotency_key="journal-entry-9")
    assert again.id == first.id and again.record == first.record
    assert other.id != first.id  # another intended create is another customer
    assert len(await all_customers(control)) == 2


async def test_create_after_500_that_did_not_write_tries_once_more(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    await fault(control, kind="status", method="POST", path="/customers$", status=503)
    created = await ka.customers.create(ACME)
    assert [c["id"] for c in await all_customers(control)] == [int(created.id)]


async def test_patch_after_500_that_wrote_is_not_sent_again(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    created = await ka.customers.create(ACME)
    await fault(control, kind="after_write", method="PATCH", path="/customers/", status=500)

    updated = await ka.customers.update(
        created.id, {"city": "Leipzig"}, expected_version=created.version
    )

    assert updated.record.city == "Leipzig"
    assert updated.version == "2"
    assert (await stats(control))["requests"][f"PATCH /api/v1/customers/{created.id}"] == 1


async def test_validation_failure_names_the_field(ka: KleanappConnector) -> None:
    with pytest.raises(RemoteValidationError) as info:
        await ka.customers.create(Customer(customer_number="K-1", kind="company"))
    assert "company_name" in info.value.fields
    with pytest.raises(RemoteValidationError) as info:
        await ka.customers.create(ACME.model_copy(update={"email": "not an address"}))
    assert "email" in info.value.fields


async def test_unknown_ids_are_not_found(ka: KleanappConnector) -> None:
    with pytest.raises(NotFound):
        await ka.customers.get("999")
    with pytest.raises(NotFound):
        await ka.customers.get("not-a-kleanapp-id")
    with pytest.raises(NotFound):
        await ka.customers.delete("999")
    with pytest.raises(NotFound):
        await ka.customers.update("999", {"city": "Bonn"})


async def test_unreadable_rows_are_quarantined_and_the_rest_listed(emulator: Any) -> None:
    """A row KleanApp sends that we cannot map is set aside with a reason, not fatal."""

    async def garble_second_row(scope: Any, receive: Any, send: Any) -> None:
        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and scope["path"] == "/api/v1/customers":
                body = json.loads(message["body"])
                if scope["method"] == "GET" and len(body.get("data", [])) > 1:
                    body["data"][1]["kind"] = "alien"
                    body["data"][2]["updated_at"] = "gestern"
                    message = {**message, "body": json.dumps(body).encode()}
            elif message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k != b"content-length"]
                message = {**message, "headers": headers}
            await send(message)

        await emulator(scope, receive, rewrite)

    async with KleanappConnector(
        BASE, TOKEN, requests_per_second=1000, transport=httpx.ASGITransport(app=garble_second_row)
    ) as ka:
        for n in range(4):
            await ka.customers.create(ACME.model_copy(update={"customer_number": f"K-2000{n}"}))
        listing = await ka.customers.list_changed()

    assert [r.record.customer_number for r in listing.records] == ["K-20000", "K-20003"]
    reasons = {q.id: q.reason for q in listing.quarantined}
    assert len(reasons) == 2
    assert all(q.side == "kleanapp" and q.entity == "Customer" for q in listing.quarantined)
    assert any("kind" in r for r in reasons.values())
    assert any("updated_at" in r for r in reasons.values())


# -- auth and pacing -------------------------------------------------------------------
async def test_check_auth(emulator: Any) -> None:
    transport = httpx.ASGITransport(app=emulator)
    async with KleanappConnector(BASE, TOKEN, transport=transport) as good:
        await good.check_auth()
    async with KleanappConnector(BASE, "wrong-token", transport=transport) as bad:
        with pytest.raises(AuthError) as info:
            await bad.check_auth()
    assert "wrong-token" not in str(info.value)


async def test_default_pacing_stays_under_kleanapps_limit() -> None:
    emulator = create_app(token=TOKEN, rate_limit_rps=10)
    async with KleanappConnector(BASE, TOKEN, transport=httpx.ASGITransport(app=emulator)) as ka:
        started = time.monotonic()
        for _ in range(12):
            await ka.units.get("1")
        elapsed = time.monotonic() - started
    assert ka.http.stats["429"] == 0
    assert elapsed >= 1.0  # 8 per second, no burst


async def test_429_is_waited_out(ka: KleanappConnector, control: httpx.AsyncClient) -> None:
    await fault(control, kind="rate_limit", rps=2)
    for _ in range(4):
        await ka.check_auth()
    assert ka.http.stats["429"] >= 1


# -- units -----------------------------------------------------------------------------
async def test_units_list_create_idempotent_rename_and_delete(ka: KleanappConnector) -> None:
    seeded = {r.record.name for r in (await ka.units.list_changed()).records}
    assert {"Std", "m²", "pauschal"} <= seeded

    created = await ka.units.create(Unit(name="Fenster"))
    assert created.record == Unit(name="Fenster") and created.version == "1"
    assert (await ka.units.create(Unit(name="Fenster"))).id == created.id
    # Names are unique case-insensitively in KleanApp: "STD" is the existing "Std".
    std = await ka.units.create(Unit(name="STD"))
    assert std.record.name == "Std"

    renamed = await ka.units.update(
        created.id, {"name": "Fenster (Stk)"}, expected_version=created.version
    )
    assert renamed.record.name == "Fenster (Stk)" and renamed.version == "2"
    with pytest.raises(ChangedMeanwhile) as info:
        await ka.units.update(created.id, {"name": "Fenster"}, expected_version=created.version)
    assert info.value.current.record.name == "Fenster (Stk)"

    await ka.units.delete(created.id)
    with pytest.raises(NotFound):
        await ka.units.get(created.id)
    with pytest.raises(NotFound):
        await ka.units.delete(created.id)


async def test_unit_create_after_500_that_wrote_does_not_duplicate(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    before = len((await ka.units.list_changed()).records)
    await fault(control, kind="after_write", method="POST", path="/units$", status=500)
    created = await ka.units.create(Unit(name="lfm"))
    assert created.record.name == "lfm"
    assert len((await ka.units.list_changed()).records) == before + 1


async def test_unit_in_use_cannot_be_deleted(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    customer = await ka.customers.create(ACME)
    unit = await ka.units.create(Unit(name="Fenster"))
    await bulk(control, invoices=[invoice_body(int(customer.id), unit_name="Fenster")])
    with pytest.raises(UnitInUse) as info:
        await ka.units.delete(unit.id)
    assert isinstance(info.value, RemoteValidationError)
    assert "invoice" in str(info.value)
    assert (await ka.units.get(unit.id)).record.name == "Fenster"


# -- invoices --------------------------------------------------------------------------
def invoice_body(customer_id: int, **overrides: Any) -> dict[str, Any]:
    unit_name = overrides.pop("unit_name", "Std")
    return {
        "customer_id": customer_id,
        "invoice_date": "2026-03-02",
        "status": "open",
        "positions": [
            {
                "product_name": "Unterhaltsreinigung",
                "description": "März",
                "quantity": 2.5,
                "unit_name": unit_name,
                "unit_price_net": 19.99,
                "tax_rate": 19,
            },
            {
                "product_name": "Anfahrt",
                "quantity": 1,
                "unit_name": "pauschal",
                "unit_price_net": 0.1,
                "tax_rate": 7,
            },
        ],
        **overrides,
    }


async def test_invoices_filter_map_exactly_and_link_locks(
    ka: KleanappConnector, control: httpx.AsyncClient
) -> None:
    customer = await ka.customers.create(ACME)
    cid = int(customer.id)
    ids = await bulk(
        control,
        invoices=[
            invoice_body(cid, invoice_date="2026-02-27"),
            invoice_body(cid),
            invoice_body(cid, status="paid", invoice_date="2026-03-10"),
            invoice_body(cid, status="draft", invoice_date="2026-03-11"),
            invoice_body(cid, invoice_date="2026-04-01"),
        ],
    )
    inv_ids = [str(i) for i in ids["invoices"]]

    march = await ka.list_invoices(
        date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31), statuses=["open", "paid"]
    )
    assert [r.id for r in march.records] == inv_ids[1:3]
    assert march.quarantined == []

    invoice = march.records[0].record
    assert isinstance(invoice, Invoice)
    assert invoice.customer_id == customer.id
    assert invoice.invoice_date == dt.date(2026, 3, 2)
    assert invoice.status == "open" and invoice.locked is False and invoice.exported_to is None
    first, second = invoice.positions
    assert (first.name, first.description, first.unit) == ("Unterhaltsreinigung", "März", "Std")
    assert first.quantity == Decimal("2.5") and first.unit_price_net == Decimal("19.99")
    assert first.tax_rate == Decimal("19") and second.unit_price_net == Decimal("0.1")
    assert str(first.unit_price_net) == "19.99"  # no float artefacts
    assert first.total_net == Decimal("49.98")
    assert invoice.total_net == Decimal("50.08")
    assert invoice.total_gross == Decimal("59.59")  # + 9.50 (19 % of 49.98) + 0.01 (7 % of 0.10)

    linked = await ka.link_invoice(inv_ids[1], "sevdesk-4711")
    assert linked.record.locked is True and linked.record.exported_to == "sevdesk-4711"
    assert int(linked.version or 0) > int(march.records[0].version or 0)
    # The locked invoice can no longer be e-mailed from KleanApp.
    sent = await control.post(f"/api/v1/invoices/{inv_ids[1]}/send")
    assert sent.status_code == 409

    assert [r.id for r in (await ka.list_invoices(exported=True)).records] == [inv_ids[1]]
    unexported = await ka.list_invoices(exported=False)
    assert inv_ids[1] not in {r.id for r in unexported.records}
    assert len(unexported.records) == 4

    # Linking again to the same sevDesk invoice is harmless; to another one is refused.
    assert (await ka.link_invoice(inv_ids[1], "sevdesk-4711")).record.exported_to == "sevdesk-4711"
    with pytest.raises(InvoiceAlreadyLinked) as info:
        await ka.link_invoice(inv_ids[1], "sevdesk-9999")
    assert info.value.linked_to == "sevdesk-4711"

    assert (await ka.get_invoice(inv_ids[1])).record == linked.record
    since = await ka.list_invoices(since=linked.updated_at)
    assert [r.id for r in since.records] == [inv_ids[1]]
    with pytest.raises(NotFound):
        await ka.get_invoice("424242")
