"""Issue 19: no invoice stuck on a cent.

Fifty generated two- and three-position invoices with awkward quantities and
prices, 7 % and 19 % mixed, saved in the KleanApp emulator and exported to
the sevDesk emulator one by one: each is exported with sevDesk's totals
equal to KleanApp's to the cent, or held before anything is written.
Derandomised under the ``ci`` profile; every case found is pinned.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.invoices.runner import export_one

if TYPE_CHECKING:
    from conftest import World

MARCH = dt.date(2026, 3, 2)
Position = tuple[str, str, str, str, str]  # (name, quantity, unit, price, rate)

quantities = st.one_of(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("400"), places=3),
    st.sampled_from(["0.25", "0.5", "1.5", "2.333", "7.75", "32", "0.125"]).map(Decimal),
)
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)
positions = st.lists(
    st.tuples(
        st.sampled_from(["Unterhaltsreinigung", "Glasreinigung", "Anfahrt", "Material"]),
        quantities.map(lambda q: format(q.normalize(), "f")),
        st.sampled_from(["Std", "Stk", "m²", "pauschal"]),
        prices.map(str),
        st.sampled_from(["7", "19"]),
    ),
    min_size=2,
    max_size=3,
)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(positions=positions)
# The invoice: KleanApp 128.16; adding up per-position taxes made it 128.17.
@example(
    positions=[
        ("Grundreinigung", "1", "pauschal", "32.50", "19"),
        ("Glasreinigung", "32", "m²", "2.35", "19"),
    ]
)
# Three trips at 10.02: per rate 5.71 tax, per position 3 × 1.90 = 5.70.
@example(positions=[("Anfahrt", "1", "pauschal", "10.02", "19")] * 3)
# A third of an hour and 7 % next to 19 %: half-cent taxes in both rates.
@example(
    positions=[
        ("Unterhaltsreinigung", "0.333", "Std", "38.50", "19"),
        ("Blumenpflege", "2.5", "Stk", "3.15", "7"),
        ("Material", "0.125", "Stk", "0.99", "7"),
    ]
)
async def test_every_invoice_exports_to_the_cent_or_is_held_before_any_write(
    linked: World, positions: list[Position]
) -> None:
    world = linked  # shared by the examples: each saves and exports its own invoice
    invoice = await world.invoice("K-00001", MARCH, positions)
    writes_before = (await world.writes())[0]

    result = await export_one(
        str(invoice["id"]), world.config, connectors=world.connectors, store=world.store
    )

    assert result.errors == []
    if result.held:
        assert (await world.writes())[0] == writes_before  # nothing written to sevDesk
        assert await world.sev_invoice_for(invoice["id"]) == []
        return
    [item] = result.exported
    [sev] = await world.sev_invoice_for(invoice["id"])
    assert world.money(sev["sumNet"]) == world.money(invoice["total_net"])
    assert world.money(sev["sumGross"]) == world.money(invoice["total_gross"])
    assert item["total_gross"] == str(world.money(invoice["total_gross"]))
