"""Issue 19: an invoice's customer that is not in sevDesk yet comes along with the invoice.

Through both emulators: the export runs the sync engine limited to the
invoices' unlinked customers, so each is created once (or linked with its
contact), and only a customer the matcher parks holds its invoice, with the
decision that unblocks it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from reconciler.admin.queue import link_parked
from reconciler.domain.i18n import using
from reconciler.invoices.runner import export_one
from reconciler.reporting.phrases import Phrases

if TYPE_CHECKING:
    from conftest import World

HOURS = ("Unterhaltsreinigung Büro", "4", "Std", "38.00", "19")
MARCH = dt.date(2026, 3, 2)
NEW = [
    ("K-00101", "Zahnarztpraxis Lind"),
    ("K-00102", "Fitnessstudio Kraftwerk"),
    ("K-00103", "Bäckerei Morgenrot"),
]


async def new_customer(world: World, number: str, name: str, **extra: Any) -> str:
    body = {"customer_number": number, "kind": "company", "company_name": name, **extra}
    response = await world.ka_http.post("/customers", json=body)
    assert response.status_code == 201, response.text
    world.customer_ids[number] = response.json()["id"]
    return str(response.json()["id"])


async def sev_contacts(world: World, number: str) -> list[dict[str, Any]]:
    response = await world.sev_http.get(
        "/Contact", params={"customerNumber": number, "depth": 1, "limit": 1000}
    )
    return [c for c in response.json()["objects"] if c.get("customerNumber") == number]


async def test_a_month_with_new_customers_exports_all_and_creates_each_customer_once(
    linked: World,
) -> None:
    world = linked
    for number, name in NEW:
        await new_customer(world, number, name, city="Köln", postal_code="50667")
    await new_customer(world, "K-00104", "Ohne Rechnung GmbH")  # no invoice: not carried
    invoices = [await world.invoice(number, MARCH, [HOURS]) for number, _name in NEW]
    invoices.append(await world.invoice("K-00101", MARCH + dt.timedelta(days=5), [HOURS]))
    writes_before = await world.writes()

    preview = await world.export(dry_run=True)

    assert await world.writes() == writes_before  # a preview writes nothing anywhere
    assert sorted(i["number"] for i in preview.exported) == sorted(i["number"] for i in invoices)
    assert {c["key"]: c["outcome"] for c in preview.customers} == {
        number: "would create" for number, _name in NEW
    }

    result = await world.export()

    assert result.held == [] and result.errors == []
    assert sorted(i["number"] for i in result.exported) == sorted(i["number"] for i in invoices)
    assert {c["key"]: c["outcome"] for c in result.customers} == {
        number: "created" for number, _name in NEW
    }
    for number, _name in NEW:
        [contact] = await sev_contacts(world, number)  # created once, for two invoices too
        for invoice in invoices:
            if invoice["customer_id"] == world.customer_ids[number]:
                [sev] = await world.sev_invoice_for(invoice["id"])
                assert sev["contact"]["id"] == contact["id"]
                assert (await world.ka_invoice(invoice["id"]))["locked"] is True
    assert await sev_contacts(world, "K-00104") == []  # limited to the invoices' customers
    runs = [r for r in world.store.runs(10, dry_run=False) if r.trigger == "invoice"]
    assert len(runs) == 1  # one sync run for the whole month, in the run history

    again = await world.export()
    assert again.customers == [] and again.exported == []  # nothing twice


async def test_a_parked_customer_holds_its_invoice_with_the_decision_that_unblocks_it(
    linked: World,
) -> None:
    world = linked
    place = {"street": "Marktplatz 7", "postal_code": "50676", "city": "Köln", "country": "DE"}
    twin = {"customer_number": "K-00300", "kind": "company", "company_name": "Café Zentral"}
    made = await world.sev_ctl.post("/bulk", json={"contacts": [{**twin, **place}]})
    assert made.status_code == 201, made.text
    cid = await new_customer(world, "K-00301", "Café Zentral", **place)
    await new_customer(world, "K-00302", "Gärtnerei Grün")
    parked_invoice = await world.invoice("K-00301", MARCH, [HOURS])
    fine = await world.invoice("K-00302", MARCH, [HOURS])

    result = await world.export()

    assert [i["number"] for i in result.exported] == [fine["number"]]
    [held] = result.held
    assert held["number"] == parked_invoice["number"]
    assert "is parked for an admin's decision" in held["reason"]
    [parked] = [p for p in world.store.open_parked() if p.record_id == cid]
    [task] = [t for t in result.tasks if t["kind"] == "customer_parked"]
    assert f"kleansync conflicts link P{parked.id} --with sevdesk:" in task["message"]
    assert task["invoices"] == [parked_invoice["number"]]
    with using("de"):  # --json stays English; the reports say it in German
        assert Phrases()(task["message"]).startswith(
            "zurückgestellten Kunden K-00301 klären mit kleansync conflicts link P"
        )
        assert Phrases()(held["reason"]).endswith("ist zur Entscheidung zurückgestellt")
    assert await world.sev_invoice_for(parked_invoice["id"]) == []
    assert await sev_contacts(world, "K-00301") == []  # not created beside its look-alike
    assert {c["key"]: c["outcome"] for c in result.customers}["K-00302"] == "created"

    runs = len(world.store.runs(100, dry_run=False))
    still = await world.export()  # still parked: held again, no sync run to read everything
    assert [h["number"] for h in still.held] == [parked_invoice["number"]]
    assert len(world.store.runs(100, dry_run=False)) == runs

    link_parked(world.store, f"P{parked.id}", with_id=None, create_new=True, by="office")
    after = await export_one(
        str(parked_invoice["id"]), world.config, connectors=world.connectors, store=world.store
    )

    assert [i["number"] for i in after.exported] == [parked_invoice["number"]]
    assert len(await sev_contacts(world, "K-00301")) == 1


async def test_the_on_save_path_carries_the_customer_over_too(linked: World) -> None:
    world = linked
    await new_customer(world, "K-00401", "Tierarztpraxis Pfote")
    invoice = await world.invoice("K-00401", MARCH, [HOURS])

    result = await export_one(
        str(invoice["id"]), world.config, connectors=world.connectors, store=world.store
    )

    assert [i["number"] for i in result.exported] == [invoice["number"]]
    [contact] = await sev_contacts(world, "K-00401")
    [sev] = await world.sev_invoice_for(invoice["id"])
    assert sev["contact"]["id"] == contact["id"]
