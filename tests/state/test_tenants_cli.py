"""``kleansync tenants add|list|show|disable`` on a fleet's PostgreSQL database.

A tenant row is checked as ``config.toml`` is (the same models), names its token
variables and never holds a token; adding a tenant makes its schema. On SQLite the
commands are refused in one line, without creating a store file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from state import Store
from tests.state_backend import POSTGRES

pytestmark = pytest.mark.usefixtures("english")
on_postgres = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL (KLEANSYNC_TEST_STATE=postgres)")
KLEANAPP = "https://glanz.kleanapp.de/api/v1"
TOKEN = "glanz-kleanapp-token-7f3a9c2e"


def configure(tmp_path: Path, url: str) -> None:
    (tmp_path / "config.toml").write_text(
        f'[kleanapp]\nbase_url = "http://127.0.0.1:1/api/v1"\n[state]\nurl = "{url}"\n',
        encoding="utf-8",
    )


@on_postgres
def test_tenants_are_added_checked_shown_and_disabled(
    tmp_path: Path, kleansync, state_url: str
) -> None:
    configure(tmp_path, state_url)
    added = kleansync("tenants", "add", "glanz", "--kleanapp-url", KLEANAPP)
    assert added.code == 0, added.output
    assert "KLEANAPP_TOKEN_GLANZ and SEVDESK_TOKEN_GLANZ" in added.stdout
    tenant = Store(state_url, tenant="glanz")  # its schema was made, with the state tables
    try:
        assert {"link", "run", "journal", "run_lock"} <= set(tenant.tables())
    finally:
        tenant.close()

    refusals = {
        ("glanz", "--kleanapp-url", KLEANAPP): "tenant glanz exists already",
        ("Glanz-2", "--kleanapp-url", KLEANAPP): "tenant name 'Glanz-2'",
        ("putz", "--kleanapp-url", "putz.kleanapp.de"): "tenant putz: [kleanapp] base_url",
        ("putz", "--kleanapp-url", KLEANAPP, "--cron", "nachts"): "tenant putz: [schedule] cron",
        ("putz", "--kleanapp-url", KLEANAPP, "--rules", "newest"): "tenant putz: [rules] default",
        ("putz", "--kleanapp-url", KLEANAPP, "--kleanapp-token-env", TOKEN): "token_env",
    }
    for args, expected in refusals.items():
        refused = kleansync("tenants", "add", *args)
        assert refused.code == 2, (args, refused.output)
        [line] = refused.stderr.strip().splitlines()
        assert expected in line, (args, line)
        assert TOKEN not in refused.output

    shown = kleansync("tenants", "show", "glanz", "--json", env={"KLEANAPP_TOKEN_GLANZ": TOKEN})
    assert shown.code == 0, shown.output
    row = json.loads(shown.stdout)
    assert row["kleanapp"] == {
        "base_url": KLEANAPP,
        "token_env": "KLEANAPP_TOKEN_GLANZ",
        "token_set": True,
    }
    assert row["sevdesk"]["token_set"] is False
    assert row["schedule"] == {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}
    assert TOKEN not in shown.output

    assert kleansync("tenants", "disable", "glanz").code == 0
    listed = json.loads(kleansync("tenants", "list", "--json").stdout)
    assert [(t["name"], t["enabled"]) for t in listed["tenants"]] == [("glanz", False)]
    missing = kleansync("tenants", "show", "nobody")
    assert missing.code == 2 and "there is no tenant nobody" in missing.stderr


def test_tenants_on_an_sqlite_store_are_refused_without_making_a_file(
    tmp_path: Path, kleansync
) -> None:
    configure(tmp_path, "sqlite:///state.db")
    result = kleansync("tenants", "list")
    assert result.code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert "tenants need a PostgreSQL state store" in line
    assert not (tmp_path / "state.db").exists()
