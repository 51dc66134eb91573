"""`kleansync sandbox` and `kleansync doctor` as real processes, used as a stranger would.

The client here is plain httpx that knows only the vendors' documentation
(sevDesk's API notes, KleanApp's contract): if these pass, an integrator can
develop against the sandbox before they have real keys. The sandbox process
is shared (``sandbox_server`` in ``tests/conftest.py``) and emptied before
each test; the signal tests start their own.
"""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from sandbox.serve import free_port

TIMEOUT = 10


@pytest.fixture
def server(sandbox_server):
    sandbox_server.reset()
    return sandbox_server


def sevdesk(server, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.sevdesk_url + "/",
        headers={"Authorization": token or server.sevdesk_token},
        timeout=TIMEOUT,
    )


def kleanapp(server, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.kleanapp_url + "/",
        headers={"Authorization": f"Bearer {token or server.kleanapp_token}"},
        timeout=TIMEOUT,
    )


def objects(response: httpx.Response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()["objects"]


# -- sevDesk -------------------------------------------------------------------------------


def add_customer(api: httpx.Client, contact: dict, address_category: str, email: str) -> str:
    """A customer the documented way: Contact, then its address and an e-mail."""
    customer = {"id": 3, "objectName": "Category"}
    contact_id = objects(api.post("Contact", json={**contact, "category": customer}), 201)["id"]
    owner = {"id": int(contact_id), "objectName": "Contact"}
    address = {
        "contact": owner,
        "street": "Hauptstraße 5",
        "zip": "10115",
        "city": "Berlin",
        "country": {"id": 1, "objectName": "StaticCountry"},
        "category": {"id": int(address_category), "objectName": "Category"},
    }
    objects(api.post("ContactAddress", json=address), 201)
    way = {
        "contact": owner,
        "type": "EMAIL",
        "value": email,
        "key": {"id": 2, "objectName": "CommunicationWayKey"},
        "main": True,
    }
    objects(api.post("CommunicationWay", json=way), 201)
    return contact_id


def test_sevdesk_organisation_and_person_persons_only_with_depth(server) -> None:
    with sevdesk(server) as api:
        categories = objects(api.get("Category", params={"objectType": "ContactAddress"}))
        invoice_address = next(c["id"] for c in categories if c["name"] == "Rechnungsanschrift")
        firm = add_customer(api, {"name": "Glanz GmbH"}, invoice_address, "buero@glanz.example")
        person = add_customer(
            api, {"surename": "Erika", "familyname": "Muster"}, invoice_address, "erika@muster.de"
        )

        assert [c["id"] for c in objects(api.get("Contact"))] == [firm]
        both = {c["id"]: c for c in objects(api.get("Contact", params={"depth": 1}))}
        assert set(both) == {firm, person}
        assert both[person]["familyname"] == "Muster" and both[person]["name"] is None

        [address] = objects(api.get("ContactAddress", params={"contact[id]": person}))
        assert address["country"]["id"] == "1" and address["category"]["id"] == invoice_address
        [way] = objects(api.get("CommunicationWay", params={"contact[id]": person}))
        assert (way["type"], way["value"]) == ("EMAIL", "erika@muster.de")
        [one] = objects(api.get(f"Contact/{firm}"))  # a single record comes as a list
        assert one["name"] == "Glanz GmbH"


def test_sevdesk_pages_with_limit_and_offset_and_refuses_limit_above_1000(server) -> None:
    contacts = [{"company_name": f"Firma {n}", "customer_number": f"{n}"} for n in range(7)]
    httpx.post(
        f"http://127.0.0.1:{server.sevdesk_port}/_sandbox/bulk", json={"contacts": contacts}
    ).raise_for_status()
    with sevdesk(server) as api:
        pages = [
            objects(api.get("Contact", params={"depth": 1, "limit": 3, "offset": offset}))
            for offset in (0, 3, 6, 9)
        ]
        assert [len(p) for p in pages] == [3, 3, 1, 0]
        names = [c["name"] for page in pages for c in page]
        assert sorted(names) == sorted(f"Firma {n}" for n in range(7))

        assert len(objects(api.get("Contact", params={"limit": 1000}))) == 7
        too_many = api.get("Contact", params={"limit": 1001})
        assert too_many.status_code == 400
        assert "limit" in too_many.json()["error"]["message"]


def test_sevdesk_wrong_or_missing_token_is_401(server) -> None:
    with sevdesk(server, token="0" * 32) as api:
        wrong = api.get("Contact")
    assert wrong.status_code == 401 and wrong.json()["objects"] is None
    assert wrong.json()["error"]["message"]
    assert httpx.get(f"{server.sevdesk_url}/Contact", timeout=TIMEOUT).status_code == 401


# -- KleanApp (≤ 10 requests per test: the sandbox enforces KleanApp's 10 requests/s) ---------


def test_kleanapp_create_list_patch_archive(server) -> None:
    with kleanapp(server) as api:
        firm = api.post("customers", json={"kind": "company", "company_name": "Glanz GmbH"})
        assert firm.status_code == 201, firm.text
        firm = firm.json()
        person = api.post(
            "customers", json={"kind": "person", "first_name": "Erika", "last_name": "Muster"}
        ).json()
        assert firm["version"] == 1 and firm["customer_number"] and firm["archived"] is False

        listed = api.get("customers").json()
        assert [c["id"] for c in listed["data"]] == [firm["id"], person["id"]]
        assert listed["meta"]["total"] == 2

        patched = api.patch(
            f"customers/{firm['id']}", json={"city": "Potsdam"}, headers={"If-Match": "1"}
        )
        assert patched.status_code == 200, patched.text
        after = patched.json()
        assert after["city"] == "Potsdam" and after["version"] == 2
        assert after["company_name"] == "Glanz GmbH"  # untouched fields stay

        archive = api.delete(f"customers/{firm['id']}", headers={"If-Match": "2"})
        assert archive.status_code == 204
        assert [c["id"] for c in api.get("customers").json()["data"]] == [person["id"]]
        everyone = api.get("customers", params={"include_archived": "true"}).json()["data"]
        assert {c["id"]: c["archived"] for c in everyone} == {firm["id"]: True, person["id"]: False}


def test_kleanapp_stale_if_match_is_412_with_the_current_record(server) -> None:
    with kleanapp(server) as api:
        created = api.post("customers", json={"company_name": "Glanz GmbH"}).json()
        path = f"customers/{created['id']}"
        assert api.patch(path, json={"city": "Bonn"}, headers={"If-Match": "1"}).status_code == 200

        stale = api.patch(path, json={"city": "Köln"}, headers={"If-Match": "1"})
        assert stale.status_code == 412
        current = stale.json()["error"]["current"]
        assert current["version"] == 2 and current["city"] == "Bonn"
        assert api.delete(path, headers={"If-Match": "1"}).status_code == 412
        assert api.get(path).json()["archived"] is False


def test_kleanapp_duplicate_customer_number_is_409(server) -> None:
    with kleanapp(server) as api:
        first = api.post("customers", json={"customer_number": "K-00042", "company_name": "A"})
        assert first.status_code == 201
        second = api.post("customers", json={"customer_number": "K-00042", "company_name": "B"})
    assert second.status_code == 409
    assert "customer_number" in second.json()["error"]["fields"]


def test_kleanapp_more_than_10_requests_per_second_get_429_with_retry_after(server) -> None:
    with kleanapp(server) as api:
        answers = [api.get("units", params={"per_page": 1}) for _ in range(14)]
        statuses = [a.status_code for a in answers]
        assert statuses[:10] == [200] * 10
        refused = [a for a in answers if a.status_code == 429]
        assert refused, statuses
        wait = int(refused[0].headers["Retry-After"])
        assert 1 <= wait <= 2 and refused[0].json()["error"]["code"] == "rate_limited"
        time.sleep(wait)
        assert api.get("units").status_code == 200


# -- the process -------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_sandbox_cleanly_and_it_can_restart_at_once(sig, launch_sandbox):
    ports = free_port(), free_port()
    process = launch_sandbox(*ports)
    # An open keep-alive connection must not hold the shutdown up.
    with httpx.Client(timeout=TIMEOUT) as client:
        assert client.get(f"http://127.0.0.1:{ports[1]}/api/v1/units").status_code == 401
        started = time.monotonic()
        process.send_signal(sig)
        assert process.wait(5) == 0
    assert time.monotonic() - started < 5
    # Restarting on the same ports works straight away (no "address already in use").
    launch_sandbox(*ports)


def test_a_taken_port_is_one_line_and_exit_code_2(kleansync, sandbox_server) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kleansync(
            "sandbox", "--sevdesk-port", str(port), "--kleanapp-port", str(free_port()), timeout=10
        )
    assert result.code == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("kleansync: ") and f"127.0.0.1:{port}" in line and "sevDesk" in line
    # The ports of a running sandbox are taken as well.
    again = kleansync(
        "sandbox",
        "--sevdesk-port",
        str(free_port()),
        "--kleanapp-port",
        str(sandbox_server.kleanapp_port),
        timeout=10,
    )
    assert again.code == 2 and "Traceback" not in again.stderr
    [line] = again.stderr.strip().splitlines()
    assert "KleanApp" in line and str(sandbox_server.kleanapp_port) in line


# -- doctor ------------------------------------------------------------------------------


def test_doctor_against_the_running_sandbox(server, kleansync, tmp_path: Path) -> None:
    good = server.config(tmp_path)
    nowhere_dir = tmp_path / "nowhere"
    nowhere_dir.mkdir()
    dead = f"http://127.0.0.1:{free_port()}/api/v1"
    nowhere = server.config(nowhere_dir, sevdesk_url=dead)
    keys = {"SEVDESK_TOKEN": server.sevdesk_token, "KLEANAPP_TOKEN": server.kleanapp_token}
    wrong = {"SEVDESK_TOKEN": "0badc0de0badc0de0badc0de0badc0de", "KLEANAPP_TOKEN": "ka-nope-123"}
    cases = {
        "good": (good, keys),
        "wrong sevdesk key": (good, {**keys, "SEVDESK_TOKEN": wrong["SEVDESK_TOKEN"]}),
        "wrong kleanapp key": (good, {**keys, "KLEANAPP_TOKEN": wrong["KLEANAPP_TOKEN"]}),
        "wrong keys": (good, wrong),  # both: one failed check must not hide the other
        "unreachable": (nowhere, keys),
    }
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = {
            name: pool.submit(kleansync, "doctor", "-c", str(config), env=env)
            for name, (config, env) in cases.items()
        }
        results = {name: future.result() for name, future in futures.items()}

    assert results["good"].code == 0, results["good"].output
    assert "ready to sync" in results["good"].stdout

    def one_line(name: str, text: str) -> str:
        lines = [line for line in results[name].output.splitlines() if text in line]
        assert len(lines) == 1, results[name].output
        return lines[0]

    for case, failing, fine in (
        ("wrong sevdesk key", "sevDesk", "KleanApp"),
        ("wrong kleanapp key", "KleanApp", "sevDesk"),
    ):
        assert results[case].code == 1
        one_line(case, f"FAIL {failing}: {failing} rejected the API key (HTTP 401)")
        assert f"{fine} rejected" not in results[case].output
    assert results["wrong keys"].code == 1
    one_line("wrong keys", "sevDesk rejected the API key (HTTP 401)")
    one_line("wrong keys", "KleanApp rejected the API key (HTTP 401)")
    assert results["unreachable"].code == 1
    assert dead in one_line("unreachable", "cannot reach sevDesk")

    for name, result in results.items():
        assert "Traceback" not in result.output, name
        for token in (*keys.values(), *wrong.values()):
            assert token not in result.output, (name, token)
