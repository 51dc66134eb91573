"""A quarter of a cleaning company's invoices exported to sevDesk, as the issue asks.

40 invoices across January to March with mixed statuses and units, one of
them using a unit ("Einsatz") that sevDesk does not have. The export with
``--from/--to/--status`` sends exactly the matching ones, each equal to the
cent and locked in KleanApp; the dry run shows the same list and writes
nothing; the held invoice goes out on the next run once the unit exists in
sevDesk; and running again creates nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from state.invoice_tables import InvoiceLedger

if TYPE_CHECKING:
    from conftest import World

# (name, unit, quantities, net unit prices, tax rate): every position's net is whole
# euros, so KleanApp's tax per rate and sevDesk's tax per position agree to the cent.
POSITIONS = [
    ("Unterhaltsreinigung Büro", "Std", ("2", "4", "6.5", "12"), ("38.00", "42.00"), "19"),
    ("Glasreinigung", "m²", ("100", "120", "240"), ("1.85", "2.10"), "19"),
    ("Grundreinigung pauschal", "pauschal", ("1",), ("249.00", "480.00"), "19"),
    ("Reinigungsmittel", "Stk", ("5", "10"), ("4.20", "6.80"), "19"),
    ("Blumenpflege (Pflanzen)", "Stk", ("2", "4"), ("7.50",), "7"),
    ("Parkgebühr (durchlaufender Posten)", "pauschal", ("1",), ("12.00",), "0"),
]
STATUS_CYCLE = ("open", "paid", "open", "draft", "paid", "cancelled", "open")
START = dt.date(2026, 1, 5)
FROM, TO = dt.date(2026, 2, 1), dt.date(2026, 3, 15)
SELECTED = ("open", "paid")
CUSTOMER_NUMBERS = [f"K-0000{i}" for i in range(1, 7)]


async def make_quarter(world: World) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """40 invoices Jan–Mar; returns them and the one using the unit sevDesk lacks."""
    unit = await world.ka_http.post("/units", json={"name": "Einsatz"})
    assert unit.status_code == 201, unit.text
    rng = random.Random(2026)
    invoices = []
    for i in range(40):
        date = START + dt.timedelta(days=2 * i)
        positions = []
        # The 0 % fee never stands alone: a 0 % invoice needs a tax rule chosen by hand.
        picked = [rng.choice(POSITIONS[:-1])]
        picked += [p for p in rng.sample(POSITIONS, rng.randint(0, 2)) if p not in picked]
        for name, unit_name, quantities, prices, rate in picked:
            positions.append((name, rng.choice(quantities), unit_name, rng.choice(prices), rate))
        invoices.append(
            await world.invoice(
                CUSTOMER_NUMBERS[i % 6], date, positions, status=STATUS_CYCLE[i % 7]
            )
        )
    special = await world.invoice(
        "K-00002",
        dt.date(2026, 2, 20),
        [
            ("Sondereinsatz Wasserschaden", "1", "Einsatz", "350.00", "19"),
            ("Unterhaltsreinigung Büro", "3", "Std", "38.00", "19"),
        ],
    )
    invoices.append(special)
    return invoices, special


def numbers(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["number"] for item in items)


async def assert_exported_exactly(world: World, invoice: dict[str, Any]) -> None:
    """One sevDesk invoice, equal to KleanApp's to the cent, and locked in KleanApp."""
    [sev] = await world.sev_invoice_for(invoice["id"])
    assert sev["invoiceNumber"] == invoice["number"]
    assert sev["status"] == "100"
    assert world.money(sev["sumNet"]) == world.money(invoice["total_net"])
    assert world.money(sev["sumGross"]) == world.money(invoice["total_gross"])
    units = await world.sev_units()
    got = [
        (p["name"], Decimal(p["quantity"]), Decimal(p["price"]), Decimal(p["taxRate"]))
        + (units[p["unity"]["id"]],)
        for p in await world.sev_positions(sev["id"])
    ]
    want = [
        (p["product_name"], Decimal(str(p["quantity"])), Decimal(str(p["unit_price_net"])))
        + (Decimal(str(p["tax_rate"])), p["unit_name"])
        for p in invoice["positions"]
    ]
    assert got == want
    now = await world.ka_invoice(invoice["id"])
    assert now["locked"] is True
    assert now["export"]["external_id"] == sev["id"]
    pdf = await world.ka_http.post(f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 409
    assert pdf.json()["error"]["code"] == "locked_by_accounting_integration"


async def test_quarter_export_dry_run_filters_hold_and_rerun(linked: World) -> None:
    world = linked
    invoices, special = await make_quarter(world)
    matching = [
        inv
        for inv in invoices
        if FROM <= dt.date.fromisoformat(inv["invoice_date"]) <= TO and inv["status"] in SELECTED
    ]
    expected = [inv for inv in matching if inv is not special]
    assert 10 <= len(expected) < 30  # the filters really select a part
    assert {inv["status"] for inv in invoices} == {"draft", "open", "paid", "cancelled"}

    # Dry run: the same list, nothing written anywhere (services or ledger).
    before = await world.writes()
    dry = await world.export(date_from=FROM, date_to=TO, statuses=SELECTED, dry_run=True)
    assert await world.writes() == before
    assert dry.run_id is None and dry.errors == []
    assert numbers(dry.exported) == numbers(expected)
    assert numbers(dry.held) == [special["number"]]
    assert InvoiceLedger(world.store).rows() == []

    result = await world.export(date_from=FROM, date_to=TO, statuses=SELECTED)
    assert result.errors == []
    assert numbers(result.exported) == numbers(dry.exported)
    for invoice in expected:
        await assert_exported_exactly(world, invoice)
    # Outside the filters: untouched on both sides.
    for invoice in invoices:
        if invoice not in matching:
            assert (await world.ka_invoice(invoice["id"]))["locked"] is False
            assert await world.sev_invoice_for(invoice["id"]) == []

    # The missing unit: held with the admin's task, not sent, not locked.
    [held] = result.held
    assert held["number"] == special["number"]
    task = "create unit 'Einsatz' in sevDesk: Einstellungen → System → Einheiten"
    assert held["task"] == task
    assert {"kind": "missing_unit", "message": task, "invoices": [special["number"]]} in (
        result.tasks
    )
    assert await world.sev_invoice_for(special["id"]) == []
    assert (await world.ka_invoice(special["id"]))["locked"] is False
    assert result.exit_code == 0

    # The admin adds the unit in sevDesk; the next run exports the held invoice.
    added = await world.sev_ctl.post("/unity", json={"name": "Einsatz"})
    assert added.status_code == 201
    again = await world.export(date_from=FROM, date_to=TO, statuses=SELECTED)
    assert numbers(again.exported) == [special["number"]]
    assert again.held == [] and again.errors == []
    assert numbers(again.skipped) == numbers(expected)
    await assert_exported_exactly(world, special)

    # And once more: nothing is written anywhere, nothing is created.
    before = await world.writes()
    quiet = await world.export(date_from=FROM, date_to=TO, statuses=SELECTED)
    assert quiet.exported == [] and quiet.errors == [] and quiet.held == []
    assert len(quiet.skipped) == len(matching)
    assert await world.writes() == before
    assert len(await world.sev_invoices()) == len(matching)
