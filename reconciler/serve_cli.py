"""The ``kleansync serve`` command (registered on the main CLI by ``register``).

``python -m reconciler.serve_cli serve --config ...`` runs the same command
before the main CLI has it registered.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from reconciler.cli import ConfigOption, guarded


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""

    @app.command("serve")
    @guarded
    def serve(
        config: ConfigOption = None,
        host: Annotated[
            str | None,
            typer.Option(help="Listen on this interface (default: [webhooks] listen_host)."),
        ] = None,
        port: Annotated[
            int | None,
            typer.Option(help="Listen on this port (default: [webhooks] listen_port)."),
        ] = None,
    ) -> None:
        """Run always-on: the scheduled sync, KleanApp webhooks, /healthz and /metrics."""
        from dataclasses import replace

        from reconciler.config import load_config
        from reconciler.service import Service, ServiceSettings
        from reconciler.service import serve as run_service

        cfg = load_config(config)
        settings = ServiceSettings.from_config(cfg)
        if host is not None:
            settings = replace(settings, listen_host=host)
        if port is not None:
            settings = replace(settings, listen_port=port)

        async def main() -> int:
            return await run_service(cfg, service=Service(cfg, settings=settings))

        raise typer.Exit(asyncio.run(main()))


if __name__ == "__main__":
    from reconciler.cli import app as _app

    if not any(c.name == "serve" for c in _app.registered_commands):
        register(_app)
    _app()
