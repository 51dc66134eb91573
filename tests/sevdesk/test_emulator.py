"""The sevDesk emulator, driven by a client that knows only sevDesk's documentation.

Every response here is validated against the vendored OpenAPI file plus the
documented overlay (see conftest.py); the last test proves that every spec'd
operation the emulator serves was exercised at least once.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import httpx
import pytest
from freezegun import freeze_time

from sandbox.errors import SandboxError
from sandbox.sevdesk import create_app

from .bodies import GERMANY, invoice_body, ref, unit_id
from .conftest import TOKEN, path_template, served_operations

BERLIN_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0[12]:00$")
CUSTOMER = {"id": 3, "objectName": "Category"}
INVOICE_ADDRESS = {"id": 47, "objectName": "Category"}
WORK = {"id": 2, "objectName": "CommunicationWayKey"}


async def create_contact(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/Contact", json={"category": CUSTOMER, **fields})
    assert response.status_code == 201, response.text
    return response.json()["objects"]


async def save_invoice(client: httpx.AsyncClient, contact_id: str, **invoice: Any) -> dict:
    body = invoice_body(contact_id, await unit_id(client, "Std"), **invoice)
    response = await client.post("/Invoice/Factory/saveInvoice", json=body)
    assert response.status_code == 201, response.text
    return response.json()["objects"]


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["objects"] is None
    assert set(body["error"]) == {
        "exceptionUUID",
        "message",
        "errorCode",
        "code",
        "data",
        "responseCode",
    }
    return body["error"]


# -- contacts ------------------------------------------------------------------------


async def test_organisation_and_person_with_address_and_email(client):
    org = await create_contact(client, name="Glanz & Gloria GmbH", customerNumber="K-100")
    person = await create_contact(client, surename="Erika", familyname="Musterfrau")
    assert org["id"].isdigit() and org["category"] == {"id": "3", "objectName": "Category"}
    assert person["name"] is None and person["surename"] == "Erika"
    assert BERLIN_OFFSET.match(org["create"]) and org["update"] == org["create"]
    assert org["exemptVat"] == "0"

    address = await client.post(
        "/ContactAddress",
        json={
            "contact": ref(org["id"], "Contact"),
            "country": GERMANY,
            "category": INVOICE_ADDRESS,
            "street": "Hauptstraße 5",
            "zip": "10115",
            "city": "Berlin",
        },
    )
    assert address.status_code == 201
    assert address.json()["objects"]["country"] == {"id": "1", "objectName": "StaticCountry"}
    email = await client.post(
        "/CommunicationWay",
        json={
            "contact": ref(person["id"], "Contact"),
            "type": "EMAIL",
            "value": "erika@example.org",
            "key": WORK,
            "main": True,
        },
    )
    assert email.status_code == 201 and email.json()["objects"]["main"] == "1"

    single = (await client.get(f"/Contact/{person['id']}")).json()["objects"]
    assert [c["id"] for c in single] == [person["id"]]
    organisations = (await client.get("/Contact", params={"limit": 100})).json()["objects"]
    assert [c["id"] for c in organisations] == [org["id"]]
    everyone = (await client.get("/Contact", params={"depth": 1})).json()["objects"]
    assert {c["id"] for c in everyone} == {org["id"], person["id"]}

    addresses = await client.get(
        "/ContactAddress", params={"contact[id]": org["id"], "contact[objectName]": "Contact"}
    )
    assert [a["city"] for a in addresses.json()["objects"]] == ["Berlin"]
    mails = await client.get(
        "/CommunicationWay", params={"contact[id]": person["id"], "type": "EMAIL", "main": "1"}
    )
    assert [w["value"] for w in mails.json()["objects"]] == ["erika@example.org"]
    phones = await client.get("/CommunicationWay", params={"type": "PHONE"})
    assert phones.json()["objects"] == []


async def test_put_is_partial_and_parts_keep_their_own_update(client):
    with freeze_time("2026-03-01 10:00:00") as frozen:
        org = await create_contact(client, name="Blitzblank KG", description="alt")
        address = (
            await client.post(
                "/ContactAddress",
                json={
                    "contact": ref(org["id"], "Contact"),
                    "country": GERMANY,
                    "category": INVOICE_ADDRESS,
                    "city": "Köln",
                },
            )
        ).json()["objects"]
        way = (
            await client.post(
                "/CommunicationWay",
                json={
                    "contact": ref(org["id"], "Contact"),
                    "type": "PHONE",
                    "value": "0221 1",
                    "key": WORK,
                },
            )
        ).json()["objects"]

        frozen.tick(dt.timedelta(minutes=5))
        moved = await client.put(f"/ContactAddress/{address['id']}", json={"city": "Bonn"})
        assert moved.status_code == 201  # the spec declares 201 for this PUT
        assert moved.json()["objects"]["update"] > address["update"]
        renumbered = await client.put(f"/CommunicationWay/{way['id']}", json={"value": "0228 2"})
        assert renumbered.json()["objects"]["value"] == "0228 2"
        contact = (await client.get(f"/Contact/{org['id']}")).json()["objects"][0]
        assert contact["update"] == org["update"], "editing parts must not bump the contact"

        frozen.tick(dt.timedelta(minutes=5))
        changed = (await client.put(f"/Contact/{org['id']}", json={"description": "neu"})).json()
        assert changed["objects"]["name"] == "Blitzblank KG"
        assert changed["objects"]["description"] == "neu"
        assert changed["objects"]["update"] > org["update"]

    assert (await client.get(f"/ContactAddress/{address['id']}")).json()["objects"][0][
        "city"
    ] == "Bonn"
    assert (await client.get(f"/CommunicationWay/{way['id']}")).status_code == 200
    assert (await client.delete(f"/CommunicationWay/{way['id']}")).json() == {"objects": [None]}
    assert (await client.delete(f"/ContactAddress/{address['id']}")).status_code == 200
    assert_error(await client.get(f"/ContactAddress/{address['id']}"), 404)
    assert_error(await client.get(f"/CommunicationWay/{way['id']}"), 404)


async def test_form_encoded_bodies_are_accepted(client):
    response = await client.post(
        "/Contact",
        content="name=Form+GmbH&category[id]=3&category[objectName]=Category",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201
    assert response.json()["objects"]["category"]["id"] == "3"


async def test_contact_filters_and_customer_number_helpers(client):
    await create_contact(client, name="Alpha Reinigung", customerNumber="1005")
    beta = await create_contact(client, name="Beta Service", customerNumber="1002")
    await create_contact(client, name="Lieferant AG", category={"id": 2, "objectName": "Category"})
    await client.post(
        "/ContactAddress",
        json={
            "contact": ref(beta["id"], "Contact"),
            "country": GERMANY,
            "category": INVOICE_ADDRESS,
            "zip": "80331",
            "city": "München",
        },
    )

    async def names(**params: Any) -> list[str]:
        return [c["name"] for c in (await client.get("/Contact", params=params)).json()["objects"]]

    assert await names(customerNumber="1002") == ["Beta Service"]
    assert await names(name="reinig") == ["Alpha Reinigung"]
    assert await names(city="München") == ["Beta Service"]
    assert await names(zip="80331") == ["Beta Service"]
    assert await names(**{"category[id]": "2"}) == ["Lieferant AG"]
    assert await names(**{"category[id]": "3"}, orderByCustomerNumber="ASC") == [
        "Beta Service",
        "Alpha Reinigung",
    ]

    following = await client.get("/Contact/Factory/getNextCustomerNumber")
    assert following.json() == {"objects": "1007"}  # the Lieferant AG was numbered 1006
    check = "/Contact/Mapper/checkCustomerNumberAvailability"
    assert (await client.get(check, params={"customerNumber": "1006"})).json() == {"objects": False}
    assert (await client.get(check, params={"customerNumber": "1007"})).json() == {"objects": True}
    tabs = await client.get(f"/Contact/{beta['id']}/getTabsItemCount")
    assert tabs.json()["invoices"] == 0


# -- paging, filters, auth -------------------------------------------------------------


async def test_paging_with_limit_offset_default_page_and_count(client, sandbox):
    names = [{"name": f"Firma {n:03d}", "customerNumber": str(2000 + n)} for n in range(250)]
    loaded = await sandbox.post("/bulk", json={"contacts": names})
    assert loaded.status_code == 201 and len(loaded.json()["contacts"]) == 250

    default = (await client.get("/Contact")).json()
    assert len(default["objects"]) == 100 and "total" not in default
    last = (await client.get("/Contact", params={"limit": 60, "offset": 200})).json()["objects"]
    assert [c["name"] for c in last] == [f"Firma {n:03d}" for n in range(200, 250)]
    beyond = (await client.get("/Contact", params={"limit": 10, "offset": 250})).json()
    assert beyond["objects"] == []
    counted = (await client.get("/Contact", params={"limit": 5, "countAll": "true"})).json()
    assert counted["total"] == "250" and len(counted["objects"]) == 5


@pytest.mark.parametrize("limit", ["0", "1001", "abc", "10.5", "-1"])
async def test_limit_outside_1_to_1000_is_refused(client, limit):
    error = assert_error(await client.get("/Contact", params={"limit": limit}), 400)
    assert error["message"].startswith("Invalid 'limit' parameter")


@pytest.mark.parametrize("header", [None, "wrong-token", f"Bearer {TOKEN}"])
async def test_wrong_or_missing_token_is_401(emulator, api_client, header):
    headers = {} if header is None else {"Authorization": header}
    async with api_client(emulator, headers) as anonymous:
        error = assert_error(await anonymous.get("/Contact"), 401)
        assert error["responseCode"] == 401
        assert_error(await anonymous.post("/Contact", json={"category": CUSTOMER}), 401)
    assert TOKEN not in error["message"]


async def test_unknown_filters_are_silently_ignored(client):
    await create_contact(client, name="Eins", customerNumber="1")
    await create_contact(client, name="Zwei", customerNumber="2")
    misspelled = await client.get("/Contact", params={"customerNumbr": "1"})
    assert len(misspelled.json()["objects"]) == 2
    exact = await client.get("/Contact", params={"customerNumber": "1"})
    assert [c["name"] for c in exact.json()["objects"]] == ["Eins"]


async def test_update_after_takes_unix_seconds(client):
    with freeze_time("2026-05-04 08:00:00") as frozen:
        old = await create_contact(client, name="Alt GmbH")
        frozen.tick(dt.timedelta(hours=1))
        cutoff = int(time.time())
        frozen.tick(dt.timedelta(seconds=1))
        new = await create_contact(client, name="Neu GmbH")

        after = await client.get("/Contact", params={"updateAfter": cutoff})
        assert [c["id"] for c in after.json()["objects"]] == [new["id"]]
        frozen.tick(dt.timedelta(minutes=1))
        await client.put(f"/Contact/{old['id']}", json={"name": "Alt & Neu GmbH"})
        changed = await client.get("/Contact", params={"updateAfter": cutoff + 30})
        assert [c["name"] for c in changed.json()["objects"]] == ["Alt & Neu GmbH"]
        before = await client.get("/Contact", params={"updateBefore": cutoff})
        assert before.json()["objects"] == []


# -- faults and stats --------------------------------------------------------------------


async def test_injected_status_fault_writes_nothing(client, sandbox):
    await sandbox.post("/faults", json={"kind": "status", "method": "POST", "path": "/Contact$"})
    assert_error(await client.post("/Contact", json={"name": "X", "category": CUSTOMER}), 500)
    assert (await client.get("/Contact")).json()["objects"] == []


async def test_after_write_fault_answers_500_although_the_contact_exists(client, sandbox):
    await sandbox.post("/faults", json={"kind": "after_write", "path": "/Contact$"})
    response = await client.post("/Contact", json={"name": "Doppelt GmbH", "category": CUSTOMER})
    assert_error(response, 500)
    listed = (await client.get("/Contact")).json()["objects"]
    assert [c["name"] for c in listed] == ["Doppelt GmbH"]


async def test_error_inside_http_200(client, sandbox):
    await create_contact(client, name="Da GmbH")
    await sandbox.post(
        "/faults", json={"kind": "error_in_200", "method": "GET", "message": "Server busy"}
    )
    error = assert_error(await client.get("/Contact"), 200)
    assert error["message"] == "Server busy"
    assert len((await client.get("/Contact")).json()["objects"]) == 1


async def test_rate_limit_answers_429_with_retry_after(client, sandbox):
    await sandbox.post("/faults", json={"kind": "rate_limit", "rps": 2})
    statuses = [(await client.get("/Contact")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = await client.get("/Contact")
    assert_error(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1


async def test_stats_count_successful_writes(client, sandbox):
    org = await create_contact(client, name="Zähl GmbH")
    await client.put(f"/Contact/{org['id']}", json={"description": "x"})
    assert_error(await client.post("/Contact", json={"name": "ohne Kategorie"}), 400)
    await client.get("/Contact")
    stats = (await sandbox.get("/stats")).json()
    assert stats["writes"] == {"POST /api/v1/Contact": 1, f"PUT /api/v1/Contact/{org['id']}": 1}
    assert stats["total_requests"] == 4


async def test_reset_restores_a_fresh_account(client, sandbox):
    await create_contact(client, name="Weg GmbH")
    await sandbox.post("/unity", json={"name": "Fenster"})
    assert (await sandbox.post("/reset")).status_code == 200
    assert (await client.get("/Contact", params={"depth": 1})).json()["objects"] == []
    units = (await client.get("/Unity")).json()["objects"]
    assert "Fenster" not in [u["name"] for u in units] and len(units) == 9


# -- reference data and units ---------------------------------------------------------------


async def test_reference_data_is_seeded(client):
    units = (await client.get("/Unity")).json()["objects"]
    assert [u["name"] for u in units] == [
        "Stk",
        "m²",
        "m",
        "kg",
        "t",
        "lfm",
        "pauschal",
        "m³",
        "Std",
    ]
    assert units[0]["id"] == "1" and units[0]["translationCode"] == "UNITY_PIECE"
    single = (await client.get("/Unity/9")).json()["objects"]
    assert single[0]["name"] == "Std"
    countries = (await client.get("/StaticCountry")).json()["objects"]
    assert countries[0]["id"] == "1" and countries[0]["nameEn"] == "Germany"
    assert {c["code"].upper() for c in countries} >= {"DE", "AT", "CH", "FR", "NL"}
    categories = await client.get("/Category", params={"objectType": "Contact"})
    assert {"id": "3", "name": "Kunde"}.items() <= next(
        c for c in categories.json()["objects"] if c["id"] == "3"
    ).items()
    assert all(c["objectType"] == "Contact" for c in categories.json()["objects"])
    users = (await client.get("/SevUser")).json()["objects"]
    assert len(users) == 1 and users[0]["objectName"] == "SevUser"
    keys = (await client.get("/CommunicationWayKey")).json()["objects"]
    assert [k["id"] for k in keys] == [str(n) for n in range(1, 9)]


async def test_unity_post_is_refused_without_the_legacy_flag(client):
    error = assert_error(await client.post("/Unity", json={"name": "Fenster"}), 404)
    assert error["message"] == "Endpoint not found"
    assert "Fenster" not in [u["name"] for u in (await client.get("/Unity")).json()["objects"]]


async def test_bookkeeping_system_version_as_the_spec_answers_it(client, api_client):
    """[spec] operation bookkeepingSystemVersion: ``{"objects": {"version": "2.0"}}``."""
    answer = await client.get("/Tools/bookkeepingSystemVersion")
    assert answer.status_code == 200 and answer.json() == {"objects": {"version": "2.0"}}
    async with api_client(create_app(TOKEN, bookkeeping_version="1.0")) as old:
        assert (await old.get("/Tools/bookkeepingSystemVersion")).json()["objects"] == {
            "version": "1.0"
        }
    async with api_client(create_app(TOKEN), headers={"Authorization": "0" * 32}) as wrong:
        assert_error(await wrong.get("/Tools/bookkeepingSystemVersion"), 401)
    with pytest.raises(SandboxError, match="1.0, 2.0"):
        create_app(TOKEN, bookkeeping_version="3.0")


async def test_legacy_unity_write(api_client):
    async with api_client(create_app(TOKEN, legacy_unity_write=True)) as client:
        created = await client.post("/Unity", json={"name": "Fenster"})
        assert created.status_code == 201
        new_id = created.json()["objects"]["id"]
        renamed = await client.put(f"/Unity/{new_id}", json={"name": "Fenster (Stk)"})
        assert renamed.json()["objects"]["name"] == "Fenster (Stk)"
        contact = await create_contact(client, name="Einheiten GmbH")
        await save_invoice(client, contact["id"])  # uses "Std"
        assert_error(await client.delete(f"/Unity/{await unit_id(client, 'Std')}"), 409)
        assert (await client.delete(f"/Unity/{new_id}")).json() == {"objects": [None]}


async def test_sandbox_can_add_and_remove_a_unit_as_in_the_ui(client, sandbox):
    added = await sandbox.post("/unity", json={"name": "Fenster"})
    assert added.status_code == 201
    new_id = added.json()["unit"]["id"]
    assert "Fenster" in [u["name"] for u in (await client.get("/Unity")).json()["objects"]]
    assert (await sandbox.delete(f"/unity/{new_id}")).status_code == 204
    assert_error(await client.get(f"/Unity/{new_id}"), 404)


async def test_unknown_endpoint_is_404_with_error_body(client):
    assert_error(await client.get("/Nonsense"), 404)
    assert_error(await client.get("/Contact/999999"), 404)


# -- invoices -------------------------------------------------------------------------


async def test_invoice_draft_send_and_cancel(client, sandbox):
    contact = await create_contact(client, name="Rechnung GmbH")
    saved = await save_invoice(client, contact["id"], customerInternalNote="KA-2026-001")
    draft, positions = saved["invoice"], saved["invoicePos"]
    assert draft["status"] == "100" and draft["invoiceNumber"] is None
    assert draft["sumNet"] == "130" and draft["sumGross"] == "154.7"
    assert positions[0]["quantity"] == 4 and positions[0]["unity"]["objectName"] == "Unity"
    listed = await client.get(f"/Invoice/{draft['id']}/getPositions")
    assert [p["id"] for p in listed.json()["objects"]] == [positions[0]["id"]]
    assert listed.json()["objects"][0]["quantity"] == "4"  # a listing sends strings
    by_invoice = await client.get("/InvoicePos", params={"invoice[id]": draft["id"]})
    assert len(by_invoice.json()["objects"]) == 1

    sent = await client.put(
        f"/Invoice/{draft['id']}/sendBy", json={"sendType": "VPR", "sendDraft": False}
    )
    assert sent.status_code == 200
    invoice = sent.json()["objects"]
    assert invoice["status"] == "200" and re.fullmatch(r"RE-\d+", invoice["invoiceNumber"])
    mail = (await sandbox.get("/emails")).json()
    assert mail["emails_sent"] == []
    assert mail["send_log"][0]["emailed"] is False and mail["send_log"][0]["sendType"] == "VPR"
    assert_error(await client.delete(f"/Invoice/{draft['id']}"), 409)

    cancelled = await client.post(f"/Invoice/{draft['id']}/cancelInvoice")
    assert cancelled.status_code == 201
    storno = cancelled.json()["objects"]
    assert storno["invoiceType"] == "SR" and storno["origin"] == ref(draft["id"], "Invoice")
    assert storno["sumGross"] == "-154.7" and storno["status"] == "1000"
    found = await client.get("/Invoice", params={"invoiceType": "SR"})
    assert [i["origin"]["id"] for i in found.json()["objects"]] == [draft["id"]]
    again = await client.post(f"/Invoice/{draft['id']}/cancelInvoice")
    assert assert_error(again, 422)["code"] == 421  # [obs] sevdesk-rs src/error.rs


async def test_send_via_email_records_the_mail(client, sandbox):
    contact = await create_contact(client, name="Mail GmbH")
    draft = (await save_invoice(client, contact["id"]))["invoice"]
    response = await client.post(
        f"/Invoice/{draft['id']}/sendViaEmail",
        json={"toEmail": "kunde@example.org", "subject": "Rechnung", "text": "Anbei"},
    )
    assert response.status_code == 201
    invoice = (await client.get(f"/Invoice/{draft['id']}")).json()["objects"][0]
    assert invoice["status"] == "200" and invoice["sendType"] == "VM"
    mails = (await sandbox.get("/emails")).json()["emails_sent"]
    assert [(m["to"], m["invoiceNumber"]) for m in mails] == [
        ("kunde@example.org", invoice["invoiceNumber"])
    ]


async def test_draft_can_be_deleted_and_frees_the_contact(client):
    contact = await create_contact(client, name="Referenz GmbH")
    draft = (await save_invoice(client, contact["id"]))["invoice"]
    assert_error(await client.delete(f"/Contact/{contact['id']}"), 409)
    assert (await client.get(f"/Contact/{contact['id']}")).status_code == 200
    assert (await client.delete(f"/Invoice/{draft['id']}")).json() == {"objects": [None]}
    assert (await client.delete(f"/Contact/{contact['id']}")).json() == {"objects": [None]}
    assert_error(await client.get(f"/Contact/{contact['id']}"), 404)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"taxRule": {"id": "11", "objectName": "TaxRule"}}, 422),  # §19 allows only 0 %
        ({"deliveryDate": "20.01.2026"}, 422),  # delivered after the invoice date
        ({"status": "200"}, 422),  # only drafts can be created
        ({"positions": [{"quantity": 1, "price": 1, "taxRate": 19, "unity": None}]}, 400),
        (
            {
                "positions": [
                    {"quantity": 1, "price": 1, "taxRate": 19, "unity": ref("77", "Unity")}
                ]
            },
            400,
        ),
        ({"contact": ref("1", "Contact")}, 400),
    ],
)
async def test_save_invoice_refuses_invalid_drafts(client, change, status):
    contact = await create_contact(client, name="Streng GmbH")
    body = invoice_body(contact["id"], await unit_id(client, "Std"), **change)
    assert_error(await client.post("/Invoice/Factory/saveInvoice", json=body), status)
    assert (await client.get("/Invoice")).json()["objects"] == []


async def test_invoice_list_filters(client):
    first = await create_contact(client, name="Erste GmbH")
    second = await create_contact(client, name="Zweite GmbH")
    with freeze_time("2026-02-01 12:00:00") as frozen:
        january = (await save_invoice(client, first["id"], customerInternalNote="A"))["invoice"]
        frozen.tick(dt.timedelta(minutes=10))
        cutoff = int(time.time())
        frozen.tick(dt.timedelta(minutes=10))
        march = (
            await save_invoice(
                client, second["id"], invoiceDate="2026-03-10", invoiceNumber="KA-77"
            )
        )["invoice"]

    async def ids(**params: Any) -> list[str]:
        return [i["id"] for i in (await client.get("/Invoice", params=params)).json()["objects"]]

    feb_first = int(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp())
    assert await ids(startDate=feb_first) == [march["id"]]
    assert await ids(endDate=feb_first) == [january["id"]]
    assert await ids(**{"contact[id]": first["id"], "contact[objectName]": "Contact"}) == [
        january["id"]
    ]
    assert await ids(invoiceNumber="KA-77") == [march["id"]]
    assert await ids(customerInternalNote="A") == [january["id"]]
    assert await ids(customerIntenalNote="A") == [january["id"], march["id"]]  # spec typo
    assert await ids(updateAfter=cutoff) == [march["id"]]
    assert await ids(status=100, invoiceType="RE") == [january["id"], march["id"]]
    assert await ids(status=200) == []
    assert (await client.get(f"/Invoice/{march['id']}")).json()["objects"][0][
        "invoiceNumber"
    ] == "KA-77"


# -- booking payments ------------------------------------------------------------------


async def open_invoice(client: httpx.AsyncClient, name: str = "Zahler GmbH") -> dict[str, Any]:
    """A finalised invoice (status 200) over 154.70 gross."""
    contact = await create_contact(client, name=name)
    draft = (await save_invoice(client, contact["id"]))["invoice"]
    sent = await client.put(
        f"/Invoice/{draft['id']}/sendBy", json={"sendType": "VPR", "sendDraft": False}
    )
    assert sent.status_code == 200, sent.text
    return sent.json()["objects"]


async def check_account(client: httpx.AsyncClient, kind: str = "offline") -> dict[str, str]:
    accounts = (await client.get("/CheckAccount")).json()["objects"]
    account = next(a for a in accounts if a["type"] == kind)
    return ref(account["id"], "CheckAccount")


async def read_invoice(client: httpx.AsyncClient, invoice_id: str) -> dict[str, Any]:
    return (await client.get(f"/Invoice/{invoice_id}")).json()["objects"][0]


async def test_check_accounts_are_seeded(client):
    accounts = (await client.get("/CheckAccount", params={"countAll": "true"})).json()
    assert accounts["total"] == "2"
    standard, register = accounts["objects"]
    assert (standard["type"], standard["defaultAccount"], standard["currency"]) == (
        "offline",
        "1",
        "EUR",
    )
    assert register["type"] == "register" and register["defaultAccount"] == "0"


async def test_book_the_full_amount_pays_the_invoice(client):
    with freeze_time("2026-04-01 09:00:00") as frozen:
        invoice = await open_invoice(client)
        frozen.tick(dt.timedelta(days=6))
        paid_on = int(time.time())
        response = await client.put(
            f"/Invoice/{invoice['id']}/bookAmount",
            json={
                "amount": 154.7,
                "date": paid_on,
                "type": "FULL_PAYMENT",
                "checkAccount": await check_account(client, "register"),
                "createFeed": False,
            },
        )
    assert response.status_code == 200, response.text
    log = response.json()["objects"]
    assert log["objectName"] == "InvoiceLog" and log["id"].isdigit()
    assert (log["fromStatus"], log["toStatus"], log["ammountPayed"]) == ("200", "1000", "154.7")
    assert log["creditNote"] == ref(invoice["id"], "Invoice")  # [spec]'s name for the invoice
    assert log["bookingDate"] == "2026-04-07T11:00:00+02:00"

    paid = await read_invoice(client, invoice["id"])
    assert paid["status"] == "1000" and paid["paidAmount"] == 154.7
    assert paid["payDate"] == log["bookingDate"]
    assert paid["update"] > invoice["update"]
    listed = await client.get("/Invoice", params={"status": 1000})
    assert [i["id"] for i in listed.json()["objects"]] == [invoice["id"]]
    refused = await client.put(
        f"/Invoice/{invoice['id']}/bookAmount",
        json={
            "amount": 1,
            "date": paid_on,
            "type": "N",
            "checkAccount": await check_account(client),
        },
    )
    assert "cannot be booked" in assert_error(refused, 422)["message"]


async def test_partial_bookings_make_it_partially_paid_until_the_rest_arrives(client):
    with freeze_time("2026-04-01 09:00:00") as frozen:
        invoice = await open_invoice(client)
        account = await check_account(client)
        frozen.tick(dt.timedelta(days=1))
        first = await client.put(
            f"/Invoice/{invoice['id']}/bookAmount",
            json={"amount": "100", "date": "02.04.2026", "type": "N", "checkAccount": account},
        )
        assert first.json()["objects"]["toStatus"] == "750"
        partly = await read_invoice(client, invoice["id"])
        assert partly["status"] == "750" and partly["paidAmount"] == 100
        assert partly["payDate"] is None and partly["update"] > invoice["update"]

        refused = await client.post(f"/Invoice/{invoice['id']}/cancelInvoice")
        assert assert_error(refused, 200)["code"] == 390  # partly paid [obs]

        frozen.tick(dt.timedelta(days=1))
        rest = await client.put(
            f"/Invoice/{invoice['id']}/bookAmount",
            json={
                "amount": 54.7,
                "date": int(time.time()),
                "type": "FULL_PAYMENT",
                "checkAccount": account,
                "checkAccountTransaction": {"id": 1, "objectName": "CheckAccountTransaction"},
            },
        )
    log = rest.json()["objects"]
    assert (log["fromStatus"], log["toStatus"], log["ammountPayed"]) == ("750", "1000", "54.7")
    paid = await read_invoice(client, invoice["id"])
    assert paid["status"] == "1000" and paid["paidAmount"] == 154.7
    assert paid["update"] > partly["update"]


async def test_a_payment_difference_reason_settles_a_lower_amount(client):
    invoice = await open_invoice(client)
    response = await client.put(
        f"/Invoice/{invoice['id']}/bookAmount",
        content=(
            "amount=151.61&date=1775030400&type=CB"
            f"&checkAccount[id]={(await check_account(client))['id']}"
            "&checkAccount[objectName]=CheckAccount"
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["objects"]["toStatus"] == "1000"  # 2 % Skonto written off
    paid = await read_invoice(client, invoice["id"])
    assert paid["status"] == "1000" and paid["paidAmount"] == 151.61


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"amount": None}, 400),
        ({"type": "PAID"}, 400),
        ({"date": "morgen"}, 400),
        ({"checkAccount": ref("999", "CheckAccount")}, 400),
        ({"checkAccountTransaction": {"id": 5}}, 400),  # objectName is required
        ({"amount": 0}, 422),
        ({"invoice": "draft"}, 422),
        ({"invoice": "unknown"}, 404),
    ],
)
async def test_book_amount_refusals_change_nothing(client, change, status):
    invoice = await open_invoice(client)
    target = invoice["id"]
    if change.get("invoice") == "draft":
        contact = await create_contact(client, name="Entwurf GmbH")
        target = (await save_invoice(client, contact["id"]))["invoice"]["id"]
    elif change.get("invoice") == "unknown":
        target = "499999"
    data = {
        "amount": 154.7,
        "date": 1775030400,
        "type": "FULL_PAYMENT",
        "checkAccount": await check_account(client),
    }
    data |= {k: v for k, v in change.items() if k != "invoice"}
    response = await client.put(f"/Invoice/{target}/bookAmount", json=data)
    assert_error(response, status)
    unchanged = await read_invoice(client, invoice["id"])
    assert unchanged["status"] == "200" and unchanged["paidAmount"] == 0
    assert unchanged["update"] == invoice["update"]


# -- bulk ---------------------------------------------------------------------------------


async def test_bulk_loads_thousands_of_contacts_in_both_shapes(client, sandbox):
    canonical = [
        {
            "customer_number": f"B-{n}",
            "kind": "person" if n % 2 else "company",
            "company_name": f"Firma {n}",
            "first_name": "Vor",
            "last_name": f"Name {n}",
            "email": f"k{n}@example.org",
            "street": f"Weg {n}",
            "postal_code": "10115",
            "city": "Berlin",
            "country": "AT" if n % 3 == 0 else "DE",
        }
        for n in range(2500)
    ]
    shaped = {
        "name": "Roh GmbH",
        "addresses": [{"city": "Wien", "country": "AT"}],
        "communicationWays": [{"type": "PHONE", "value": "01 234", "key": 2}],
        "update": "2025-01-01T00:00:00+01:00",
    }
    started = time.perf_counter()
    loaded = await sandbox.post(
        "/bulk", json={"contacts": [*canonical, shaped], "units": ["Fenster"]}
    )
    assert loaded.status_code == 201 and time.perf_counter() - started < 5
    assert len(loaded.json()["contacts"]) == 2501 and len(loaded.json()["units"]) == 1

    counted = await client.get("/Contact", params={"depth": 1, "limit": 1, "countAll": "true"})
    assert counted.json()["total"] == "2501"
    organisations = await client.get("/Contact", params={"limit": 1, "countAll": "true"})
    assert organisations.json()["total"] == "1251"
    roh = loaded.json()["contacts"][-1]
    contact = (await client.get(f"/Contact/{roh}")).json()["objects"][0]
    assert contact["update"] == "2025-01-01T00:00:00+01:00"
    austria = await client.get("/ContactAddress", params={"contact[id]": roh})
    assert austria.json()["objects"][0]["country"]["id"] == "2"
    mails = await client.get("/CommunicationWay", params={"type": "EMAIL", "limit": 1000})
    assert len(mails.json()["objects"]) == 1000


# -- contact custom fields -----------------------------------------------------------


async def create_setting(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "description": "set by kleansync",
        "objectName": "ContactCustomFieldSetting",
    }
    response = await client.post("/ContactCustomFieldSetting", json=body)
    assert response.status_code == 200, response.text
    return response.json()["objects"]


async def create_field(client: httpx.AsyncClient, contact: str, setting: str, value: str) -> dict:
    body = {
        "contact": {"id": int(contact), "objectName": "Contact"},
        "contactCustomFieldSetting": {
            "id": int(setting),
            "objectName": "ContactCustomFieldSetting",
        },
        "value": value,
        "objectName": "ContactCustomField",
    }
    response = await client.post("/ContactCustomField", json=body)
    assert response.status_code == 200, response.text
    return response.json()["objects"]


async def test_a_custom_field_keeps_a_value_per_contact_and_finds_the_contact_back(client):
    setting = await create_setting(client, "KleanApp-ID")
    assert setting["name"] == "KleanApp-ID" and setting["objectName"] == "ContactCustomFieldSetting"
    listed = (await client.get("/ContactCustomFieldSetting")).json()["objects"]
    assert [s["id"] for s in listed] == [setting["id"]]
    one = (await client.get(f"/ContactCustomFieldSetting/{setting['id']}")).json()["objects"]
    assert one[0]["description"] == "set by kleansync"

    org = await create_contact(client, name="Feld GmbH", customerNumber="1001")
    person = await create_contact(client, surename="Eva", familyname="Feld")
    before = (await client.get(f"/Contact/{org['id']}")).json()["objects"][0]["update"]
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)):
        field = await create_field(client, org["id"], setting["id"], "42")
    await create_field(client, person["id"], setting["id"], "43")
    assert field["value"] == "42" and field["contact"]["id"] == org["id"]
    assert field["contactCustomFieldSetting"]["name"] == "KleanApp-ID"
    after = (await client.get(f"/Contact/{org['id']}")).json()["objects"][0]["update"]
    assert after == before  # a field is a record of its own, like an address

    found = await client.get(
        "/Contact/Factory/findContactsByCustomFieldValue",
        params={"value": "42", "customFieldName": "KleanApp-ID"},
    )
    assert [c["id"] for c in found.json()["objects"]] == [org["id"]]
    by_setting = await client.get(
        "/Contact/Factory/findContactsByCustomFieldValue",
        params={
            "value": "43",
            "customFieldSetting[id]": setting["id"],
            "customFieldSetting[objectName]": "ContactCustomFieldSetting",
            "customFieldName": "KleanApp-ID",
        },
    )
    assert [c["id"] for c in by_setting.json()["objects"]] == [person["id"]]  # persons too
    nothing = await client.get(
        "/Contact/Factory/findContactsByCustomFieldValue",
        params={"value": "4", "customFieldName": "KleanApp-ID"},
    )
    assert nothing.json()["objects"] == []  # exact values only

    updated = await client.put(f"/ContactCustomField/{field['id']}", json={"value": "44"})
    assert updated.status_code == 200 and updated.json()["objects"]["value"] == "44"
    again = (await client.get(f"/ContactCustomField/{field['id']}")).json()["objects"]
    assert again[0]["value"] == "44"
    fields = (await client.get("/ContactCustomField", params={"limit": 1000})).json()["objects"]
    assert sorted(f["value"] for f in fields) == ["43", "44"]

    renamed = await client.put(
        f"/ContactCustomFieldSetting/{setting['id']}", json={"name": "KleanApp id"}
    )
    assert renamed.json()["objects"]["name"] == "KleanApp id"
    count = await client.get(f"/ContactCustomFieldSetting/{setting['id']}/getReferenceCount")
    assert count.json()["objects"] == 2
    assert_error(await client.delete(f"/ContactCustomFieldSetting/{setting['id']}"), 409)
    assert (await client.delete(f"/ContactCustomField/{field['id']}")).status_code == 200
    assert_error(await client.get(f"/ContactCustomField/{field['id']}"), 404)
    assert (await client.delete(f"/Contact/{person['id']}")).status_code == 200
    assert (await client.get("/ContactCustomField")).json()["objects"] == []  # went with it
    assert (await client.delete(f"/ContactCustomFieldSetting/{setting['id']}")).status_code == 200
    assert_error(await client.get(f"/ContactCustomFieldSetting/{setting['id']}"), 404)


async def test_custom_field_writes_refuse_what_does_not_exist(client):
    setting = await create_setting(client, "KleanApp-ID")
    org = await create_contact(client, name="Feld GmbH")
    assert_error(await client.post("/ContactCustomFieldSetting", json={"description": "x"}), 400)
    incomplete = {"contact": {"id": int(org["id"]), "objectName": "Contact"}, "value": "1"}
    assert_error(await client.post("/ContactCustomField", json=incomplete), 400)
    with pytest.raises(AssertionError, match="400"):
        await create_field(client, "999999", setting["id"], "1")
    with pytest.raises(AssertionError, match="400"):
        await create_field(client, org["id"], "999999", "1")
    find = "/Contact/Factory/findContactsByCustomFieldValue"
    assert_error(await client.get(find, params={"customFieldName": "KleanApp-ID"}), 400)
    assert_error(await client.get(find, params={"value": "1"}), 400)
    assert (await client.get("/ContactCustomField")).json()["objects"] == []


async def test_payment_methods_and_an_e_invoices_xml_are_served(client):
    """Issue 19 (tests/sevdesk/test_einvoice.py tests them in depth): spec-checked here."""
    methods = (await client.get("/PaymentMethod")).json()["objects"]
    sepa = next(m for m in methods if m["name"] == "SEPA Überweisung")
    assert sepa["electronicInvoiceId"] == "58"
    contact = await create_contact(client, name="Praxis Dr. Weber")
    way = {
        "contact": ref(contact["id"], "Contact"),
        "type": "EMAIL",
        "value": "praxis@weber.example",
        "key": ref("2", "CommunicationWayKey"),
        "main": True,
    }
    assert (await client.post("/CommunicationWay", json=way)).status_code == 201
    saved = await save_invoice(
        client,
        contact["id"],
        propertyIsEInvoice=True,
        paymentMethod=ref(sepa["id"], "PaymentMethod"),
        addressStreet="Hauptstraße 1",
        addressZip="50667",
        addressCity="Köln",
    )
    xml = (await client.get(f"/Invoice/{saved['invoice']['id']}/getXml")).json()["objects"]
    assert "CrossIndustryInvoice" in xml


# -- coverage (keep last) -----------------------------------------------------------------


def test_every_spec_operation_the_emulator_serves_was_covered(checker, tests_run):
    """Run last: proves the spec validation above was not vacuous."""
    here = {name for name in globals() if name.startswith("test_")} - {
        "test_every_spec_operation_the_emulator_serves_was_covered"
    }
    if not here <= tests_run:
        pytest.skip("coverage is only meaningful when every test of this module ran")
    served = served_operations(create_app(legacy_unity_write=True))
    spec_ops = {(m, path_template(p)) for m, p in checker.operations()}
    expected = served & spec_ops
    covered = {(m, path_template(p)) for m, p in checker.covered}
    assert expected - covered == set()
    assert len(expected) >= 30
    assert served - spec_ops == set(), "every served route is spec'd or overlaid"
