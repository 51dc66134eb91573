"""Real processes against the emulators on loopback: the run lock and SIGTERM.

* two ``kleansync sync`` started together: one runs, the other exits 1 with
  "a run is in progress since ..." and touches nothing;
* a SIGKILLed holder's lock is taken over at once (same host, its pid is
  gone), and one held by another host is taken over once its heartbeat is
  older than ``[state] lock_timeout_seconds``, not before;
* ``serve`` stopped by SIGTERM in the middle of a run finishes the write in
  flight, journals it, exits 0, and the next run does the rest.

Every run is slowed down by a sevDesk latency fault so that "in the middle"
and "at the same time" are long enough; the tests wait for states (the lock
row, journal rows) with a deadline, never for a fixed time.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.serve import Endpoint, SandboxThread, endpoints
from state import Store
from state.tables import Run, RunLock

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

ROOT = Path(__file__).resolve().parents[2]
SEV_TOKEN = "proc-test-sevdesk-token-0123456"
KA_TOKEN = "proc-test-kleanapp-token"
SEV_ENV, KA_ENV = "KLEANSYNC_PROC_TEST_SEVDESK_TOKEN", "KLEANSYNC_PROC_TEST_KLEANAPP_TOKEN"
#: Long enough that a process started on a loaded machine (CI's two passes share two cores)
#: still finds a heartbeat of 1 s ago fresh; the "dead" case backdates its heartbeat past it.
LOCK_TIMEOUT = 60
SLOW = {"kind": "latency", "latency_ms": 300, "times": None}


def _customer(i: int) -> dict[str, Any]:
    return {
        "customer_number": f"K-9000{i}",
        "kind": "company",
        "company_name": f"Gebäudeservice {i} GmbH",
        "street": f"Ringstraße {i}",
        "postal_code": "50667",
        "city": "Köln",
        "country": "DE",
    }


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Sandbox:
    sevdesk: Endpoint
    kleanapp: Endpoint

    @staticmethod
    def root(ep: Endpoint) -> str:
        return ep.base_url.removesuffix("/api/v1")

    def reset(self, customers: int) -> None:
        for ep in (self.sevdesk, self.kleanapp):
            httpx.post(f"{self.root(ep)}/_sandbox/reset").raise_for_status()
        body = {"customers": [_customer(i) for i in range(1, customers + 1)]}
        httpx.post(f"{self.root(self.kleanapp)}/_sandbox/bulk", json=body).raise_for_status()

    def slow_sevdesk(self) -> None:
        httpx.post(f"{self.root(self.sevdesk)}/_sandbox/faults", json=SLOW).raise_for_status()

    def fast_sevdesk(self) -> None:
        httpx.delete(f"{self.root(self.sevdesk)}/_sandbox/faults").raise_for_status()

    def sevdesk_writes(self) -> int:
        stats = httpx.get(f"{self.root(self.sevdesk)}/_sandbox/stats").json()
        return stats["total_writes"]

    def contacts(self) -> list[str]:
        rows = httpx.get(
            f"{self.sevdesk.base_url}/Contact",
            params={"depth": 1, "limit": 1000},
            headers={"Authorization": SEV_TOKEN},
        ).json()["objects"]
        return sorted(r["customerNumber"] for r in rows if str(r["category"]["id"]) == "3")


@pytest.fixture(scope="module")
def served() -> Iterator[Sandbox]:
    eps = endpoints(
        sevdesk_port=0, kleanapp_port=0, sevdesk_token=SEV_TOKEN, kleanapp_token=KA_TOKEN
    )
    with SandboxThread(eps):
        yield Sandbox(*eps)


@dataclass
class Kleansync:
    config: Path
    store_url: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KLEANSYNC_CRASH_AT"}
        env.update({SEV_ENV: SEV_TOKEN, KA_ENV: KA_TOKEN})
        return env

    def start(self, *args: str, module: str = "reconciler.cli.app") -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args, "--config", str(self.config)],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def sync(self) -> subprocess.CompletedProcess[str]:
        proc = self.start("sync")
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def store(self) -> Store:
        return Store(self.store_url)


@pytest.fixture
def kleansync(served: Sandbox, tmp_path: Path, state_url: str) -> Kleansync:
    store_url = state_url
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[sevdesk]
base_url = "{served.sevdesk.base_url}"
token_env = "{SEV_ENV}"
requests_per_second = 100

[kleanapp]
base_url = "{served.kleanapp.base_url}"
token_env = "{KA_ENV}"
requests_per_second = 9

[state]
url = "{store_url}"
lock_timeout_seconds = {LOCK_TIMEOUT}

[sync]
units = "off"

[schedule]
cron = "* * * * *"
""",
        encoding="utf-8",
    )
    k = Kleansync(config, store_url)
    # An installation whose state store exists (two processes creating a fresh
    # store at the same instant race in create_all; see the report).
    k.store().close()
    return k


def _lock(k: Kleansync) -> RunLock | None:
    store = k.store()
    try:
        return store.lock_holder("sync")
    finally:
        store.close()


# -- the run lock -----------------------------------------------------------------------


def test_two_syncs_started_together_one_runs_the_other_is_refused(
    served: Sandbox, kleansync: Kleansync
) -> None:
    served.reset(customers=2)
    served.slow_sevdesk()
    try:
        procs = [kleansync.start("sync"), kleansync.start("sync")]
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    finally:
        served.fast_sevdesk()
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 1], results
    (refused,) = [err for code, _out, err in results if code == 1]
    assert "a run is in progress since" in refused and "nothing was changed" in refused
    assert served.contacts() == ["K-90001", "K-90002"]  # created once, by the winner
    store = kleansync.store()
    try:
        assert len(store.runs()) == 1  # the refused one never even started a run
        assert store.lock_holder("sync") is None
    finally:
        store.close()


def test_a_killed_holders_lock_is_taken_over_at_once(served: Sandbox, kleansync: Kleansync) -> None:
    served.reset(customers=2)
    served.slow_sevdesk()
    try:
        holder = kleansync.start("sync")
        lock = wait_for(lambda: _lock(kleansync), "the first sync to take the lock")
        assert lock.pid == holder.pid
        wait_for(lambda: _done_writes(kleansync) >= 1, "the first contact written", 60)
        holder.send_signal(signal.SIGKILL)  # in the middle of the run
        holder.wait(timeout=30)
        assert _lock(kleansync).pid == holder.pid  # left behind by the dead process
    finally:
        served.fast_sevdesk()
    after = kleansync.sync()
    assert after.returncode == 0, after.stderr
    assert served.contacts() == ["K-90001", "K-90002"]
    store = kleansync.store()
    try:
        outcomes = sorted(r.outcome for r in store.runs())
        assert outcomes == ["interrupted", "ok"]
        assert store.lock_holder("sync") is None
    finally:
        store.close()


@pytest.mark.parametrize("heartbeat_age", [LOCK_TIMEOUT + 30, 1])
def test_another_hosts_lock_is_taken_over_only_after_the_timeout(
    served: Sandbox, kleansync: Kleansync, heartbeat_age: int
) -> None:
    served.reset(customers=1)
    now = dt.datetime.now(dt.UTC)
    store = kleansync.store()
    try:
        with store.session() as s:
            s.add(
                RunLock(
                    name="sync",
                    holder="other-host:4242:abcd1234",
                    pid=4242,
                    since=now - dt.timedelta(minutes=10),
                    heartbeat=now - dt.timedelta(seconds=heartbeat_age),
                )
            )
    finally:
        store.close()
    result = kleansync.sync()
    if heartbeat_age > LOCK_TIMEOUT:  # silent for longer than the timeout: dead
        assert result.returncode == 0, result.stderr
        assert served.contacts() == ["K-90001"]
        assert _lock(kleansync) is None
    else:  # alive and well on its host: refused, nothing touched
        assert result.returncode == 1
        assert "a run is in progress since" in result.stderr
        assert "(pid 4242 on other-host)" in result.stderr
        assert served.sevdesk_writes() == 0
        assert _lock(kleansync).holder == "other-host:4242:abcd1234"


# -- SIGTERM ---------------------------------------------------------------------------


def test_sigterm_finishes_the_write_in_flight_and_the_next_run_resumes(
    served: Sandbox, kleansync: Kleansync
) -> None:
    served.reset(customers=3)
    store = kleansync.store()
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    try:
        # The last run was an hour ago: the per-minute schedule missed one, so the
        # service catches up at once when it starts.
        store.start_run(Run(id="earlier", started_at=an_hour_ago, trigger="schedule"))
        store.finish_run("earlier", outcome="ok")
    finally:
        store.close()
    served.slow_sevdesk()
    try:
        service = kleansync.start("serve", "--port", "0")
        try:
            wait_for(lambda: _done_writes(kleansync) >= 1, "the first contact written", 60)
            service.send_signal(signal.SIGTERM)
            out, err = service.communicate(timeout=60)
        finally:
            if service.poll() is None:
                service.kill()
    finally:
        served.fast_sevdesk()
    assert service.returncode == 0, err
    assert "stopping: finishing the work in flight" in err
    store = kleansync.store()
    try:
        assert store.pending_journal() == []
        run = next(r for r in store.runs() if r.id != "earlier")
        assert (run.trigger, run.outcome) == ("schedule", "ok")
        skipped = run.result["skipped"]
        assert skipped and all("asked to stop" in s["reason"] for s in skipped)
        created = run.counts.get("customer.sevdesk.create", 0)
        assert 1 <= created < 3
        assert len(served.contacts()) == created
        assert store.lock_holder("sync") is None
    finally:
        store.close()

    resumed = kleansync.sync()
    assert resumed.returncode == 0, resumed.stderr
    assert served.contacts() == ["K-90001", "K-90002", "K-90003"]


def _done_writes(k: Kleansync) -> int:
    store = k.store()
    try:
        return sum(1 for j in store.journal() if j.state == "done")
    finally:
        store.close()
