"""``kleansync tenants add|list|disable|show``: the companies of a fleet installation.

A fleet (issue 20) keeps one registry row per company in its PostgreSQL database
(``state.tenant_tables``) and each company's state in a schema of its own
(``state.tenancy``). A row is checked exactly as ``config.toml`` is (the same models:
base URLs, token variable names, rules, schedule), and holds the *names* of the
token variables, never a token. ``[state]`` of the config given (``-c``) names the
fleet's database. Annotations stay real objects (no ``from __future__ import
annotations``): typer reads them at runtime.
"""

import os
from typing import Annotated, Any

import typer

from reconciler.cli.common import ConfigOption, JsonOption, emit_json, guarded
from reconciler.domain.i18n import N_, _

NameArgument = Annotated[
    str,
    typer.Argument(metavar="NAME", help=N_("The tenant's name (a-z, 0-9, _).")),
]


def _registry(config: Any) -> tuple[Any, Any]:
    """The fleet's store and its registry; PostgreSQL only (one SQLite file is one company)."""
    from sqlalchemy.engine import make_url

    from reconciler.config import load_config
    from state import Store
    from state.tenancy import require_postgresql
    from state.tenant_tables import Tenants

    cfg = load_config(config)
    # Before the store is opened: an SQLite file is not made just to be refused.
    require_postgresql(make_url(cfg.state.url).get_backend_name())
    store = Store(cfg.state.url, pool=cfg.state.pool)
    return store, Tenants(store)


def _checked(name: str, values: dict[str, Any]) -> None:
    """``ConfigError`` naming the tenant and the key, as ``config.toml`` would."""
    from pydantic import ValidationError

    from reconciler.config import Config
    from reconciler.domain.config_problems import first_problem
    from reconciler.domain.errors import ConfigError
    from state.tenancy import schema_for

    schema_for(name)
    try:
        Config.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(
            _("tenant %(name)s: %(problem)s", name=name, problem=first_problem(exc))
        ) from None


def _as_dict(tenant: Any) -> dict[str, Any]:
    """A tenant for people and ``--json``: whether each token variable is set, never its value."""
    return {
        "name": tenant.name,
        "enabled": tenant.enabled,
        "kleanapp": {
            "base_url": tenant.kleanapp_base_url,
            "token_env": tenant.kleanapp_token_env,
            "token_set": bool(os.environ.get(tenant.kleanapp_token_env, "").strip()),
        },
        "sevdesk": {
            "base_url": tenant.sevdesk_base_url,
            "token_env": tenant.sevdesk_token_env,
            "token_set": bool(os.environ.get(tenant.sevdesk_token_env, "").strip()),
        },
        "rules": tenant.rules,
        "schedule": tenant.schedule,
    }


def register(app: typer.Typer) -> None:
    """Add the ``tenants`` command group to ``app``."""
    tenants = typer.Typer(
        help=N_("The companies (tenants) of a fleet installation on PostgreSQL."),
        no_args_is_help=True,
    )

    @tenants.command(
        "add", help=N_("Register a company: its two services, token variables, rules, schedule.")
    )
    @guarded
    def add(
        name: NameArgument,
        kleanapp_url: Annotated[
            str, typer.Option("--kleanapp-url", help=N_("The company's KleanApp API URL."))
        ],
        sevdesk_url: Annotated[
            str, typer.Option("--sevdesk-url", help=N_("The sevDesk API URL."))
        ] = "https://my.sevdesk.de/api/v1",
        kleanapp_token_env: Annotated[
            str | None,
            typer.Option(
                "--kleanapp-token-env",
                help=N_("Variable with the KleanApp token (default: KLEANAPP_TOKEN_<NAME>)."),
            ),
        ] = None,
        sevdesk_token_env: Annotated[
            str | None,
            typer.Option(
                "--sevdesk-token-env",
                help=N_("Variable with the sevDesk token (default: SEVDESK_TOKEN_<NAME>)."),
            ),
        ] = None,
        rules: Annotated[
            str, typer.Option("--rules", help=N_("The default conflict rule, as [rules] default."))
        ] = "last-write-wins",
        cron: Annotated[
            str, typer.Option("--cron", help=N_("When the nightly run starts, as [schedule] cron."))
        ] = "0 2 * * *",
        timezone: Annotated[
            str, typer.Option("--timezone", help=N_("The schedule's time zone."))
        ] = "Europe/Berlin",
        config: ConfigOption = None,
    ) -> None:
        from state import Store
        from state.tenant_tables import Tenant

        kleanapp_env = kleanapp_token_env or f"KLEANAPP_TOKEN_{name.upper()}"
        sevdesk_env = sevdesk_token_env or f"SEVDESK_TOKEN_{name.upper()}"
        values = {
            "kleanapp": {"base_url": kleanapp_url, "token_env": kleanapp_env},
            "sevdesk": {"base_url": sevdesk_url, "token_env": sevdesk_env},
            "rules": {"default": rules},
            "schedule": {"cron": cron, "timezone": timezone},
        }
        _checked(name, values)
        store, registry = _registry(config)
        try:
            registry.add(
                Tenant(
                    name=name,
                    kleanapp_base_url=kleanapp_url,
                    sevdesk_base_url=sevdesk_url,
                    kleanapp_token_env=kleanapp_env,
                    sevdesk_token_env=sevdesk_env,
                    rules=values["rules"],
                    schedule=values["schedule"],
                )
            )
            Store(store.url, tenant=name).close()  # its schema, made and migrated now
        finally:
            store.close()
        typer.echo(
            _(
                "Tenant %(name)s added; its tokens are read from %(kleanapp)s and %(sevdesk)s.",
                name=name,
                kleanapp=kleanapp_env,
                sevdesk=sevdesk_env,
            )
        )

    @tenants.command("list", help=N_("Every tenant, enabled or not."))
    @guarded
    def list_(config: ConfigOption = None, as_json: JsonOption = False) -> None:
        store, registry = _registry(config)
        try:
            rows = [_as_dict(t) for t in registry.all()]
        finally:
            store.close()
        if as_json:
            emit_json({"tenants": rows})
            return
        if not rows:
            typer.echo(_("No tenants yet (kleansync tenants add NAME --kleanapp-url URL)."))
        for row in rows:
            state = _("enabled") if row["enabled"] else _("disabled")
            typer.echo(f"{row['name']}  {state}  {row['kleanapp']['base_url']}")

    @tenants.command("show", help=N_("One tenant: services, token variables (set or not), rules."))
    @guarded
    def show(name: NameArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
        store, registry = _registry(config)
        try:
            row = _as_dict(registry.get(name))
        finally:
            store.close()
        if as_json:
            emit_json(row)
            return
        state = _("enabled") if row["enabled"] else _("disabled")
        typer.echo(f"{row['name']}: {state}")
        for side, label in (("kleanapp", "KleanApp"), ("sevdesk", "sevDesk")):
            part = row[side]
            token = _("set") if part["token_set"] else _("not set")
            typer.echo(
                _(
                    "%(service)s: %(url)s, token in %(env)s (%(state)s)",
                    service=label,
                    url=part["base_url"],
                    env=part["token_env"],
                    state=token,
                )
            )
        typer.echo(_("rules: %(rule)s", rule=row["rules"].get("default", "")))
        typer.echo(
            _(
                "schedule: %(cron)s (%(zone)s)",
                cron=row["schedule"].get("cron", ""),
                zone=row["schedule"].get("timezone", ""),
            )
        )

    @tenants.command("disable", help=N_("Stop a tenant's runs; its state is kept."))
    @guarded
    def disable(name: NameArgument, config: ConfigOption = None) -> None:
        store, registry = _registry(config)
        try:
            registry.set_enabled(name, False)
        finally:
            store.close()
        typer.echo(_("Tenant %(name)s disabled; its state is kept.", name=name))

    app.add_typer(tenants, name="tenants")


__all__ = ["register"]
