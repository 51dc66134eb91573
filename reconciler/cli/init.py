"""``kleansync init``: write a commented ``config.toml`` to start from.

An admin setting kleansync up should not have to copy the example from the
repository and guess which lines matter: ``init`` asks for the handful of
values that differ per installation (or takes them as flags when not run in
a terminal) and writes the same commented file the repository ships, so
every other setting is documented in place.

Two promises: the file written always loads (it is validated with
:func:`reconciler.config.parse_config` before it touches the disk), and no
token ever lands in it. The ``*-token-env`` answers are names of
environment variables; something that looks like a token itself is refused
without echoing it.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError

from reconciler.cli.common import guarded
from reconciler.cli.init_template import InitValues, render_config
from reconciler.config import KleanappConfig, ScheduleConfig, SevdeskConfig, parse_config
from reconciler.domain.errors import ConfigError
from reconciler.domain.files import write_atomically
from reconciler.domain.i18n import N_, _
from rules.policies import RULES, get_rule

__all__ = ["register", "run_init", "write_config"]

DEFAULT_PATH = Path("config.toml")
EXAMPLE_KLEANAPP_URL = "https://app.kleanapp.example/api/v1"


def _model_error(model: type[BaseModel], key: str, value: str, **other: str) -> str | None:
    """The config model's own complaint about ``value``, so init and load agree."""
    try:
        model(**{key: value}, **other)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


def _check_rule(value: str) -> str | None:
    try:
        get_rule(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Question:
    field: str
    flag: str
    #: A message id (``N_``), asked in the reader's language.
    prompt: str
    check: Callable[[str], str | None]
    #: Repeat the rejected value in the error (never for what may be a token).
    echo: bool = True


QUESTIONS: tuple[Question, ...] = (
    Question(
        "sevdesk_url",
        "--sevdesk-url",
        N_("sevDesk API base URL"),
        lambda v: _model_error(SevdeskConfig, "base_url", v),
    ),
    Question(
        "sevdesk_token_env",
        "--sevdesk-token-env",
        N_("Environment variable that will hold the sevDesk API key"),
        lambda v: _model_error(SevdeskConfig, "token_env", v),
        echo=False,
    ),
    Question(
        "kleanapp_url",
        "--kleanapp-url",
        N_("KleanApp integration API base URL"),
        lambda v: _model_error(KleanappConfig, "base_url", v),
    ),
    Question(
        "kleanapp_token_env",
        "--kleanapp-token-env",
        N_("Environment variable that will hold the KleanApp API token"),
        lambda v: _model_error(KleanappConfig, "token_env", v, base_url=EXAMPLE_KLEANAPP_URL),
        echo=False,
    ),
    Question(
        "rule",
        "--rule",
        N_("Conflict rule"),
        _check_rule,
        echo=False,  # get_rule's message already names the value
    ),
    Question(
        "cron",
        "--cron",
        N_("When to sync (cron: minute hour day month weekday)"),
        lambda v: _model_error(ScheduleConfig, "cron", v),
    ),
    Question(
        "timezone",
        "--timezone",
        N_("Time zone of the schedule"),
        lambda v: _model_error(ScheduleConfig, "timezone", v),
        echo=False,  # the message already names the zone
    ),
)


def _problem(question: Question, value: str) -> str | None:
    error = question.check(value)
    if error is None:
        return None
    return _("%(error)s (got %(value)r)", error=error, value=value) if question.echo else error


def _prompt(question: Question) -> str:
    """The question in the reader's language (the rule's choices named)."""
    text = _(question.prompt)
    return f"{text} ({', '.join(RULES)})" if question.field == "rule" else text


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def gather_values(given: dict[str, str | None], *, interactive: bool) -> InitValues:
    """Flags win; missing values are asked for (interactive) or defaulted.

    A bad flag value is a one-line ``ConfigError`` naming the flag. A bad
    answer at the prompt is explained and asked again.
    """
    values = InitValues()
    for q in QUESTIONS:
        value = given.get(q.field)
        if value is not None:
            error = _problem(q, value)
            if error:
                raise ConfigError(f"{q.flag}: {error}")
        elif interactive:
            default = getattr(values, q.field)
            while True:
                value = typer.prompt(_prompt(q), default=default, type=str).strip()
                error = _problem(q, value)
                if error is None:
                    break
                typer.echo(f"  {error}", err=True)
        else:
            value = getattr(values, q.field)
            if value is None:
                raise ConfigError(
                    _(
                        "%(flag)s is required (e.g. %(flag)s %(example)s); run 'kleansync init' "
                        "in a terminal to be asked instead",
                        flag=q.flag,
                        example=EXAMPLE_KLEANAPP_URL,
                    )
                )
        values = replace(values, **{q.field: value})
    return values


def _refuse_existing(path: Path, force: bool) -> None:
    if path.is_dir():
        raise ConfigError(
            _("%(path)s is a directory; pass the file to write with --path", path=path)
        )
    if path.exists() and not force:
        raise ConfigError(_("%(path)s already exists; pass --force to overwrite it", path=path))
    if not path.parent.is_dir():
        raise ConfigError(
            _("%(path)s does not exist; create the directory first", path=path.parent)
        )


def write_config(path: Path, values: InitValues, *, force: bool = False) -> Path:
    """Validate and write the config; ``ConfigError`` if it exists (without force) or is bad."""
    _refuse_existing(path, force)
    text = render_config(values)
    # The promise is that the file loads: check exactly what will be written.
    parse_config(tomllib.loads(text), source=str(path))
    try:
        if force:
            write_atomically(path, text, newline="\n")
        else:
            with path.open("x", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
    except FileExistsError:
        raise ConfigError(
            _("%(path)s already exists; pass --force to overwrite it", path=path)
        ) from None
    except OSError as exc:
        raise ConfigError(
            _("%(path)s: cannot write (%(cause)s)", path=path, cause=exc.strerror)
        ) from None
    return path


def run_init(path: Path, given: dict[str, str | None], *, force: bool) -> InitValues:
    """The whole command: check the target, gather values, write, explain what is next."""
    _refuse_existing(path, force)  # before asking anything
    values = gather_values(given, interactive=_stdin_is_terminal())
    write_config(path, values, force=force)
    typer.echo(_("Wrote %(path)s.", path=path))
    typer.echo(
        _(
            "Next: put the API keys into the environment variables %(sevdesk)s and "
            "%(kleanapp)s (never into the file), then run 'kleansync doctor --config %(path)s'.",
            sevdesk=values.sevdesk_token_env,
            kleanapp=values.kleanapp_token_env,
            path=path,
        )
    )
    return values


def _opt(flag: str, help_: str) -> object:
    return typer.Option(flag, help=help_, show_default=False)


def register(app: typer.Typer) -> None:
    """Add ``kleansync init`` to ``app``."""

    @app.command(
        "init",
        help=N_("Write a commented config.toml; asks for the values when run in a terminal."),
    )
    def init(
        path: Annotated[
            Path, typer.Option("--path", help=N_("Where to write the config file."))
        ] = DEFAULT_PATH,
        sevdesk_url: Annotated[
            str | None, _opt("--sevdesk-url", N_("sevDesk API base URL."))
        ] = None,
        sevdesk_token_env: Annotated[
            str | None,
            _opt("--sevdesk-token-env", N_("Name of the env variable holding the sevDesk key.")),
        ] = None,
        kleanapp_url: Annotated[
            str | None, _opt("--kleanapp-url", N_("KleanApp integration API base URL."))
        ] = None,
        kleanapp_token_env: Annotated[
            str | None,
            _opt(
                "--kleanapp-token-env", N_("Name of the env variable holding the KleanApp token.")
            ),
        ] = None,
        rule: Annotated[
            str | None,
            _opt(
                "--rule",
                N_(
                    "Default conflict rule: last-write-wins, sevdesk-authoritative, "
                    "kleanapp-authoritative or manual."
                ),
            ),
        ] = None,
        cron: Annotated[
            str | None, _opt("--cron", N_("Sync schedule for 'serve' (cron, 5 fields)."))
        ] = None,
        timezone: Annotated[
            str | None,
            _opt("--timezone", N_("Time zone of the schedule, e.g. Europe/Berlin.")),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help=N_("Overwrite an existing config file."))
        ] = False,
    ) -> None:
        given = {
            "sevdesk_url": sevdesk_url,
            "sevdesk_token_env": sevdesk_token_env,
            "kleanapp_url": kleanapp_url,
            "kleanapp_token_env": kleanapp_token_env,
            "rule": rule,
            "cron": cron,
            "timezone": timezone,
        }
        guarded(run_init)(path, given, force=force)
