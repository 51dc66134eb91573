"""How schema4.*.sql were made: a store of kleansync before Alembic (main at d16b409).

A few rows of each kind.

Run at that commit (``git worktree add /tmp/old d16b409``) with a state URL, then dump it:
``sqlite3 state.db .dump > schema4.sqlite.sql``, and for PostgreSQL
``pg_dump --no-owner --no-privileges --inserts`` with its comments and ``\\`` lines removed.
Not collected by pytest (no ``test_`` prefix); kept so the fixture can be made again.
"""

import datetime as dt
import sys

from state import Store
from state.alert_tables import Alerts
from state.inbox_tables import Inbox
from state.invoice_tables import InvoiceLedger, InvoiceRun
from state.mail_tables import save_mail_memory
from state.plan_tables import store_identity
from state.tables import ConflictRow, Journal, Link, Run


def main(url: str) -> None:
    s = Store(url)
    t = dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)
    s.start_run(Run(id="run000000001", started_at=t, trigger="schedule", pid=4242))
    s.finish_run(
        "run000000001",
        outcome="ok",
        counts={"customer.sevdesk.update": 1},
        result={"counts": {"customer.sevdesk.update": 1}},
    )
    link = s.save_link(
        Link(
            entity="customer",
            key="K-10001",
            kleanapp_id="101",
            sevdesk_id="9001",
            base={
                "customer_number": "K-10001",
                "company_name": "Glanz & Gloria GmbH",
                "city": "Berlin",
            },
            kleanapp_raw={"company_name": "ab12"},
            sevdesk_raw={"company_name": "cd34"},
            kleanapp_version="2026-11-30T21:00:00Z",
            sevdesk_version="2026-11-30T21:00:01Z",
        )
    )
    s.set_cursor("kleanapp", "customer", t)
    s.set_cursor("sevdesk", "customer", t)
    e = s.journal_intent(
        Journal(
            run_id="run000000001",
            action_id="customer:K-10001:sevdesk:update",
            entity="customer",
            side="sevdesk",
            op="update",
            key="K-10001",
            target_id="9001",
            payload={"company_name": "Glanz & Gloria GmbH"},
        )
    )
    s.journal_outcome(e.stored_id, "done", result_id="9001")
    s.add_conflicts(
        [
            ConflictRow(
                run_id="run000000001",
                entity="customer",
                link_id=link.id,
                key="K-10001",
                field="email",
                base="a@b.de",
                kleanapp="c@b.de",
                sevdesk="d@b.de",
                rule="manual",
                decision="manual",
            )
        ]
    )
    g = s.acquire_lock("sync", "host:4242:abc", 4242, dt.timedelta(seconds=60))
    s.release_lock("sync", "host:4242:abc", g.token)
    ledger = InvoiceLedger(s)
    ledger.start_run(InvoiceRun(id="inv000000001", started_at=t))
    ledger.save(
        "501",
        "RE-2026-0001",
        customer_id="101",
        sevdesk_id="7001",
        sevdesk_number="RE-0001",
        state="linked",
        format="draft",
        payload_hash="f" * 64,
        total_net="100.00",
        total_gross="119.00",
        exported_at=t,
        accounting_status="open",
        paid_amount="0.00",
        status_checked_at=t,
    )
    ledger.finish_run("inv000000001", outcome="ok", counts={"exported": 1})
    Inbox(s).accept(
        delivery_id="d-1",
        content_sha256="e" * 64,
        event="customer.saved",
        record_id="101",
        occurred_at=t,
    )
    store_identity(s)
    Alerts(s).raise_("rejected_key:sevDesk", "sevDesk refused the key")
    save_mail_memory(s, "report", {"conflict:1": t.isoformat()}, t)
    s.close()
    print("made", url)


if __name__ == "__main__":
    main(sys.argv[1])
