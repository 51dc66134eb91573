"""``kleansync admin add-user NAME`` and ``admin password NAME``: the console's accounts.

Registered on the main app by ``register(app)``. The password is asked for
twice on the terminal (never an option: it would stay in the shell history
and the process list) and only its argon2 hash is stored
(``reconciler.console.accounts``). Annotations stay real objects (no ``from
__future__ import annotations``): typer reads them at runtime.
"""

from typing import Annotated

import typer

from reconciler.cli.common import ConfigOption, guarded
from reconciler.domain.i18n import N_, _


def _ask_password() -> str:
    return str(
        typer.prompt(
            _("Password"),
            hide_input=True,
            confirmation_prompt=_("Repeat the password"),
            err=True,
        )
    )


def register(app: typer.Typer) -> None:
    """Add the ``admin`` command group to ``app``."""
    admin = typer.Typer(
        help=N_("Accounts of the admin console in the browser (kleansync serve, /console)."),
        no_args_is_help=True,
    )

    @admin.command("add-user", help=N_("Create a console account; asks for its password twice."))
    @guarded
    def add_user(
        name: Annotated[str, typer.Argument(metavar="NAME", help=N_("The login name."))],
        config: ConfigOption = None,
    ) -> None:
        from reconciler.config import load_config
        from reconciler.console.accounts import add_user as add
        from reconciler.console.accounts import check_name, check_password
        from state import Store

        cfg = load_config(config)
        check_name(name)
        password = check_password(_ask_password())
        store = Store(cfg.state.url, pool=cfg.state.pool)
        try:
            created = add(store, name, password)
        finally:
            store.close()
        typer.echo(
            _(
                "Account %(name)s created; log in at /console/ of kleansync serve.",
                name=created,
            )
        )

    @admin.command("password", help=N_("Give a console account a new password (asked twice)."))
    @guarded
    def password(
        name: Annotated[str, typer.Argument(metavar="NAME", help=N_("The login name."))],
        config: ConfigOption = None,
    ) -> None:
        from reconciler.config import load_config
        from reconciler.console.accounts import check_name, check_password, set_password
        from state import Store

        cfg = load_config(config)
        check_name(name)
        new = check_password(_ask_password())
        store = Store(cfg.state.url, pool=cfg.state.pool)
        try:
            changed = set_password(store, name, new)
        finally:
            store.close()
        typer.echo(_("New password for %(name)s; its sessions ended.", name=changed))

    app.add_typer(admin, name="admin")


__all__ = ["register"]
