"""The referee itself: it must see duplicates and lost edits, or the suite proves nothing."""

from __future__ import annotations

import httpx

from sandbox import kleanapp as kleanapp_sandbox
from sandbox import sevdesk as sevdesk_sandbox

from .audit import audit, audit_async

CUSTOMERS = [
    {"customer_number": "K-1", "kind": "company", "company_name": "Glanz GmbH",
     "email": "info@glanz.de", "phone": "030 1234567", "street": "Ring 1",
     "postal_code": "10115", "city": "Berlin", "country": "DE"},
    {"customer_number": "K-2", "kind": "person", "first_name": "Anna", "last_name": "Berg",
     "email": "anna@berg.de", "mobile": "+43 664 1234567", "street": "Gasse 2",
     "postal_code": "1010", "city": "Wien", "country": "AT"},
]  # fmt: skip


def test_a_clean_sync_audits_clean_and_each_defect_is_named(sandbox_server, kleansync, tmp_path):
    server = sandbox_server
    server.reset()
    k = httpx.Client(
        base_url=server.kleanapp_url + "/",
        headers={"Authorization": f"Bearer {server.kleanapp_token}"},
    )
    s = httpx.Client(
        base_url=server.sevdesk_url + "/", headers={"Authorization": server.sevdesk_token}
    )
    for row in CUSTOMERS:
        assert k.post("customers", json=row).status_code == 201
    env = {"SEVDESK_TOKEN": server.sevdesk_token, "KLEANAPP_TOKEN": server.kleanapp_token}
    done = kleansync("sync", "--config", str(server.config(tmp_path)), env=env)
    assert done.code == 0, done.output
    args = (server.sevdesk_url, server.sevdesk_token, server.kleanapp_url, server.kleanapp_token)
    expected = {"K-1": {"email": "INFO@glanz.de", "street": "Ring 1"},
                "K-2": {"mobile": "0043 664 1234567"}}  # fmt: skip

    clean = audit(*args, expected)
    assert clean.ok, clean.summary()
    assert clean.counts == {
        "kleanapp": 2, "kleanapp_archived": 0, "sevdesk": 2, "duplicates": 0, "lost": 0
    }  # fmt: skip

    # Repeated creates (same number; new number), an e-mail twice, an edit that did not travel.
    contact = s.get("Contact", params={"customerNumber": "K-1", "depth": 1}).json()["objects"][0]
    ref = {"id": int(contact["id"]), "objectName": "Contact"}
    way = {"type": "EMAIL", "value": "info@glanz.de", "contact": ref,
           "key": {"id": 2, "objectName": "CommunicationWayKey"}}  # fmt: skip
    assert s.post("CommunicationWay", json=way).status_code == 201
    copy = {
        "name": "Glanz GmbH",
        "customerNumber": "K-1",
        "category": {"id": 3, "objectName": "Category"},
    }
    assert s.post("Contact", json=copy).status_code == 201
    again = s.post("Contact", json={**copy, "customerNumber": "1001"}).json()["objects"]
    again_ref = {"id": int(again["id"]), "objectName": "Contact"}
    assert s.post("CommunicationWay", json={**way, "contact": again_ref}).status_code == 201
    address = s.get("ContactAddress", params={"contact[id]": contact["id"]}).json()["objects"][0]
    assert s.put(f"ContactAddress/{address['id']}", json={"street": "Ring 9"}).is_success
    k2 = k.get("customers", params={"per_page": 10}).json()["data"][1]
    assert k.delete(f"customers/{k2['id']}").status_code == 204  # archived: gone in KleanApp

    dirty = audit(*args, {**expected, "K-2": None})

    assert not dirty.ok
    assert "customer number K-1 is 2 active customers in sevDesk" in dirty.duplicates
    assert any("communication way" in d and "2 times" in d for d in dirty.duplicates)
    assert any(d.startswith("sevDesk has 2 active company customers") for d in dirty.duplicates)
    assert "K-1.street: sevDesk has 'Ring 9', expected 'Ring 1'" in dirty.lost
    assert "K-2: expected gone, still active in sevDesk" in dirty.lost
    assert not any(
        line.startswith("K-2: expected gone") and "KleanApp" in line for line in dirty.lost
    )
    assert dirty.counts["kleanapp_archived"] == 1


async def test_in_process_emulators_are_audited_through_their_transports():
    k_app = kleanapp_sandbox.create_app("k-token", rate_limit_rps=None)
    s_app = sevdesk_sandbox.create_app("s-token")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=k_app),
        base_url="http://k.test/api/v1/",
        headers={"Authorization": "Bearer k-token"},
    ) as k:
        assert (await k.post("customers", json=CUSTOMERS[0])).status_code == 201

    report = await audit_async(
        "http://s.test/api/v1", "s-token", "http://k.test/api/v1", "k-token",
        {"K-1": {"city": "Berlin"}},
        sevdesk_transport=httpx.ASGITransport(app=s_app),
        kleanapp_transport=httpx.ASGITransport(app=k_app),
    )  # fmt: skip

    assert report.counts["kleanapp"] == 1 and report.counts["sevdesk"] == 0
    assert report.disagreements == ["K-1: active in KleanApp, missing in sevDesk"]
    assert report.lost == ["K-1: missing in sevDesk"]
