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
from reconciler.domain.models import SIDE_LABEL


def _open_store(config_path: Path | None) -> tuple[Any, Any]:
    from reconciler.config import load_config
    from state import Store

    cfg = load_config(config_path)
    return cfg, Store(cfg.state.url)


def _tz(cfg: Any) -> str:
    return getattr(getattr(cfg, "schedule", None), "timezone", None) or "UTC"


def find_run(store: Any, run_id: str) -> Any:
    """``latest``, a full run id, or a unique prefix of one: a sync or an invoice export."""
    from reconciler.admin.history import find

    return find(store, run_id)


def _value(value: Any) -> str:
    return "(not set)" if value is None else repr(value)


def register(app: typer.Typer) -> None:
    """Add ``report``, ``conflicts`` and ``status`` to the ``kleansync`` app."""

    @app.command()
    @guarded
    def report(
        run_id: Annotated[
            str, typer.Argument(help="Run id (or a unique prefix), or 'latest'.")
        ] = "latest",
        config: ConfigOption = None,
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format",
                "-f",
                help="html, json, csv or md (default: md on the terminal, html with --open "
                "or an .html --output).",
            ),
        ] = None,
        open_: Annotated[
            bool, typer.Option("--open", help="Write the HTML report and open it in a browser.")
        ] = False,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
        ] = None,
    ) -> None:
        """Print or write the report of a run (rendered again from the run history)."""
        from reconciler.admin.history import INVOICES, kind_of
        from reconciler.reporting.files import file_stem
        from reconciler.reporting.invoice_data import invoice_run_data
        from reconciler.reporting.render import FORMATS, render
        from reconciler.reporting.view import build_view, run_data

        if fmt is None:
            fmt = "html" if open_ or (output and output.suffix == ".html") else "md"
        if fmt not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        if open_ and fmt != "html":
            raise ConfigError("--open shows the HTML report; drop --format or use --format html")
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
        typer.echo(f"report of run {view['run']['run_id']} written to {output}", err=True)
        if open_:
            webbrowser.open(output.resolve().as_uri())

    conflicts = typer.Typer(
        help="What waits for an admin: conflicts to decide and parked matches to settle.",
        no_args_is_help=True,
    )
    app.add_typer(conflicts, name="conflicts")

    @conflicts.command("list")
    @guarded
    def conflicts_list(
        config: ConfigOption = None,
        as_json: JsonOption = False,
        everything: Annotated[
            bool, typer.Option("--all", help="Also answered, closed and rule-decided ones.")
        ] = False,
    ) -> None:
        """List open conflicts (C…) and parked records (P…)."""
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
            typer.echo("Nothing waits for an admin.")
            return
        for c in data["conflicts"]:
            state = "" if c["status"] == "open" else f"  [{c['status']}]"
            typer.echo(
                f"{c['id']:<6} {c['entity']} {c['key']}  {c['field']}: "
                f"KleanApp {_value(c['kleanapp'])} | sevDesk {_value(c['sevdesk'])}{state}"
            )
        for p in data["parked"]:
            state = "" if p["status"] == "open" else f"  [{p['status']}]"
            typer.echo(
                f"{p['id']:<6} {p['entity']} {p['record']} ({p['key']}): {p['reason']}; "
                f"candidates: {', '.join(p['candidates']) or 'none'}{state}"
            )
        if data["conflicts"]:
            typer.echo(
                "Decide: kleansync conflicts resolve ID --take kleanapp|sevdesk | --value VALUE",
                err=True,
            )
        if data["parked"]:
            typer.echo(
                "Settle: kleansync conflicts link ID --with OTHER_ID | --create-new", err=True
            )

    @conflicts.command("show")
    @guarded
    def conflicts_show(
        item_id: Annotated[str, typer.Argument(metavar="ID", help="C12, P3 (bare number: C).")],
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Everything about one conflict or parked record."""
        from reconciler.admin.queue import show

        _cfg, store = _open_store(config)
        try:
            data = show(store, item_id)
        finally:
            store.close()
        if as_json:
            emit_json(data)
            return
        if data["kind"] == "conflict":
            lines = [
                f"{data['id']}: {data['entity']} {data['key']}, field {data['field']} "
                f"({data['status']})",
                f"  base (last agreed): {_value(data['base'])}",
                f"  KleanApp:           {_value(data['kleanapp'])}",
                f"  sevDesk:            {_value(data['sevdesk'])}",
                f"  rule: {data['rule']}; decision: "
                + (
                    "left for an admin"
                    if data["decision"] == "manual"
                    else f"{SIDE_LABEL.get(data['decision'], data['decision'])} wins"
                ),
                f"  why: {data['reason']}",
                f"  seen in run {data['run_id']} at {data['created_at']}",
            ]
            if data["resolution"]:
                lines.append(
                    f"  resolved by {data['resolved_by']} at {data['resolved_at']}: "
                    f"{_value(data['resolution'].get('value'))}"
                    + (
                        f" (taken from {SIDE_LABEL[data['resolution']['take']]})"
                        if data["resolution"].get("take")
                        else ""
                    )
                )
        else:
            lines = [
                f"{data['id']}: {data['entity']} {data['record']}, number {data['key']} "
                f"({data['status']})",
                f"  why: {data['reason']}",
            ]
            if data.get("evidence") or data.get("details"):
                from reconciler.reporting.evidence import evidence_lines

                lines += evidence_lines(data.get("details"), data.get("evidence") or [])
            else:
                lines.append(f"  candidates: {', '.join(data['candidates']) or 'none'}")
            lines.append(f"  seen in run {data['run_id']} at {data['created_at']}")
            res = data["resolution"]
            if res:
                what = f"link with {res['with']}" if res["action"] == "link" else "create anew"
                done = "applied" if res["applied"] else "applied by the next run"
                lines.append(f"  settled by {res['by']} at {res['at']}: {what} ({done})")
        for line in lines:
            typer.echo(line)

    @conflicts.command("resolve")
    @guarded
    def conflicts_resolve(
        item_id: Annotated[str, typer.Argument(metavar="ID", help="The conflict, e.g. C12.")],
        take: Annotated[
            str | None,
            typer.Option("--take", help="Keep this side's value: kleanapp or sevdesk."),
        ] = None,
        value: Annotated[
            str | None, typer.Option("--value", help="Use this value on both sides.")
        ] = None,
        by: Annotated[
            str | None, typer.Option("--by", help="Who decides (default: your login name).")
        ] = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Decide an open conflict; the next sync writes the value to both sides."""
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
        origin = f" (from {SIDE_LABEL[source]})" if source else ""
        typer.echo(
            f"C{row.id} resolved by {row.resolved_by}: {row.entity} {row.key} {row.field} = "
            f"{_value(row.resolution['value'])}{origin}; the next sync writes it to both sides."
        )

    @conflicts.command("link")
    @guarded
    def conflicts_link(
        item_id: Annotated[str, typer.Argument(metavar="ID", help="The parked record, e.g. P3.")],
        with_: Annotated[
            str | None,
            typer.Option(
                "--with", help="The record of the other side: a parked ID (P4) or side:id."
            ),
        ] = None,
        create_new: Annotated[
            bool,
            typer.Option(
                "--create-new", help="It has no counterpart: create one on the other side."
            ),
        ] = False,
        by: Annotated[
            str | None, typer.Option("--by", help="Who decides (default: your login name).")
        ] = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Settle a parked match: link it with a record of the other side, or create anew."""
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
        what = f"linked with {res.with_id}" if res.action == "link" else "created anew"
        typer.echo(
            f"P{res.parked_id} ({res.side}:{res.record_id}) settled by {res.by}: it will be "
            f"{what} by the next sync."
        )

    @app.command()
    @guarded
    def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
        """Last runs, open conflicts, parked records, admin tasks, next scheduled run."""
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
