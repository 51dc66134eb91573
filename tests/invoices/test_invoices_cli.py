"""``kleansync invoices export|status`` as a user types them: options, output, exit codes.

``reconciler.cli.app`` registers the group with ``register(app)``; these tests do
the same on a fresh typer app and run it against the emulators on loopback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from reconciler.cli.invoices import register
from sandbox.serve import SandboxThread, endpoints

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30"], "--from: '2026-02-30' is not a date"),
        (["--from", "2026-03-01", "--to", "2026-02-01"], "--from 2026-03-01 is after --to"),
        (["--status", "open,unpaid"], "--status: unpaid;"),
        (["--format", "pdf"], "--format must be draft, final or einvoice"),
    ],
)
def test_wrong_options_exit_2_with_one_line(
    app: typer.Typer, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["invoices", "export", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture
def services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_url: str
) -> Iterator[dict[str, Any]]:
    eps = endpoints(sevdesk_port=0, kleanapp_port=0)
    sev, ka = eps
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sevdesk]\nbase_url = "{sev.base_url}"\ntoken_env = "INVOICE_CLI_SEVDESK_TOKEN"\n'
        "requests_per_second = 50\n"
        f'[kleanapp]\nbase_url = "{ka.base_url}"\ntoken_env = "INVOICE_CLI_KLEANAPP_TOKEN"\n'
        f'[state]\nurl = "{state_url}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("INVOICE_CLI_SEVDESK_TOKEN", sev.token)
    monkeypatch.setenv("INVOICE_CLI_KLEANAPP_TOKEN", ka.token)
    with SandboxThread(eps):
        yield {
            "config": str(config),
            "sev": sev.base_url.removesuffix("/api/v1"),
            "ka": ka.base_url.removesuffix("/api/v1"),
        }


def seed(services: dict[str, Any], customers: list[dict[str, Any]]) -> list[int]:
    """Two customers known to both sides by number, and their invoices."""
    httpx.post(f"{services['sev']}/_sandbox/bulk", json={"contacts": customers[:2]})
    made = httpx.post(f"{services['ka']}/_sandbox/bulk", json={"customers": customers[:2]})
    ids = []
    for customer_id, price in zip(made.json()["customers"], ("38.00", "10.02"), strict=True):
        position = {
            "product_name": "Anfahrt" if price == "10.02" else "Unterhaltsreinigung",
            "quantity": 1,
            "unit_name": "pauschal",
            "unit_price_net": price,
            "tax_rate": 19,
        }
        body = {"customer_id": customer_id, "invoice_date": "2026-03-02"}
        body["positions"] = [position] * (3 if price == "10.02" else 1)
        ids.append(httpx.post(f"{services['ka']}/_sandbox/invoices", json=body).json()["id"])
    # KleanApp refuses to link the second one: that invoice fails, the first goes out.
    fault = {"kind": "status", "method": "PUT", "path": f"/invoices/{ids[1]}/export"}
    httpx.post(f"{services['ka']}/_sandbox/faults", json={**fault, "status": 422, "times": 1})
    return ids


def test_dry_run_text_then_json_run_exits_1_when_an_invoice_failed(
    app: typer.Typer, services: dict[str, Any], customer_rows: list[dict[str, Any]]
) -> None:
    seed(services, customer_rows)
    runner = CliRunner()
    base = ["invoices", "export", "--config", services["config"]]

    dry = runner.invoke(app, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: would export 2 invoices to sevDesk as draft" in dry.output
    assert "would create" in dry.output

    real = runner.invoke(app, [*base, "--json"])
    assert real.exit_code == 1
    report = json.loads(real.stdout)
    assert set(report) >= {"run_id", "dry_run", "exported", "held", "skipped", "errors", "tasks"}
    assert report["dry_run"] is False and report["run_id"]
    assert [e["number"] for e in report["exported"]] == ["RE-2026-00001"]
    assert report["exported"][0]["total_gross"] == "45.22"
    [error] = report["errors"]
    assert error["number"] == "RE-2026-00002" and "KleanApp refused invoice" in error["error"]

    status = runner.invoke(app, ["invoices", "status", "--config", services["config"]])
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert any(line.startswith("RE-2026-00001") and "draft" in line for line in lines)
    assert any(line.startswith("RE-2026-00002") and "failed" in line for line in lines)


def test_status_json_reports_draft_open_and_paid_after_booking_in_sevdesk(
    app: typer.Typer, services: dict[str, Any], customer_rows: list[dict[str, Any]]
) -> None:
    httpx.post(f"{services['sev']}/_sandbox/bulk", json={"contacts": customer_rows[:3]})
    made = httpx.post(f"{services['ka']}/_sandbox/bulk", json={"customers": customer_rows[:3]})
    position = {"product_name": "Grundreinigung", "quantity": 1, "unit_name": "pauschal"}
    position |= {"unit_price_net": "100.00", "tax_rate": 19}
    numbers = []
    runner = CliRunner()
    export = ["invoices", "export", "--config", services["config"], "--json"]
    for customer_id, fmt in zip(made.json()["customers"], ("draft", "final", "final"), strict=True):
        body = {"customer_id": customer_id, "invoice_date": "2026-03-02", "positions": [position]}
        numbers.append(
            httpx.post(f"{services['ka']}/_sandbox/invoices", json=body).json()["number"]
        )
        result = runner.invoke(app, [*export, "--format", fmt])
        assert result.exit_code == 0, result.output
    drafted, unpaid, paid = numbers

    sev = httpx.Client(
        base_url=f"{services['sev']}/api/v1",
        headers={"Authorization": os.environ["INVOICE_CLI_SEVDESK_TOKEN"]},
    )
    [invoice] = sev.get("/Invoice", params={"invoiceNumber": paid}).json()["objects"]
    account = sev.get("/CheckAccount").json()["objects"][0]
    booked = sev.put(
        f"/Invoice/{invoice['id']}/bookAmount",
        json={
            "amount": invoice["sumGross"],
            "date": 1774000000,
            "type": "FULL_PAYMENT",
            "checkAccount": {"id": account["id"], "objectName": "CheckAccount"},
        },
    )
    assert booked.status_code == 200, booked.text
    sev.close()

    status = runner.invoke(app, ["invoices", "status", "--config", services["config"], "--json"])
    assert status.exit_code == 0, status.output
    report = {i["number"]: i["sevdesk_status"] for i in json.loads(status.stdout)["invoices"]}
    assert report == {drafted: "draft", unpaid: "open", paid: "paid"}
