"""What the export decides per invoice: format, customer, tax, totals, changes, cursor."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.invoices.runner import export_one, invoice_status

if TYPE_CHECKING:
    from conftest import World

HOURS = ("Unterhaltsreinigung Büro", "4", "Std", "38.00", "19")
MARCH = dt.date(2026, 3, 2)


def numbers(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["number"] for item in items)


async def test_final_format_numbers_and_opens_it_without_emailing_anyone(linked: World) -> None:
    world = linked
    world.config_format = "final"  # [invoices] format = "final"
    invoice = await world.invoice("K-00001", MARCH, [HOURS])

    result = await world.export()

    [item] = result.exported
    assert item["sevdesk_status"] == "open"
    [sev] = await world.sev_invoice_for(invoice["id"])
    assert sev["status"] == "200"
    assert sev["invoiceNumber"] == invoice["number"]  # KleanApp's number stays visible
    mail = (await world.sev_ctl.get("/emails")).json()
    assert mail["emails_sent"] == []
    assert [(s["sendType"], s["sendDraft"], s["emailed"]) for s in mail["send_log"]] == [
        ("VPR", False, False)
    ]


async def test_draft_format_flag_overrides_the_config(linked: World) -> None:
    world = linked
    world.config_format = "final"
    invoice = await world.invoice("K-00001", MARCH, [HOURS])
    await world.export(fmt="draft")
    [sev] = await world.sev_invoice_for(invoice["id"])
    assert sev["status"] == "100"
    assert (await world.sev_ctl.get("/emails")).json()["send_log"] == []


async def test_unlinked_customers_are_linked_or_created_first_never_twice(unlinked: World) -> None:
    world = unlinked
    new = await world.ka_http.post(
        "/customers", json={"customer_number": "K-00099", "company_name": "Neukunde GmbH"}
    )
    world.customer_ids["K-00099"] = new.json()["id"]
    known = await world.invoice("K-00001", MARCH, [HOURS])
    unknown = await world.invoice("K-00099", MARCH, [HOURS])

    result = await world.export()

    assert numbers(result.exported) == sorted([known["number"], unknown["number"]])
    assert {c["key"]: c["outcome"] for c in result.customers} == {
        "K-00001": "linked",  # the matcher found its sevDesk contact: linked, not duplicated
        "K-00099": "created",
    }
    for invoice, number in ((known, "K-00001"), (unknown, "K-00099")):
        [sev] = await world.sev_invoice_for(invoice["id"])
        contact = (await world.sev_http.get(f"/Contact/{sev['contact']['id']}")).json()["objects"]
        assert contact[0]["customerNumber"] == number
    everyone = (await world.sev_http.get("/Contact", params={"depth": 1, "limit": 1000})).json()
    numbers_in_sevdesk = [c.get("customerNumber") for c in everyone["objects"]]
    assert numbers_in_sevdesk.count("K-00001") == 1 and numbers_in_sevdesk.count("K-00099") == 1


async def test_tax_rates_decide_the_tax_rule_or_hold_with_a_reason(linked: World) -> None:
    world = linked
    fee = ("Parkgebühr (durchlaufender Posten)", "1", "pauschal", "12.00", "0")
    mixed = await world.invoice("K-00001", MARCH, [HOURS, fee])
    zero = await world.invoice("K-00002", MARCH, [fee])
    odd = await world.invoice("K-00003", MARCH, [(*HOURS[:4], "16")])

    result = await world.export()

    assert numbers(result.exported) == [mixed["number"]]
    [sev] = await world.sev_invoice_for(mixed["id"])
    assert sev["taxRule"]["id"] == "1"
    assert sorted(p["taxRate"] for p in await world.sev_positions(sev["id"])) == ["0", "19"]
    reasons = {h["number"]: h["reason"] for h in result.held}
    assert "every position has 0 % VAT" in reasons[zero["number"]]
    assert "tax rate 16 % is not a German VAT rate" in reasons[odd["number"]]
    assert result.exit_code == 0


async def test_delivery_after_invoice_date_is_held_not_refused_by_sevdesk(linked: World) -> None:
    world = linked
    late = await world.invoice("K-00001", MARCH, [HOURS], delivery=MARCH + dt.timedelta(days=5))
    result = await world.export()
    [held] = result.held
    assert held["number"] == late["number"]
    assert "after invoice date" in held["reason"]


async def test_three_trips_of_10_02_export_with_kleanapps_totals(linked: World) -> None:
    world = linked
    # KleanApp rounds the tax once per rate (30.06 × 19 % = 5.71), and so does sevDesk
    # with net prices; adding up each position's rounded tax (3 × 1.90) would be 5.70.
    trips = [("Anfahrt", "1", "pauschal", "10.02", "19")] * 3
    invoice = await world.invoice("K-00001", MARCH, trips)

    result = await world.export()

    assert numbers(result.exported) == [invoice["number"]]
    [sev] = await world.sev_invoice_for(invoice["id"])
    assert (world.money(sev["sumNet"]), world.money(sev["sumGross"])) == (
        world.money("30.06"),
        world.money("35.77"),
    )


@pytest.mark.parametrize("world", [{"tax_per_position": True}], indirect=True)
async def test_sums_sevdesk_computes_otherwise_delete_the_draft_and_hold(linked: World) -> None:
    """An account whose sums kleansync did not predict: no orphan draft, no churn."""
    world = linked
    trips = [("Anfahrt", "1", "pauschal", "10.02", "19")] * 3
    bad = await world.invoice("K-00001", MARCH, trips)
    good = await world.invoice("K-00002", MARCH, [HOURS])

    result = await world.export()

    assert numbers(result.exported) == [good["number"]]
    [held] = result.held
    assert held["number"] == bad["number"]
    assert "gross 35.76 in sevDesk vs 35.77 in KleanApp" in held["reason"]
    assert "its draft was deleted again" in held["reason"]
    assert [t["kind"] for t in result.tasks] == ["totals"]
    assert await world.sev_invoice_for(bad["id"]) == []  # no orphan draft left behind
    assert (await world.ka_invoice(bad["id"]))["locked"] is False
    writes = await world.writes()

    again = await world.export()
    assert numbers(again.held) == [bad["number"]]
    assert await world.writes() == writes  # held until it changes: not created again


async def test_change_after_export_is_reported_never_resent(linked: World) -> None:
    world = linked
    invoice = await world.invoice("K-00001", MARCH, [HOURS])
    await world.export()
    [sev] = await world.sev_invoice_for(invoice["id"])

    paid = await world.ka_ctl.post("/invoices", json={"id": invoice["id"], "status": "paid"})
    assert paid.status_code == 200
    quiet = await world.export(statuses=("open", "paid"))
    assert [s.get("changed_after_export") for s in quiet.skipped] == [None]  # payment only

    more = {
        "product_name": "Unterhaltsreinigung Büro",
        "quantity": 6,
        "unit_name": "Std",
        "unit_price_net": 38,
        "tax_rate": 19,
    }
    changed = await world.ka_ctl.post("/invoices", json={"id": invoice["id"], "positions": [more]})
    assert changed.status_code == 200
    before = await world.writes()
    result = await world.export()

    [skipped] = result.skipped
    assert skipped["changed_after_export"] is True
    assert [t["kind"] for t in result.tasks] == ["changed_after_export"]
    assert result.exported == [] and result.errors == []
    assert (await world.writes())[0] == before[0]  # nothing sent to sevDesk
    assert await world.sev_invoice_for(invoice["id"]) == [sev]
    [status] = await invoice_status(connectors=world.connectors, store=world.store)
    assert status["changed_after_export"] is True


async def test_since_last_exports_new_and_changed_unexported_and_retries_held(
    linked: World,
) -> None:
    world = linked
    assert (await world.ka_http.post("/units", json={"name": "Einsatz"})).status_code == 201
    first = await world.invoice("K-00001", MARCH, [HOURS])
    draft = await world.invoice("K-00002", MARCH, [HOURS], status="draft")
    special = await world.invoice("K-00003", MARCH, [("Sondereinsatz", "1", "Einsatz", "90", "19")])

    run1 = await world.export(since_last=True)
    assert numbers(run1.exported) == [first["number"]]
    assert numbers(run1.held) == [special["number"]]
    cursor = world.store.cursor("kleanapp", "invoice")
    assert cursor is not None

    later = await world.invoice("K-00004", MARCH + dt.timedelta(days=1), [HOURS])
    opened = await world.ka_ctl.post("/invoices", json={"id": draft["id"], "status": "open"})
    assert opened.status_code == 200
    run2 = await world.export(since_last=True)
    assert numbers(run2.exported) == sorted([draft["number"], later["number"]])
    assert numbers(run2.held) == [special["number"]]  # retried, still no unit
    assert world.store.cursor("kleanapp", "invoice") > cursor

    await world.sev_ctl.post("/unity", json={"name": "Einsatz"})
    run3 = await world.export(since_last=True)
    assert numbers(run3.exported) == [special["number"]]

    before = await world.writes()
    run4 = await world.export(since_last=True)
    assert run4.exported == run4.held == run4.errors == []
    assert await world.writes() == before
    assert len(await world.sev_invoices()) == 4


async def test_export_one_by_id_waits_for_open_and_is_idempotent(linked: World) -> None:
    world = linked
    invoice = await world.invoice("K-00001", MARCH, [HOURS], status="draft")

    async def one() -> Any:
        return await export_one(
            str(invoice["id"]), world.config, connectors=world.connectors, store=world.store
        )

    waiting = await one()
    assert waiting.exported == [] and "status draft" in waiting.skipped[0]["reason"]
    await world.ka_ctl.post("/invoices", json={"id": invoice["id"], "status": "open"})
    done = await one()
    assert numbers(done.exported) == [invoice["number"]]
    again = await one()
    assert again.exported == [] and "already exported" in again.skipped[0]["reason"]
    assert len(await world.sev_invoice_for(invoice["id"])) == 1


async def test_status_shows_draft_open_cancelled_and_held(linked: World) -> None:
    world = linked
    drafted = await world.invoice("K-00001", MARCH, [HOURS])
    await world.export()
    opened = await world.invoice("K-00002", MARCH, [HOURS])
    cancelled = await world.invoice("K-00003", MARCH, [HOURS])
    await world.export(fmt="final")
    [sev] = await world.sev_invoice_for(cancelled["id"])
    storno = await world.sev_http.post(f"/Invoice/{sev['id']}/cancelInvoice")
    assert storno.status_code == 201
    held = await world.invoice("K-00004", MARCH, [(*HOURS[:4], "16")])
    await world.export()

    items = {
        i["number"]: i for i in await invoice_status(connectors=world.connectors, store=world.store)
    }

    assert items[drafted["number"]]["sevdesk_status"] == "draft"
    assert items[opened["number"]]["sevdesk_status"] == "open"
    assert items[cancelled["number"]]["sevdesk_status"] == "cancelled"
    assert items[cancelled["number"]]["cancelled_by"] == storno.json()["objects"]["invoiceNumber"]
    assert items[held["number"]]["state"] == "held"
    assert "16 %" in items[held["number"]]["reason"]
