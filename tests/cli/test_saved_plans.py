"""Saved plans as a user meets them (issue 17): ``sync --plan-out`` and ``--apply-plan``.

Real ``kleansync`` processes against the shared sandbox process. A saved plan
is for review: making one writes nothing, and applying one is refused in one
line, before anything is written, when it was applied already, comes from
another state store, is older than ``[sync] plan_max_age_hours``, or is no
plan at all. Applying a plan twice used to end in a multi-line SQL error
quoting customer data, which then stayed in ``kleansync status``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CliResult, SandboxServer

NAME = "Gebäudereinigung Sauber & Rein"
CUSTOMER = {"customer_number": "K-00001", "kind": "company", "company_name": NAME}


@pytest.fixture
def server(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    httpx.post(
        sandbox_server.kleanapp_url.removesuffix("/api/v1") + "/_sandbox/bulk",
        json={
            "customers": [{"customer_number": "K-00001", "kind": "company", "company_name": NAME}]
        },
        timeout=10,
    ).raise_for_status()
    return sandbox_server


@pytest.fixture
def run(
    server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> Callable[..., CliResult]:
    """``kleansync ARGS`` with the sandbox's tokens; the config is tmp_path/config.toml."""
    server.config(tmp_path, extra='[sync]\nunits = "off"\n')
    tokens = {"SEVDESK_TOKEN": server.sevdesk_token, "KLEANAPP_TOKEN": server.kleanapp_token}
    return lambda *args: kleansync(*args, env=tokens)


def contacts(server: SandboxServer) -> list[dict[str, Any]]:
    response = httpx.get(
        server.sevdesk_url + "/Contact",
        params={"limit": 1000},
        headers={"Authorization": server.sevdesk_token},
        timeout=10,
    )
    return [c for c in response.json()["objects"] if c.get("customerNumber")]


def one_line(result: CliResult) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_plan_out_only_saves_the_plan_and_an_applied_plan_is_not_applied_again(
    server: SandboxServer, run: Callable[..., CliResult], tmp_path: Path
) -> None:
    saved = run("sync", "--plan-out", "plan.json")
    assert saved.code == 0, saved.output
    assert "dry-run" in saved.stdout
    assert contacts(server) == []  # making a plan wrote nothing
    assert json.loads((tmp_path / "plan.json").read_text())["pairs"]

    applied = run("sync", "--apply-plan", "plan.json")
    assert applied.code == 0, applied.output
    assert [c["name"] for c in contacts(server)] == [NAME]

    again = run("sync", "--apply-plan", "plan.json", "-q")
    assert again.code == 2
    line = one_line(again)
    assert line.startswith("kleansync: plan.json: this plan was applied already (run ")
    assert NAME not in again.output and "INSERT" not in again.output
    assert len(contacts(server)) == 1
    # The refusal left no failed run with database text behind.
    status = run("status", "--json")
    assert [r["outcome"] for r in json.loads(status.stdout)["runs"]] == ["ok", "ok"]
    assert NAME not in status.stdout


def test_a_plan_from_another_store_too_old_or_no_plan_at_all_is_refused_in_one_line(
    server: SandboxServer, run: Callable[..., CliResult], tmp_path: Path
) -> None:
    assert run("sync", "--plan-out", "plan.json").code == 0
    plan = json.loads((tmp_path / "plan.json").read_text())

    other = tmp_path / "other"
    other.mkdir()
    server.config(other, extra='[sync]\nunits = "off"\n')  # its own state.db
    elsewhere = run("sync", "--apply-plan", "plan.json", "--config", "other/config.toml")
    assert elsewhere.code == 2
    assert "this plan was made from another state store" in one_line(elsewhere)

    plan["created_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)).isoformat()
    (tmp_path / "old.json").write_text(json.dumps(plan), encoding="utf-8")
    old = run("sync", "--apply-plan", "old.json")
    assert old.code == 2
    assert "this plan is 30 hours old, older than [sync] plan_max_age_hours = 24" in one_line(old)

    (tmp_path / "garbage.json").write_bytes(bytes(range(256)) * 4)
    garbage = run("sync", "--apply-plan", "garbage.json")
    assert garbage.code == 2
    assert one_line(garbage) == "kleansync: garbage.json: not a kleansync plan (not text)"

    assert contacts(server) == []  # none of them wrote anything


def test_plan_out_into_a_missing_folder_is_one_line_before_anything_is_read(
    server: SandboxServer, run: Callable[..., CliResult]
) -> None:
    result = run("sync", "--plan-out", "no/such/folder/plan.json")
    assert result.code == 2
    assert one_line(result) == (
        "kleansync: --plan-out no/such/folder/plan.json: there is no folder no/such/folder"
    )
    both = run("sync", "--plan-out", "plan.json", "--apply-plan", "plan.json")
    assert both.code == 2
    assert "use one" in one_line(both)


def test_sync_help_says_plan_out_implies_a_dry_run(kleansync: Callable[..., CliResult]) -> None:
    result = kleansync("sync", "--help", env={"COLUMNS": "250"})
    assert result.code == 0
    assert "implies --dry-run (nothing is written)" in result.stdout
