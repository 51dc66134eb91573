"""The pure export rules: tax rule, units by meaning, the body sevDesk gets, change hash."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest

from reconciler.domain.models import Invoice, InvoicePosition
from reconciler.invoices.mapping import (
    Unexportable,
    check_totals,
    content_hash,
    invoice_payload,
    tax_rule,
    totals_mismatch,
    unit_ids,
)

SEVDESK_UNITS = {"Stk": "1", "Std": "9", "m²": "2", "pauschal": "7"}


def position(
    unit: str = "Std", rate: str = "19", qty: str = "2.5", price: str = "38.00"
) -> InvoicePosition:
    return InvoicePosition(
        name="Unterhaltsreinigung",
        quantity=Decimal(qty),
        unit=unit,
        unit_price_net=Decimal(price),
        tax_rate=Decimal(rate),
    )


def invoice(*positions: InvoicePosition, **changes: object) -> Invoice:
    data = {
        "number": "RE-2026-00007",
        "customer_id": "3",
        "invoice_date": dt.date(2026, 3, 31),
        "delivery_date": dt.date(2026, 3, 28),
        "status": "open",
        "positions": positions or (position(),),
        "total_net": Decimal("95.00"),
        "total_gross": Decimal("113.05"),
    }
    return Invoice(**{**data, **changes})


@pytest.mark.parametrize(
    ("rates", "rule"), [(("19",), "1"), (("7",), "1"), (("19", "7", "0"), "1")]
)
def test_german_rates_make_a_taxable_invoice(rates: tuple[str, ...], rule: str) -> None:
    assert tax_rule([position(rate=r) for r in rates]) == rule


@pytest.mark.parametrize(
    ("rates", "says"),
    [(("0",), "every position has 0 % VAT"), (("19", "16"), "tax rate 16 % is not")],
)
def test_other_rates_are_refused_with_a_reason_and_a_task(
    rates: tuple[str, ...], says: str
) -> None:
    with pytest.raises(Unexportable) as caught:
        tax_rule([position(rate=r) for r in rates])
    assert says in caught.value.reason
    assert caught.value.tasks


def test_units_match_by_meaning_and_every_missing_one_gets_a_task() -> None:
    assert unit_ids([position("Stunden"), position("Stück")], SEVDESK_UNITS) == ["9", "1"]
    with pytest.raises(Unexportable) as caught:
        unit_ids([position("lfm"), position("Std"), position("Einsatz")], SEVDESK_UNITS)
    assert caught.value.tasks == (
        "create unit 'lfm' in sevDesk: Einstellungen → System → Einheiten",
        "create unit 'Einsatz' in sevDesk: Einstellungen → System → Einheiten",
    )


def test_body_is_a_numbered_draft_keyed_by_note_without_floats() -> None:
    body = invoice_payload(
        invoice(),
        "42",
        contact_id="100001",
        contact_person_id="900001",
        country_id="1",
        address="Praxis Dr. Weber\nHauptstraße 1\n50671 Köln",
        units=["9"],
        rule="1",
    )
    head = body["invoice"]
    assert head["status"] == "100" and head["invoiceType"] == "RE"
    assert head["invoiceNumber"] == "RE-2026-00007"
    assert head["customerInternalNote"] == "kleanapp:42"
    assert (head["invoiceDate"], head["deliveryDate"]) == ("31.03.2026", "28.03.2026")
    [pos] = body["invoicePosSave"]
    assert (pos["quantity"], pos["price"], pos["taxRate"]) == ("2.5", "38.00", "19")
    assert pos["unity"] == {"id": "9", "objectName": "Unity"}
    assert [v for v in _values(body) if isinstance(v, float)] == []
    json.dumps(body)  # plain JSON, no Decimal left for the HTTP layer to choke on


def _values(node: object) -> Iterator[object]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _values(v)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v)
    else:
        yield node


def test_totals_compare_to_the_cent() -> None:
    inv = invoice()
    assert totals_mismatch(inv, Decimal("95"), Decimal("113.05")) is None
    assert totals_mismatch(inv, Decimal("95"), Decimal("113.04")) == (
        "gross 113.04 in sevDesk vs 113.05 in KleanApp"
    )


def test_payment_status_is_no_change_of_content_but_a_position_is() -> None:
    sent = invoice()
    assert content_hash(sent.model_copy(update={"status": "paid", "locked": True})) == (
        content_hash(sent)
    )
    assert content_hash(invoice(position(qty="3"))) != content_hash(sent)


def test_totals_kleanapp_states_that_sevdesk_would_not_compute_hold_before_any_write() -> None:
    fine = invoice(position(qty="1", price="32.50"), position(qty="32", price="2.35"))
    check_totals(
        fine.model_copy(update={"total_net": Decimal("107.70"), "total_gross": Decimal("128.16")})
    )
    stated = fine.model_copy(
        update={"total_net": Decimal("107.70"), "total_gross": Decimal("128.17")}
    )
    with pytest.raises(Unexportable) as held:
        check_totals(stated)
    assert held.value.kind == "totals"
    assert "gross 128.17" in held.value.reason and "gross 128.16" in held.value.reason
