"""First-sync matching as an admin meets it: `kleansync sandbox`, `doctor`, `sync`, `conflicts`.

Everything runs as processes (``sandbox_server`` and ``kleansync`` in
tests/conftest.py) and the data is seeded through the two public APIs only,
the way each system's users typed it over the years:

* two hotels of one name in one postal code, with different street, e-mail
  and phone: two customers, each must exist once on both sides afterwards;
* "Müller Gebäudeservice GmbH, Hauptstr. 5" in KleanApp and "Mueller
  Gebaeudeservice GmbH, Hauptstraße 5" in sevDesk, e-mail in another case:
  one customer, linked;
* a pair whose names agree but half the evidence is missing: parked, and
  ``conflicts show`` shows both records and the per-field evidence.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

TIMEOUT = 10
CUSTOMER = {"id": 3, "objectName": "Category"}
#: What the admin is shown for the Quastenberg pair: the name and postal code agree,
#: everything else is missing on one side.
EVIDENCE = (
    "evidence: name 1.00, postal code =, customer numbers of different schemes "
    "(street, e-mail, phone, VAT id missing on one side) → possible match (score 9.0)"
)


@pytest.fixture
def server(sandbox_server):
    sandbox_server.reset()
    return sandbox_server


def _objects(response: httpx.Response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()["objects"]


def sevdesk_customer(api: httpx.Client, name: str, number: str | None, **parts: str) -> None:
    """An organisation the documented way: Contact, its address, then e-mail and phone."""
    body = {"name": name, "category": CUSTOMER, **({"customerNumber": number} if number else {})}
    contact = int(_objects(api.post("Contact", json=body), 201)["id"])
    owner = {"id": contact, "objectName": "Contact"}
    if parts.get("zip"):
        categories = _objects(api.get("Category", params={"objectType": "ContactAddress"}))
        billing = next(c["id"] for c in categories if c["name"] == "Rechnungsanschrift")
        address = {
            "contact": owner,
            "street": parts.get("street"),
            "zip": parts["zip"],
            "city": parts.get("city"),
            "country": {"id": 1, "objectName": "StaticCountry"},
            "category": {"id": int(billing), "objectName": "Category"},
        }
        _objects(api.post("ContactAddress", json=address), 201)
    for kind, value in (("EMAIL", parts.get("email")), ("PHONE", parts.get("phone"))):
        if value:
            way = {
                "contact": owner,
                "type": kind,
                "value": value,
                "key": {"id": 2, "objectName": "CommunicationWayKey"},
                "main": True,
            }
            _objects(api.post("CommunicationWay", json=way), 201)


def seed(server) -> None:
    klean = httpx.Client(
        base_url=server.kleanapp_url + "/",
        headers={"Authorization": f"Bearer {server.kleanapp_token}"},
        timeout=TIMEOUT,
    )
    sev = httpx.Client(
        base_url=server.sevdesk_url + "/",
        headers={"Authorization": server.sevdesk_token},
        timeout=TIMEOUT,
    )
    with klean, sev:
        for body in (
            {
                "customer_number": "K-00001",
                "company_name": "Hotel Adler GmbH",
                "street": "Kirchplatz 148b",
                "postal_code": "80331",
                "city": "München",
                "email": "empfang@adler-kirchplatz.de",
                "phone": "089 1234567",
            },
            {
                "customer_number": "K-00002",
                "company_name": "Müller Gebäudeservice GmbH",
                "street": "Hauptstr. 5",
                "postal_code": "10115",
                "city": "Berlin",
                "email": "Info@Mueller-Gebaeudeservice.de",
                "phone": "030 4455667",
            },
            {
                "customer_number": "K-00003",
                "company_name": "Praxis Dr. Quastenberg",
                "postal_code": "50667",
                "city": "Köln",
                "email": "praxis@quastenberg.de",
            },
        ):
            response = klean.post("customers", json={"kind": "company", **body})
            assert response.status_code == 201, response.text
        sevdesk_customer(
            sev,
            "Hotel Adler GmbH",
            "1001",
            street="Am Markt 84b",
            zip="80331",
            city="München",
            email="info@hotel-adler-am-markt.de",
            phone="089 7654321",
        )
        sevdesk_customer(
            sev,
            "Mueller Gebaeudeservice GmbH",
            "1002",
            street="Hauptstraße 5",
            zip="10115",
            city="Berlin",
            email="info@mueller-gebaeudeservice.de",
        )
        sevdesk_customer(sev, "Praxis Dr. Quastenberg", "1003", zip="50667", city="Köln")


def names(server, side: str) -> Counter[str]:
    if side == "kleanapp":
        response = httpx.get(
            server.kleanapp_url + "/customers",
            headers={"Authorization": f"Bearer {server.kleanapp_token}"},
            timeout=TIMEOUT,
        )
        return Counter(c["company_name"] for c in response.json()["data"])
    response = httpx.get(
        server.sevdesk_url + "/Contact",
        headers={"Authorization": server.sevdesk_token},
        timeout=TIMEOUT,
    )
    return Counter(c["name"] for c in _objects(response))


def test_look_alikes_stay_apart_true_pairs_link_and_the_grey_zone_waits(
    server, kleansync, tmp_path: Path
) -> None:
    seed(server)
    config = str(server.config(tmp_path, extra='[sync]\nunits = "off"\n'))
    keys = {"SEVDESK_TOKEN": server.sevdesk_token, "KLEANAPP_TOKEN": server.kleanapp_token}

    # doctor previews the parked pair with both records and the evidence
    doctor = kleansync("doctor", "-c", config, env=keys)
    assert doctor.code == 0, doctor.output
    assert "would link 1 customers" in doctor.stdout
    assert "the next sync would park these for an admin" in doctor.stdout
    assert "Praxis Dr. Quastenberg; 50667 Köln; e-mail praxis@quastenberg.de" in doctor.stdout
    assert EVIDENCE in doctor.stdout

    first = kleansync("sync", "-c", config, "--json", env=keys)
    assert first.code == 0, first.output
    run = json.loads(first.stdout)
    # Each Hotel Adler is created on the other side; nothing else is created.
    assert run["counts"].get("customer.kleanapp.create") == 1, run["counts"]
    assert run["counts"].get("customer.sevdesk.create") == 1, run["counts"]
    creates = [a for a in run["actions"] if a["op"] == "create"]
    assert all(a["fields"]["company_name"] == "Hotel Adler GmbH" for a in creates)
    # ... and the report says why they are not one customer.
    assert any(
        "street ≠ (Kirchplatz 148b vs Am Markt 84b), e-mail ≠, phone ≠" in a["reason"]
        and "→ different customers" in a["reason"]
        for a in creates
    ), [a["reason"] for a in creates]

    for side in ("kleanapp", "sevdesk"):
        held = names(server, side)
        assert held["Hotel Adler GmbH"] == 2, (side, held)  # both hotels, each once
        # the Müller pair was linked, not duplicated; the parked pair was left alone
        assert sum(n for name, n in held.items() if "ller Geb" in name) == 1, (side, held)
        assert held["Praxis Dr. Quastenberg"] == 1, (side, held)

    listed = kleansync("conflicts", "list", "-c", config, "--json", env=keys)
    parked = json.loads(listed.stdout)["parked"]
    assert sorted(p["record"].split(":")[0] for p in parked) == ["kleanapp", "sevdesk"]
    pid = next(p["id"] for p in parked if p["side"] == "kleanapp")
    shown = kleansync("conflicts", "show", pid, "-c", config, env=keys)
    assert shown.code == 0, shown.output
    text = shown.stdout
    assert "is a possible match" in text
    assert "this record (KleanApp" in text and "Praxis Dr. Quastenberg; 50667 Köln" in text
    assert "e-mail praxis@quastenberg.de; no. K-00003" in text
    assert "candidate sevdesk:" in text and "no. 1003" in text
    assert EVIDENCE in text

    second = kleansync("sync", "-c", config, "--json", env=keys)
    assert second.code == 0, second.output
    assert json.loads(second.stdout)["counts"] == {}
