"""The sevDesk connector's invoice calls, against the emulator.

The ``customerInternalNote`` lookup is the export's guard against a second
invoice, so it must find exactly the invoice that carries the note: not a
cancellation (which copies the original's fields, note included) and not an
invoice whose note merely starts the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import World

HOURS = ("Unterhaltsreinigung Büro", "4", "Std", "38.00", "19")


async def test_note_lookup_is_exact_and_ignores_the_cancellation(linked: World) -> None:
    world = linked
    made = [await world.invoice("K-00001", dt.date(2026, 3, day), [HOURS]) for day in range(1, 12)]
    await world.export(fmt="final")
    first, tenth = made[0], made[9]  # notes "kleanapp:1" and "kleanapp:10"
    [sev_first] = await world.sev_invoice_for(first["id"])
    storno = await world.sev_http.post(f"/Invoice/{sev_first['id']}/cancelInvoice")
    assert storno.json()["objects"]["customerInternalNote"] == f"kleanapp:{first['id']}"

    found = await world.sev.find_invoice_by_note(f"kleanapp:{first['id']}")
    assert found is not None and found.id == sev_first["id"] and found.invoice_type == "RE"
    found10 = await world.sev.find_invoice_by_note(f"kleanapp:{tenth['id']}")
    assert found10 is not None and found10.id != found.id
    assert await world.sev.find_invoice_by_note("kleanapp:999") is None


async def test_finalise_is_a_no_op_on_an_invoice_that_is_no_draft(linked: World) -> None:
    world = linked
    invoice = await world.invoice("K-00001", dt.date(2026, 3, 2), [HOURS])
    await world.export(fmt="final")
    [sev] = await world.sev_invoice_for(invoice["id"])
    before = await world.writes()
    again = await world.sev.finalise_invoice(sev["id"])
    assert again.status == "200" and again.number == invoice["number"]
    assert await world.writes() == before
