"""The report e-mail says what is new, once, and reminds while items stay open (issue 17).

``kleansync sync`` runs as a process against both emulators on loopback and
mails to a real SMTP server (aiosmtpd) in this process; the reminder interval
is checked with freezegun in ``test_mail_reminder.py`` (apart: a frozen clock
would stall the emulators' event loop this module runs in a thread).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from reconciler.reporting.mail import mail_report
from sandbox.serve import free_port
from state import Store
from state.mail_tables import mail_memory, save_mail_memory
from tests.conftest import Sandbox, loopback_cli
from tests.smtp_inbox import Inbox, smtp_server  # noqa: F401  (the "smtp" fixture)

ADDRESS = {"street": "Hauptstr. 1", "postal_code": "10115", "country": "DE"}


def pair(number: str, klean_mail: str, sev_mail: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same customer on both sides, their e-mails differing: a conflict for an admin."""
    common = {"customer_number": number, "kind": "company", "company_name": f"Firma {number}"}
    return {**common, **ADDRESS, "email": klean_mail}, {**common, **ADDRESS, "email": sev_mail}


def seed(served: Sandbox, *pairs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    served.bulk(served.kleanapp, {"customers": [k for k, _ in pairs]})
    served.bulk(served.sevdesk, {"contacts": [s for _, s in pairs]})


def test_each_item_is_mailed_once_and_a_reminder_follows_a_day_later(
    served: Sandbox, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    served.reset()
    cli = loopback_cli(served, tmp_path)
    with cli.config.open("a", encoding="utf-8") as f:
        f.write(
            f'email_to = ["buero@firma.example"]\nsmtp_host = "127.0.0.1"\n'
            f'smtp_port = {port}\nsmtp_starttls = false\n\n[rules.fields]\nemail = "manual"\n'
        )
    seed(served, pair("K-1", "buero@kleanapp.example", "rechnung@sevdesk.example"))

    first = cli.sync()
    assert len(inbox.messages) == 1
    assert "1 new" in inbox.messages[0]["Subject"]
    assert "New since the last e-mail (1):" in inbox.body(0)
    assert "Conflict customer K-1, field E-mail" in inbox.body(0)

    # The same conflict, still open, on the next run: no second mail.
    cli.sync()
    assert len(inbox.messages) == 1

    # A second conflict: only it is new.
    seed(served, pair("K-2", "a@kleanapp.example", "b@sevdesk.example"))
    cli.sync()
    assert len(inbox.messages) == 2
    body = inbox.body(1)
    assert "New since the last e-mail (1):" in body
    assert "Conflict customer K-2, field E-mail" in body
    assert "K-1, Feld email" not in body.split("\n\n")[0]

    # A day after the last mail, both still open and nothing new: one reminder.
    store = Store(cli.state_url)
    try:
        memory = mail_memory(store, "report")
        assert memory is not None and memory.sent_at is not None
        save_mail_memory(store, "report", memory.items, memory.sent_at - dt.timedelta(hours=25))
    finally:
        store.close()
    cli.sync()
    cli.sync()  # and the reminder is not sent again at once
    assert len(inbox.messages) == 3
    assert "Reminder" in inbox.messages[2]["Subject"]
    reminder = inbox.body(2)
    assert "Reminder: nothing new since the e-mail of" in reminder
    assert "still open (2):" in reminder
    assert first["run_id"] not in inbox.messages[2]["Subject"]


def report_cfg(port: int, **more: Any) -> Any:
    values = {
        "email_to": ["buero@firma.example"],
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_timeout": 5,
    }
    return SimpleNamespace(**{**values, **more})


def failed_run(error: str) -> dict[str, Any]:
    return {"run_id": "f00d", "outcome": "failed", "error": error, "dry_run": False}


def test_a_mail_that_could_not_be_sent_leaves_its_items_new(
    smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        data = failed_run("KleanApp lehnt den API-Schlüssel ab (401)")
        assert mail_report(data, report_cfg(free_port()), store=store) is False  # server down
        assert mail_report(data, report_cfg(port), store=store) is True
        assert "Run failed: KleanApp lehnt den API-Schlüssel ab" in inbox.body(0)
        assert mail_report(data, report_cfg(port), store=store) is False
        assert len(inbox.messages) == 1
        # A run completes; the same failure afterwards is news again.
        ok = {"run_id": "f00e", "outcome": "ok", "dry_run": False}
        assert mail_report(ok, report_cfg(port), store=store) is False
        assert mail_report(data, report_cfg(port), store=store) is True
    finally:
        store.close()
