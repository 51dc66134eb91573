"""``kleansync admin add-user`` asks for the password twice and stores only its hash; ``serve``
carries the console at /console while /healthz and /metrics answer without a session as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from reconciler.console import attach
from reconciler.service.runner import Service, ServiceSettings
from state import Store
from state.console_tables import ConsoleTables
from tests.engine.conftest import SyncEnv

from .conftest import PASSWORD


def _add_user(config: Path, name: str, typed: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler.cli",
            "admin",
            "add-user",
            name,
            "--config",
            str(config),
        ],
        input=typed,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_add_user_asks_twice_and_keeps_only_a_hash(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text('[kleanapp]\nbase_url = "http://127.0.0.1:1/api/v1"\n', encoding="utf-8")
    typo = _add_user(config, "anna", f"{PASSWORD}\n{PASSWORD}x\n{PASSWORD}\n{PASSWORD}\n")
    assert typo.returncode == 0, typo.stderr
    assert "Passwort wiederholen" in typo.stderr  # asked twice, again after the mismatch
    assert "Konto anna angelegt" in typo.stdout
    again = _add_user(config, "anna", f"{PASSWORD}\n{PASSWORD}\n")
    assert again.returncode == 2 and "es gibt schon ein Konto 'anna'" in again.stderr
    short = _add_user(config, "bert", "kurz\nkurz\n")
    assert short.returncode == 2 and "mindestens 10 Zeichen" in short.stderr
    store = Store(f"sqlite:///{tmp_path / 'kleansync.db'}")
    try:
        user = ConsoleTables(store).user("anna")
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert ConsoleTables(store).user("bert") is None
    finally:
        store.close()


async def test_serve_carries_the_console_and_keeps_healthz_and_metrics_open(env: SyncEnv):
    service = Service(
        env.config,
        settings=ServiceSettings(listen_port=0),
        connectors={"kleanapp": env.k, "sevdesk": env.s},
        store=env.store,
    )
    attach(service)
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kleansync.test") as http:
        health = await http.get("/healthz")
        assert health.status_code in (200, 503) and "store" in health.json()
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and "kleansync" in metrics.text
        for path in ("/", "/console/"):
            answer = await http.get(path)
            assert answer.status_code == 303
        assert (await http.get("/console/")).headers["location"].startswith("/console/login")
