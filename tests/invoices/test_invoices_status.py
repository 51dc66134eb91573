"""``invoice_status`` after payments were booked in sevDesk (``PUT /Invoice/{id}/bookAmount``).

sevDesk's status codes reach the report as an admin names them: 100 draft,
200 open, 750 partially paid, 1000 paid. A payment is booked on a check
account the way a bookkeeper (or a bank import) would, through the emulator's
plain API, never through the exporter.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from reconciler.invoices.runner import invoice_status

if TYPE_CHECKING:
    from conftest import World

HOURS = ("Unterhaltsreinigung Büro", "4", "Std", "38.00", "19")  # 180.88 gross
MARCH = dt.date(2026, 3, 2)
PAID_ON = int(dt.datetime(2026, 3, 20, 10, 0, tzinfo=dt.UTC).timestamp())


async def book(world: World, sev_invoice: dict[str, Any], amount: str, kind: str) -> None:
    """Book ``amount`` on sevDesk's standard account, as a bookkeeper would."""
    accounts = (await world.sev_http.get("/CheckAccount")).json()["objects"]
    [standard] = [a for a in accounts if a["defaultAccount"] == "1"]
    response = await world.sev_http.put(
        f"/Invoice/{sev_invoice['id']}/bookAmount",
        json={
            "amount": amount,
            "date": PAID_ON,
            "type": kind,
            "checkAccount": {"id": standard["id"], "objectName": "CheckAccount"},
        },
    )
    assert response.status_code == 200, response.text


async def test_status_follows_payments_booked_in_sevdesk(linked: World) -> None:
    world = linked
    drafted = await world.invoice("K-00001", MARCH, [HOURS])
    await world.export()  # [invoices] format = "draft"
    unpaid = await world.invoice("K-00002", MARCH, [HOURS])
    paid = await world.invoice("K-00003", MARCH, [HOURS])
    partly = await world.invoice("K-00004", MARCH, [HOURS])
    await world.export(fmt="final")

    [sev_paid] = await world.sev_invoice_for(paid["id"])
    assert sev_paid["status"] == "200" and sev_paid["sumGross"] == "180.88"
    await book(world, sev_paid, sev_paid["sumGross"], "FULL_PAYMENT")
    [sev_partly] = await world.sev_invoice_for(partly["id"])
    await book(world, sev_partly, "100", "N")

    items = {
        i["number"]: i for i in await invoice_status(connectors=world.connectors, store=world.store)
    }

    assert {number: items[number]["sevdesk_status"] for number in items} == {
        drafted["number"]: "draft",
        unpaid["number"]: "open",
        paid["number"]: "paid",
        partly["number"]: "partially paid",
    }
    assert all(item["state"] == "linked" for item in items.values())
    assert items[paid["number"]]["sevdesk_number"] == paid["number"]
    assert items[paid["number"]]["cancelled_by"] is None
