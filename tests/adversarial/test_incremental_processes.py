"""Gap-free incremental runs, as a user runs them: `kleansync sync` processes against
`kleansync sandbox` on loopback (issue 12, "Must show").

* An office edits a KleanApp customer while the nightly run pages through
  2,000 customers (the sandbox's ``latency`` fault holds page 2 back), and a
  colleague edits one on a later page a moment after. The next incremental
  run carries the first edit to sevDesk too.
* Someone deletes a sevDesk contact's address and one of its e-mails; the
  next *incremental* run clears both in KleanApp.

Only public APIs and the sandbox's control endpoints are used; the runs are
real processes, so the ``Date`` header of a real HTTP server is what the
cursor is taken from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from sandbox.client import polite_client
from tests.conftest import CLI, SandboxServer, stop


def root(url: str) -> str:
    return url.removesuffix("/api/v1")


def seed(server: SandboxServer, count: int, *, stamped: str | None = None) -> list[str]:
    """``count`` equal customers on both sides through the bulk endpoints.

    ``stamped``: an ISO instant the records carry as created and updated.
    """
    numbers = [f"K-{i:05d}" for i in range(1, count + 1)]
    rows = [
        {
            "customer_number": n,
            "kind": "company",
            "company_name": f"Praxis {n}",
            "email": f"info@{n.lower()}.example.de",
            "phone": "030 1234567",
            "street": "Hauptstraße 1",
            "postal_code": "10115",
            "city": "Berlin",
            "country": "DE",
        }
        for n in numbers
    ]
    kleanapp_rows, sevdesk_rows = rows, rows
    if stamped:
        kleanapp_rows = [{**r, "created_at": stamped, "updated_at": stamped} for r in rows]
        sevdesk_rows = [{**r, "create": stamped, "update": stamped} for r in rows]
    for url, body in (
        (server.kleanapp_url, {"customers": kleanapp_rows}),
        (server.sevdesk_url, {"contacts": sevdesk_rows}),
    ):
        httpx.post(f"{root(url)}/_sandbox/bulk", json=body, timeout=60).raise_for_status()
    return numbers


def env_for(server: SandboxServer) -> dict[str, str]:
    return {
        **os.environ,
        "NO_COLOR": "1",
        "SEVDESK_TOKEN": server.sevdesk_token,
        "KLEANAPP_TOKEN": server.kleanapp_token,
    }


def sync(server: SandboxServer, cwd: Path, *args: str) -> dict:
    done = subprocess.run(
        [*CLI, "sync", "--config", "config.toml", "--json", *args],
        cwd=cwd,
        env=env_for(server),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def kleanapp(server: SandboxServer) -> httpx.Client:
    # Polite (waits out 429): the colleague's edits share KleanApp's per-token rate
    # limit with the running sync, so on a busy machine an edit may be asked to wait.
    return polite_client(server.kleanapp_url, f"Bearer {server.kleanapp_token}", timeout=30)


def sevdesk(server: SandboxServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.sevdesk_url, headers={"Authorization": server.sevdesk_token}, timeout=30
    )


def customer_ids(client: httpx.Client) -> dict[str, int]:
    ids: dict[str, int] = {}
    page = 1
    while True:
        body = client.get("customers", params={"per_page": 500, "page": page}).json()
        ids.update({row["customer_number"]: row["id"] for row in body["data"]})
        if page * 500 >= body["meta"]["total"]:
            return ids
        page += 1


def listing_requests(server: SandboxServer) -> int:
    stats = httpx.get(f"{root(server.kleanapp_url)}/_sandbox/stats", timeout=10).json()
    return stats["requests"].get("GET /api/v1/customers", 0)


def contact(client: httpx.Client, number: str) -> dict:
    [row] = client.get("Contact", params={"customerNumber": number, "depth": 1}).json()["objects"]
    return row


@pytest.fixture
def world(sandbox_server: SandboxServer, tmp_path: Path) -> SandboxServer:
    sandbox_server.reset()
    # The sevDesk emulator has no rate limit: the activation run's 2,000 stable-id
    # writes then take seconds, not the minutes sevDesk's real pace would.
    (tmp_path / "config.toml").write_text(
        f'[sevdesk]\nbase_url = "{sandbox_server.sevdesk_url}"\ntoken_env = "SEVDESK_TOKEN"\n'
        "requests_per_second = 100\n"
        f'[kleanapp]\nbase_url = "{sandbox_server.kleanapp_url}"\ntoken_env = "KLEANAPP_TOKEN"\n'
        '[state]\nurl = "sqlite:///state.db"\n[sync]\nunits = "off"\n',
        encoding="utf-8",
    )
    return sandbox_server


def test_an_edit_made_while_the_run_pages_through_2000_customers_reaches_sevdesk(world, tmp_path):
    numbers = seed(world, 2000)  # KleanApp pages hold 500: four pages
    first, later = numbers[0], numbers[-1]  # on page 1 and on page 4
    with kleanapp(world) as ka:
        ids = customer_ids(ka)
        httpx.post(
            f"{root(world.kleanapp_url)}/_sandbox/faults",
            json={
                "kind": "latency",
                "method": "GET",
                "path": "/customers$",
                "query": "page=2",
                "latency_ms": 1500,
            },
            timeout=10,
        ).raise_for_status()
        listed = listing_requests(world)
        run = subprocess.Popen(
            [*CLI, "sync", "--config", "config.toml", "--json"],
            cwd=tmp_path,
            env=env_for(world),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while listing_requests(world) < listed + 2:  # page 1 read, page 2 held back
                assert run.poll() is None and time.monotonic() < deadline, "no page 2"
                time.sleep(0.02)
            edited = ka.patch(f"customers/{ids[first]}", json={"company_name": "Praxis Erste"})
            assert edited.status_code == 200, edited.text
            stamp = edited.json()["updated_at"]
            while True:  # the colleague's edit is the later one (stamps have milliseconds)
                other = ka.patch(f"customers/{ids[later]}", json={"company_name": "Praxis Letzte"})
                assert other.status_code == 200, other.text
                if other.json()["updated_at"] > stamp:
                    break
                # Stamped in the same millisecond: the same name again is no edit (no new
                # stamp, so this loop never ended); change it away and back instead.
                away = ka.patch(f"customers/{ids[later]}", json={"company_name": "Praxis Zwischen"})
                assert away.status_code == 200, away.text
            out, err = run.communicate(timeout=240)
        finally:
            stop(run)
    assert run.returncode == 0, out + err
    first_run = json.loads(out)
    assert first_run["full"] is True and first_run["errors"] == []

    second = sync(world, tmp_path)

    assert second["full"] is False and second["errors"] == []
    with sevdesk(world) as sd:
        assert contact(sd, first)["name"] == "Praxis Erste"  # read before it was edited
        assert contact(sd, later)["name"] == "Praxis Letzte"
    assert sync(world, tmp_path)["counts"] == {}


def test_a_deleted_address_and_email_in_sevdesk_are_cleared_by_the_next_incremental_run(
    world, tmp_path
):
    # Stamped yesterday, and another customer edited today: the cursor then lies
    # past every stamp of the customer whose parts are deleted, whatever the clock.
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat(timespec="seconds")
    numbers = seed(world, 12, stamped=yesterday)  # one of 12 is within the 10 % brake
    assert sync(world, tmp_path)["full"] is True
    with sevdesk(world) as sd:
        other = contact(sd, numbers[1])["id"]
        assert sd.put(f"Contact/{other}", json={"name": "Praxis Zwei"}).status_code == 200
    assert sync(world, tmp_path)["counts"] == {"customer.kleanapp.update": 1}
    with sevdesk(world) as sd:
        owner = {"contact[id]": contact(sd, numbers[0])["id"], "contact[objectName]": "Contact"}
        [address] = sd.get("ContactAddress", params=owner).json()["objects"]
        ways = sd.get("CommunicationWay", params=owner).json()["objects"]
        [email] = [w for w in ways if w["type"] == "EMAIL"]
        assert sd.delete(f"ContactAddress/{address['id']}").status_code == 200
        assert sd.delete(f"CommunicationWay/{email['id']}").status_code == 200

    result = sync(world, tmp_path)

    assert result["full"] is False and result["errors"] == []
    assert result["counts"] == {"customer.kleanapp.update": 1}
    with kleanapp(world) as ka:
        row = ka.get(f"customers/{customer_ids(ka)[numbers[0]]}").json()
    assert (row["street"], row["postal_code"], row["city"], row["email"]) == (
        None,
        None,
        None,
        None,
    )
    assert row["phone"]  # only what was deleted is cleared
    assert sync(world, tmp_path)["counts"] == {}
