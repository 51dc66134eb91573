"""Loading and validating ``config.toml``.

Why strict: a typo in a key of a sync product silently falls back to a
default and does something nobody asked for. Every section forbids unknown
keys, and every problem is reported as one line naming the file, the key and
what is wrong (``ConfigError``, exit code 2). Tokens never live in the file:
the file names the environment variable that holds each one, and a missing
variable is reported by name, never by value. Every secret so named is
registered for masking as soon as the config is read
(``register_configured_secrets``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reconciler.domain.config_problems import (
    check_cron,
    check_http_url,
    check_zone,
    early_language,
    first_problem,
    read_config_file,
)
from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _
from reconciler.domain.i18n import configure as configure_language
from reconciler.domain.i18n import normalise as normalise_language
from reconciler.domain.models import Customer
from reconciler.domain.secrets import register_secret
from rules.match_score import MatchSettings
from state.database import DEFAULT_POOL, Pool

RuleName = Literal["last-write-wins", "sevdesk-authoritative", "kleanapp-authoritative", "manual"]
Direction = Literal["both", "kleanapp-to-sevdesk", "sevdesk-to-kleanapp", "off"]

DEFAULT_CONFIG_PATH = Path("config.toml")
CONFIG_ENV = "KLEANSYNC_CONFIG"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(Section):
    base_url: str
    token_env: str
    requests_per_second: float = Field(default=5.0, gt=0, le=100)
    #: The pace starts at requests_per_second, is halved on 429/5xx and regained
    #: step by step (AIMD), and never exceeds this; unset: requests_per_second.
    max_requests_per_second: float | None = Field(default=None, gt=0, le=100)
    #: How long one request may wait out "429 Too Many Requests" in total before
    #: the run gives up on it (Retry-After is honoured; without it, exponential backoff).
    max_throttle_wait_seconds: float = Field(default=300, gt=0, le=3600)

    _http_url = field_validator("base_url")(classmethod(lambda cls, v: check_http_url(v)))

    @model_validator(mode="after")
    def _ceiling_above_start(self) -> ServiceConfig:
        most = self.max_requests_per_second
        chosen = "max_requests_per_second" in self.model_fields_set  # a default just yields
        if chosen and most is not None and most < self.requests_per_second:
            raise ValueError(
                _(
                    "max_requests_per_second (%(most)s) is below requests_per_second "
                    "(%(start)s), where the pace starts",
                    most=f"{most:g}",
                    start=f"{self.requests_per_second:g}",
                )
            )
        return self

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        looks_like_token = len(value) >= 16 and any(c.islower() for c in value)
        if looks_like_token or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                _(
                    "must be the name of an environment variable (like SEVDESK_TOKEN), "
                    "not the token itself"
                )
            )
        return value

    def token(self, section: str) -> str:
        """The API key from the environment; ``ConfigError`` naming the variable if unset."""
        value = os.environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigError(
                _(
                    "environment variable %(name)s is not set (named by [%(section)s] "
                    "token_env); it must hold the API key",
                    name=self.token_env,
                    section=section,
                )
            )
        return value


class SevdeskConfig(ServiceConfig):
    base_url: str = "https://my.sevdesk.de/api/v1"
    token_env: str = "SEVDESK_TOKEN"
    requests_per_second: float = Field(default=5.0, gt=0, le=100)
    #: sevDesk documents no limit (API-NOTES §8: pace at 5-10/s per token): the
    #: pace may grow from 5 to 10 requests/s while sevDesk answers without 429/5xx
    #: (a requests_per_second above the default ceiling is kept as it is).
    max_requests_per_second: float | None = Field(default=10.0, gt=0, le=100)
    #: sevDesk creates units in its UI only; the legacy POST /Unity is opt-in.
    create_units: bool = False


class KleanappConfig(ServiceConfig):
    token_env: str = "KLEANAPP_TOKEN"
    #: KleanApp documents 10 requests/s per token (its openapi.yaml), counted over a
    #: sliding second: paced 5 % below, so no second ever holds an eleventh request.
    requests_per_second: float = Field(default=9.5, gt=0, le=100)


class StateConfig(Section):
    url: str = "sqlite:///kleansync.db"
    #: The name of an environment variable that holds the URL instead (a PostgreSQL URL
    #: with its password stays out of config.toml); read and checked when the config is.
    url_env: str | None = None
    #: A run lock whose holder has not sent a heartbeat for this long is taken over.
    lock_timeout_seconds: float = Field(default=120, gt=0)
    #: PostgreSQL connections one process keeps open, and how many more at a peak (a
    #: fleet of processes shares one server's max_connections).
    pool_size: int = Field(default=DEFAULT_POOL.size, ge=1, le=50)
    max_overflow: int = Field(default=DEFAULT_POOL.overflow, ge=0, le=100)

    @property
    def pool(self) -> Pool:
        return Pool(self.pool_size, self.max_overflow)

    @field_validator("url_env")
    @classmethod
    def _url_env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                _(
                    "must be the name of an environment variable (like KLEANSYNC_STATE_URL), "
                    "not the URL itself"
                )
            )
        return value

    @model_validator(mode="after")
    def _one_url(self) -> StateConfig:
        if self.url_env is not None and "url" in self.model_fields_set:
            raise ValueError(_("url and url_env are both set; keep one of them"))
        return self


class RulesConfig(Section):
    default: RuleName = "last-write-wins"
    fields: dict[str, RuleName] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(Customer.model_fields))
        if unknown:
            raise ValueError(
                _(
                    "unknown customer field %(field)r (known: %(known)s)",
                    field=unknown[0],
                    known=", ".join(Customer.model_fields),
                )
            )
        return value


class SyncConfig(Section):
    customers: Direction = "both"
    units: Direction = "both"
    #: Every N-th run reads everything (notices deletions); 0 = only with --full.
    full_every: int = Field(default=7, ge=0)
    #: A customer archived in KleanApp: "report" (leave the sevDesk contact) or
    #: "delete" (delete it in sevDesk when sevDesk allows it, i.e. it has no documents).
    on_kleanapp_archive: Literal["report", "delete"] = "report"
    #: A contact deleted in sevDesk: "archive" the KleanApp customer, or "ignore" it.
    on_sevdesk_delete: Literal["archive", "ignore"] = "archive"
    #: A unit deleted in KleanApp: "report" (an admin task once; sevDesk keeps it, since
    #: sevDesk deletes units only in its UI) or "recreate" (sevDesk's unit comes back).
    on_kleanapp_unit_delete: Literal["report", "recreate"] = "report"
    #: A unit deleted in sevDesk: "delete" the KleanApp unit (KleanApp refuses while
    #: invoice positions use it; then it stays, reported once), or "keep" it.
    on_sevdesk_unit_delete: Literal["delete", "keep"] = "delete"
    #: Stop before writing anything if a run would archive/delete more than this
    #: fraction of the linked customers (``--allow-mass-delete`` overrides once).
    max_delete_fraction: float = Field(default=0.1, ge=0, le=1)
    #: ``--apply-plan`` refuses a saved plan older than this: what it read has
    #: likely changed since, and its writes would be skipped or surprise.
    plan_max_age_hours: float = Field(default=24, gt=0)


class MatchingConfig(Section):
    """First-sync matching (``rules.match_score`` documents each weight and why)."""

    #: At or above: the two records are linked as one customer.
    link_threshold: float = 12.0
    #: At or above (and below link_threshold): parked for an admin as a possible match.
    park_threshold: float = 6.0
    #: A link needs this lead over each record's next candidate.
    link_margin: float = Field(default=3.0, ge=0)
    #: Per-field weights overriding the defaults (name, street_differs, ...).
    weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: dict[str, float]) -> dict[str, float]:
        known = [k for k in MatchSettings.names() if k not in cls.model_fields]
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(
                _(
                    "unknown weight %(weight)r (known: %(known)s)",
                    weight=unknown[0],
                    known=", ".join(known),
                )
            )
        return value

    @model_validator(mode="after")
    def _ordered(self) -> MatchingConfig:
        if self.park_threshold > self.link_threshold:
            raise ValueError(_("park_threshold must not be above link_threshold"))
        return self

    def settings(self) -> MatchSettings:
        """The matcher's ``MatchSettings`` for these keys."""
        return MatchSettings(
            **self.weights,
            link_threshold=self.link_threshold,
            park_threshold=self.park_threshold,
            link_margin=self.link_margin,
        )


class ScheduleConfig(Section):
    cron: str = "0 2 * * *"
    timezone: str = "Europe/Berlin"
    invoice_poll_minutes: float = Field(default=10, gt=0)

    _zone = field_validator("timezone")(classmethod(lambda cls, v: check_zone(v)))
    _cron = field_validator("cron")(classmethod(lambda cls, v: check_cron(v)))


class ReportConfig(Section):
    dir: str = "reports"
    #: Language of reports, e-mail and messages: "de" (default) or "en"; ``--lang`` and
    #: ``KLEANSYNC_LANG`` take precedence (``reconciler.domain.i18n``).
    language: str | None = None
    #: Report files and stored results are kept for the newest ``keep`` runs ...
    keep: int = Field(default=200, ge=1)
    #: ... and none older than this many days (0: no age limit).
    keep_days: int = Field(default=90, ge=0)
    #: The HTML and Markdown report and the e-mail show the first this many rows of each
    #: kind, then how many more the JSON file holds (``reconciler.reporting.shown``).
    shown_rows: int = Field(default=50, ge=1)
    #: The JSON and CSV files list at most this many rows per section (the summary counts all).
    max_rows: int = Field(default=100_000, ge=10)
    #: No report file is larger than this (rows are left out, and counted, to fit).
    max_kb: int = Field(default=65_536, ge=64)
    #: E-mail the report after runs with conflicts, parked records, tasks or errors.
    email_to: list[str] = Field(default_factory=list)
    email_from: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    #: Name of the environment variable holding the SMTP password (never the password).
    smtp_password_env: str | None = None
    smtp_starttls: bool = True
    smtp_timeout: float = Field(default=30, gt=0, le=300)
    #: While items stay open and nothing is new, mail a reminder this often (0: never).
    email_remind_hours: float = Field(default=24, ge=0)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return normalise_language(value)

    @field_validator("smtp_password_env")
    @classmethod
    def _password_env(cls, value: str | None) -> str | None:
        return None if value is None else ServiceConfig._env_name(value)

    @model_validator(mode="after")
    def _host_for_mail(self) -> ReportConfig:
        if self.email_to and not self.smtp_host:
            raise ValueError(_("smtp_host is required when email_to is set"))
        return self


class InvoicesConfig(Section):
    format: Literal["draft", "final", "einvoice"] = "draft"
    #: The sevDesk payment method (by name) an e-invoice names; e-invoices need one.
    payment_method: str = "SEPA Überweisung"


class WebhooksConfig(Section):
    #: Where KleanApp reaches `kleansync serve` (e.g. "https://sync.example.de"); with
    #: secret_env set, serve registers <public_url>/webhooks/kleanapp with KleanApp.
    public_url: str | None = None
    #: Name of the environment variable holding the webhook signing secret (>= 16 chars).
    secret_env: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8800, ge=0, le=65535)
    #: Customer/unit events arriving within this many seconds make one sync run.
    debounce_seconds: float = Field(default=5.0, ge=0, le=300)
    #: Events whose occurred_at is older than this are refused (a recorded delivery
    #: replayed later); at most a day, which the inbox's 7-day dedupe memory outlasts.
    max_event_age_seconds: float = Field(default=3600, gt=0, le=86400)
    #: ... and those dated further ahead than this (clock skew between the two hosts).
    max_clock_skew_seconds: float = Field(default=300, ge=0, le=3600)
    #: An accepted event whose sync or export could not run (run lock held) is tried again
    #: this many seconds later, until it is done.
    inbox_retry_seconds: float = Field(default=60, gt=0, le=3600)

    _public_url = field_validator("public_url")(
        classmethod(lambda cls, v: None if v is None else check_http_url(v))
    )

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, value: str | None) -> str | None:
        return None if value is None else ServiceConfig._env_name(value)


class ConsoleConfig(Section):
    #: The admin console in the browser (``/console`` of ``kleansync serve``). It stays
    #: closed until an account exists (``kleansync admin add-user NAME``).
    enabled: bool = True
    #: A session unused this long is logged out.
    idle_minutes: float = Field(default=30, ge=1, le=24 * 60)
    #: Mark the session cookie Secure even when serve itself sees plain HTTP (behind a TLS
    #: proxy that does not say so); it is Secure anyway when the request came over HTTPS.
    secure_cookie: bool = False
    #: This many wrong passwords within throttle_minutes close the login for that account
    #: or that address until the oldest leaves the window.
    max_failures: int = Field(default=10, ge=1, le=1000)
    throttle_minutes: float = Field(default=15, gt=0, le=24 * 60)


class Config(Section):
    sevdesk: SevdeskConfig = Field(default_factory=SevdeskConfig)
    kleanapp: KleanappConfig
    state: StateConfig = Field(default_factory=StateConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    invoices: InvoicesConfig = Field(default_factory=InvoicesConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)


def configured_secrets(config: Config) -> list[str]:
    """Every secret the config names that is set: both API tokens, the webhook
    signing secret, the SMTP password (read from the environment, never the file)."""
    names: list[str | None] = [config.kleanapp.token_env, config.sevdesk.token_env]
    names += [config.webhooks.secret_env, config.report.smtp_password_env]
    return [value for name in names if name and (value := os.environ.get(name, "").strip())]


def register_configured_secrets(config: Config) -> None:
    """Mask every configured secret in all output (``reconciler.domain.secrets.redact``).

    Why at load time, for every command: a secret leaks through whatever
    echoes it back (a service quoting it in an error, say), not only through
    the command that uses it. ``sync`` and ``invoices export`` never send the
    webhook secret, yet KleanApp may quote it in an error they print, report
    and store; so every secret the config names is registered as soon as the
    config is read, not by the code that happens to need it.
    """
    for value in configured_secrets(config):
        register_secret(value)


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config file; any problem is one ``ConfigError`` line."""
    path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    data = read_config_file(path)
    return parse_config(data, source=str(path), base_dir=path.parent)


def parse_config(
    data: dict[str, Any], *, source: str = "config", base_dir: Path | None = None
) -> Config:
    """Validate already-parsed TOML data (used by ``load_config`` and tests)."""
    early_language(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_problem(exc)}") from None
    state = config.state.model_copy(update={"url": _state_url(config.state, source)})
    config = config.model_copy(update={"state": state})
    if base_dir is not None:
        config = config.model_copy(
            update={
                "state": config.state.model_copy(
                    update={"url": _anchor_sqlite(config.state.url, base_dir)}
                ),
                "report": config.report.model_copy(
                    update={"dir": str((base_dir / config.report.dir).resolve())}
                ),
            }
        )
    register_configured_secrets(config)
    configure_language(config.report.language)  # --lang and KLEANSYNC_LANG still come first
    return config


def _state_url(state: StateConfig, source: str) -> str:
    """The store's URL (from ``url_env``'s variable if named); its password kept secret.

    A problem is one line naming the variable, never its value: the value is a
    database password's home. The password is registered for masking (like the API
    tokens), so an error quoting the URL prints ``***`` in its place.
    """
    url = state.url
    if state.url_env is not None:
        url = os.environ.get(state.url_env, "").strip()
        if not url:
            raise ConfigError(
                f"{source}: "
                + _(
                    "[state] url_env: environment variable %(name)s is not set; it must hold "
                    "the state store's URL (like postgresql+psycopg://user:password@host/db)",
                    name=state.url_env,
                )
            )
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        if state.url_env is None:
            raise ConfigError(
                f"{source}: "
                + _("[state] url: is not a database URL (like sqlite:///kleansync.db)")
            ) from None
        raise ConfigError(
            f"{source}: "
            + _(
                "[state] url_env: environment variable %(name)s holds no database URL (like "
                "postgresql+psycopg://user:password@host/db)",
                name=state.url_env,
            )
        ) from None
    register_secret(None if password is None else str(password))
    return url


def _anchor_sqlite(url: str, base_dir: Path) -> str:
    """Relative SQLite paths are taken relative to the config file, not the cwd.

    A nightly service started from another directory must find the same store.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite:///:memory:":
        return url
    rest = url[len(prefix) :]
    if rest.startswith("/"):
        return url
    return prefix + str((base_dir / rest).resolve())
