"""A 0-byte state store is refused, unless this is a fresh install or ``--new-store`` is given.

Before: an emptied ``state.db`` (full disk, failed copy, truncating restore)
was silently opened as a brand-new store: history, open conflicts and the
invoice ledger were gone and the next run re-matched everything. Now the
commands that open the store say so in one line (exit 2) and touch nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def setup(sandbox_server, tmp_path: Path):
    sandbox_server.reset()
    root = sandbox_server.kleanapp_url.removesuffix("/api/v1")
    customer = {
        "customer_number": "K-10001",
        "kind": "company",
        "company_name": "Kanzlei Weber GmbH",
        "email": "info@weber.example.de",
    }
    httpx.post(f"{root}/_sandbox/bulk", json={"customers": [customer]}).raise_for_status()
    config = sandbox_server.config(tmp_path, extra='[sync]\nunits = "off"\n')
    env = {
        "SEVDESK_TOKEN": sandbox_server.sevdesk_token,
        "KLEANAPP_TOKEN": sandbox_server.kleanapp_token,
    }
    return config, env, tmp_path / "state.db"


def _sevdesk_writes(server) -> int:
    root = server.sevdesk_url.removesuffix("/api/v1")
    return httpx.get(f"{root}/_sandbox/stats").json()["total_writes"]


@pytest.mark.parametrize(
    "command",
    [("sync",), ("invoices", "export"), ("status",)],
    ids=["sync", "invoices-export", "status"],
)
def test_an_emptied_state_store_is_refused_in_one_line(
    setup, kleansync, sandbox_server, command
) -> None:
    config, env, state = setup
    state.touch()
    before = _sevdesk_writes(sandbox_server)

    result = kleansync(*command, "--config", str(config), env=env)

    assert result.code == 2, result.output
    assert result.stderr.splitlines() == [
        f"kleansync: [state] url: {state.resolve()} is empty (0 bytes), so the run history, "
        "open conflicts and invoice ledger it held are gone; restore it from a backup, or pass "
        "--new-store (kleansync sync, serve or invoices export) to start over with an empty store"
    ]
    assert state.stat().st_size == 0, "the empty store was written to"
    assert _sevdesk_writes(sandbox_server) == before


def test_new_store_starts_over_on_an_emptied_state_store(setup, kleansync) -> None:
    config, env, state = setup
    state.touch()

    result = kleansync("sync", "--config", str(config), "--new-store", "--json", env=env)

    assert result.code == 0, result.output
    assert json.loads(result.stdout)["counts"] == {"customer.sevdesk.create": 1}
    assert state.stat().st_size > 0


def test_a_fresh_install_needs_no_flag(setup, kleansync) -> None:
    config, env, state = setup
    assert not state.exists()

    first = kleansync("sync", "--config", str(config), env=env)
    again = kleansync("sync", "--config", str(config), env=env)  # the store it made is fine

    assert (first.code, again.code) == (0, 0), first.output + again.output
    assert state.stat().st_size > 0
