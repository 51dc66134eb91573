"""Never twice: sevDesk answering 500 after writing, a failed link, a killed process.

Each ends with exactly one sevDesk invoice per KleanApp invoice, linked.
The SIGKILL test runs the real command in a subprocess against the
emulators served on loopback, and kills it between the sevDesk create and
the KleanApp link (``KLEANSYNC_CRASH_AT``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from reconciler.domain.errors import RunInProgress
from state import Store
from state.invoice_tables import InvoiceLedger
from state.tables import Link

if TYPE_CHECKING:
    from conftest import World

HOURS = [("Unterhaltsreinigung Büro", "4", "Std", "38.00", "19")]


async def three_invoices(world: World) -> list[dict[str, Any]]:
    return [
        await world.invoice(number, dt.date(2026, 3, day), HOURS)
        for number, day in (("K-00001", 2), ("K-00002", 3), ("K-00003", 4))
    ]


async def assert_one_each(world: World, invoices: list[dict[str, Any]]) -> None:
    sev = await world.sev_invoices()
    notes = Counter(i["customerInternalNote"] for i in sev)
    assert notes == Counter(f"kleanapp:{inv['id']}" for inv in invoices)
    by_note = {i["customerInternalNote"]: i["id"] for i in sev}
    for inv in invoices:
        now = await world.ka_invoice(inv["id"])
        assert now["locked"] is True
        assert now["export"]["external_id"] == by_note[f"kleanapp:{inv['id']}"]


async def test_500_after_write_on_save_invoice_still_one_invoice_each(linked: World) -> None:
    world = linked
    invoices = await three_invoices(world)
    fault = {"kind": "after_write", "method": "POST", "path": "saveInvoice", "status": 500}
    assert (await world.sev_ctl.post("/faults", json={**fault, "times": 2})).status_code == 201

    result = await world.export()

    assert result.errors == []
    assert len(result.exported) == 3
    await assert_one_each(world, invoices)
    again = await world.export()
    assert again.exported == [] and again.errors == []
    await assert_one_each(world, invoices)


async def test_failed_link_is_finished_next_run_without_second_invoice(linked: World) -> None:
    world = linked
    invoices = await three_invoices(world)
    first = invoices[0]["id"]
    fault = {
        "kind": "status",
        "method": "PUT",
        "path": f"/invoices/{first}/export",
        "status": 503,
        "times": 2,
    }
    await world.ka_ctl.post("/faults", json=fault)

    broken = await world.export()

    [error] = broken.errors
    assert error["number"] == invoices[0]["number"]
    assert error["sevdesk_id"] is not None  # created in sevDesk, not linked yet
    assert broken.exit_code == 1
    assert (await world.ka_invoice(first))["locked"] is False
    assert len(await world.sev_invoice_for(first)) == 1

    fixed = await world.export()

    assert fixed.errors == []
    assert [(e["number"], e["action"]) for e in fixed.exported] == [
        (invoices[0]["number"], "linked existing")
    ]
    await assert_one_each(world, invoices)


ENTRY = (
    "import typer\n"
    "from reconciler.cli.invoices import register\n"
    "app = typer.Typer()\n"
    "register(app)\n"
    "app()\n"
)


def kleansync(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """``kleansync invoices …`` in a fresh process (cli.py registers the group the same way)."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("fmt", ["draft", "einvoice"])
def test_sigkill_between_create_and_link_ends_with_one_invoice_each(
    tmp_path: Path, customer_rows: list[dict[str, Any]], fmt: str, state_url: str
) -> None:
    from sandbox.serve import SandboxThread, endpoints

    eps = endpoints(sevdesk_port=0, kleanapp_port=0)
    sev_ep, ka_ep = eps
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sevdesk]\nbase_url = "{sev_ep.base_url}"\ntoken_env = "INVOICE_TEST_SEVDESK_TOKEN"\n'
        "requests_per_second = 50\n"
        f'[kleanapp]\nbase_url = "{ka_ep.base_url}"\ntoken_env = "INVOICE_TEST_KLEANAPP_TOKEN"\n'
        "requests_per_second = 9\n"
        f'[state]\nurl = "{state_url}"\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "INVOICE_TEST_SEVDESK_TOKEN": sev_ep.token,
        "INVOICE_TEST_KLEANAPP_TOKEN": ka_ep.token,
    }
    env.pop("KLEANSYNC_CRASH_AT", None)
    with SandboxThread(eps):
        sev = httpx.Client(base_url=sev_ep.base_url, headers={"Authorization": sev_ep.token})
        ka = httpx.Client(
            base_url=ka_ep.base_url, headers={"Authorization": f"Bearer {ka_ep.token}"}
        )
        sev_root, ka_root = sev_ep.base_url[: -len("/api/v1")], ka_ep.base_url[: -len("/api/v1")]
        # An e-invoice needs each customer's e-mail address (issue 19).
        rows = [{**c, "email": f"rechnung{i}@kunde.example"} for i, c in enumerate(customer_rows)]
        contacts = httpx.post(f"{sev_root}/_sandbox/bulk", json={"contacts": rows[:3]})
        customers = httpx.post(f"{ka_root}/_sandbox/bulk", json={"customers": rows[:3]})
        store = Store(state_url)
        pairs = zip(customers.json()["customers"], contacts.json()["contacts"], strict=True)
        for (ka_id, sev_id), customer in zip(pairs, customer_rows, strict=False):
            store.save_link(
                Link(
                    entity="customer",
                    key=customer["customer_number"],
                    kleanapp_id=str(ka_id),
                    sevdesk_id=str(sev_id),
                )
            )
        store.close()
        ids = []
        for i, customer_id in enumerate(customers.json()["customers"]):
            body = {
                "customer_id": customer_id,
                "invoice_date": f"2026-03-0{i + 1}",
                "positions": [
                    {
                        "product_name": "Unterhaltsreinigung",
                        "quantity": 4,
                        "unit_name": "Std",
                        "unit_price_net": 38,
                        "tax_rate": 19,
                    }
                ],
            }
            ids.append(httpx.post(f"{ka_root}/_sandbox/invoices", json=body).json()["id"])

        args = ["invoices", "export", "--config", str(config), "--json", "--format", fmt]
        crashed = kleansync(
            args, {**env, "KLEANSYNC_CRASH_AT": "after_request:invoice.sevdesk.create"}, tmp_path
        )
        assert crashed.returncode == -9, crashed.stderr
        assert len(sev.get("/Invoice", params={"limit": 100}).json()["objects"]) == 1
        assert not any(ka.get(f"/invoices/{i}").json()["locked"] for i in ids)

        finished = kleansync(args, env, tmp_path)
        assert finished.returncode == 0, finished.stderr
        report = json.loads(finished.stdout)
        assert len(report["exported"]) == 3 and report["errors"] == []
        assert [r["outcome"].split(":")[0] for r in report["recovered"]] == [
            "sevdesk create of RE-2026-00001"
        ]
        sev_rows = sev.get("/Invoice", params={"limit": 100}).json()["objects"]
        assert sorted(r["customerInternalNote"] for r in sev_rows) == sorted(
            f"kleanapp:{i}" for i in ids
        )
        for i in ids:
            assert ka.get(f"/invoices/{i}").json()["locked"] is True

        status = kleansync(["invoices", "status", "--config", str(config), "--json"], env, tmp_path)
        assert status.returncode == 0, status.stderr
        listed = json.loads(status.stdout)["invoices"]
        status_of = "draft" if fmt == "draft" else "open"  # an e-invoice is finalised
        assert [(i["state"], i["sevdesk_status"]) for i in listed] == [("linked", status_of)] * 3
        sev.close()
        ka.close()
    ledger = InvoiceLedger(Store(state_url))
    assert {row.state for row in ledger.rows()} == {"linked"}
    assert all(bool(row.einvoice_sha256) == (fmt == "einvoice") for row in ledger.rows())
    assert sorted(run.outcome for run in ledger.runs()) == ["interrupted", "ok"]


async def test_a_second_export_while_one_runs_touches_nothing(linked: World) -> None:
    world = linked
    await three_invoices(world)
    world.store.acquire_lock(
        "invoices", "elsewhere:4242:abcd", 4242, stale_after=dt.timedelta(minutes=5)
    )
    before = await world.writes()
    with pytest.raises(RunInProgress):
        await world.export()
    assert await world.writes() == before
    world.store.release_lock("invoices", "elsewhere:4242:abcd")
    assert len((await world.export()).exported) == 3


async def test_an_export_that_got_no_answer_says_it_may_pass_and_goes_out_later(
    linked: World,
) -> None:
    """sevDesk answers 500 to every try: the invoice fails, marked as worth another try
    (a fleet's on-save job is retried on it), and the next export sends it, once."""
    world = linked
    invoices = await three_invoices(world)
    fault = {"kind": "status", "method": "POST", "path": "saveInvoice", "status": 503}
    assert (await world.sev_ctl.post("/faults", json={**fault, "times": 100})).status_code == 201

    failed = await world.export()

    assert len(failed.errors) == 3 and failed.exported == []
    assert sorted(failed.transient) == sorted(str(inv["id"]) for inv in invoices)
    await world.sev_ctl.delete("/faults")
    again = await world.export()
    assert again.errors == [] and again.transient == [] and len(again.exported) == 3
    await assert_one_each(world, invoices)
