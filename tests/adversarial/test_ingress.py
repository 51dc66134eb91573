"""Issue 14, what comes in: creates repeated after a crash, hostile webhooks, echoed secrets.

Each test drives the real ``kleansync`` process (or the service's real
receiver) against the emulators and counts what both sides hold through
their public APIs afterwards.

* A ``sync`` SIGKILLed right after KleanApp answered a create for a sevDesk
  contact without a customer number (KleanApp assigns one the killed process
  never recorded): the next run repeats the create with the journal entry's
  ``Idempotency-Key``, gets the first customer back, and links it; exactly
  one customer on each side afterwards.
* KleanApp quoting the webhook signing secret in its errors: ``sync`` and
  ``invoices export`` (which never use that secret) mask it in their output,
  reports and the state store like both API tokens.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.log import MASK
from tests.adversarial.audit import audit
from tests.conftest import SandboxServer
from tests.engine.test_crash_recovery import (
    KLEAN_ENV,
    KLEAN_RPS,
    KLEAN_TOKEN,
    SEV_ENV,
    SEV_TOKEN,
    Cli,
    Sandbox,
    served,
)
from tests.service.conftest import invoice_body
from tests.test_secrets import assert_nowhere

__all__ = ["served"]  # the module-scoped emulators on loopback (a fixture)

NO_NUMBER = {
    "kind": "company",
    "company_name": "Reinigungsbedarf Ohne Nummer GmbH",
    "street": "Lindenallee 7",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
    "email": "info@ohne-nummer.de",
}


def _cli(sandbox: Sandbox, tmp_path: Path) -> Cli:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[sevdesk]
base_url = "{sandbox.sevdesk.base_url}"
token_env = "{SEV_ENV}"
requests_per_second = 100

[kleanapp]
base_url = "{sandbox.kleanapp.base_url}"
token_env = "{KLEAN_ENV}"
requests_per_second = {KLEAN_RPS}

[state]
url = "{state_url}"

[sync]
units = "off"
""",
        encoding="utf-8",
    )
    return Cli(config, state_url)


# -- item 3: a crash right after KleanApp answered a create ---------------------------------


def test_killed_right_after_kleanapp_answered_a_create_leaves_one_customer_on_each_side(
    served: Sandbox, tmp_path: Path
) -> None:
    served.reset()
    served.bulk(served.sevdesk, {"contacts": [NO_NUMBER]})
    cli = _cli(served, tmp_path)
    (contact,) = served.contacts()
    assert not contact.get("customerNumber")

    killed = cli.run("after_request:customer.kleanapp.create")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (pending,) = [e for e in cli.journal() if e.state == "pending"]
    assert (pending.side, pending.op) == ("kleanapp", "create")
    assert len(served.klean_customers()) == 1  # the create got through before the kill

    recovered = cli.sync()
    assert not recovered["errors"], recovered["errors"]
    assert pending.id in [r["journal_id"] for r in recovered["recovered"]]
    again = cli.sync()
    assert again["counts"] == {} and not again["errors"], again

    customers = served.klean_customers()
    contacts = served.contacts()
    assert [c["company_name"] for c in customers] == [NO_NUMBER["company_name"]]
    assert [c["name"] for c in contacts] == [NO_NUMBER["company_name"]]
    # Both carry the number KleanApp assigned on the first (killed) create.
    assert contacts[0]["customerNumber"] == customers[0]["customer_number"]
    creates = Counter((e.side, e.state) for e in cli.journal() if e.op == "create")
    assert creates == {("kleanapp", "done"): 1}, creates
    expected = {customers[0]["customer_number"]: NO_NUMBER}
    report = audit(
        served.sevdesk.base_url, SEV_TOKEN, served.kleanapp.base_url, KLEAN_TOKEN, expected
    )
    report.assert_clean()
    assert report.counts["kleanapp"] == report.counts["sevdesk"] == 1, report.counts


# -- item 8: the webhook secret echoed back by KleanApp ---------------------------------------

WEBHOOK_SECRET = "whsec-Hx7Qp2Vt9Lm4Rz8Kc3Nd"
SECRET_ENV = "KLEANSYNC_INGRESS_WEBHOOK_SECRET"
HOOKS = f'[webhooks]\nsecret_env = "{SECRET_ENV}"\npublic_url = "https://sync.example.de"\n'


def _post(port: int, path: str, body: Any) -> Any:
    response = httpx.post(f"http://127.0.0.1:{port}/_sandbox/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def _echo_secret(port: int, *, kind: str, method: str, path: str | None = None) -> None:
    rule = {"kind": kind, "method": method, "times": None, "path": path}
    rule["message"] = f"webhook secret {WEBHOOK_SECRET} does not match the registration"
    _post(port, "faults", rule)


@pytest.fixture
def echoing(sandbox_server: SandboxServer, kleansync: Any, tmp_path: Path) -> Any:
    """Both emulators seeded, a config whose [webhooks] names the secret; returns a runner."""
    sandbox_server.reset()
    klean = {"customer_number": "K-00001", "company_name": "Klean GmbH", "email": "a@klean.de"}
    sev = {"customer_number": "S-1", "kind": "person", "last_name": "Sev", "city": "Bonn"}
    ids = _post(sandbox_server.kleanapp_port, "bulk", {"customers": [klean]})["customers"]
    _post(sandbox_server.sevdesk_port, "bulk", {"contacts": [sev]})
    config = sandbox_server.config(tmp_path, extra=HOOKS)
    env = {
        "SEVDESK_TOKEN": sandbox_server.sevdesk_token,
        "KLEANAPP_TOKEN": sandbox_server.kleanapp_token,
        SECRET_ENV: WEBHOOK_SECRET,
    }

    def run(*args: str) -> Any:
        return kleansync("-v", *args, "--json", "-c", str(config), env=env, timeout=60)

    run.customer_id = ids[0]  # type: ignore[attr-defined]
    return run


def test_the_webhook_secret_echoed_by_kleanapp_is_masked_in_sync_output_reports_and_store(
    echoing: Any, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    _echo_secret(sandbox_server.kleanapp_port, kind="status", method="POST")  # every create
    result = echoing("sync")

    assert result.code == 1, result.stderr
    report = json.loads(result.stdout)
    assert MASK in json.dumps(report["errors"])  # the error says what KleanApp said, masked
    assert list(tmp_path.glob("reports/*.html")) and (tmp_path / "state.db").exists()
    assert_nowhere([WEBHOOK_SECRET], result.stdout, result.stderr, files=tmp_path)


def test_the_webhook_secret_echoed_by_kleanapp_is_masked_in_invoices_export(
    echoing: Any, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    assert echoing("sync").code == 0  # K-00001 is in sevDesk now: its invoice can go out
    _post(sandbox_server.kleanapp_port, "invoices", invoice_body(echoing.customer_id))
    # Linking the exported invoice in KleanApp fails, quoting the secret.
    _echo_secret(sandbox_server.kleanapp_port, kind="status", method="PUT", path="/export$")
    result = echoing("invoices", "export", "--from", "2026-01-01")

    assert result.code == 1, result.stderr
    exported = json.loads(result.stdout)
    assert MASK in json.dumps(exported["errors"]), exported
    assert_nowhere([WEBHOOK_SECRET], result.stdout, result.stderr, files=tmp_path)
