"""The demo's invoice chapter: kleansync's main job, shown after the customer runs.

Why its own module: the demo's customer story (``reconciler.cli.demo``) is
told in the German catalogue by its own module; this chapter only needs
the demo's emulators, config and echo, and adds three steps:

4. a few invoices saved in KleanApp (one with the unit "Einsatz" that sevDesk
   lacks), exported for the month: a dry-run preview first, then for real;
   shown in sevDesk (number, status, total) and locked in KleanApp; the one
   with the missing unit held with its task;
5. ``serve`` started as in production (its webhook receiver registered with
   KleanApp), a new invoice saved in KleanApp: it arrives in sevDesk by itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from decimal import Decimal
from typing import Any

import httpx

from reconciler.domain.i18n import _, format_money, format_number
from reconciler.invoices.result import ExportFilters, ExportResult, status_word

#: One invoice position: (name, quantity, unit, net price, tax rate).
Position = tuple[str, str, str, str, str]
#: (customer number, positions) of the month's invoices.
INVOICES: list[tuple[str, list[Position]]] = [
    ("K-10001", [("Unterhaltsreinigung Büro", "12", "Std", "32.50", "19")]),
    (
        "K-10002",
        [
            ("Glasreinigung", "32", "m²", "2.35", "19"),
            ("Anfahrt", "1", "pauschal", "32.50", "19"),
        ],
    ),
    ("K-10003", [("Sondereinsatz Wasserschaden", "2", "Einsatz", "180.00", "19")]),
]
#: How long step 5 waits for the webhook path (seconds).
ARRIVAL_TIMEOUT = 30.0


def _failed(message: str) -> Exception:
    """The demo's own failure (imported late: ``demo`` imports this module)."""
    from reconciler.cli.demo import DemoFailed

    return DemoFailed(message)


class InvoiceChapter:
    """Steps 4 and 5 of the demo, on the demo's running emulators."""

    def __init__(self, demo: Any) -> None:
        self.demo = demo
        self.echo = demo.echo
        self.month = dt.date.today().replace(day=1)

    def run(self) -> None:
        self.echo("\n== " + _("4. invoices saved in KleanApp, exported to sevDesk"))
        saved = [self._save(number, positions) for number, positions in INVOICES]
        self.echo(_("KleanApp: %(count)s invoices saved this month", count=len(saved)))
        last = self.month.replace(day=28)
        preview = asyncio.run(self._export(dry_run=True, until=last))
        self._print(preview)
        result = asyncio.run(self._export(dry_run=False, until=last))
        self._print(result)
        if len(result.exported) != 2 or len(result.held) != 1 or result.errors:
            raise _failed(f"the export did not go as planned: {result.counts}")
        for item in result.exported:
            sev = self._sev_invoice(item["kleanapp_id"])
            locked = self.demo.klean.get(f"invoices/{item['kleanapp_id']}").json()["locked"]
            self.echo(
                _(
                    "sevDesk: %(number)s, %(status)s, %(total)s; KleanApp: %(locked)s",
                    number=sev.get("invoiceNumber"),
                    status=status_word(item["sevdesk_status"]),
                    total=format_money(Decimal(str(sev.get("sumGross")))),
                    locked=_("locked") if locked else _("not locked"),
                )
            )
        self.echo("\n== " + _("5. serve: a new invoice arrives in sevDesk by itself"))
        asyncio.run(self._serve_and_save())

    # -- pieces ------------------------------------------------------------------
    def _save(self, number: str, positions: list[Position]) -> dict[str, Any]:
        customer = self.demo._klean_customer(number)
        body = {
            "customer_id": customer["id"],
            "invoice_date": self.month.isoformat(),
            "status": "open",
            "positions": [
                {
                    "product_name": name,
                    "quantity": qty,
                    "unit_name": unit,
                    "unit_price_net": price,
                    "tax_rate": rate,
                }
                for name, qty, unit, price, rate in positions
            ],
        }
        response = httpx.post(f"{self.demo.klean_root}/_sandbox/invoices", json=body)
        response.raise_for_status()
        return dict(response.json())

    async def _export(self, *, dry_run: bool, until: dt.date) -> ExportResult:
        from reconciler.cli.invoices import _with_services
        from reconciler.invoices.runner import export_invoices

        config = self.demo.config
        filters = ExportFilters(date_from=self.month, date_to=until)

        async def work(connectors: Any, store: Any) -> ExportResult:
            return await export_invoices(
                config, filters, dry_run=dry_run, connectors=connectors, store=store
            )

        result: ExportResult = await _with_services(config, work)
        return result

    def _print(self, result: ExportResult) -> None:
        for line in result.summary_lines():
            self.echo(line)

    def _sev_invoice(self, kleanapp_id: str) -> dict[str, Any]:
        rows = self.demo.sev.get(
            "Invoice", params={"customerInternalNote": f"kleanapp:{kleanapp_id}"}
        ).json()["objects"]
        return next(r for r in rows if r.get("customerInternalNote") == f"kleanapp:{kleanapp_id}")

    async def _serve_and_save(self) -> None:
        from reconciler.service.runner import Service, ServiceSettings, serve
        from sandbox.serve import free_port

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = ServiceSettings(
            public_url=url, secret=secrets.token_hex(16), listen_port=port, debounce_seconds=1
        )
        service = Service(self.demo.config, settings=settings)
        ready = asyncio.Event()
        task = asyncio.create_task(
            serve(
                self.demo.config,
                service=service,
                handle_signals=False,
                on_ready=lambda _service: ready.set(),
            )
        )
        try:
            await asyncio.wait_for(asyncio.shield(ready.wait()), 15)
            self.echo(_("serve: listening on %(url)s, webhook registered with KleanApp", url=url))
            started = time.monotonic()
            invoice = await asyncio.to_thread(
                self._save, "K-10004", [("Unterhaltsreinigung Praxis", "6", "Std", "34.00", "19")]
            )
            self.echo(_("KleanApp: invoice %(number)s saved", number=invoice["number"]))
            while time.monotonic() - started < ARRIVAL_TIMEOUT:
                got = await asyncio.to_thread(self.demo.klean.get, f"invoices/{invoice['id']}")
                if got.json().get("locked"):
                    sev = await asyncio.to_thread(self._sev_invoice, str(invoice["id"]))
                    seconds = format_number(time.monotonic() - started, decimals=1)
                    self.echo(
                        _(
                            "sevDesk: %(number)s arrived by itself after %(seconds)s s",
                            number=sev.get("invoiceNumber"),
                            seconds=seconds,
                        )
                    )
                    return
                await asyncio.sleep(0.2)
            raise _failed("the invoice saved while serve was running did not arrive")
        finally:
            service.request_stop()
            await asyncio.wait_for(task, 30)
