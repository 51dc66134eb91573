"""The ``kleansync serve`` command (registered on the main CLI by ``register``).

No ``from __future__ import annotations`` here: typer reads the option
annotations at runtime. The shared options come from ``reconciler.cli.common``.
"""

import asyncio
from typing import Annotated

import typer

from reconciler.cli.common import ConfigOption, NewStoreOption, guarded
from reconciler.domain.i18n import N_


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""

    @app.command(
        "serve",
        help=N_(
            "Run always-on: the scheduled sync, KleanApp webhooks, the admin console "
            "(/console), /healthz and /metrics."
        ),
    )
    @guarded
    def serve(
        config: ConfigOption = None,
        host: Annotated[
            str | None,
            typer.Option(help=N_("Listen on this interface (default: [webhooks] listen_host).")),
        ] = None,
        port: Annotated[
            int | None,
            typer.Option(help=N_("Listen on this port (default: [webhooks] listen_port).")),
        ] = None,
        new_store: NewStoreOption = False,
    ) -> None:
        from dataclasses import replace

        from reconciler.config import load_config
        from reconciler.service.runner import Service, ServiceSettings
        from reconciler.service.runner import serve as run_service

        cfg = load_config(config)
        settings = ServiceSettings.from_config(cfg)
        if host is not None:
            settings = replace(settings, listen_host=host)
        if port is not None:
            settings = replace(settings, listen_port=port)

        async def main() -> int:
            from reconciler.console import attach

            service = Service(cfg, settings=settings, new_store=new_store)
            attach(service)  # the admin console at /console (closed until an account exists)
            return await run_service(cfg, service=service)

        raise typer.Exit(asyncio.run(main()))
