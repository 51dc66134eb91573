"""``kleansync resync [--dry-run] [--json]``: rebuild the links after a lost state store.

Registered on the main app by ``reconciler.cli.app`` with ``register(app)``; the
shared options come from ``reconciler.cli.common``, and there is no ``from
__future__ import annotations`` because typer reads the options off the
signatures. What resync does: ``reconciler.sync.resync``.

Exit codes: 0 done (parked and one-sided records are results, not failures),
1 a stable id could not be recorded or the resync could not run (another run
holds the lock, unsettled writes), 2 bad config.
"""

import asyncio
from typing import Annotated

import typer

from reconciler.cli.common import ConfigOption, JsonOption, emit_json, guarded
from reconciler.domain.i18n import N_


def register(app: typer.Typer) -> None:

    @app.command(
        help=N_(
            "Rebuild links and bases from both sides (after the state store was lost).\n\n"
            "Pairs by the KleanApp id kept on sevDesk contacts first, then by customer "
            "number, then by the matcher. Writes nothing to either side except missing "
            "KleanApp ids on sevDesk contacts; one-sided records are left to the next sync."
        )
    )
    @guarded
    def resync(
        config: ConfigOption = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run", help=N_("Show what would be linked; write nothing anywhere.")
            ),
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        from reconciler.config import load_config
        from reconciler.log import redact
        from reconciler.sync.resync import resync_from_config

        cfg = load_config(config)
        result = asyncio.run(resync_from_config(cfg, dry_run=dry_run))
        if as_json:
            emit_json(result.as_dict())
        else:
            for line in result.summary_lines():
                typer.echo(redact(line))
        raise typer.Exit(result.exit_code)
