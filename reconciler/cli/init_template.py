"""The file ``kleansync init`` writes: the repository's ``config.toml``, with placeholders.

Kept as one template beside the questions (``reconciler.cli.init``) so the
file an admin gets is the documented example itself: a test keeps the
template, with the example's values filled in, identical to the repository's
``config.toml``. Answers go in as TOML strings with control characters
escaped, so whatever was typed, the file parses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _


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
# "postgresql+psycopg://user@host/kleansync" (pip install 'kleansync[postgres]').
url = "sqlite:///kleansync.db"
# Or the name of an environment variable that holds the URL, so a database password
# stays out of this file (instead of url, not beside it):
# url_env = "KLEANSYNC_STATE_URL"
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
# A plan saved for review (`kleansync sync --plan-out FILE`) is applied with
# `--apply-plan FILE` once, to the same state store, and not when it is older than
# this many hours: what it read has likely changed since.
plan_max_age_hours = 24

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
# What people read (the HTML and Markdown report, the e-mail) shows the first `shown_rows`
# rows of each kind and how many more there are; the JSON file next to it lists every row.
shown_rows = 50
# Size bound of every file: the JSON and CSV list at most `max_rows` rows per section and no
# report file grows beyond `max_kb` kB (values longer than 500 characters are cut; the
# summary counts everything).
max_rows = 100000
max_kb = 65536
# E-mail the HTML report to these admins after a run with conflicts, parked
# records, admin tasks or errors (empty: no e-mail). Only what is new since the
# last mail is mailed; while items stay open, a reminder every `email_remind_hours`
# hours (0 = no reminders).
email_to = []
email_remind_hours = 24
# smtp_host = "smtp.example.de"
# smtp_port = 587
# smtp_user = "kleansync@example.de"
# smtp_password_env = "KLEANSYNC_SMTP_PASSWORD"   # name of the variable, never the password
# smtp_starttls = true
# email_from = "kleansync@example.de"

[invoices]
# "draft": invoices arrive in sevDesk as drafts; "final": also finalised there
# (numbered, status open) without e-mailing anyone; "einvoice": finalised as
# sevDesk's own e-invoice (EN 16931, ZUGFeRD/XRechnung), checked before it is sent.
format = "draft"
# The sevDesk payment method an e-invoice names (its name in sevDesk).
# payment_method = "SEPA Überweisung"

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

[console]
# The admin console in the browser: http://127.0.0.1:8800/console/ while `serve` runs.
# Closed until an account exists: `kleansync admin add-user NAME` (asks for a password).
# It listens where [webhooks] listen_host says (127.0.0.1 unless changed); to reach it
# from other machines put it behind a TLS reverse proxy (README "The console").
enabled = true
# A session unused this long is logged out.
idle_minutes = 30
# Secure session cookie even when serve sees plain HTTP (it is Secure anyway over HTTPS).
secure_cookie = false
# This many wrong passwords within throttle_minutes close the login of that account or
# that address for a while.
max_failures = 10
throttle_minutes = 15
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
        raise ConfigError(_("--kleanapp-url is required"))
    return TEMPLATE.format(**{k: _toml_string(v) for k, v in asdict(values).items()})
