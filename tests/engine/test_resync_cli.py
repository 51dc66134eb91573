"""A lost state store after 500 synced customers, with `kleansync` as a process.

Against `kleansync sandbox` (the session's ``sandbox_server``): data is seeded
through the sandbox bulk endpoints, everything else goes through the CLI,
and the outcome is counted through the emulators' public APIs and
``/_sandbox/stats``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

N = 500


def canonical(i: int) -> dict:
    number = f"K-{i:05d}"
    person = i % 3 == 0
    return {
        "customer_number": number,
        "kind": "person" if person else "company",
        "company_name": None if person else f"Gebäudeservice {i} GmbH",
        "first_name": f"Eva{i}" if person else None,
        "last_name": f"Lange{i}" if person else None,
        "email": f"kontakt{i}@kunde{i}.example.de",
        "phone": f"030 {100000 + i}",
        "street": f"Hauptstraße {i % 90 + 1}",
        "postal_code": f"{10115 + i % 50}",
        "city": "Berlin",
        "country": "DE",
    }


def root(url: str) -> str:
    return url.removesuffix("/api/v1")


def total_writes(server) -> int:
    return sum(
        httpx.get(f"{root(url)}/_sandbox/stats", timeout=10).json()["total_writes"]
        for url in (server.sevdesk_url, server.kleanapp_url)
    )


def counts_via_api(server) -> dict[str, int]:
    """Customers on each side and KleanApp ids on sevDesk contacts, as the APIs tell them."""
    sev = {"Authorization": server.sevdesk_token}
    contacts = httpx.get(
        f"{server.sevdesk_url}/Contact",
        params={"depth": 1, "limit": 1, "countAll": "true"},
        headers=sev,
    ).json()["total"]
    fields = httpx.get(
        f"{server.sevdesk_url}/ContactCustomField",
        params={"limit": 1000},
        headers=sev,
    ).json()["objects"]
    customers = httpx.get(
        f"{server.kleanapp_url}/customers",
        params={"per_page": 1, "include_archived": "true"},
        headers={"Authorization": f"Bearer {server.kleanapp_token}"},
    ).json()["meta"]["total"]
    return {
        "sevdesk": int(contacts),
        "kleanapp": int(customers),
        "stable_ids": len(fields),
        "contacts_with_an_id": len({f["contact"]["id"] for f in fields}),
    }


def write_config(server, directory: Path, state_url: str) -> Path:
    path = directory / "config.toml"
    path.write_text(
        f'[sevdesk]\nbase_url = "{server.sevdesk_url}"\ntoken_env = "SEVDESK_TOKEN"\n'
        "requests_per_second = 100\n"
        f'[kleanapp]\nbase_url = "{server.kleanapp_url}"\ntoken_env = "KLEANAPP_TOKEN"\n'
        f'[state]\nurl = "{state_url}"\n',
        encoding="utf-8",
    )
    return path


def test_a_lost_state_store_after_500_customers_is_rebuilt_by_resync(
    sandbox_server, kleansync, tmp_path, state_urls
):
    sandbox_server.reset()
    people = [canonical(i) for i in range(N)]
    # sevDesk has them typed a little differently: same customers once normalised.
    typed = [
        {**c, "email": c["email"].upper(), "phone": f"+49 30 {100000 + i}"}
        for i, c in enumerate(people)
    ]
    for url, body in (
        (sandbox_server.kleanapp_url, {"customers": people}),
        (sandbox_server.sevdesk_url, {"contacts": typed}),
    ):
        httpx.post(f"{root(url)}/_sandbox/bulk", json=body, timeout=30).raise_for_status()
    config = str(write_config(sandbox_server, tmp_path, state_urls()))
    env = {
        "SEVDESK_TOKEN": sandbox_server.sevdesk_token,
        "KLEANAPP_TOKEN": sandbox_server.kleanapp_token,
    }

    first = kleansync("sync", "--config", config, "--json", env=env, timeout=60)
    assert first.code == 0, first.stderr
    assert not [k for k in json.loads(first.stdout)["counts"] if k.startswith("customer.")]
    assert counts_via_api(sandbox_server) == {
        "sevdesk": N,
        "kleanapp": N,
        "stable_ids": N,
        "contacts_with_an_id": N,
    }

    # The store is lost: the config now names an empty one (a new file, an empty database).
    write_config(sandbox_server, tmp_path, state_urls("lost.db", fresh=True))
    writes = total_writes(sandbox_server)

    refused = kleansync("-q", "sync", "--config", config, env=env, timeout=60)
    assert refused.code == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "run `kleansync resync`" in lines[0], refused.stderr
    assert total_writes(sandbox_server) == writes

    resynced = kleansync("resync", "--config", config, "--json", env=env, timeout=60)
    assert resynced.code == 0, resynced.stderr
    report = json.loads(resynced.stdout)
    assert report["counts"]["linked"] == N
    assert report["counts"]["linked_by"] == {"stable id": N}
    assert report["counts"]["agreed"] == N
    assert report["counts"]["only_kleanapp"] == report["counts"]["only_sevdesk"] == 0
    assert report["counts"]["stable_ids_written"] == 0
    assert total_writes(sandbox_server) == writes  # 0 writes to customers, 0 new fields
    assert counts_via_api(sandbox_server) == {
        "sevdesk": N,
        "kleanapp": N,
        "stable_ids": N,
        "contacts_with_an_id": N,
    }

    after = kleansync("sync", "--config", config, "--json", env=env, timeout=60)
    assert after.code == 0, after.stderr
    out = json.loads(after.stdout)
    assert out["counts"] == {} and out["conflicts"] == [] and out["parked"] == []
    assert total_writes(sandbox_server) == writes
