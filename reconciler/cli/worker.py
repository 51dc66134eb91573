"""``kleansync worker``: one worker of a fleet installation (issue 20), on procrastinate.

Any number of these, on any number of machines, share the fleet's PostgreSQL database
(``[state]`` of the config given, like ``kleansync tenants``): they run every tenant's
schedule, sync, invoice exports and webhook inbox (``reconciler.fleet``). ``--check``
only says which tenants can run (their secrets found) and exits. Annotations stay real
objects (no ``from __future__ import annotations``): typer reads them at runtime.
"""

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.common import ConfigOption, JsonOption, emit_json, guarded
from reconciler.domain.i18n import N_, _


def _readiness(fleet: Any) -> list[dict[str, Any]]:
    """Every tenant: enabled, and whether it can run (the problem's line if not)."""
    from reconciler.domain.errors import ConfigError
    from reconciler.fleet.runtime import tenant_config

    rows: list[dict[str, Any]] = []
    for tenant in fleet.tenants():
        problem = None
        if tenant.enabled:
            try:
                tenant_config(fleet.config, tenant)
                for name in (tenant.kleanapp_token_env, tenant.sevdesk_token_env):
                    fleet.secrets.require(tenant.name, name)
            except ConfigError as exc:
                problem = str(exc)
        rows.append(
            {
                "name": tenant.name,
                "enabled": tenant.enabled,
                "ready": tenant.enabled and problem is None,
                "problem": problem,
            }
        )
    return rows


def register(app: typer.Typer) -> None:
    """Add ``worker`` to ``app``."""

    @app.command(
        "worker",
        help=N_(
            "Run one worker of a fleet installation: every tenant's schedule, syncs, invoice "
            "exports and webhooks, from the jobs in its PostgreSQL database."
        ),
    )
    @guarded
    def worker(
        config: ConfigOption = None,
        concurrency: Annotated[
            int,
            typer.Option("--concurrency", min=1, max=64, help=N_("Jobs this worker runs at once.")),
        ] = 4,
        queues: Annotated[
            str | None,
            typer.Option(
                "--queues",
                help=N_(
                    "Only these queues, comma-separated (exports, sync, backfill, fleet; "
                    "default: all)."
                ),
            ),
        ] = None,
        secrets_dir: Annotated[
            Path | None,
            typer.Option(
                "--secrets-dir",
                help=N_(
                    "Folder with one file per secret, named as the tenant names it "
                    "(default: KLEANSYNC_SECRETS_DIR, else environment variables)."
                ),
            ),
        ] = None,
        no_schedule: Annotated[
            bool,
            typer.Option("--no-schedule", help=N_("Fire no schedules here (another worker does).")),
        ] = False,
        heartbeat: Annotated[
            float,
            typer.Option(
                "--heartbeat-seconds", min=0.1, help=N_("How often this worker proves it lives.")
            ),
        ] = 10.0,
        stalled_after: Annotated[
            float,
            typer.Option(
                "--stalled-after-seconds",
                min=0.5,
                help=N_("A job whose worker was silent this long runs again elsewhere."),
            ),
        ] = 120.0,
        stalled_check: Annotated[
            float, typer.Option("--stalled-check-seconds", hidden=True)
        ] = 30.0,
        retry_base: Annotated[float, typer.Option("--retry-base-seconds", hidden=True)] = 30.0,
        poll: Annotated[float, typer.Option("--poll-seconds", hidden=True)] = 5.0,
        check: Annotated[
            bool,
            typer.Option("--check", help=N_("Only say which tenants can run, then exit.")),
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        from sqlalchemy.engine import make_url

        from reconciler.config import load_config
        from reconciler.domain.errors import ConfigError
        from reconciler.domain.tenant_secrets import Secrets
        from reconciler.fleet.app import apply_schema, make_app
        from reconciler.fleet.context import Fleet, RetryPolicy
        from reconciler.fleet.jobs import QUEUES
        from reconciler.fleet.worker import WorkerSettings, run_worker
        from state.tenancy import require_postgresql

        cfg = load_config(config)
        require_postgresql(make_url(cfg.state.url).get_backend_name())
        chosen = tuple(q.strip() for q in queues.split(",") if q.strip()) if queues else None
        unknown = [q for q in chosen or () if q not in QUEUES]
        if unknown:
            raise ConfigError(
                _(
                    "--queues: unknown queue %(queue)s (known: %(known)s)",
                    queue=unknown[0],
                    known=", ".join(QUEUES),
                )
            )
        fleet = Fleet.open(cfg, Secrets(secrets_dir), RetryPolicy(base_seconds=retry_base))
        try:
            rows = _readiness(fleet)
            if check:
                if as_json:
                    emit_json({"tenants": rows})
                    return
                for row in rows:
                    if row["problem"]:
                        typer.echo(row["problem"], err=True)
                    elif row["ready"]:
                        typer.echo(_("tenant %(name)s: ready", name=row["name"]))
                    else:
                        typer.echo(_("tenant %(name)s: disabled", name=row["name"]))
                return
            for row in rows:
                if row["problem"]:
                    typer.echo(row["problem"], err=True)  # skipped; the others run
            apply_schema(cfg.state.url)
            app = make_app(cfg.state.url, pool_size=concurrency + 2, schedule=not no_schedule)
            settings = WorkerSettings(
                concurrency=concurrency,
                queues=chosen,
                heartbeat_seconds=heartbeat,
                stalled_after_seconds=stalled_after,
                stalled_check_seconds=stalled_check,
                poll_seconds=poll,
            )
            code = asyncio.run(run_worker(fleet, app, settings))
        finally:
            fleet.close()
        raise typer.Exit(code)
