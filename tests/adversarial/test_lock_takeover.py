"""A paused sync whose lock was taken over writes nothing more when it wakes up.

Real processes, as an adversary would drive them: ``kleansync sync`` against
the served emulators, paused by SIGSTOP in the middle of applying its plan
(``KLEANSYNC_PAUSE_AT`` makes it stop itself just before a chosen write, so
the moment is exact). A second ``kleansync sync`` waits until the paused
run's lock is stale (``lock_timeout_seconds = 2``), takes it over, settles
the paused run's half-done write and finishes. Then the first run gets
SIGCONT: it must stop before its next write with one line, and both sides
must hold every customer exactly once, with no part (address, e-mail,
phone) twice, and agree; a further run finds nothing to do.

Before the fence, the woken run wrote the rest of its stale plan: the
contact it was creating got its e-mail and phone a second time.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from rules.normalize import normalize_record
from state import Store

KLEANAPP_ONLY = ["K-20001", "K-20002", "K-20003"]
SEVDESK_ONLY = ["K-30001", "K-30002"]
ALL = KLEANAPP_ONLY + SEVDESK_ONLY
LOCK_TIMEOUT = 2.0


def _customer(number: str, i: int) -> dict[str, Any]:
    return {
        "customer_number": number,
        "kind": "person",
        "first_name": "Anna",
        "last_name": f"Müller{i}",
        "email": f"anna.mueller{i}@example.de",
        "phone": f"030 555{i:04d}",
        "mobile": f"0151 1234{i:04d}",
        "street": f"Hauptstraße {i + 1}",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    }


def _root(url: str) -> str:
    return url.removesuffix("/api/v1")


@pytest.fixture
def world(sandbox_server: Any, tmp_path: Path) -> dict[str, Any]:
    sandbox_server.reset()
    numbered = {n: _customer(n, i) for i, n in enumerate(ALL)}
    for url, body in (
        (sandbox_server.kleanapp_url, {"customers": [numbered[n] for n in KLEANAPP_ONLY]}),
        (sandbox_server.sevdesk_url, {"contacts": [numbered[n] for n in SEVDESK_ONLY]}),
    ):
        httpx.post(f"{_root(url)}/_sandbox/bulk", json=body, timeout=10).raise_for_status()
    config = sandbox_server.config(
        tmp_path,
        extra=f'lock_timeout_seconds = {LOCK_TIMEOUT}\n[sync]\nunits = "off"\n'
        '[report]\ndir = "reports"\n',
    )
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "SEVDESK_TOKEN": sandbox_server.sevdesk_token,
        "KLEANAPP_TOKEN": sandbox_server.kleanapp_token,
    }
    env.pop("KLEANSYNC_PAUSE_AT", None)
    env.pop("KLEANSYNC_CRASH_AT", None)
    return {"server": sandbox_server, "config": config, "env": env, "tmp": tmp_path}


def _sync_args(world: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "reconciler.cli", "sync", "--config", str(world["config"])]


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def _wait(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def _sevdesk_parts(server: Any) -> dict[str, Counter[tuple[str, str]]]:
    """Customer number -> how often each part (address, e-mail, phone, …) exists."""
    headers = {"Authorization": server.sevdesk_token}
    with httpx.Client(base_url=server.sevdesk_url + "/", headers=headers, timeout=10) as sev:
        contacts = sev.get("Contact", params={"depth": 1, "limit": 1000}).json()["objects"]
        addresses = sev.get("ContactAddress", params={"limit": 1000}).json()["objects"]
        ways = sev.get("CommunicationWay", params={"limit": 1000}).json()["objects"]
    number = {str(c["id"]): c.get("customerNumber") for c in contacts}
    parts: dict[str, Counter[tuple[str, str]]] = {}
    for row in addresses:
        owner = number[str(row["contact"]["id"])]
        parts.setdefault(owner, Counter())[("address", row.get("street") or "")] += 1
    for row in ways:
        owner = number[str(row["contact"]["id"])]
        parts.setdefault(owner, Counter())[(row["type"], row["value"])] += 1
    return parts


def _both_sides(server: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Side -> customer number -> normalised records (a list, to see duplicates)."""

    async def read() -> dict[str, dict[str, list[dict[str, Any]]]]:
        connectors = {
            "kleanapp": KleanappConnector(
                server.kleanapp_url, server.kleanapp_token, requests_per_second=8
            ),
            "sevdesk": SevdeskConnector(
                server.sevdesk_url, server.sevdesk_token, requests_per_second=50
            ),
        }
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for side, connector in connectors.items():
            async with connector:
                listing = await connector.customers.list_changed()
            assert not listing.quarantined, listing.quarantined
            for remote in listing.records:
                record = normalize_record(remote.record).model_dump(exclude={"archived"})
                out.setdefault(side, {}).setdefault(str(record["customer_number"]), []).append(
                    record
                )
        return out

    return asyncio.run(read())


@pytest.mark.parametrize(
    "pause_at",
    [
        "POST CommunicationWay",  # mid sevDesk create: contact and address written, ways not
        "POST customers",  # a KleanApp create journaled but not sent
    ],
)
def test_a_paused_run_whose_lock_was_taken_over_stops_before_its_next_write(
    world: dict[str, Any], pause_at: str
) -> None:
    tmp, env, server = world["tmp"], world["env"], world["server"]
    out, err = (tmp / "first.out").open("w"), (tmp / "first.err").open("w")
    first = subprocess.Popen(
        [*_sync_args(world), "--json"],
        cwd=tmp,
        env={**env, "KLEANSYNC_PAUSE_AT": pause_at},
        stdout=out,
        stderr=err,
    )
    try:
        _wait(lambda: first.poll() is not None or _stopped(first.pid), "the first run paused")
        assert first.poll() is None, (tmp / "first.err").read_text()[-2000:]
        store = Store(f"sqlite:///{tmp / 'state.db'}")
        pending = store.pending_journal()
        # Both sides are written at once (reconciler.sync.lanes): besides the paused
        # write, each other lane may have left one in flight when the process stopped.
        side = "sevdesk" if "CommunicationWay" in pause_at else "kleanapp"
        (in_flight,) = [e for e in pending if (e.side, e.op) == (side, "create")]
        assert len(pending) <= 3, pending

        # The second run is refused while the lock is fresh, then takes the stale lock over.
        deadline = time.monotonic() + 30
        while True:
            second = subprocess.run(
                [*_sync_args(world), "--json"],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if second.returncode == 0 or "a run is in progress" not in second.stderr:
                break
            assert time.monotonic() < deadline, "the stale lock was never taken over"
            time.sleep(0.3)
        assert second.returncode == 0, second.stderr[-3000:]
        taken_over = json.loads(second.stdout)
        assert not taken_over["errors"], taken_over["errors"]
        assert in_flight.id in [r["journal_id"] for r in taken_over["recovered"]]
        assert {e.id for e in pending} <= {r["journal_id"] for r in taken_over["recovered"]}

        first.send_signal(signal.SIGCONT)
        code = first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        out.close()
        err.close()

    # Nothing twice, nothing missing, both sides agree; a further run has nothing to do.
    records = _both_sides(server)
    for side in ("kleanapp", "sevdesk"):
        counts = {n: len(rows) for n, rows in records[side].items()}
        assert counts == dict.fromkeys(ALL, 1), f"{side}: {counts}"
    for number in ALL:
        assert records["kleanapp"][number] == records["sevdesk"][number], number
    for number, parts in _sevdesk_parts(server).items():
        twice = [part for part, seen in parts.items() if seen > 1]
        assert not twice, f"{number} has these parts more than once in sevDesk: {twice}"
    stderr = (tmp / "first.err").read_text()
    assert code == 1, stderr[-3000:]
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("kleansync: ")]
    assert re.fullmatch(
        r"kleansync: another run took over the lock at \d\d:\d\d:\d\d \(pid \d+ on .+\); "
        r"stopped after \d+ writes, nothing lost",
        line,
    ), line

    again = subprocess.run(
        [*_sync_args(world), "--json"], cwd=tmp, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr[-3000:]
    settled = json.loads(again.stdout)
    assert (settled["counts"], settled["errors"], settled["recovered"]) == ({}, [], [])

    # The history says what happened: the paused run stopped itself, nothing is pending.
    runs = {run.pid: run for run in store.runs()}
    assert runs[first.pid].outcome == "failed"
    assert runs[first.pid].error == line.removeprefix("kleansync: ")
    assert not store.pending_journal()
    store.close()
