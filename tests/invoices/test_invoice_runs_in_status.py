"""Invoice export runs and their tasks in ``kleansync status`` and ``report`` (issue 17 §2).

Before, an export run was recorded only in the invoice ledger: ``status``
listed sync runs alone, a held invoice's task was nowhere in its task list,
and ``report <export run id>`` said the run did not exist. Every command
here runs as a process against both emulators on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from reconciler.admin.history import find
from reconciler.admin.status import status
from state import Store
from state.invoice_tables import InvoiceLedger, InvoiceRun
from state.tables import Run
from tests.conftest import (
    LOOPBACK_KLEAN_ENV,
    LOOPBACK_KLEAN_TOKEN,
    LOOPBACK_SEV_ENV,
    LOOPBACK_SEV_TOKEN,
    Sandbox,
    loopback_cli,
)
from tests.smtp_inbox import Inbox, smtp_server  # noqa: F401  (the "smtp" fixture)

ADDRESS = {"street": "Hauptstr. 1", "postal_code": "10115", "city": "Köln", "country": "DE"}


def kleansync(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, LOOPBACK_SEV_ENV: LOOPBACK_SEV_TOKEN}
    env[LOOPBACK_KLEAN_ENV] = LOOPBACK_KLEAN_TOKEN
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli.app", *args, "--config", str(config)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def invoice(served: Sandbox, customer_id: int, unit: str) -> str:
    position = {"product_name": "Unterhaltsreinigung", "quantity": 1, "unit_name": unit}
    position |= {"unit_price_net": "38.00", "tax_rate": 19}
    body = {"customer_id": customer_id, "invoice_date": "2026-03-02", "positions": [position]}
    made = httpx.post(f"{served.root(served.kleanapp)}/_sandbox/invoices", json=body)
    made.raise_for_status()
    return str(made.json()["number"])


def test_an_export_run_and_its_held_invoice_task_show_in_status_and_report(
    served: Sandbox, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    served.reset()
    customers: list[dict[str, Any]] = [
        {"customer_number": n, "kind": "company", "company_name": f"Firma {n}", **ADDRESS}
        for n in ("K-1", "K-2")
    ]
    served.bulk(served.sevdesk, {"contacts": customers})
    made = httpx.post(
        f"{served.root(served.kleanapp)}/_sandbox/bulk",
        json={"customers": customers, "units": [{"name": "Palette"}]},
    ).json()["customers"]
    sent = invoice(served, made[0], "pauschal")
    held = invoice(served, made[1], "Palette")  # a unit sevDesk does not have
    config = loopback_cli(served, tmp_path).config
    inbox, port = smtp
    with config.open("a", encoding="utf-8") as f:
        f.write('email_to = ["buero@firma.example"]\nsmtp_host = "127.0.0.1"\n')
        f.write(f"smtp_port = {port}\nsmtp_starttls = false\n")

    sync = kleansync(config, "sync", "--json")
    assert sync.returncode == 0, sync.stderr[-2000:]
    export = kleansync(config, "invoices", "export", "--json")
    assert export.returncode == 0, export.stderr[-2000:]
    run_id = json.loads(export.stdout)["run_id"]

    status = kleansync(config, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    newest, older = data["runs"]
    assert newest["run_id"] == run_id and newest["kind"] == "invoices"
    assert (newest["changes"], newest["held"], newest["errors"]) == (1, 1, 0)
    assert newest["outcome"] == "ok" and newest["tasks"] == 1
    assert older["run_id"] == json.loads(sync.stdout)["run_id"] and older["kind"] == "sync"
    [task] = [t for t in data["tasks"] if t["source"] == "invoices"]
    assert "Palette" in task["message"] and task["invoices"] == [held]

    text = kleansync(config, "status").stdout
    assert f"1 exportiert, 1 zurückgehalten, 0 Fehler  (Lauf {run_id})" in text
    assert f"(Rechnungen {held})" in text

    report = kleansync(config, "report", run_id[:7], "--format", "json")
    assert report.returncode == 0, report.stderr
    view = json.loads(report.stdout)
    assert view["run"]["run_id"] == run_id and view["run"]["kind"] == "invoices"
    assert [(c["entity"], c["key"]) for c in view["changes"]] == [("invoice", sent)]
    assert [t["invoices"] for t in view["tasks"]] == [[held]]
    assert view["summary"]["needs_attention"] is True
    markdown = kleansync(config, "report", run_id).stdout
    assert sent in markdown and "Palette" in markdown

    latest = kleansync(config, "report", "latest", "--format", "json")
    assert json.loads(latest.stdout)["run"]["run_id"] == run_id

    # The held invoice's task was mailed once, after the export; the next sync, whose own
    # report has nothing, knows it is still open and mails nothing.
    [mail] = inbox.messages
    assert run_id in mail["Subject"] and "1 neu" in mail["Subject"]
    assert "Palette" in inbox.body(0).split("\n\n")[0]
    assert kleansync(config, "sync").returncode == 0
    assert len(inbox.messages) == 1


def test_export_polls_that_did_nothing_do_not_push_the_syncs_out_of_status(
    state_url: str,
) -> None:
    store = Store(state_url)
    try:
        ledger = InvoiceLedger(store)
        store.start_run(Run(id="sync00000001", trigger="schedule"))
        store.finish_run("sync00000001", outcome="ok")
        ledger.start_run(InvoiceRun(id="busy00000001", trigger="serve"))
        ledger.finish_run("busy00000001", outcome="ok", counts={"exported": 1, "held": 0})
        for i in range(12):  # the service's poll, every few minutes, finding nothing
            ledger.start_run(InvoiceRun(id=f"poll{i:08d}", trigger="serve"))
            ledger.finish_run(f"poll{i:08d}", outcome="ok", counts={"exported": 0, "held": 0})

        runs = status(store)["runs"]
        assert [(r["run_id"], r["kind"]) for r in runs] == [
            ("busy00000001", "invoices"),
            ("sync00000001", "sync"),
        ]
        assert find(store, "poll00000003").id == "poll00000003"  # still there by id
        assert find(store, "latest").id == "busy00000001"
    finally:
        store.close()
