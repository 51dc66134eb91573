"""One KleanApp delivery checked and stored: the receiver's rules, shared by both receivers.

``kleansync serve`` (one company, ``reconciler.service.http``) and ``kleansync serve
--fleet`` (every tenant, ``reconciler.service.fleet_http``) accept a delivery by the same
rules, so they are written once, here: a body without a well-formed signature header is
refused before a byte of it is read, a body over the cap is refused with 413 while it
streams, the HMAC is computed as it streams, an event outside the freshness window is
refused, and an accepted event is in the durable inbox before anyone answers 2xx (a
repeated delivery id or a replayed body is a duplicate, 200). What the caller does with
an accepted event (dispatch it to its jobs, tell the fleet's workers) is the caller's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request

from reconciler.service.settings import ServiceSettings
from reconciler.service.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    BodyTooLarge,
    InvalidWebhook,
    WebhookEvent,
    freshness_problem,
    parse_event,
    read_signed_body,
    signature_digest,
)
from state.inbox_tables import Inbox


@dataclass(frozen=True)
class Verdict:
    """What became of a delivery: the answer to send and the metrics label to count."""

    status: int
    body: dict[str, Any]
    #: accepted | duplicate | rejected | too_large | stale
    result: str
    #: The stored event (accepted only).
    event: WebhookEvent | None = None
    #: Why a delivery was refused or dropped (for the log; never the secret).
    why: str | None = None


def _refused(result: str, status: int, why: str) -> Verdict:
    return Verdict(status, {"error": why}, result, why=why)


async def admit(
    request: Request, *, secret: str, settings: ServiceSettings, inbox: Inbox
) -> Verdict:
    """Check ``request`` against ``secret`` and store its event in ``inbox`` (see the module)."""
    header = request.headers.get(SIGNATURE_HEADER)
    if signature_digest(header) is None:  # refused before a byte of the body is read
        return _refused("rejected", 401, "bad signature")
    try:
        body, signed = await read_signed_body(
            request.stream(),
            secret,
            header,
            limit=settings.max_body_bytes,
            declared_length=request.headers.get("content-length"),
        )
    except BodyTooLarge as exc:
        return _refused("too_large", 413, str(exc))
    except ClientDisconnect:
        return _refused("rejected", 400, "the sender went away mid-body")
    if not signed:
        return _refused("rejected", 401, "bad signature")
    try:
        event = parse_event(body)
    except InvalidWebhook as exc:
        return _refused("rejected", 400, str(exc))
    stale = freshness_problem(
        event.occurred_at,
        dt.datetime.now(dt.UTC),
        max_age=dt.timedelta(seconds=settings.max_event_age_seconds),
        max_ahead=dt.timedelta(seconds=settings.max_clock_skew_seconds),
    )
    if stale:
        return _refused("stale", 400, stale)
    digest = hashlib.sha256(body).hexdigest()
    delivery = request.headers.get(DELIVERY_HEADER) or f"body-sha256:{digest}"
    admitted = inbox.accept(
        delivery_id=delivery[:200],
        content_sha256=digest,
        event=event.event,
        record_id=event.id,
        occurred_at=event.occurred_at,
    )
    if admitted.outcome == "duplicate":
        return Verdict(200, {"status": "duplicate"}, "duplicate", event, why=admitted.reason)
    # On disk before the 2xx: from here on a kill loses nothing (the inbox resumes it).
    return Verdict(202, {"status": "accepted"}, "accepted", event)
