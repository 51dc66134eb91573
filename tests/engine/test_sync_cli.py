"""`kleansync sync` as a user meets it: JSON contract, exit codes, bad records."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from reconciler.cli.app import app
from sandbox.client import polite_client
from sandbox.serve import SandboxThread, endpoints

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

S_TOKEN = "cli-test-sevdesk-token-abcdef012345"
K_TOKEN = "cli-test-kleanapp-token-abcdef0123"


@pytest.fixture(scope="module")
def sandbox():
    eps = endpoints(sevdesk_port=0, kleanapp_port=0, sevdesk_token=S_TOKEN, kleanapp_token=K_TOKEN)
    with SandboxThread(eps):
        yield {"sevdesk": eps[0].base_url, "kleanapp": eps[1].base_url}


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch, state_url):
    for url in sandbox.values():
        httpx.post(url.removesuffix("/api/v1") + "/_sandbox/reset").raise_for_status()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sevdesk]\nbase_url = "{sandbox["sevdesk"]}"\ntoken_env = "T_S"\n'
        f"requests_per_second = 50\n"
        f'[kleanapp]\nbase_url = "{sandbox["kleanapp"]}"\ntoken_env = "T_K"\n'
        f'[state]\nurl = "{state_url}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("T_S", S_TOKEN)
    monkeypatch.setenv("T_K", K_TOKEN)
    return {"config": config, **sandbox}


def bulk(url: str, body: dict) -> None:
    httpx.post(url.removesuffix("/api/v1") + "/_sandbox/bulk", json=body).raise_for_status()


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_sync_json_is_one_object_with_the_documented_keys(world):
    bulk(
        world["kleanapp"],
        {
            "customers": [
                {"customer_number": "K-00001", "kind": "company", "company_name": "Hotel Adler"}
            ]
        },
    )
    result = run("sync", "--config", str(world["config"]), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {
        "run_id",
        "dry_run",
        "counts",
        "conflicts",
        "tasks",
        "quarantined",
        "errors",
        "parked",
    } <= set(out)
    assert out["dry_run"] is False
    assert out["counts"] == {"customer.sevdesk.create": 1, "unit.kleanapp.create": 5}


def test_a_refused_record_is_reported_exit_1_and_the_others_go_on(world):
    bulk(
        world["kleanapp"],
        {
            "customers": [
                {"customer_number": f"K-0000{i}", "kind": "company", "company_name": f"Firma {i}"}
                for i in range(1, 4)
            ]
        },
    )
    root = world["sevdesk"].removesuffix("/api/v1")
    httpx.post(
        f"{root}/_sandbox/faults",
        json={
            "kind": "status",
            "status": 422,
            "method": "POST",
            "path": "/Contact$",
            "times": 1,
            "message": "Validation error: name too long",
        },
    ).raise_for_status()

    result = run("sync", "--config", str(world["config"]), "--json")
    out = json.loads(result.stdout)
    assert result.exit_code == 1
    assert len(out["errors"]) == 1 and "name too long" in out["errors"][0]["error"]
    assert out["counts"]["customer.sevdesk.create"] == 2

    refused = out["errors"][0]
    assert refused["waiting_for_fix"] is True

    # Unchanged, it is not sent again: the run is "ok" and says what still waits.
    again = run("sync", "--config", str(world["config"]), "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["counts"] == {}
    assert json.loads(again.stdout)["waiting_for_fix"] == 1

    # Changed at its source, it is tried again.
    # The test's own edit shares KleanApp's per-token limit with the sync just
    # run (paced just below it), so it waits out a 429 as a polite client does.
    with polite_client(world["kleanapp"], f"Bearer {K_TOKEN}") as kleanapp:
        rows = kleanapp.get("customers").json()["data"]
        row = next(r for r in rows if r["customer_number"] == refused["key"])
        kleanapp.patch(
            f"customers/{row['id']}",
            json={"company_name": "Firma Drei"},
            headers={"If-Match": str(row["version"])},
        ).raise_for_status()
    retry = json.loads(run("sync", "--config", str(world["config"]), "--json").stdout)
    assert retry["counts"] == {"customer.sevdesk.create": 1} and retry["errors"] == []
    assert retry["waiting_for_fix"] == 0


def test_a_malformed_record_is_quarantined_and_the_others_go_on(world):
    bulk(
        world["sevdesk"],
        {
            "contacts": [
                {"customerNumber": "K-00009", "category": {"id": 3, "objectName": "Category"}},
                {
                    "customer_number": "K-00010",
                    "kind": "company",
                    "company_name": "Kita Sonnenblume",
                },
            ]
        },
    )
    result = run("sync", "--config", str(world["config"]), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    [bad] = out["quarantined"]
    assert bad["side"] == "sevdesk" and bad["reason"]
    assert out["counts"]["customer.kleanapp.create"] == 1


def test_wrong_key_is_one_line_exit_1_without_the_token(world, monkeypatch):
    monkeypatch.setenv("T_S", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("KLEANSYNC_LANG", "en")
    result = run("sync", "--config", str(world["config"]))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("kleansync: sevDesk rejected the API key (HTTP 401); ")
    # ... and where the new key goes: the variable this config names.
    assert "issues a new API key whenever the user is saved" in lines[-1]
    assert "environment variable T_S ([sevdesk] token_env)" in lines[-1]
    assert "0123456789abcdef" not in result.output + result.stderr


def test_unreadable_plan_file_is_a_usage_error(world, tmp_path):
    missing = tmp_path / "nope.json"
    result = run("sync", "--config", str(world["config"]), "--apply-plan", str(missing))
    assert result.exit_code == 2
    assert "no such plan file" in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"hello": 1}')
    result = run("sync", "--config", str(world["config"]), "--apply-plan", str(garbage))
    assert result.exit_code == 2
    assert "not a kleansync plan" in result.stderr
