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
from reconciler.domain.i18n import N_, _, format_date, format_money
from reconciler.invoices.result import FORMATS, STATUSES, ExportFilters, status_word


def parse_date(value: str | None, option: str) -> dt.date | None:
    """``2026-03-31``, or as the admins write it: ``31.03.2026`` (also ``31.3.2026``)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if "." in text:
            day, month, year = (int(part) for part in text.split("."))
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            _(
                "%(option)s: %(value)r is not a date like 31.03.2026 or 2026-03-31",
                option=option,
                value=value,
            )
        ) from None


def parse_statuses(value: str | None) -> tuple[str, ...] | None:
    """``open,paid`` -> ("open", "paid"); ``OPEN`` is ``open``.

    An empty item (``open,,paid``, a trailing comma) is refused rather than
    skipped: it is usually a status that was meant to be there.
    """
    if value is None:
        return None
    items = [s.strip().lower() for s in value.split(",")]
    choices = _("use a comma-separated list of %(statuses)s", statuses=", ".join(STATUSES))
    if not any(items):
        raise ConfigError(_("--status: nothing given; %(choices)s", choices=choices))
    if not all(items):
        raise ConfigError(
            _(
                "--status %(value)r: an empty item between commas; %(choices)s",
                value=value,
                choices=choices,
            )
        )
    wrong = [s for s in items if s not in STATUSES]
    if wrong:
        raise ConfigError(
            _("--status: %(wrong)s; %(choices)s", wrong=", ".join(wrong), choices=choices)
        )
    return tuple(dict.fromkeys(items))


def build_filters(
    date_from: str | None, date_to: str | None, status: str | None, since_last: bool
) -> ExportFilters:
    """The command line's filters, checked; ``ConfigError`` (exit 2) when wrong."""
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if start and end and start > end:
        raise ConfigError(
            _(
                "--from %(start)s is after --to %(end)s",
                start=format_date(start),
                end=format_date(end),
            )
        )
    return ExportFilters(
        date_from=start, date_to=end, statuses=parse_statuses(status), since_last=since_last
    )


async def _with_services(config: Any, work: Any, *, new_store: bool = False) -> Any:
    """Open the store and both connectors from ``config``, run ``work``, close them."""
    # Imported here, not at the top: every CLI start imports this module (``register``),
    # and only an export needs the connectors and the store (CLI start-up stays fast).
    from reconciler.connectors import from_config
    from state import Store

    store = Store(config.state.url, new_store=new_store, pool=config.state.pool)
    kleanapp, sevdesk = from_config(config)
    try:
        async with kleanapp, sevdesk:
            return await work({"kleanapp": kleanapp, "sevdesk": sevdesk}, store)
    finally:
        store.close()


def status_lines(items: list[dict[str, Any]]) -> list[str]:
    """``invoices status`` for people: the ledger's states in the reader's words."""
    from reconciler.reporting.phrases import Phrases

    if not items:
        return [_("no invoice has been exported yet")]
    why = Phrases()
    head = (_("state"), _("number"), _("status"))
    lines = [f"{'KleanApp':<16} {head[0]:<14} {'sevDesk':<10} {head[1]:<14} {head[2]}"]
    for item in items:
        status = status_word(item["sevdesk_status"])
        if item["changed_after_export"]:
            status += " " + _("(changed in KleanApp after export)")
        if item.get("paid_amount") and item["sevdesk_status"] != "paid":
            status += " " + _("(%(amount)s paid)", amount=format_money(item["paid_amount"]))
        if item.get("kleanapp_status"):
            shown = status_word(item["kleanapp_status"])
            status += "; " + _("KleanApp shows: %(status)s", status=shown)
        if item["reason"] and item["state"] in ("held", "failed"):
            status = why(item["reason"])
        state = _(LEDGER_STATES.get(item["state"], item["state"]))
        lines.append(
            f"{item['number']:<16} {state:<14} {item['sevdesk_id'] or '-':<10} "
            f"{item['sevdesk_number'] or '-':<14} {status}"
        )
    return lines


#: An invoice's state in the export ledger (English in ``--json``), as the reader says it.
LEDGER_STATES = {
    "pending": N_("pending"),
    "created": N_("created"),
    "linked": N_("linked"),
    "held": N_("held"),
    "failed": N_("failed"),
}


def register(app: typer.Typer) -> None:
    """Add the ``invoices`` command group (``export``, ``status``) to ``app``."""

    invoices = typer.Typer(
        help=N_("Export KleanApp invoices to sevDesk and show where they stand."),
        no_args_is_help=True,
    )

    @invoices.command(
        "export",
        help=N_("Export saved KleanApp invoices to sevDesk, each exactly once, and lock them."),
    )
    @guarded
    def export(
        config: ConfigOption = None,
        date_from: Annotated[
            str | None,
            typer.Option(
                "--from",
                metavar="DATE",
                help=N_("Invoice date on or after (31.03.2026 or 2026-03-31)."),
            ),
        ] = None,
        date_to: Annotated[
            str | None,
            typer.Option("--to", metavar="DATE", help=N_("Invoice date on or before.")),
        ] = None,
        status: Annotated[
            str | None,
            typer.Option(
                "--status",
                metavar="open,paid,…",
                help=N_(
                    "KleanApp statuses to export (draft, open, paid, cancelled); default open,paid."
                ),
            ),
        ] = None,
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format",
                metavar="draft|final|einvoice",
                help=N_(
                    "draft: sevDesk draft; final: also finalised there (numbered, open), "
                    "nobody e-mailed; einvoice: finalised as sevDesk's e-invoice (EN 16931), "
                    "checked first. Default: format in the config's invoices section."
                ),
            ),
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option("--dry-run", help=N_("Show what would be exported; write nothing.")),
        ] = False,
        as_json: JsonOption = False,
        since_last: Annotated[
            bool,
            typer.Option(
                "--since-last",
                help=N_(
                    "Every unexported invoice changed since the last such run, plus the "
                    "held and failed ones."
                ),
            ),
        ] = False,
        new_store: NewStoreOption = False,
    ) -> None:
        from reconciler.config import load_config
        from reconciler.invoices.runner import export_invoices

        filters = build_filters(date_from, date_to, status, since_last)
        if fmt is not None and fmt not in FORMATS:
            raise ConfigError(
                _("--format must be draft, final or einvoice, not %(given)r", given=fmt)
            )
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

    @invoices.command(
        "status",
        help=N_("List exported invoices with their sevDesk status (draft/open/paid/cancelled)."),
    )
    @guarded
    def status_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
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
