"""The emulator's e-invoices (issue 19): ``propertyIsEInvoice``, the refusal, ``getXml``.

The XML is validated against the Factur-X EN 16931 XSD that drafthorse ships.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from drafthorse.utils import validate_xml
from lxml import etree

from sandbox.sevdesk.store import Store

from .bodies import invoice_body, unit_id

CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
SEPA = {"id": "21919", "objectName": "PaymentMethod"}
ADDRESS = {"addressStreet": "Hauptstraße 1", "addressZip": "50667", "addressCity": "Köln"}


async def contact(client: httpx.AsyncClient, *, email: bool = True, **fields: Any) -> str:
    body = {"name": "Praxis Dr. Weber", "category": {"id": 3, "objectName": "Category"}, **fields}
    made = (await client.post("/Contact", json=body)).json()["objects"]
    if email:
        way = {
            "contact": {"id": made["id"], "objectName": "Contact"},
            "type": "EMAIL",
            "value": "praxis@weber.example",
            "key": {"id": 2, "objectName": "CommunicationWayKey"},
            "main": True,
        }
        assert (await client.post("/CommunicationWay", json=way)).status_code == 201
    return made["id"]


async def test_an_e_invoice_answers_a_cii_xml_that_validates_with_the_invoices_totals(
    client: httpx.AsyncClient,
) -> None:
    cid = await contact(client)
    positions = [
        {"name": "Unterhaltsreinigung", "quantity": 1, "price": "32.50", "taxRate": 19},
        {"name": "Glasreinigung", "quantity": 32, "price": "2.35", "taxRate": 19},
        {"name": "Blumen", "quantity": "2.5", "price": "3.15", "taxRate": 7},
    ]
    body = invoice_body(
        cid,
        await unit_id(client, "Std"),
        propertyIsEInvoice=True,
        paymentMethod=SEPA,
        positions=positions,
        **ADDRESS,
    )
    saved = await client.post("/Invoice/Factory/saveInvoice", json=body)
    assert saved.status_code == 201, saved.text
    invoice = saved.json()["objects"]["invoice"]

    answer = await client.get(f"/Invoice/{invoice['id']}/getXml")

    assert answer.status_code == 200
    xml = answer.json()["objects"]
    assert isinstance(xml, str) and xml.startswith("<?xml")
    validate_xml(xmlout=xml.encode(), schema="FACTUR-X_EN16931")  # raises when invalid
    root = etree.fromstring(xml.encode())
    assert root.tag == f"{{{CII}}}CrossIndustryInvoice"
    summary = root.find(f".//{{{RAM}}}SpecifiedTradeSettlementHeaderMonetarySummation")
    assert summary is not None
    grand = summary.findtext(f"{{{RAM}}}GrandTotalAmount")
    assert Decimal(grand) == Decimal(invoice["sumGross"]) == Decimal("136.59")
    plain = invoice_body(cid, await unit_id(client, "Std"))
    other = (await client.post("/Invoice/Factory/saveInvoice", json=plain)).json()["objects"]
    refused = await client.get(f"/Invoice/{other['invoice']['id']}/getXml")
    assert refused.status_code == 400  # not an e-invoice


async def test_an_e_invoice_lacking_data_is_refused_with_what_is_missing_and_not_stored(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, emulator: Any
) -> None:
    store: Store = emulator.store
    await sandbox.patch("/company", json={"bankIban": None})
    cid = await contact(client, email=False, governmentAgency=True)
    unnamed = (await sandbox.post("/unity", json={"name": "Fenster"})).json()["unit"]["id"]
    body = invoice_body(cid, unnamed, propertyIsEInvoice=True, addressStreet="Hauptstraße 1")

    refused = await client.post("/Invoice/Factory/saveInvoice", json=body)

    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["message"] == "The e-invoice is missing required information"
    assert error["data"] == [
        "sevClient.bankIban",
        "contact.email",
        "contact.buyerReference",
        "invoice.paymentMethod",
        "invoice.addressZip",
        "invoice.addressCity",
        f"unity.{unnamed}.uneceTradeUnitCode",
    ]
    assert store.invoices == {} and store.positions == {}
