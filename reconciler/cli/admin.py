"""Admin commands: ``report``, ``conflicts list|show|resolve|link`` and ``status``.

Registered on the main app by ``register(app)`` (one line in ``cli.py``).
They only read and answer the state store; nothing here talks to KleanApp
or sevDesk, so they work while a sync runs (SQLite WAL) and without tokens.
"""

# No ``from __future__ import annotations`` here: typer reads the parameter annotations
# at runtime (ConfigOption & co. come from reconciler.cli.common).
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.common import ConfigOption, JsonOption, emit_json, guarded
from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import N_, _
from reconciler.domain.labels import entity_word, field_label
from reconciler.domain.models import SIDE_LABEL


def _open_store(config_path: Path | None) -> tuple[Any, Any]:
    from reconciler.config import load_config
    from state import Store

    cfg = load_config(config_path)
    return cfg, Store(cfg.state.url, pool=cfg.state.pool)


def _tz(cfg: Any) -> str:
    return getattr(getattr(cfg, "schedule", None), "timezone", None) or "UTC"


def find_run(store: Any, run_id: str) -> Any:
    """``latest``, a full run id, or a unique prefix of one: a sync or an invoice export."""
    from reconciler.admin.history import find

    return find(store, run_id)


def _value(value: Any) -> str:
    from reconciler.cli.admin_lines import value_text

    return value_text(value)


def _status(status: Any) -> str:
    """A queue item's status (open, resolved, applied, ...) in the reader's words."""
    from reconciler.cli.admin_lines import status_word

    return status_word(status)


def register(app: typer.Typer) -> None:
    """Add ``report``, ``conflicts`` and ``status`` to the ``kleansync`` app."""

    @app.command(
        help=N_("Print or write the report of a run (rendered again from the run history).")
    )
    @guarded
    def report(
        run_id: Annotated[
            str, typer.Argument(help=N_("Run id (or a unique prefix), or 'latest'."))
        ] = "latest",
        config: ConfigOption = None,
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format",
                "-f",
                help=N_(
                    "html, json, csv or md (default: md on the terminal, html with --open "
                    "or an .html --output)."
                ),
            ),
        ] = None,
        open_: Annotated[
            bool,
            typer.Option("--open", help=N_("Write the HTML report and open it in a browser.")),
        ] = False,
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", help=N_("Write to this file, not stdout.")),
        ] = None,
    ) -> None:
        from reconciler.admin.history import INVOICES, kind_of
        from reconciler.reporting.invoice_data import invoice_run_data
        from reconciler.reporting.render import FORMATS, render
        from reconciler.reporting.view import build_view, file_stem, run_data

        if fmt is None:
            fmt = "html" if open_ or (output and output.suffix == ".html") else "md"
        if fmt not in FORMATS:
            raise ConfigError(
                _(
                    "--format must be one of %(formats)s, not %(given)r",
                    formats=", ".join(FORMATS),
                    given=fmt,
                )
            )
        if open_ and fmt != "html":
            raise ConfigError(_("--open shows the HTML report; drop --format or use --format html"))
        cfg, store = _open_store(config)
        try:
            run = find_run(store, run_id)
        finally:
            store.close()
        view = build_view(invoice_run_data(run) if kind_of(run) == INVOICES else run_data(run))
        text = render(view, fmt, tz=_tz(cfg))
        if open_ and output is None:
            output = Path(cfg.report.dir) / f"{file_stem(view)}.html"
        if output is None:
            typer.echo(text, nl=False)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8", newline="")
        typer.echo(
            _("report of run %(run)s written to %(path)s", run=view["run"]["run_id"], path=output),
            err=True,
        )
        if open_:
            webbrowser.open(output.resolve().as_uri())

    conflicts = typer.Typer(
        help=N_("What waits for an admin: conflicts to decide and parked matches to settle."),
        no_args_is_help=True,
    )
    app.add_typer(conflicts, name="conflicts")

    @conflicts.command("list", help=N_("List open conflicts (C…) and parked records (P…)."))
    @guarded
    def conflicts_list(
        config: ConfigOption = None,
        as_json: JsonOption = False,
        everything: Annotated[
            bool, typer.Option("--all", help=N_("Also answered, closed and rule-decided ones."))
        ] = False,
    ) -> None:
        from reconciler.admin.queue import queue

        _cfg, store = _open_store(config)
        try:
            data = queue(store, everything=everything)
        finally:
            store.close()
        if as_json:
            emit_json(data)
            return
        if not data["conflicts"] and not data["parked"]:
            typer.echo(_("Nothing waits for an admin."))
            return
        from reconciler.reporting.phrases import Phrases

        why = Phrases()
        for c in data["conflicts"]:
            state = "" if c["status"] == "open" else f"  [{_status(c['status'])}]"
            typer.echo(
                f"{c['id']:<6} {entity_word(c['entity'])} {c['key']}  {field_label(c['field'])}: "
                f"KleanApp {_value(c['kleanapp'])} | sevDesk {_value(c['sevdesk'])}{state}"
            )
        for p in data["parked"]:
            state = "" if p["status"] == "open" else f"  [{_status(p['status'])}]"
            candidates = ", ".join(p["candidates"]) or _("none")
            typer.echo(
                f"{p['id']:<6} {entity_word(p['entity'])} {p['record']} ({p['key']}): "
                + _(
                    "%(why)s; candidates: %(candidates)s",
                    why=why(p["reason"]),
                    candidates=candidates,
                )
                + state
            )
        if data["conflicts"]:
            typer.echo(
                _("Decide: kleansync conflicts resolve ID --take kleanapp|sevdesk | --value VALUE"),
                err=True,
            )
        if data["parked"]:
            typer.echo(
                _("Settle: kleansync conflicts link ID --with OTHER_ID | --create-new"), err=True
            )

    @conflicts.command("show", help=N_("Everything about one conflict or parked record."))
    @guarded
    def conflicts_show(
        item_id: Annotated[str, typer.Argument(metavar="ID", help=N_("C12, P3 (bare number: C)."))],
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        from reconciler.admin.queue import show

        _cfg, store = _open_store(config)
        try:
            data = show(store, item_id)
        finally:
            store.close()
        if as_json:
            emit_json(data)
            return
        from reconciler.cli.admin_lines import show_lines

        lines = show_lines(data, _tz(_cfg))
        for line in lines:
            typer.echo(line)

    @conflicts.command(
        "resolve",
        help=N_("Decide an open conflict; the next sync writes the value to both sides."),
    )
    @guarded
    def conflicts_resolve(
        item_id: Annotated[str, typer.Argument(metavar="ID", help=N_("The conflict, e.g. C12."))],
        take: Annotated[
            str | None,
            typer.Option("--take", help=N_("Keep this side's value: kleanapp or sevdesk.")),
        ] = None,
        value: Annotated[
            str | None, typer.Option("--value", help=N_("Use this value on both sides."))
        ] = None,
        by: Annotated[
            str | None, typer.Option("--by", help=N_("Who decides (default: your login name)."))
        ] = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        from reconciler.admin.queue import conflict_view, resolve_conflict

        _cfg, store = _open_store(config)
        try:
            row = resolve_conflict(store, item_id, take=take, value=value, by=by)
        finally:
            store.close()
        if as_json:
            emit_json(conflict_view(row))
            return
        source = row.resolution.get("take")
        args = {
            "id": f"C{row.id}",
            "by": row.resolved_by,
            "entity": entity_word(row.entity),
            "key": row.key,
            "field": field_label(row.field),
            "value": _value(row.resolution["value"]),
        }
        typer.echo(
            _(
                "%(id)s resolved by %(by)s: %(entity)s %(key)s %(field)s = %(value)s (from "
                "%(side)s); the next sync writes it to both sides.",
                side=SIDE_LABEL[source],
                **args,
            )
            if source
            else _(
                "%(id)s resolved by %(by)s: %(entity)s %(key)s %(field)s = %(value)s; the next "
                "sync writes it to both sides.",
                **args,
            )
        )

    @conflicts.command(
        "link",
        help=N_("Settle a parked match: link it with a record of the other side, or create anew."),
    )
    @guarded
    def conflicts_link(
        item_id: Annotated[
            str, typer.Argument(metavar="ID", help=N_("The parked record, e.g. P3."))
        ],
        with_: Annotated[
            str | None,
            typer.Option(
                "--with", help=N_("The record of the other side: a parked ID (P4) or side:id.")
            ),
        ] = None,
        create_new: Annotated[
            bool,
            typer.Option(
                "--create-new", help=N_("It has no counterpart: create one on the other side.")
            ),
        ] = False,
        by: Annotated[
            str | None, typer.Option("--by", help=N_("Who decides (default: your login name)."))
        ] = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        from reconciler.admin.queue import link_parked, show

        _cfg, store = _open_store(config)
        try:
            res = link_parked(store, item_id, with_id=with_, create_new=create_new, by=by)
            data = show(store, f"P{res.parked_id}")
        finally:
            store.close()
        if as_json:
            emit_json(data)
            return
        args = {"id": f"P{res.parked_id}", "record": f"{res.side}:{res.record_id}", "by": res.by}
        typer.echo(
            _(
                "%(id)s (%(record)s) settled by %(by)s: it will be linked with %(other)s by the "
                "next sync.",
                other=res.with_id,
                **args,
            )
            if res.action == "link"
            else _(
                "%(id)s (%(record)s) settled by %(by)s: it will be created anew by the next sync.",
                **args,
            )
        )

    @app.command(
        help=N_("Last runs, open conflicts, parked records, admin tasks, next scheduled run.")
    )
    @guarded
    def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
        from reconciler.admin.status import status as status_data
        from reconciler.admin.status import status_lines

        cfg, store = _open_store(config)
        try:
            data = status_data(store, cfg)
        finally:
            store.close()
        if as_json:
            emit_json(data)
            return
        for line in status_lines(data):
            typer.echo(line)
