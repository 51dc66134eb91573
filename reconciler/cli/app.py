"""The ``kleansync`` command line.

Thin on purpose: each command parses its options, calls one function of the
product and prints the outcome. Every ``KleansyncError`` becomes one line on
stderr and its exit code (2 for config/usage, 1 otherwise); anything
unexpected becomes one line too, with the traceback only under ``-v``.
Machine-readable output (``--json``) goes alone to stdout; logs go to stderr.
Commands import the product inside their function, not at the top: every
start (even ``--help``) would otherwise load the engine, the state store and
the HTTP stack first (CLI start-up stays fast).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.accounts import register as register_accounts
from reconciler.cli.admin import register as register_admin
from reconciler.cli.common import (
    STATE,
    ConfigOption,
    JsonOption,
    NewStoreOption,
    emit_json,
    fail,
    guarded,
    interrupted,
    quiet_broken_pipe,
)
from reconciler.cli.group import QUIET_HELP, VERBOSE_HELP, KleansyncGroup
from reconciler.cli.init import register as register_init
from reconciler.cli.invoices import register as register_invoices
from reconciler.cli.resync import register as register_resync
from reconciler.cli.serve import register as register_serve
from reconciler.cli.tenants import register as register_tenants
from reconciler.cli.worker import register as register_worker
from reconciler.domain.i18n import N_, _, set_language, using
from reconciler.log import redact, setup_logging

app = typer.Typer(
    name="kleansync",
    help=N_(
        "Keeps KleanApp and sevDesk in agreement: customers and units both ways, invoices "
        "to sevDesk."
    ),
    no_args_is_help=True,
    cls=KleansyncGroup,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"kleansync {version('kleansync')}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help=VERBOSE_HELP)] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help=N_(
                "Language of reports and messages: de (default) or en. --lang wins over "
                "KLEANSYNC_LANG, which wins over [report] language."
            ),
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help=N_("Print the version and exit."),
        ),
    ] = False,
) -> None:
    try:
        set_language(lang)
    except ValueError as exc:
        fail(f"--lang: {exc}", 2)  # one line, like every other wrong option
    STATE["verbose"], STATE["quiet"] = verbose, quiet
    setup_logging(verbose, quiet)


@app.command(help=N_("Serve the sevDesk and KleanApp emulators on loopback until Ctrl-C."))
@guarded
def sandbox(
    host: Annotated[str, typer.Option(help=N_("Interface to listen on."))] = "127.0.0.1",
    sevdesk_port: Annotated[int, typer.Option(help=N_("Port of the sevDesk emulator."))] = 8801,
    sevdesk_token: Annotated[
        str, typer.Option(help=N_("API token the sevDesk emulator accepts."))
    ] = "sandbox-sevdesk-token",
    kleanapp_port: Annotated[int, typer.Option(help=N_("Port of the KleanApp emulator."))] = 8802,
    kleanapp_token: Annotated[
        str, typer.Option(help=N_("API token the KleanApp emulator accepts."))
    ] = "sandbox-kleanapp-token",
    legacy_unity_write: Annotated[
        bool, typer.Option(help=N_("Let the sevDesk emulator accept the legacy POST /Unity."))
    ] = False,
    sevdesk_bookkeeping_version: Annotated[
        str,
        typer.Option(
            help=N_(
                "Bookkeeping system version the sevDesk emulator reports: 2.0, or 1.0 for "
                "an account without sevdesk-Update 2.0."
            )
        ),
    ] = "2.0",
) -> None:
    from sandbox.serve import endpoints, serve_forever

    eps = endpoints(
        host=host,
        sevdesk_port=sevdesk_port,
        sevdesk_token=sevdesk_token,
        kleanapp_port=kleanapp_port,
        kleanapp_token=kleanapp_token,
        legacy_unity_write=legacy_unity_write,
        sevdesk_bookkeeping_version=sevdesk_bookkeeping_version,
    )
    for ep in eps:
        # Sandbox tokens are made up for the emulator, so printing them is the point.
        typer.echo(
            _(
                "%(name)s %(url)s  token: %(token)s",
                name=f"{ep.name:<9}",
                url=ep.base_url,
                token=ep.token,
            ),
            err=True,
        )
    typer.echo(_("Ctrl-C stops both."), err=True)
    serve_forever(eps)


@app.command(help=N_("Run the whole product against the built-in emulators: no keys, no network."))
@guarded
def demo(
    workdir: Annotated[
        Path, typer.Option(help=N_("Where the demo keeps its config, state and reports."))
    ] = Path("kleansync-demo"),
) -> None:
    from reconciler.cli.demo import DemoFailed, run_demo

    try:
        code = run_demo(workdir, typer.echo)
    except DemoFailed as exc:
        fail(_("demo failed: %(error)s", error=exc))
    raise typer.Exit(code)


@app.command(help=N_("Check the config, reach both services, verify the keys, count records."))
@guarded
def doctor(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    from reconciler.cli.doctor import run_doctor
    from reconciler.config import load_config

    cfg = load_config(config)
    with using("en" if as_json else None):  # --json stays English: it is an API
        result = asyncio.run(run_doctor(cfg))
    if as_json:
        emit_json(result.as_dict())
    else:
        for line in result.lines():
            typer.echo(line)
    if not result.ok:
        raise typer.Exit(1)


@app.command(help=N_("Reconcile customers and units between KleanApp and sevDesk once."))
@guarded
def sync(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help=N_("Compute and print the plan; write nothing anywhere.")),
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help=N_("Read everything (notices deletions), not just changes.")),
    ] = False,
    as_json: JsonOption = False,
    plan_out: Annotated[
        Path | None,
        typer.Option(
            "--plan-out",
            help=N_(
                "Save the plan as JSON to this file for review; implies --dry-run "
                "(nothing is written). Apply it later with --apply-plan."
            ),
        ),
    ] = None,
    apply_plan: Annotated[
        Path | None,
        typer.Option(
            "--apply-plan",
            help=N_(
                "Apply a plan saved earlier with --plan-out, once, to the same state store "
                "(refused when older than [sync] plan_max_age_hours)."
            ),
        ),
    ] = None,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete", help=N_("Let this run archive/delete beyond the brake.")
        ),
    ] = False,
    new_store: NewStoreOption = False,
) -> None:
    from reconciler.config import load_config
    from reconciler.sync.engine import SyncOptions, sync_from_config
    from reconciler.sync.plan_file import check_plan_out

    if plan_out and apply_plan:
        fail(_("--plan-out saves a new plan for review, --apply-plan applies one: use one"), 2)
    if plan_out:
        check_plan_out(plan_out)
    cfg = load_config(config)
    options = SyncOptions(
        dry_run=dry_run,
        full=full,
        plan_out=plan_out,
        apply_plan=apply_plan,
        allow_mass_delete=allow_mass_delete,
        new_store=new_store,
        trigger="manual",
    )
    from reconciler.cli.progress import progress_bar

    try:
        with progress_bar(quiet=bool(STATE.get("quiet"))) as progress:
            result = asyncio.run(sync_from_config(cfg, options, progress=progress))
    except KeyboardInterrupt:
        interrupted(cfg)
    if as_json:
        emit_json({**result.as_dict(), "report": str(result.report) if result.report else None})
        for warning in result.warning_lines():  # stdout holds only the JSON
            typer.echo(redact(_("warning: %(warning)s", warning=warning)), err=True)
    else:
        for line in result.summary_lines(cfg.schedule.timezone):
            typer.echo(redact(line))
        if result.report:
            typer.echo(_("report: %(path)s", path=result.report))
    raise typer.Exit(result.exit_code)


# Commands that live in their own modules.
register_init(app)
register_admin(app)
register_invoices(app)
register_resync(app)
register_serve(app)
register_accounts(app)
register_tenants(app)
register_worker(app)


def main() -> None:
    """Console-script entry point (``kleansync``, and ``python -m reconciler.cli``).

    Named ``kleansync`` whichever way it was started, so usage lines and shell
    completion (``_KLEANSYNC_COMPLETE``) are the same for both.
    """
    try:
        app(prog_name="kleansync")
    except BrokenPipeError:  # e.g. `kleansync --help | head -1`
        quiet_broken_pipe()


if __name__ == "__main__":
    main()
