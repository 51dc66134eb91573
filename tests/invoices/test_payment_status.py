"""Issue 19: a payment booked in sevDesk shows in KleanApp after one status poll.

Both emulators in-process; time frozen (freezegun) so ``status_checked_at``
and the poll's ``updateAfter`` cursor are exact. The poll reads one sevDesk
listing per run, never one request per invoice.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from freezegun import freeze_time

from reconciler.invoices.runner import invoice_status
from reconciler.invoices.status_poll import poll_status

if TYPE_CHECKING:
    from conftest import World

HOURS = ("Unterhaltsreinigung Büro", "4", "Std", "38.00", "19")  # 180.88 gross
MARCH = dt.date(2026, 3, 2)


async def book(world: World, sev_id: str, amount: str) -> None:
    body = {
        "amount": amount,
        "date": "09.03.2026",
        "type": "N",
        "checkAccount": {"id": "600001", "objectName": "CheckAccount"},
    }
    response = await world.sev_http.put(f"/Invoice/{sev_id}/bookAmount", json=body)
    assert response.status_code == 200, response.text


async def requests(world: World) -> dict[str, int]:
    return (await world.sev_ctl.get("/stats")).json()["requests"]


async def poll(world: World) -> Any:
    return await poll_status(world.config, connectors=world.connectors, store=world.store)


async def test_a_payment_booked_in_sevdesk_shows_in_kleanapp_within_one_poll(linked: World) -> None:
    world = linked
    world.config_format = "final"
    with freeze_time("2026-03-02 08:00:00", real_asyncio=True) as clock:
        invoice = await world.invoice("K-00001", MARCH, [HOURS])
        other = await world.invoice("K-00002", MARCH, [HOURS])
        await world.export()
        exported = (await world.ka_invoice(invoice["id"]))["export"]
        assert exported["accounting_status"] == "open"  # shown from the export on
        assert exported["document_number"] == invoice["number"]
        assert exported["paid_amount"] == 0
        [sev] = await world.sev_invoice_for(invoice["id"])
        ka_writes = (await world.writes())[1]

        quiet = await poll(world)
        assert quiet.polled and quiet.changed == []
        assert (await world.writes())[1] == ka_writes  # nothing changed: nothing written

        clock.tick(dt.timedelta(minutes=10))
        await book(world, sev["id"], "100.00")
        before = await requests(world)
        partly = await poll(world)
        after = await requests(world)

        export = (await world.ka_invoice(invoice["id"]))["export"]
        assert export["accounting_status"] == "partially_paid"
        assert export["paid_amount"] == 100
        assert export["status_checked_at"] == "2026-03-02T08:10:00.000Z"
        assert export["exported_at"] == "2026-03-02T08:00:00.000Z"
        assert [c["number"] for c in partly.changed] == [invoice["number"]]
        assert (await world.ka_invoice(other["id"]))["export"]["accounting_status"] == "open"
        new = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
        assert new == {"GET /api/v1/Invoice": 1}  # one listing, no request per invoice

        clock.tick(dt.timedelta(minutes=10))
        await book(world, sev["id"], "80.88")
        await poll(world)
        export = (await world.ka_invoice(invoice["id"]))["export"]
        assert (export["accounting_status"], export["paid_amount"]) == ("paid", 180.88)

        [row] = [
            i
            for i in await invoice_status(connectors=world.connectors, store=world.store)
            if i["number"] == invoice["number"]
        ]
        assert (row["sevdesk_status"], row["kleanapp_status"]) == ("paid", "paid")
        assert row["paid_amount"] == "180.88"


async def test_a_cancellation_in_sevdesk_shows_and_settled_invoices_are_not_polled(
    linked: World,
) -> None:
    world = linked
    world.config_format = "final"
    with freeze_time("2026-03-02 08:00:00", real_asyncio=True) as clock:
        invoice = await world.invoice("K-00003", MARCH, [HOURS])
        await world.export()
        [sev] = await world.sev_invoice_for(invoice["id"])
        clock.tick(dt.timedelta(minutes=5))
        cancelled = await world.sev_http.post(f"/Invoice/{sev['id']}/cancelInvoice")
        assert cancelled.status_code == 201, cancelled.text

        await poll(world)

        export = (await world.ka_invoice(invoice["id"]))["export"]
        assert export["accounting_status"] == "cancelled"
        before = await requests(world)
        idle = await poll(world)  # nothing left that can change: sevDesk is not asked
        assert not idle.polled and await requests(world) == before


async def test_a_status_kleanapp_refused_is_written_by_the_next_poll(linked: World) -> None:
    world = linked
    world.config_format = "final"
    with freeze_time("2026-03-02 08:00:00", real_asyncio=True) as clock:
        invoice = await world.invoice("K-00004", MARCH, [HOURS])
        await world.export()
        [sev] = await world.sev_invoice_for(invoice["id"])
        clock.tick(dt.timedelta(minutes=10))
        await book(world, sev["id"], "180.88")
        fault = {
            "kind": "status",
            "method": "PUT",
            "path": f"/invoices/{invoice['id']}/export",
            "status": 422,
            "times": 1,
        }
        await world.ka_ctl.post("/faults", json=fault)

        refused = await poll(world)
        assert [e["number"] for e in refused.errors] == [invoice["number"]]
        assert (await world.ka_invoice(invoice["id"]))["export"]["accounting_status"] == "open"

        clock.tick(dt.timedelta(minutes=10))  # the cursor moved on: the ledger remembers
        again = await poll(world)
        assert [c["to"] for c in again.changed] == ["paid"]
        assert (await world.ka_invoice(invoice["id"]))["export"]["accounting_status"] == "paid"


async def test_invoices_exported_before_status_came_back_are_read_once_in_full(
    linked: World,
) -> None:
    from state.invoice_tables import InvoiceLedger

    world = linked
    world.config_format = "final"
    invoice = await world.invoice("K-00005", MARCH, [HOURS])
    await world.export()
    ledger = InvoiceLedger(world.store)
    row = ledger.get(str(invoice["id"]))
    blank = dict.fromkeys(("accounting_status", "paid_amount", "status_checked_at"))
    ledger.save(row.kleanapp_id, row.number, **blank, reported_status=None)  # as schema 3
    world.store.set_cursor("sevdesk", "invoice_status", dt.datetime.now(dt.UTC))

    first = await poll(world)

    assert first.polled and ledger.get(str(invoice["id"])).accounting_status == "open"
    assert [c["to"] for c in first.changed] == ["open"]  # KleanApp told once
    assert (await poll(world)).changed == []


def test_a_schema_3_store_gets_the_status_columns(tmp_path) -> None:
    import sqlite3

    from state import Store
    from state.invoice_tables import STATUS_COLUMNS, InvoiceLedger

    path = tmp_path / "old.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:  # the ledger as schema 3 left it
        for name in STATUS_COLUMNS:
            db.execute(f"ALTER TABLE invoice_export DROP COLUMN {name}")
        db.execute("UPDATE schema_info SET version = 3")
        db.execute("DROP TABLE alembic_version")  # and from before Alembic
    store = Store(f"sqlite:///{path}")
    try:
        InvoiceLedger(store).save("7", "RE-7", state="linked", accounting_status="open")
        assert InvoiceLedger(store).get("7").accounting_status == "open"
    finally:
        store.close()
