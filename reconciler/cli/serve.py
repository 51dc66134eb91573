"""The ``kleansync serve`` command (registered on the main CLI by ``register``).

No ``from __future__ import annotations`` here: typer reads the option
annotations at runtime. The shared options come from ``reconciler.cli.common``.
"""

import asyncio
from pathlib import Path
from typing import Annotated, Any

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
        fleet: Annotated[
            bool,
            typer.Option(
                "--fleet",
                help=N_(
                    "Receive the webhooks of every tenant of the fleet's database "
                    "([state]) at /webhooks/kleanapp/{tenant}; no sync runs here."
                ),
            ),
        ] = False,
        secrets_dir: Annotated[
            Path | None,
            typer.Option(
                help=N_(
                    "With --fleet: a directory with one file per secret (read when the "
                    "environment variable of that name is not set)."
                )
            ),
        ] = None,
    ) -> None:
        from dataclasses import replace

        from reconciler.config import load_config
        from reconciler.service.runner import Service, ServiceSettings
        from reconciler.service.runner import serve as run_service

        cfg = load_config(config)
        settings = ServiceSettings.from_config(cfg, read_secret=not fleet)
        if host is not None:
            settings = replace(settings, listen_host=host)
        if port is not None:
            settings = replace(settings, listen_port=port)
        if fleet:
            raise typer.Exit(_serve_fleet(cfg, settings, secrets_dir))

        async def main() -> int:
            from reconciler.console import attach

            service = Service(cfg, settings=settings, new_store=new_store)
            attach(service)  # the admin console at /console (closed until an account exists)
            return await run_service(cfg, service=service)

        raise typer.Exit(asyncio.run(main()))


def _serve_fleet(cfg: Any, settings: Any, secrets_dir: Path | None) -> int:
    """``serve --fleet``: the fleet's receiver on the registry of ``[state]``'s database."""
    from sqlalchemy.engine import make_url

    from reconciler.domain.tenant_secrets import Secrets
    from reconciler.fleet.app import apply_schema, make_app
    from reconciler.fleet.jobs import defer_inbox_drain
    from reconciler.service.fleet_http import FleetReceiver, serve_fleet
    from state import Store
    from state.tenancy import require_postgresql

    # Before the store is opened: an SQLite file is not made just to be refused.
    require_postgresql(make_url(cfg.state.url).get_backend_name())
    store = Store(cfg.state.url, pool=cfg.state.pool)
    # A stored event becomes a drain job of its tenant on the workers' queue (coalesced by
    # its queueing lock: a burst of deliveries is one drain); the queue's tables are made
    # here too, so the receiver may start before the first worker.
    apply_schema(cfg.state.url)
    jobs = make_app(cfg.state.url, tasks=False)

    async def tell_the_workers(tenant: str) -> None:
        await defer_inbox_drain(jobs, tenant)

    async def main() -> int:
        async with jobs.open_async():
            return await serve_fleet(receiver)

    try:
        receiver = FleetReceiver(
            store, settings, secrets=Secrets(secrets_dir).get, on_delivery=tell_the_workers
        )
        return asyncio.run(main())
    finally:
        store.close()
