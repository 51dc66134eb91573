"""A tenant's tokens come from the environment or a mounted secrets directory, never the DB.

``reconciler.domain.tenant_secrets`` on its own (both sources, the trailing newline, which wins,
a missing one said in one line naming the tenant and the secret, never a value), then
``kleansync worker --check`` on a fleet whose tenants use one source each, and a third
tenant whose secrets exist nowhere: it alone is refused, in one German line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.domain.tenant_secrets import MissingSecret, Secrets
from state import Store
from state.tenant_tables import Tenant, Tenants
from tests.fleet.conftest import CLI, FleetWorld, on_postgres


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "KLEANAPP_TOKEN_GLANZ").write_text("ka-file-token-1234\n", encoding="utf-8")
    secrets = Secrets(tmp_path, environ={})
    assert secrets.get("KLEANAPP_TOKEN_GLANZ") == "ka-file-token-1234"


def test_a_secret_is_read_from_the_environment_without_a_directory() -> None:
    secrets = Secrets(environ={"SEVDESK_TOKEN_GLANZ": "sev-env-token-5678"})
    assert secrets.directory is None
    assert secrets.get("SEVDESK_TOKEN_GLANZ") == "sev-env-token-5678"


def test_the_directory_wins_and_the_environment_fills_in(tmp_path: Path) -> None:
    (tmp_path / "A_TOKEN").write_text("from-the-file-0001", encoding="utf-8")
    environ = {"A_TOKEN": "from-the-env-0001", "B_TOKEN": "only-in-env-0002"}
    secrets = Secrets(environ={**environ, "KLEANSYNC_SECRETS_DIR": str(tmp_path)})
    assert secrets.directory == tmp_path
    assert secrets.get("A_TOKEN") == "from-the-file-0001"
    assert secrets.get("B_TOKEN") == "only-in-env-0002"


@pytest.mark.usefixtures("english")
def test_a_missing_secret_is_one_line_naming_tenant_and_secret(tmp_path: Path) -> None:
    secrets = Secrets(tmp_path, environ={"OTHER": "x" * 20})
    with pytest.raises(MissingSecret) as caught:
        secrets.require("glanz", "SEVDESK_TOKEN_GLANZ")
    message = str(caught.value)
    assert "\n" not in message
    assert "glanz" in message and "SEVDESK_TOKEN_GLANZ" in message and str(tmp_path) in message


@on_postgres
def test_the_worker_check_finds_both_sources_and_skips_only_the_tenant_without(
    fleet: FleetWorld,
) -> None:
    store = Store(fleet.url)
    try:
        Tenants(store).add(
            Tenant(
                name="gamma",
                kleanapp_base_url="https://gamma.kleanapp.de/api/v1",
                sevdesk_base_url="https://my.sevdesk.de/api/v1",
                kleanapp_token_env="KLEANAPP_TOKEN_GAMMA",
                sevdesk_token_env="SEVDESK_TOKEN_GAMMA",
                rules={"default": "manual"},
                schedule={"cron": "0 3 * * *", "timezone": "UTC"},
            )
        )
    finally:
        store.close()
    done = subprocess.run(
        [*CLI, "worker", "-c", str(fleet.config), "--check"],
        cwd=fleet.tmp,
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # alpha's tokens are environment variables, beta's are files of the secrets directory.
    assert "Mandant alpha: bereit" in done.stdout and "Mandant beta: bereit" in done.stdout
    problems = done.stderr.strip().splitlines()
    assert len(problems) == 1, done.stderr
    assert "gamma" in problems[0] and "KLEANAPP_TOKEN_GAMMA" in problems[0]
    assert "übersprungen" in problems[0]  # German, like every line a person reads
    for tenant in fleet.tenants.values():
        for token in (tenant.kleanapp.token, tenant.sevdesk.token):
            assert token not in done.stdout + done.stderr


@on_postgres
def test_an_unknown_queue_is_one_line_and_exit_code_2(fleet: FleetWorld) -> None:
    done = subprocess.run(
        [*CLI, "worker", "-c", str(fleet.config), "--queues", "exports,nachts"],
        cwd=fleet.tmp,
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "--queues" in line and "nachts" in line and "exports, sync, backfill, fleet" in line
