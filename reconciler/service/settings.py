"""What ``kleansync serve`` needs beyond the engine's config: ``[webhooks]`` and a few knobs.

Read once at start (``ServiceSettings.from_config``) and handed to every
part of the service (``reconciler.service.runner``); tests build their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from reconciler.config import Config
from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _
from reconciler.domain.secrets import register_secret
from reconciler.service.webhooks import MAX_BODY_BYTES, RECEIVER_PATH


@dataclass(frozen=True)
class ServiceSettings:
    """What ``serve`` needs beyond the engine's config (``[webhooks]`` and a few knobs)."""

    #: Where KleanApp reaches this service from outside, e.g. "https://sync.example.de".
    public_url: str | None = None
    #: The webhook signing secret itself (read from the variable ``[webhooks] secret_env``).
    secret: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8800
    #: A burst of customer/unit events within this many seconds makes one sync run.
    debounce_seconds: float = 5.0
    #: None: ``[schedule] invoice_poll_minutes``.
    poll_interval_seconds: float | None = None
    #: /healthz turns 503 when no run completed for this long (None: from the cron).
    health_max_age_seconds: float | None = None
    #: A scheduled run that finds another run in progress tries again this much later,
    #: up to ``lock_retries`` times, so a long hand-started run does not cost the night.
    lock_retry_seconds: float = 600.0
    lock_retries: int = 6
    #: The freshness window of webhook events (``occurred_at``); see ``service.webhooks``.
    max_event_age_seconds: float = 3600.0
    max_clock_skew_seconds: float = 300.0
    #: Pending inbox events (their sync could not start) are dispatched again this often.
    inbox_retry_seconds: float = 60.0
    #: The largest webhook body read (bytes); larger ones are refused with 413.
    max_body_bytes: int = MAX_BODY_BYTES

    @classmethod
    def from_config(cls, config: Config, *, read_secret: bool = True) -> ServiceSettings:
        """Read ``[webhooks]`` (with defaults while the section is not in the config yet).

        ``read_secret=False``: the fleet's receiver, whose secrets are each tenant's own.
        """
        hooks = getattr(config, "webhooks", None)
        secret_env = getattr(hooks, "secret_env", None) if read_secret else None
        secret = None
        if secret_env:
            secret = os.environ.get(secret_env, "").strip()
            if not secret:
                raise ConfigError(
                    _(
                        "environment variable %(name)s is not set (named by [webhooks] "
                        "secret_env); it must hold the webhook signing secret",
                        name=secret_env,
                    )
                )
            if len(secret) < 16:
                raise ConfigError(
                    _(
                        "the webhook secret in %(name)s must be at least 16 characters "
                        "(KleanApp refuses shorter ones)",
                        name=secret_env,
                    )
                )
            register_secret(secret)
        public_url = getattr(hooks, "public_url", None)
        return cls(
            public_url=public_url.rstrip("/") if public_url else None,
            secret=secret,
            listen_host=getattr(hooks, "listen_host", cls.listen_host),
            listen_port=int(getattr(hooks, "listen_port", cls.listen_port)),
            debounce_seconds=float(getattr(hooks, "debounce_seconds", cls.debounce_seconds)),
            max_event_age_seconds=float(
                getattr(hooks, "max_event_age_seconds", cls.max_event_age_seconds)
            ),
            max_clock_skew_seconds=float(
                getattr(hooks, "max_clock_skew_seconds", cls.max_clock_skew_seconds)
            ),
            inbox_retry_seconds=float(
                getattr(hooks, "inbox_retry_seconds", cls.inbox_retry_seconds)
            ),
        )

    @property
    def receiver_url(self) -> str | None:
        return self.public_url + RECEIVER_PATH if self.public_url else None
