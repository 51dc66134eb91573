"""The ``kleansync`` command group: options every command takes, flags shown as flags.

Why a group class of our own:

* ``-v``/``-q`` belong to the whole program, yet people type them where they
  think of them, after the command (``kleansync sync -v``), as every error
  line tells them to; click knows only the options of the command they follow.
  So every command takes them too, and both places add up to one setting.
* typer labels a flag with its Python type (``<bool>``, ``<int>`` for ``-v``),
  which reads as if it wanted a value: flags are labelled ``flag`` instead,
  without the ``[default: …]`` a flag does not need.

* every command's ``--help`` ends with an example or two (``reconciler.cli.examples``).
* help texts are message ids (``N_``), put into the current language when a
  help page or a usage error is shown (``reconciler.cli.helptext``).
* a usage error (``sync --nope``) is one line in the reader's language, not
  click's English panel (``reconciler.cli.usage_errors``).

The group changes each command the first time it is looked up, so commands
registered anywhere (``register(app)`` in the command modules) get the same.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from reconciler.cli import helptext, usage_errors
from reconciler.cli.common import STATE
from reconciler.domain.i18n import N_, gettext
from reconciler.log import setup_logging

FLAG = N_("flag")
VERBOSE_HELP = N_("More log output (-vv: even more); also after the command.")
QUIET_HELP = N_("Only warnings and errors; also after the command.")


def _more_verbose(_ctx: Any, _param: Any, value: int) -> int:
    if value:
        STATE["verbose"] = int(STATE.get("verbose", 0)) + value
        setup_logging(STATE["verbose"], bool(STATE.get("quiet")))
    return value


def _quieter(_ctx: Any, _param: Any, value: bool) -> bool:
    if value:
        STATE["quiet"] = True
        setup_logging(int(STATE.get("verbose", 0)), True)
    return value


def _verbosity_options() -> list[Any]:
    """``-v``/``-q`` as typer builds them (its help renderer needs typer's own objects).

    Typed ``Any`` and never ``isinstance``-checked against click's classes: typer
    0.2x carries its own copy of click, so those would be other classes.
    """
    holder = typer.Typer()

    @holder.command()
    def options(
        verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help=VERBOSE_HELP)] = 0,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    ) -> None:  # pragma: no cover - only its parameters are used
        pass

    by_name = {p.name: p for p in typer.main.get_command(holder).params}
    params = [by_name["verbose"], by_name["quiet"]]
    for param, callback in zip(params, (_more_verbose, _quieter), strict=True):
        param.expose_value = False
        param.callback = callback
    return params


def label_flags(params: list[Any]) -> list[Any]:
    """A flag's type column says ``flag``, no default is shown for it; helps in today's language."""
    for param in params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            if getattr(param, "_kleansync_flag", param.metavar is None):
                param._kleansync_flag = True
                param.metavar = gettext(FLAG)
            param.show_default = False
        helptext.translate_param(param)
    return params


def _labelled_params(command: Any) -> None:
    """``command.get_params`` labels flags too: ``--help`` is only added there.

    And the help page and usage line are rendered in the current language.
    """
    unlabelled = command.get_params
    command.get_params = lambda ctx: label_flags(unlabelled(ctx))
    render = command.format_help

    def format_help(ctx: Any, formatter: Any) -> None:
        helptext.translate_command(command)
        render(ctx, formatter)

    command.format_help = format_help
    command.format_usage = lambda ctx, formatter: helptext.format_usage(command, ctx, formatter)
    command.parse_args = usage_errors.knowing_its_command(command.parse_args)


def prepare(command: Any, path: str) -> Any:
    """Give ``command`` (and, for a group, each of its commands) the shared options.

    ``path`` is how it is called after ``kleansync`` ("conflicts resolve"): its
    examples (``reconciler.cli.examples``) end its ``--help``.
    """
    if getattr(command, "_kleansync_prepared", False):
        return command
    command._kleansync_prepared = True
    names = {p.name for p in command.params}
    command.params.extend(p for p in _verbosity_options() if p.name not in names)
    commands: dict[str, Any] | None = getattr(command, "commands", None)
    if commands is not None:  # a group such as `conflicts`: and each of its commands
        for name, sub in commands.items():
            prepare(sub, f"{path} {name}")
    else:
        command._kleansync_path = path
    _labelled_params(command)
    return command


class KleansyncGroup(TyperGroup):
    """The root group: every command it hands out has been ``prepare``d."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        return None if command is None else prepare(command, cmd_name)

    def get_params(self, ctx: Any) -> Any:
        return label_flags(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        helptext.early_language(args)
        return usage_errors.knowing_its_command(super().parse_args)(ctx, args)

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        with usage_errors.one_line():  # the program's own options (`kleansync --nope`)
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with usage_errors.one_line():  # a command's options and arguments (`sync --nope`)
            return super().invoke(ctx)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        helptext.translate_command(self)
        super().format_help(ctx, formatter)

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        helptext.format_usage(self, ctx, formatter)
