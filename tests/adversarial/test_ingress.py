"""Issue 14, what comes in: creates repeated after a crash, hostile webhooks, echoed secrets.

Each test drives the real ``kleansync`` process (or the service's real
receiver) against the emulators and counts what both sides hold through
their public APIs afterwards.

* A ``sync`` SIGKILLed right after KleanApp answered a create for a sevDesk
  contact without a customer number (KleanApp assigns one the killed process
  never recorded): the next run repeats the create with the journal entry's
  ``Idempotency-Key``, gets the first customer back, and links it; exactly
  one customer on each side afterwards.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from tests.engine.test_crash_recovery import KLEAN_ENV, KLEAN_RPS, SEV_ENV, Cli, Sandbox, served

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
