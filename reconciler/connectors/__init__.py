"""Connectors: one per outside system, all behind ``base.Connector``.

``from_config`` is the only place that turns configuration into connectors;
the engine receives them ready-made and never learns which base URL (real
service or emulator) is behind them. May import: config, log, domain; never
state, rules or the sync (the run's fence reaches the HTTP layer through its
``http.WRITE_GUARD`` hook).
"""

from __future__ import annotations

import httpx

from reconciler.config import Config
from reconciler.connectors.base import Connector
from reconciler.connectors.http import Limiter
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.log import register_secret


def from_config(
    config: Config,
    *,
    kleanapp_transport: httpx.AsyncBaseTransport | None = None,
    sevdesk_transport: httpx.AsyncBaseTransport | None = None,
    tokens: tuple[str, str] | None = None,
    limiters: tuple[Limiter, Limiter] | None = None,
) -> tuple[Connector, Connector]:
    """(KleanApp, sevDesk) connectors with tokens read from the environment.

    ``tokens`` (KleanApp's, sevDesk's): given instead, as a fleet worker reads a tenant's
    from its secrets (``reconciler.domain.tenant_secrets``), not from the environment.
    ``limiters`` (KleanApp's, sevDesk's): the request budget shared by every worker of a
    fleet (``state.rate_bucket``); without them each process paces itself alone.
    """
    kleanapp_limiter, sevdesk_limiter = limiters if limiters is not None else (None, None)
    if tokens is not None:
        kleanapp_token, sevdesk_token = tokens
    else:
        kleanapp_token = config.kleanapp.token("kleanapp")
        sevdesk_token = config.sevdesk.token("sevdesk")
    register_secret(kleanapp_token)
    register_secret(sevdesk_token)
    kleanapp = KleanappConnector(
        config.kleanapp.base_url,
        kleanapp_token,
        requests_per_second=config.kleanapp.requests_per_second,
        max_requests_per_second=config.kleanapp.max_requests_per_second,
        transport=kleanapp_transport,
        limiter=kleanapp_limiter,
    )
    sevdesk = SevdeskConnector(
        config.sevdesk.base_url,
        sevdesk_token,
        requests_per_second=config.sevdesk.requests_per_second,
        max_requests_per_second=config.sevdesk.max_requests_per_second,
        transport=sevdesk_transport,
        create_units=config.sevdesk.create_units,
        token_env=config.sevdesk.token_env,
        limiter=sevdesk_limiter,
    )
    kleanapp.http.max_throttle_wait = config.kleanapp.max_throttle_wait_seconds
    sevdesk.http.max_throttle_wait = config.sevdesk.max_throttle_wait_seconds
    return kleanapp, sevdesk


__all__ = ["Connector", "from_config"]
