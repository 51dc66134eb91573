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

import os
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError

from reconciler.cli.common import guarded
from reconciler.config import KleanappConfig, ScheduleConfig, SevdeskConfig, parse_config
from reconciler.domain.errors import ConfigError
from rules.policies import RULES, get_rule

__all__ = ["InitValues", "register", "render_config", "run_init", "write_config"]

DEFAULT_PATH = Path("config.toml")
EXAMPLE_KLEANAPP_URL = "https://app.kleanapp.example/api/v1"


@dataclass(frozen=True)
class InitValues:
    """The values ``init`` fills in; everything else keeps the documented default."""

    sevdesk_url: str = "https://my.sevdesk.de/api/v1"
    sevdesk_token_env: str = "SEVDESK_TOKEN"
    kleanapp_url: str | None = None  # required: there is no one KleanApp address
    kleanapp_token_env: str = "KLEANAPP_TOKEN"
    rule: str = "last-write-wins"
    cron: str = "0 2 * * *"
    timezone: str = "Europe/Berlin"


TEMPLATE = """\
# kleansync configuration. Every key is optional unless marked "required";
# the value shown is the default. Unknown keys are refused (a typo must not
# silently fall back to a default). API tokens never go in this file: each
# service names the environment variable that holds its token.

[sevdesk]
# sevDesk API base URL (the sandbox emulator: http://127.0.0.1:8801/api/v1).
base_url = {sevdesk_url}
# Name of the environment variable holding the sevDesk API key (32 hex characters,
# sevDesk: Einstellungen -> Benutzer -> API-Token).
token_env = {sevdesk_token_env}
# Client-side pace; sevDesk publishes no limit but blocks abusive tokens.
requests_per_second = 5
# One request waits out "429 Too Many Requests" for at most this long in total
# (Retry-After is honoured; without it, exponential backoff), then the run stops.
max_throttle_wait_seconds = 300
# sevDesk creates units in its UI only. true = use the legacy POST /Unity instead
# of asking an admin (only if your sevDesk account still accepts it).
create_units = false

[kleanapp]
# required: KleanApp integration API base URL (the sandbox: http://127.0.0.1:8802/api/v1).
base_url = {kleanapp_url}
# Name of the environment variable holding the KleanApp API token.
token_env = {kleanapp_token_env}
# KleanApp allows 10 requests/s per token; stay below it.
requests_per_second = 8
# As for sevDesk: the longest total wait on 429s for one request.
max_throttle_wait_seconds = 300

[state]
# SQLAlchemy URL of the state store (links, agreed base versions, journal, runs).
# A relative SQLite path is relative to this file. PostgreSQL works too:
# "postgresql+psycopg://user@host/kleansync".
url = "sqlite:///kleansync.db"
# A run lock whose holder sent no heartbeat for this long is taken over
# (a holder on this machine whose process is gone is taken over at once).
lock_timeout_seconds = 120

[rules]
# How a field changed differently on both sides is decided:
# "last-write-wins" (the side changed later wins), "sevdesk-authoritative",
# "kleanapp-authoritative", or "manual" (neither side changes; an admin decides).
default = {rule}

[rules.fields]
# Per-field overrides of the default rule, by canonical field name
# (customer_number, kind, company_name, first_name, last_name, email, phone, mobile,
# street, postal_code, city, country, vat_id, note).
# email = "kleanapp-authoritative"
# note = "manual"

[sync]
# Direction per entity: "both", "kleanapp-to-sevdesk", "sevdesk-to-kleanapp" or "off".
customers = "both"
units = "both"
# Every N-th run reads everything, which is how deletions are noticed (0 = only --full).
full_every = 7
# A customer archived in KleanApp: "report" (leave the sevDesk contact as it is) or
# "delete" (delete the sevDesk contact when sevDesk allows it, i.e. it has no documents).
on_kleanapp_archive = "report"
# A contact deleted in sevDesk: "archive" the KleanApp customer, or "ignore" it.
on_sevdesk_delete = "archive"
# A unit deleted in KleanApp: "report" (one admin task; sevDesk keeps the unit, as
# sevDesk deletes units only in its UI) or "recreate" (sevDesk's unit is created again).
on_kleanapp_unit_delete = "report"
# A unit deleted in sevDesk: "delete" the KleanApp unit (KleanApp keeps one that invoice
# positions use; that is reported once) or "keep" it (reported once).
on_sevdesk_unit_delete = "delete"
# Brake: stop before writing anything when a run would archive or delete more than
# this fraction of the linked customers, or when a side returns no customers at all.
# `kleansync sync --allow-mass-delete` overrides it once.
max_delete_fraction = 0.1

[matching]
# How the first sync (and every later one, for records not linked yet) decides that a
# KleanApp customer and a sevDesk contact are one customer. Every compared field adds
# points: agreement adds, two different values subtract, an empty value adds nothing.
# At or above link_threshold the two are linked; from park_threshold up they are parked
# for an admin as a possible match (`kleansync conflicts show P…`); below they are
# different customers and each is created on the other side.
link_threshold = 12
park_threshold = 6
# A link also needs this lead over each record's next candidate (else: parked).
link_margin = 3

[matching.weights]
# Per-field points overriding the defaults (shown); why each default is what it is:
# rules/match_score.py. Raising a "_differs" weight towards 0 trusts that field less.
# name = 6                    # full name agreement, scaled by how rare the name is
# name_near = 0.75            # share of it for a near spelling (a typo)
# name_differs = -6
# name_rarity_bits = 14       # bits of information at which a name counts fully
# first_name_differs = -10    # two persons with different first names (a family)
# postal_code = 3
# postal_code_differs = -4
# city = 1                    # the city counts only when a postal code is missing
# city_differs = -1
# street = 3
# street_differs = -5
# house_number = 3
# house_number_differs = -4
# email = 6
# email_differs = -2.5        # 0 when both addresses are at one company's domain
# phone = 5                   # phone or mobile
# phone_differs = -2
# vat_id = 8                  # two different VAT ids are never linked
# customer_number = 8
# customer_number_differs = -3  # only within one numbering scheme ("K-1" vs "K-2")
# shared_value_penalty = 4    # less per doubling of records sharing an e-mail, phone, ...
# kind_differs = -3           # company vs person

[schedule]
# When `kleansync serve` runs the sync (cron: minute hour day month weekday).
cron = {cron}
timezone = {timezone}
# How often `serve` looks for unexported invoices in case a webhook got lost.
invoice_poll_minutes = 10

[report]
# Where run reports (HTML, JSON, CSV) are written; a relative path is relative to this file.
dir = "reports"
# Retention: the report files (and the stored result) of the newest `keep` runs are kept,
# none older than `keep_days` days (0 = no age limit); older ones are deleted after each run.
keep = 200
keep_days = 90
# Size bound: a report lists at most `max_rows` rows per section and no report file grows
# beyond `max_kb` kB (values longer than 500 characters are cut; the summary counts everything).
max_rows = 1000
max_kb = 2048
# E-mail the HTML report to these admins after a run with conflicts, parked
# records, admin tasks or errors (empty: no e-mail).
email_to = []
# smtp_host = "smtp.example.de"
# smtp_port = 587
# smtp_user = "kleansync@example.de"
# smtp_password_env = "KLEANSYNC_SMTP_PASSWORD"   # name of the variable, never the password
# smtp_starttls = true
# email_from = "kleansync@example.de"

[invoices]
# "draft": invoices arrive in sevDesk as drafts; "final": also finalised there
# (numbered, status open) without e-mailing anyone.
format = "draft"

[webhooks]
# Where `kleansync serve` listens for KleanApp's webhooks (POST /webhooks/kleanapp),
# and serves /healthz and /metrics.
listen_host = "127.0.0.1"
listen_port = 8800
# The address KleanApp can reach that listener at. With public_url and secret_env set,
# `serve` registers <public_url>/webhooks/kleanapp with KleanApp itself.
# public_url = "https://sync.example.de"
# Name of the environment variable holding the signing secret (at least 16 characters).
# secret_env = "KLEANSYNC_WEBHOOK_SECRET"
# Customer/unit events arriving within this many seconds make one reconcile.
debounce_seconds = 5
# Events older than this (occurred_at) are refused as replays (at most 86400), and so
# are events dated further ahead than max_clock_skew_seconds.
max_event_age_seconds = 3600
max_clock_skew_seconds = 300
# Accepted events are kept in the state store until done; one whose sync could not
# start (another run holds the lock) is tried again after this many seconds.
inbox_retry_seconds = 60
"""
"""The repository's config.toml with the asked-for values as placeholders (a test keeps
them identical)."""


def _toml_string(value: str) -> str:
    """A TOML basic string; control characters escaped so the file always parses."""
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render_config(values: InitValues) -> str:
    """The config file text for ``values`` (not validated; see :func:`write_config`)."""
    if values.kleanapp_url is None:
        raise ConfigError("--kleanapp-url is required")
    return TEMPLATE.format(**{k: _toml_string(v) for k, v in asdict(values).items()})


# --- questions -------------------------------------------------------------------


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
    prompt: str
    check: Callable[[str], str | None]
    #: Repeat the rejected value in the error (never for what may be a token).
    echo: bool = True


QUESTIONS: tuple[Question, ...] = (
    Question(
        "sevdesk_url",
        "--sevdesk-url",
        "sevDesk API base URL",
        lambda v: _model_error(SevdeskConfig, "base_url", v),
    ),
    Question(
        "sevdesk_token_env",
        "--sevdesk-token-env",
        "Environment variable that will hold the sevDesk API key",
        lambda v: _model_error(SevdeskConfig, "token_env", v),
        echo=False,
    ),
    Question(
        "kleanapp_url",
        "--kleanapp-url",
        "KleanApp integration API base URL",
        lambda v: _model_error(KleanappConfig, "base_url", v),
    ),
    Question(
        "kleanapp_token_env",
        "--kleanapp-token-env",
        "Environment variable that will hold the KleanApp API token",
        lambda v: _model_error(KleanappConfig, "token_env", v, base_url=EXAMPLE_KLEANAPP_URL),
        echo=False,
    ),
    Question(
        "rule",
        "--rule",
        f"Conflict rule ({', '.join(RULES)})",
        _check_rule,
        echo=False,  # get_rule's message already names the value
    ),
    Question(
        "cron",
        "--cron",
        "When to sync (cron: minute hour day month weekday)",
        lambda v: _model_error(ScheduleConfig, "cron", v),
    ),
    Question(
        "timezone",
        "--timezone",
        "Time zone of the schedule",
        lambda v: _model_error(ScheduleConfig, "timezone", v),
        echo=False,  # the message already names the zone
    ),
)


def _problem(question: Question, value: str) -> str | None:
    error = question.check(value)
    if error is None:
        return None
    return f"{error} (got {value!r})" if question.echo else error


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
                value = typer.prompt(q.prompt, default=default, type=str).strip()
                error = _problem(q, value)
                if error is None:
                    break
                typer.echo(f"  {error}", err=True)
        else:
            value = getattr(values, q.field)
            if value is None:
                raise ConfigError(
                    f"{q.flag} is required (e.g. {q.flag} {EXAMPLE_KLEANAPP_URL}); "
                    "run 'kleansync init' in a terminal to be asked instead"
                )
        values = replace(values, **{q.field: value})
    return values


def _refuse_existing(path: Path, force: bool) -> None:
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; pass the file to write with --path")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent} does not exist; create the directory first")


def write_config(path: Path, values: InitValues, *, force: bool = False) -> Path:
    """Validate and write the config; ``ConfigError`` if it exists (without force) or is bad."""
    _refuse_existing(path, force)
    text = render_config(values)
    # The promise is that the file loads: check exactly what will be written.
    parse_config(tomllib.loads(text), source=str(path))
    try:
        if force:
            fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write(text)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        else:
            with path.open("x", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
    return path


def run_init(path: Path, given: dict[str, str | None], *, force: bool) -> InitValues:
    """The whole command: check the target, gather values, write, explain what is next."""
    _refuse_existing(path, force)  # before asking anything
    values = gather_values(given, interactive=_stdin_is_terminal())
    write_config(path, values, force=force)
    typer.echo(f"Wrote {path}.")
    typer.echo(
        f"Next: put the API keys into the environment variables {values.sevdesk_token_env} "
        f"and {values.kleanapp_token_env} (never into the file), then run "
        f"'kleansync doctor --config {path}'."
    )
    return values


def _opt(flag: str, help_: str) -> object:
    return typer.Option(flag, help=help_, show_default=False)


def register(app: typer.Typer) -> None:
    """Add ``kleansync init`` to ``app``."""

    @app.command("init")
    def init(
        path: Annotated[
            Path, typer.Option("--path", help="Where to write the config file.")
        ] = DEFAULT_PATH,
        sevdesk_url: Annotated[str | None, _opt("--sevdesk-url", "sevDesk API base URL.")] = None,
        sevdesk_token_env: Annotated[
            str | None,
            _opt("--sevdesk-token-env", "Name of the env variable holding the sevDesk key."),
        ] = None,
        kleanapp_url: Annotated[
            str | None, _opt("--kleanapp-url", "KleanApp integration API base URL.")
        ] = None,
        kleanapp_token_env: Annotated[
            str | None,
            _opt("--kleanapp-token-env", "Name of the env variable holding the KleanApp token."),
        ] = None,
        rule: Annotated[
            str | None, _opt("--rule", f"Default conflict rule: {', '.join(RULES)}.")
        ] = None,
        cron: Annotated[
            str | None, _opt("--cron", "Sync schedule for 'serve' (cron, 5 fields).")
        ] = None,
        timezone: Annotated[
            str | None, _opt("--timezone", "Time zone of the schedule, e.g. Europe/Berlin.")
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Overwrite an existing config file.")
        ] = False,
    ) -> None:
        """Write a commented config.toml; asks for the values when run in a terminal."""
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
