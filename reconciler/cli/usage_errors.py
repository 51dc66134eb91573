"""click's usage errors ("No such option: --x") as one line in the reader's language.

Why here and not in the catalogue under click's own message ids: the click
that typer runs is typer's vendored copy (``typer._click``), which builds its
messages with f-strings, not ``gettext``, so there is nothing to install a
translation for. Its exceptions carry what went wrong as data (the option's
name, the parameter, the pydantic error behind a bad value), so each kind is
said again from our catalogue, as one line like every other error
(``kleansync: sync: unbekannte Option --nope (Hilfe: kleansync sync --help)``)
instead of a usage line, a hint and an English panel. A message that no kind
here knows (a future click's) is shown as click words it: still one line.

``one_line()`` wraps the root group's ``make_context`` (the program's own
options) and ``invoke`` (each command's options and arguments), so every
usage error passes through it; ``kleansync`` with no arguments still shows
its help (``NoArgsIsHelpError`` is left alone).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)

from reconciler.domain.i18n import _, ngettext

__all__ = ["knowing_its_command", "one_line", "usage_line"]

_REQUIRES = re.compile(r"^Option '(?P<option>.+)' requires (?:an argument|(?P<n>\d+) arguments)\.$")
_NO_VALUE = re.compile(r"^Option '(?P<option>.+)' does not take a value\.$")
_EXTRA = re.compile(r"^Got unexpected extra argument\(s\) \((?P<args>.*)\)$", re.DOTALL)
_NO_COMMAND = re.compile(r"^No such command '(?P<name>.*)'\.$", re.DOTALL)
_NO_OPTION = re.compile(r"^No such option: (?P<option>.+)$", re.DOTALL)


def _hint(param: Any) -> str:
    """``--from`` / ``ID``: how the person typed (or should type) the parameter."""
    opts = [o for o in getattr(param, "opts", None) or [] if o.startswith("--")]
    if opts and getattr(param, "param_type_name", "") == "option":
        return opts[0]
    name = getattr(param, "display_name_raw", None) or getattr(param, "name", None) or ""
    return str(name).upper()  # as the usage line shows it: ID


def _bad_value(exc: BadParameter) -> str:
    """``--port``: must be a whole number (got 'abc'), pydantic's complaint in our words."""
    from pydantic import ValidationError

    from reconciler.domain.config_problems import complaint

    cause = exc.__cause__
    problem = exc.message
    if isinstance(cause, ValidationError) and cause.errors():
        error = cause.errors()[0]
        problem = complaint(error)
        if "input" in error:
            problem = _("%(message)s (got %(value)r)", message=problem, value=error["input"])
    if exc.param is None:
        return _("invalid value: %(problem)s", problem=problem)
    return _("%(param)s: %(problem)s", param=_hint(exc.param), problem=problem)


def describe(exc: UsageError) -> str:
    """What is wrong, in the current language (without the command or the help hint)."""
    message = str(exc.message)
    if isinstance(exc, NoSuchOption):
        option = exc.option_name
        if not _NO_OPTION.match(message):
            return message
        if exc.possibilities:
            return _(
                "no such option %(option)s (did you mean %(options)s?)",
                option=option,
                options=", ".join(sorted(exc.possibilities)),
            )
        return _("no such option %(option)s", option=option)
    if isinstance(exc, MissingParameter):
        name = _hint(exc.param) if exc.param is not None else ""
        if getattr(exc.param, "param_type_name", "") == "option":
            return _("the option %(name)s is missing", name=name)
        return _("the argument %(name)s is missing", name=name)
    if isinstance(exc, BadParameter):
        return _bad_value(exc)
    if isinstance(exc, BadOptionUsage):
        if match := _REQUIRES.match(message):
            n = int(match["n"] or 1)
            return ngettext(
                "%(option)s needs a value",
                "%(option)s needs %(num)d values",
                n,
                option=match["option"],
            )
        if match := _NO_VALUE.match(message):
            return _("%(option)s takes no value (it is a flag)", option=match["option"])
        return message
    if match := _EXTRA.match(message):
        return _("unexpected argument(s): %(args)s", args=match["args"])
    if match := _NO_COMMAND.match(message):
        return _("no such command '%(name)s'", name=match["name"])
    if message == "Missing command.":
        return _("a command is missing")
    return message


def usage_line(exc: UsageError) -> str:
    """``kleansync: sync: …problem… (Hilfe: kleansync sync --help)``: one line."""
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "kleansync"
    where = path.removeprefix("kleansync").strip()
    problem = " ".join(describe(exc).split())  # click's choices come on lines of their own
    text = f"{where}: {problem}" if where else problem
    return _("%(problem)s (help: %(command)s --help)", problem=text, command=path)


def knowing_its_command(parse: Callable[[Any, list[str]], Any]) -> Callable[..., Any]:
    """A command's ``parse_args`` whose usage errors know the command (click's parser's do not)."""

    def parse_args(ctx: Any, args: list[str]) -> Any:
        try:
            return parse(ctx, args)
        except UsageError as exc:
            if exc.ctx is None:
                exc.ctx = ctx
            raise

    return parse_args


@contextlib.contextmanager
def one_line() -> Iterator[None]:
    """A usage error raised inside becomes one line on stderr and its exit code (2)."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # `kleansync` alone shows its help, as it should
    except UsageError as exc:
        from reconciler.cli.common import fail

        fail(usage_line(exc), exc.exit_code)
