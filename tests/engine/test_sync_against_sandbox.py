"""`kleansync sync` against `kleansync sandbox`: real processes, real HTTP.

Data is seeded only through the two public APIs, the way a user's own
KleanApp and sevDesk would hold it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from rules.normalize import normalize_record
from sandbox.client import polite_client
from sandbox.serve import _wait_listening, free_port

S_TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"
K_TOKEN = "kleanapp-sandbox-test-token-42"


@pytest.fixture(scope="module")
def sandbox():
    ports = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.cli.app",
            "sandbox",
            "--sevdesk-port",
            str(ports[0]),
            "--sevdesk-token",
            S_TOKEN,
            "--kleanapp-port",
            str(ports[1]),
            "--kleanapp-token",
            K_TOKEN,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for port in ports:
            _wait_listening("127.0.0.1", port)
        yield {
            "sevdesk": f"http://127.0.0.1:{ports[0]}/api/v1",
            "kleanapp": f"http://127.0.0.1:{ports[1]}/api/v1",
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def sevdesk_customer(
    client: httpx.Client,
    number: str,
    name: str,
    email: str,
    phone: str,
    street: str,
    city: str,
    zip_code: str,
) -> None:
    """A customer as a sevDesk user creates it: contact, address, communication ways."""
    contact = client.post(
        "Contact",
        json={
            "name": name,
            "customerNumber": number,
            "status": 1000,
            "category": {"id": 3, "objectName": "Category"},
        },
    ).json()["objects"]
    ref = {"id": contact["id"], "objectName": "Contact"}
    category = client.get("Category", params={"objectType": "ContactAddress"}).json()["objects"][0]
    client.post(
        "ContactAddress",
        json={
            "contact": ref,
            "street": street,
            "zip": zip_code,
            "city": city,
            "country": {"id": 1, "objectName": "StaticCountry"},
            "category": {"id": category["id"], "objectName": "Category"},
        },
    ).raise_for_status()
    for kind, value, key in (("EMAIL", email, 2), ("PHONE", phone, 2)):
        client.post(
            "CommunicationWay",
            json={
                "contact": ref,
                "type": kind,
                "value": value,
                "main": True,
                "key": {"id": key, "objectName": "CommunicationWayKey"},
            },
        ).raise_for_status()


def seed(urls: dict[str, str]) -> None:
    with (
        polite_client(urls["kleanapp"], f"Bearer {K_TOKEN}") as k,
        polite_client(urls["sevdesk"], S_TOKEN) as s,
    ):
        for i in range(1, 13):
            body = {
                "customer_number": f"K-{i:05d}",
                "kind": "company",
                "company_name": f"Praxis Nummer {i}",
                "email": f"praxis{i}@example.de",
                "phone": f"030 55500{i:02d}",
                "street": f"Allee {i}",
                "postal_code": "10115",
                "city": "Berlin",
            }
            if i % 4 == 0:
                body.update(
                    kind="person", company_name=None, first_name="Eva", last_name=f"Person{i}"
                )
            k.post("customers", json=body).raise_for_status()
        for i in list(range(1, 9)) + [50, 51, 53]:
            if i % 4 == 0:
                continue  # persons exist only in KleanApp
            sevdesk_customer(
                s,
                f"K-{i:05d}",
                f"Praxis Nummer {i}",
                f"PRAXIS{i}@example.de",
                f"+49 30 55500{i:02d}",
                f"Allee {i}",
                "Berlin",
                "10115",
            )


def edit(urls: dict[str, str]) -> None:
    """Everyday edits on both sides after the first sync."""
    with (
        polite_client(urls["kleanapp"], f"Bearer {K_TOKEN}") as k,
        polite_client(urls["sevdesk"], S_TOKEN) as s,
    ):
        customers = k.get("customers", params={"per_page": 500}).json()["data"]
        first = next(c for c in customers if c["customer_number"] == "K-00001")
        k.patch(
            f"customers/{first['id']}",
            json={"note": "Hintereingang benutzen"},
            headers={"If-Match": str(first["version"])},
        ).raise_for_status()
        contact = s.get("Contact", params={"customerNumber": "K-00002"}).json()["objects"][0]
        s.put(f"Contact/{contact['id']}", json={"name": "Praxis Nummer 2 GmbH"}).raise_for_status()
        k.post(
            "customers",
            json={"kind": "company", "company_name": "Neukunde Hotel Post", "city": "Leipzig"},
        ).raise_for_status()


def dump(urls: dict[str, str]) -> bytes:
    with (
        polite_client(urls["kleanapp"], f"Bearer {K_TOKEN}") as k,
        polite_client(urls["sevdesk"], S_TOKEN) as s,
    ):
        parts = [
            k.get("customers", params={"include_archived": "true", "per_page": 500}),
            k.get("units", params={"per_page": 500}),
        ]
        parts += [
            s.get(path, params={"limit": 1000, "depth": 1})
            for path in ("Contact", "ContactAddress", "CommunicationWay", "Unity")
        ]
        return b"\n".join(r.content for r in parts)


def writes(urls: dict[str, str]) -> int:
    return sum(
        httpx.get(url.removesuffix("/api/v1") + "/_sandbox/stats").json()["total_writes"]
        for url in urls.values()
    )


def sync(config: Path, *args: str) -> dict:
    env = {**os.environ, "T_SEVDESK": S_TOKEN, "T_KLEANAPP": K_TOKEN}
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "sync", "--config", str(config), "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


async def normalised(urls: dict[str, str]) -> tuple[dict, dict]:
    out = []
    for conn in (
        KleanappConnector(urls["kleanapp"], K_TOKEN),
        SevdeskConnector(urls["sevdesk"], S_TOKEN, requests_per_second=50),
    ):
        async with conn:
            listing = await conn.customers.list_changed()
        out.append(
            {
                r.record.customer_number: normalize_record(r.record).model_dump(
                    exclude={"archived"}
                )
                for r in listing.records
                if not r.record.archived
            }
        )
    return out[0], out[1]


async def test_dry_run_changes_nothing_then_sync_converges_and_stays_quiet(
    sandbox, tmp_path, state_url
):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sevdesk]\nbase_url = "{sandbox["sevdesk"]}"\ntoken_env = "T_SEVDESK"\n'
        f"requests_per_second = 50\n"
        f'[kleanapp]\nbase_url = "{sandbox["kleanapp"]}"\ntoken_env = "T_KLEANAPP"\n'
        f'[state]\nurl = "{state_url}"\n',
        encoding="utf-8",
    )
    seed(sandbox)

    for step in ("activation", "everyday edits"):
        if step == "everyday edits":
            edit(sandbox)
        before, writes_before = dump(sandbox), writes(sandbox)
        planned = sync(config, "--dry-run")
        assert planned["dry_run"] is True
        assert dump(sandbox) == before, f"{step}: the dry-run changed a side"
        assert writes(sandbox) == writes_before
        done = sync(config)
        assert done["counts"] == planned["counts"], step
        assert done["errors"] == []

    assert planned["counts"] == {
        "customer.kleanapp.update": 1,
        "customer.sevdesk.create": 1,
        "customer.sevdesk.update": 1,
    }
    klean, sev = await normalised(sandbox)
    assert klean == sev
    assert len(klean) == 16  # 12 + 3 sevDesk-only + 1 new
    assert klean["K-00001"]["note"] == "Hintereingang benutzen"
    assert klean["K-00002"]["company_name"] == "Praxis Nummer 2 GmbH"

    writes_before = writes(sandbox)
    quiet = sync(config)
    assert quiet["counts"] == {} and quiet["conflicts"] == []
    assert writes(sandbox) == writes_before, "the run after a sync wrote something"
