"""The fleet harness: tenants on one PostgreSQL database, their emulators, worker processes.

Each tenant gets its own pair of emulators (threads of the test process, served on
loopback, each pair with its own tokens); ``kleansync worker`` runs as real processes
(to be SIGKILLed, and because two workers on one machine are two processes). One
tenant's tokens are environment variables, the other's are files of a secrets
directory, so both sources are used by the workers. PostgreSQL only: the fleet's
jobs live there (``KLEANSYNC_TEST_STATE=postgres``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from reconciler.fleet.app import apply_schema, conninfo
from sandbox.serve import Endpoint, SandboxThread, endpoints
from state import Store
from state.tenant_tables import Tenant, Tenants
from tests.conftest import CRASH_ENV
from tests.state_backend import POSTGRES

on_postgres = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL (KLEANSYNC_TEST_STATE=postgres)")

CLI = [sys.executable, "-m", "reconciler.cli"]


@dataclass
class TenantWorld:
    name: str
    sevdesk: Endpoint
    kleanapp: Endpoint
    rules: str
    cron: str
    timezone: str

    @staticmethod
    def root(ep: Endpoint) -> str:
        return ep.base_url.removesuffix("/api/v1")

    def bulk(self, side: str, body: dict[str, Any]) -> None:
        ep = self.kleanapp if side == "kleanapp" else self.sevdesk
        httpx.post(f"{self.root(ep)}/_sandbox/bulk", json=body, timeout=10).raise_for_status()

    def fault(self, side: str, rule: dict[str, Any]) -> None:
        ep = self.kleanapp if side == "kleanapp" else self.sevdesk
        httpx.post(f"{self.root(ep)}/_sandbox/faults", json=rule, timeout=10).raise_for_status()

    def contacts(self) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self.sevdesk.base_url}/Contact",
            params={"depth": 1, "limit": 1000},
            headers={"Authorization": self.sevdesk.token},
            timeout=10,
        )
        r.raise_for_status()
        return [c for c in r.json()["objects"] if str((c.get("category") or {}).get("id")) == "3"]

    def writes(self) -> int:
        total = 0
        for ep in (self.kleanapp, self.sevdesk):
            r = httpx.get(f"{self.root(ep)}/_sandbox/stats", timeout=10)
            total += r.json()["total_writes"]
        return total


def kleanapp_client(world: TenantWorld) -> httpx.Client:
    """The tenant's KleanApp emulator's API, with the tenant's token."""
    return httpx.Client(
        base_url=world.kleanapp.base_url,
        headers={"Authorization": f"Bearer {world.kleanapp.token}"},
        timeout=10,
    )


def save_invoice(world: TenantWorld, customer_id: Any, **position: str) -> str:
    """Save one open invoice of one cleaning position in the tenant's KleanApp; its id.

    ``position`` adds to (or replaces) the position's fields.
    """
    body = {
        "customer_id": customer_id,
        "invoice_date": "2026-11-20",
        "delivery_date": "2026-11-17",
        "status": "open",
        "positions": [
            {
                "product_name": "Unterhaltsreinigung Büro",
                "quantity": "4",
                "unit_name": "Std",
                "unit_price_net": "38.00",
                "tax_rate": "19",
                **position,
            }
        ],
    }
    saved = httpx.post(f"{world.root(world.kleanapp)}/_sandbox/invoices", json=body, timeout=10)
    assert saved.status_code == 201, saved.text
    return str(saved.json()["id"])


@dataclass
class FleetWorld:
    url: str
    tmp: Path
    config: Path
    secrets_dir: Path
    tenants: dict[str, TenantWorld]
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def store(self, tenant: str) -> Store:
        return Store(self.url, tenant=tenant)

    def start_worker(
        self, name: str, *, crash_at: str | None = None, concurrency: int = 2, **extra: str
    ) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in self.env.items() if k != CRASH_ENV}
        if crash_at:
            env[CRASH_ENV] = crash_at
        args = [
            "worker",
            "-c",
            str(self.config),
            "--no-schedule",
            "--concurrency",
            str(concurrency),
            "--poll-seconds",
            "0.2",
            "--heartbeat-seconds",
            "0.3",
            "--stalled-after-seconds",
            "1.5",
            "--stalled-check-seconds",
            "0.3",
            "--retry-base-seconds",
            "0.5",
        ]
        for key, value in extra.items():
            args += [f"--{key.replace('_', '-')}", value]
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [*CLI, *args], cwd=self.tmp, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.workers.append(proc)
        return proc

    def live_workers(self) -> int:
        """Workers registered in procrastinate's table (started and heartbeating)."""
        with psycopg.connect(conninfo(self.url)) as conn:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            return int(row[0]) if row else 0

    def wait_workers(self, n: int) -> None:
        """Until ``n`` workers run: a worker process on a busy machine takes a while to start."""
        wait_for(lambda: self.live_workers() >= n, f"{n} workers", timeout=240, world=self)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def jobs(self) -> list[dict[str, Any]]:
        with psycopg.connect(conninfo(self.url)) as conn:
            cur = conn.execute(
                "SELECT id, task_name, status::text, lock, queueing_lock, args, attempts, worker_id"
                " FROM procrastinate_jobs ORDER BY id"
            )
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def wait_for(
    check: Callable[[], Any], what: str, timeout: float = 180.0, world: FleetWorld | None = None
) -> Any:
    """Poll ``check`` until it returns something truthy (never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = ""
            if world is not None:
                logs = "".join(
                    f"\n--- {p.name} ---\n{p.read_text(errors='replace')[-4000:]}"
                    for p in sorted(world.tmp.glob("*.log"))
                )
                logs += f"\n--- jobs ---\n{world.jobs()}"
            pytest.fail(f"timed out waiting for {what}{logs}")
        time.sleep(0.1)


def _tenant_endpoints(name: str) -> list[Endpoint]:
    return endpoints(
        sevdesk_port=0,
        kleanapp_port=0,
        sevdesk_token=f"fleet-{name}-sevdesk-token-0123",
        kleanapp_token=f"fleet-{name}-kleanapp-token-0123",
    )


@pytest.fixture
def fleet(tmp_path: Path, state_url: str) -> Iterator[FleetWorld]:
    """Two tenants, ``alpha`` (tokens in the environment) and ``beta`` (in a secrets dir)."""
    specs = {
        "alpha": ("kleanapp-authoritative", "0 2 * * *", "Europe/Berlin"),
        "beta": ("manual", "30 5 * * *", "UTC"),
    }
    eps = {name: _tenant_endpoints(name) for name in specs}
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    env = {**os.environ, "NO_COLOR": "1", "KLEANSYNC_LANG": "de"}
    registry_store = Store(state_url)
    registry = Tenants(registry_store)
    worlds: dict[str, TenantWorld] = {}
    for name, (rules, cron, zone) in specs.items():
        sev, klean = eps[name]
        worlds[name] = TenantWorld(name, sev, klean, rules, cron, zone)
        k_env, s_env = f"KLEANAPP_TOKEN_{name.upper()}", f"SEVDESK_TOKEN_{name.upper()}"
        registry.add(
            Tenant(
                name=name,
                kleanapp_base_url=klean.base_url,
                sevdesk_base_url=sev.base_url,
                kleanapp_token_env=k_env,
                sevdesk_token_env=s_env,
                rules={"default": rules},
                schedule={"cron": cron, "timezone": zone},
            )
        )
        if name == "alpha":
            env[k_env], env[s_env] = klean.token, sev.token
        else:
            (secrets / k_env).write_text(klean.token + "\n", encoding="utf-8")
            (secrets / s_env).write_text(sev.token + "\n", encoding="utf-8")
    registry_store.close()
    env["KLEANSYNC_SECRETS_DIR"] = str(secrets)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[sevdesk]
requests_per_second = 100

[kleanapp]
base_url = "http://127.0.0.1:9/api/v1"
requests_per_second = 9

[state]
url = "{state_url}"

[sync]
units = "off"

[report]
dir = "reports"
""",
        encoding="utf-8",
    )
    apply_schema(state_url)
    thread = SandboxThread([ep for pair in eps.values() for ep in pair])
    with thread:
        world = FleetWorld(state_url, tmp_path, config, secrets, worlds, env)
        try:
            yield world
        finally:
            for proc in world.workers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
