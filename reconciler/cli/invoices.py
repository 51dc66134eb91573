"""``kleansync invoices export|status``: the invoice export on the command line.

Registered on the main app by ``reconciler.cli.app`` with ``register(app)``;
the shared options and ``guarded`` come from ``reconciler.cli.common``.
Annotations stay real objects (no ``from __future__ import annotations``):
typer reads the options off the signatures of functions defined in ``register``.

Exit codes: 0 the run completed (held invoices included: they wait for an
admin, see ``tasks``), 1 at least one invoice failed or the run could not
start, 2 a wrong option or config.
"""

import asyncio
import datetime as dt
from typing import Annotated, Any

import typer

from reconciler.cli.common import ConfigOption, JsonOption, NewStoreOption, emit_json, guarded
from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _
from reconciler.invoices.result import FORMATS, STATUSES, ExportFilters


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not a date like 2026-03-31") from None


def parse_statuses(value: str | None) -> tuple[str, ...] | None:
    """``open,paid`` -> ("open", "paid"); ``OPEN`` is ``open``.

    An empty item (``open,,paid``, a trailing comma) is refused rather than
    skipped: it is usually a status that was meant to be there.
    """
    if value is None:
        return None
    items = [s.strip().lower() for s in value.split(",")]
    choices = f"use a comma-separated list of {', '.join(STATUSES)}"
    if not any(items):
        raise ConfigError(f"--status: nothing given; {choices}")
    if not all(items):
        raise ConfigError(f"--status {value!r}: an empty item between commas; {choices}")
    wrong = [s for s in items if s not in STATUSES]
    if wrong:
        raise ConfigError(f"--status: {', '.join(wrong)}; {choices}")
    return tuple(dict.fromkeys(items))


def build_filters(
    date_from: str | None, date_to: str | None, status: str | None, since_last: bool
) -> ExportFilters:
    """The command line's filters, checked; ``ConfigError`` (exit 2) when wrong."""
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if start and end and start > end:
        raise ConfigError(f"--from {start} is after --to {end}")
    return ExportFilters(
        date_from=start, date_to=end, statuses=parse_statuses(status), since_last=since_last
    )


async def _with_services(config: Any, work: Any, *, new_store: bool = False) -> Any:
    """Open the store and both connectors from ``config``, run ``work``, close them."""
    # Imported here, not at the top: every CLI start imports this module (``register``),
    # and only an export needs the connectors and the store (CLI start-up stays fast).
    from reconciler.connectors import from_config
    from state import Store

    store = Store(config.state.url, new_store=new_store)
    kleanapp, sevdesk = from_config(config)
    try:
        async with kleanapp, sevdesk:
            return await work({"kleanapp": kleanapp, "sevdesk": sevdesk}, store)
    finally:
        store.close()


def status_lines(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return ["no invoice has been exported yet"]
    lines = [f"{'KleanApp':<16} {'state':<8} {'sevDesk':<10} {'number':<14} status"]
    for item in items:
        status = item["sevdesk_status"] or ""
        if item["changed_after_export"]:
            status += " (changed in KleanApp after export)"
        if item.get("paid_amount") and item["sevdesk_status"] != "paid":
            status += " " + _("(%(amount)s EUR paid)", amount=item["paid_amount"])
        if item.get("kleanapp_status"):
            status += "; " + _("KleanApp shows: %(status)s", status=item["kleanapp_status"])
        if item["reason"] and item["state"] in ("held", "failed"):
            status = item["reason"]
        lines.append(
            f"{item['number']:<16} {item['state']:<8} {item['sevdesk_id'] or '-':<10} "
            f"{item['sevdesk_number'] or '-':<14} {status}"
        )
    return lines


def register(app: typer.Typer) -> None:
    """Add the ``invoices`` command group (``export``, ``status``) to ``app``."""

    invoices = typer.Typer(
        help="Export KleanApp invoices to sevDesk and show where they stand.",
        no_args_is_help=True,
    )

    @invoices.command("export")
    @guarded
    def export(
        config: ConfigOption = None,
        date_from: Annotated[
            str | None,
            typer.Option("--from", metavar="YYYY-MM-DD", help="Invoice date on or after."),
        ] = None,
        date_to: Annotated[
            str | None,
            typer.Option("--to", metavar="YYYY-MM-DD", help="Invoice date on or before."),
        ] = None,
        status: Annotated[
            str | None,
            typer.Option(
                "--status",
                metavar="open,paid,…",
                help="KleanApp statuses to export (draft, open, paid, cancelled); "
                "default open,paid.",
            ),
        ] = None,
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format",
                metavar="draft|final|einvoice",
                help="draft: sevDesk draft; final: also finalised there (numbered, open), "
                "nobody e-mailed; einvoice: finalised as sevDesk's e-invoice (EN 16931), "
                "checked first. Default: format in the config's invoices section.",
            ),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Show what would be exported; write nothing.")
        ] = False,
        as_json: JsonOption = False,
        since_last: Annotated[
            bool,
            typer.Option(
                "--since-last",
                help="Every unexported invoice changed since the last such run, plus the "
                "held and failed ones.",
            ),
        ] = False,
        new_store: NewStoreOption = False,
    ) -> None:
        """Export saved KleanApp invoices to sevDesk, each exactly once, and lock them."""
        from reconciler.config import load_config
        from reconciler.invoices.runner import export_invoices

        filters = build_filters(date_from, date_to, status, since_last)
        if fmt is not None and fmt not in FORMATS:
            raise ConfigError(f"--format must be draft, final or einvoice, not {fmt!r}")
        cfg = load_config(config)

        async def work(connectors: Any, store: Any) -> Any:
            return await export_invoices(
                cfg, filters, dry_run=dry_run, fmt=fmt, connectors=connectors, store=store
            )

        result = asyncio.run(_with_services(cfg, work, new_store=new_store))
        if as_json:
            emit_json(result.as_dict())
        else:
            for line in result.summary_lines():
                typer.echo(line)
        raise typer.Exit(result.exit_code)

    @invoices.command("status")
    @guarded
    def status_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
        """List exported invoices with their sevDesk status (draft/open/paid/cancelled)."""
        from reconciler.config import load_config
        from reconciler.invoices.runner import invoice_status

        cfg = load_config(config)

        async def work(connectors: Any, store: Any) -> Any:
            return await invoice_status(connectors=connectors, store=store)

        items = asyncio.run(_with_services(cfg, work))
        if as_json:
            emit_json({"invoices": items})
        else:
            for line in status_lines(items):
                typer.echo(line)

    app.add_typer(invoices, name="invoices")


__all__ = ["build_filters", "register"]
