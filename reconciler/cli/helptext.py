"""``--help`` in the reader's language: help texts are marked with ``N_`` and translated when shown.

Why at render time: typer builds every command, option and help text when
``reconciler.cli.app`` is imported, long before ``--lang`` (or the config)
is known, so a ``_()`` there would freeze the help in whatever language the
import happened in. The texts are therefore written as ``N_("...")`` (the
English message id, found by ``pybabel extract``) and each command, group and
option keeps its id; just before typer renders a help page or a usage error,
``translate_command`` / ``translate_param`` put the current language's words
in place. typer's own words (panel titles, ``Show this message and exit.``,
``Usage:``, the completion options) are in the catalogue too (``TYPER_WORDS``),
set on ``typer.rich_utils`` by ``speak_typer``.

``early_language`` reads ``--lang`` off the command line before click parses
it: ``--help`` is eager and would otherwise be answered before ``--lang``,
wherever it stands (``kleansync --help --lang en``).

Help texts are shown through rich markup, where ``[report]`` is a tag: the
translated text is escaped, so a message id says ``[report] language`` plainly.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from reconciler.domain.i18n import N_, gettext, set_language

__all__ = ["early_language", "speak_typer", "translate_command", "translate_param"]

#: typer's module constants (``typer.rich_utils``) -> their English text, as a message id.
TYPER_WORDS: dict[str, str] = {
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "DEFAULT_STRING": N_("[default: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}
#: The help of the options typer adds itself.
TYPER_OPTIONS: tuple[str, ...] = (
    N_("Show this message and exit."),
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)
USAGE = N_("Usage: ")
OPTIONS_METAVAR = N_("[OPTIONS]")
COMMAND_METAVAR = N_("COMMAND [ARGS]...")
EXAMPLES = N_("Examples:")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _original(obj: Any, attr: str) -> Any:
    """The message id ``obj.attr`` had before it was first translated."""
    key = f"_kleansync_msgid_{attr}"
    if not hasattr(obj, key):
        setattr(obj, key, getattr(obj, attr, None))
    return getattr(obj, key)


def _translated(obj: Any, attr: str, *, escape: bool = True) -> None:
    msgid = _original(obj, attr)
    if isinstance(msgid, str) and msgid:
        text = gettext(inspect.cleandoc(msgid))
        setattr(obj, attr, _escape(text) if escape else text)


def translate_param(param: Any) -> Any:
    """An option's or argument's help in the current language."""
    _translated(param, "help")
    return param


def translate_command(command: Any) -> Any:
    """A command's help, examples and usage words (and its subcommands' help) for now."""
    from reconciler.cli.examples import epilog

    _translated(command, "help")
    _translated(command, "short_help")
    path = getattr(command, "_kleansync_path", None)
    if path is not None:
        command.epilog = epilog(path)
    if getattr(command, "options_metavar", None):
        command.options_metavar = gettext(OPTIONS_METAVAR)
    if getattr(command, "subcommand_metavar", None):
        command.subcommand_metavar = gettext(COMMAND_METAVAR)
    for sub in (getattr(command, "commands", None) or {}).values():
        _translated(sub, "help")
        _translated(sub, "short_help")
    speak_typer()
    return command


def speak_typer() -> None:
    """typer's own words (panel titles, the help hint of an error) in the current language."""
    from typer import rich_utils

    for name, msgid in TYPER_WORDS.items():
        setattr(rich_utils, name, gettext(msgid))


def format_usage(command: Any, ctx: Any, formatter: Any) -> None:
    """click's ``format_usage`` in the current language (a usage error prints it first)."""
    if getattr(command, "options_metavar", None):
        command.options_metavar = gettext(OPTIONS_METAVAR)
    if getattr(command, "subcommand_metavar", None):
        command.subcommand_metavar = gettext(COMMAND_METAVAR)
    speak_typer()
    pieces = command.collect_usage_pieces(ctx)
    formatter.write_usage(ctx.command_path, " ".join(pieces), prefix=gettext(USAGE))


def early_language(args: Sequence[str]) -> None:
    """``--lang X`` / ``--lang=X`` among the program's options, before click parses them.

    Only the options before the command name are the program's; a wrong value
    is left for the ``--lang`` option itself to refuse in one line.
    """
    tokens = list(args)
    for i, token in enumerate(tokens):
        value = None
        if token == "--lang" and i + 1 < len(tokens):
            value = tokens[i + 1]
        elif token.startswith("--lang="):
            value = token.split("=", 1)[1]
        elif not token.startswith("-"):
            return
        if value is not None:
            try:
                set_language(value)
            except ValueError:
                set_language(None)  # the environment's or config's language says why
            return
