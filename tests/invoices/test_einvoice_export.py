"""Issue 19: ``--format einvoice``: checked before anything is written, the XML checked after.

Both emulators in-process. Ten invoices, three lacking data: seven become
sevDesk e-invoices whose ``getXml`` parses (and validates against the
Factur-X EN 16931 XSD) with KleanApp's totals to the cent; three are held
with one task per missing item, and nothing of them reaches sevDesk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from drafthorse.utils import validate_xml
from lxml import etree

from reconciler.domain.i18n import using
from reconciler.reporting.phrases import Phrases
from reconciler.sync.engine import SyncOptions, run_sync
from state.invoice_tables import InvoiceLedger

if TYPE_CHECKING:
    from conftest import World

MARCH = dt.date(2026, 3, 2)
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
HOURS = ("Unterhaltsreinigung Büro", "4", "Std", "38.00", "19")
GLASS = ("Glasreinigung", "32", "m²", "2.35", "19")
TRIP = ("Anfahrt", "1", "pauschal", "10.02", "19")
PLANTS = ("Blumenpflege", "2.5", "Stk", "3.15", "7")
WINDOWS = ("Fensterreinigung", "12", "Fenster", "4.50", "19")


async def prepare(world: World) -> None:
    """E-mail addresses for K-00001..K-00004 and K-00006 (synced); K-00006 a public body."""
    for number in ("K-00001", "K-00002", "K-00003", "K-00004", "K-00006"):
        cid = world.customer_ids[number]
        email = f"rechnung@{number.lower()}.example"
        response = await world.ka_http.patch(f"/customers/{cid}", json={"email": email})
        assert response.status_code == 200, response.text
    cid = world.customer_ids["K-00005"]
    response = await world.ka_http.patch(f"/customers/{cid}", json={"city": None})
    assert response.status_code == 200, response.text
    result = await run_sync(
        world.config, SyncOptions(), connectors=world.connectors, store=world.store
    )
    assert not result.errors, result.errors
    [link] = [lnk for lnk in world.store.links("customer") if lnk.key == "K-00006"]
    public = await world.sev_http.put(f"/Contact/{link.sevdesk_id}", json={"governmentAgency": 1})
    assert public.status_code == 200, public.text
    unit = await world.ka_http.post("/units", json={"name": "Fenster"})
    assert unit.status_code == 201, unit.text
    made = await world.sev_ctl.post("/unity", json={"name": "Fenster"})  # no UNECE code
    assert made.status_code == 201, made.text


def totals(xml: str) -> tuple[Decimal, Decimal]:
    root = etree.fromstring(xml.encode())
    summary = root.find(f".//{RAM}SpecifiedTradeSettlementHeaderMonetarySummation")
    return (
        Decimal(summary.findtext(f"{RAM}TaxBasisTotalAmount")),
        Decimal(summary.findtext(f"{RAM}GrandTotalAmount")),
    )


async def test_ten_e_invoices_seven_exported_three_held_with_one_task_per_missing_item(
    linked: World,
) -> None:
    world = linked
    await prepare(world)
    good: list[dict[str, Any]] = []
    for i, (number, positions) in enumerate(
        [
            ("K-00001", [HOURS]),
            ("K-00001", [HOURS, GLASS]),
            ("K-00002", [GLASS, TRIP, PLANTS]),
            ("K-00002", [TRIP, TRIP, TRIP]),
            ("K-00003", [PLANTS, HOURS]),
            ("K-00004", [HOURS]),
            ("K-00004", [GLASS, PLANTS]),
        ]
    ):
        good.append(await world.invoice(number, MARCH + dt.timedelta(days=i), positions))
    no_mail = await world.invoice("K-00005", MARCH, [HOURS])  # no e-mail, no city
    no_code = await world.invoice("K-00001", MARCH, [HOURS, WINDOWS])  # unit without UNECE
    no_leitweg = await world.invoice("K-00006", MARCH, [HOURS])  # public body, no Leitweg-ID

    result = await world.export(fmt="einvoice")

    assert result.errors == []
    assert sorted(i["number"] for i in result.exported) == sorted(i["number"] for i in good)
    held = {h["number"]: h["task"].split("; ") for h in result.held}
    assert held == {
        no_mail["number"]: [
            "customer K-00005: e-mail address missing",
            "customer K-00005: city missing",
        ],
        no_code["number"]: [
            "unit 'Fenster' has no UNECE code in sevDesk: set one there "
            "(Einstellungen → System → Einheiten)"
        ],
        no_leitweg["number"]: [
            "customer K-00006: Leitweg-ID (buyerReference) missing in sevDesk, which a public "
            "body needs"
        ],
    }
    with using("de"):  # the German the office reads (--json stays English)
        assert Phrases()(held[no_mail["number"]][0]) == "Kunde K-00005: E-Mail-Adresse fehlt"
        assert Phrases()(held[no_mail["number"]][1]) == "Kunde K-00005: Ort fehlt"
    for invoice in (no_mail, no_code, no_leitweg):
        assert await world.sev_invoice_for(invoice["id"]) == []  # nothing half-written
        assert (await world.ka_invoice(invoice["id"]))["locked"] is False
    ledger = InvoiceLedger(world.store)
    for invoice in good:
        [sev] = await world.sev_invoice_for(invoice["id"])
        assert sev["status"] == "200"  # an e-invoice is final: numbered, open
        xml = (await world.sev_http.get(f"/Invoice/{sev['id']}/getXml")).json()["objects"]
        validate_xml(xmlout=xml.encode(), schema="FACTUR-X_EN16931")
        assert totals(xml) == (
            world.money(invoice["total_net"]),
            world.money(invoice["total_gross"]),
        )
        row = ledger.get(str(invoice["id"]))
        assert row.einvoice_sha256 == hashlib.sha256(xml.encode()).hexdigest()
        assert (await world.ka_invoice(invoice["id"]))["locked"] is True


async def test_company_data_only_sevdesk_knows_comes_back_as_tasks_and_nothing_is_stored(
    linked: World,
) -> None:
    world = linked
    await prepare(world)
    await world.sev_ctl.patch("/company", json={"bankIban": None, "taxNumber": ""})
    invoice = await world.invoice("K-00001", MARCH, [HOURS])

    result = await world.export(fmt="einvoice")

    [held] = result.held
    assert held["number"] == invoice["number"]
    assert held["task"].split("; ") == [
        "company data in sevDesk: IBAN missing (Einstellungen → Unternehmen)",
        "company data in sevDesk: tax number missing (Einstellungen → Unternehmen)",
    ]
    assert await world.sev_invoices() == []
    assert result.errors == []

    await world.sev_ctl.patch("/company", json={"bankIban": "DE02370502990000684712"})
    await world.sev_ctl.patch("/company", json={"taxNumber": "217/5701/1234"})
    after = await world.export(fmt="einvoice")
    assert [i["number"] for i in after.exported] == [invoice["number"]]
    assert len(await world.sev_invoice_for(invoice["id"])) == 1
