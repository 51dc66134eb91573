"""KleanApp webhooks: prove a delivery came from KleanApp, then read it.

KleanApp POSTs a JSON event to our receiver and signs the *raw* body:
``X-KleanApp-Signature: sha256=<hex(HMAC-SHA256(secret, body))>``. Anyone can
reach a public webhook URL, so nothing in a delivery is trusted before the
signature checks out, and the check is constant-time (``hmac.compare_digest``)
so response timing does not leak how much of a forged signature was right.

Deliveries are at-least-once (a retry keeps its ``X-KleanApp-Delivery`` id),
so whoever handles events must treat a repeated one as harmless; the event
only says *which* record changed, the engine re-reads it anyway.

The body is read through ``read_signed_body``: at most ``MAX_BODY_BYTES``,
the HMAC computed while it streams, so an unsigned or oversized body is
refused without being held in memory (a 300 MB POST once took the service
to 678 MB).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from reconciler.domain.errors import KleansyncError
from reconciler.domain.nul import strip_nul

#: Where KleanApp delivers to this service, and the events it is subscribed to.
RECEIVER_PATH = "/webhooks/kleanapp"
EVENTS = ("invoice.saved", "customer.saved", "customer.archived", "unit.saved")

SIGNATURE_HEADER = "X-KleanApp-Signature"
DELIVERY_HEADER = "X-KleanApp-Delivery"
_PREFIX = "sha256="
#: The largest body the receiver reads. KleanApp's events are one record each
#: (a few kB); 1 MiB is generous and bounds what one request can make us hold.
MAX_BODY_BYTES = 1024 * 1024


class InvalidWebhook(KleansyncError):
    """A delivery whose body is not a well-formed KleanApp event."""


class BodyTooLarge(InvalidWebhook):
    """A delivery body over ``MAX_BODY_BYTES``: refused (413) before reading the rest."""


class WebhookEvent(BaseModel):
    """One KleanApp event: which record (``id``) changed how (``event``), and when."""

    model_config = ConfigDict(frozen=True)

    event: str
    #: The record's KleanApp id, as a string like every ``Remote.id``.
    id: str
    occurred_at: dt.datetime
    #: The record as KleanApp's GET returns it (wire format, for the connector).
    data: dict[str, Any]

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("id must be a number or a string")
        return str(value) if isinstance(value, int) else value

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:  # KleanApp documents UTC; be lenient about a lost "Z"
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _key(secret: bytes | str) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("webhook secret must not be empty")
    return key


def sign(secret: bytes | str, body: bytes) -> str:
    """The ``X-KleanApp-Signature`` value KleanApp sends for ``body``."""
    return _PREFIX + hmac.new(_key(secret), bytes(body), hashlib.sha256).hexdigest()


def verify_signature(secret: bytes | str, body: bytes, header: str | None) -> bool:
    """True only if ``header`` is KleanApp's signature of exactly ``body`` under ``secret``.

    Never raises on what a sender controls: a missing, empty, non-ASCII or
    otherwise malformed header is simply not a valid signature.
    """
    if not isinstance(header, str):
        return False
    header = header.strip()
    if not header.isascii() or header[: len(_PREFIX)].lower() != _PREFIX:
        return False
    try:
        expected = sign(secret, body)
    except (ValueError, TypeError):
        return False
    given = _PREFIX + header[len(_PREFIX) :].lower()
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))


def signature_digest(header: str | None) -> bytes | None:
    """The hex digest a well-formed signature header carries, or None.

    Lets the receiver refuse a delivery with no usable signature before it
    reads a single byte of the body.
    """
    if not isinstance(header, str):
        return None
    header = header.strip()
    if not header.isascii() or header[: len(_PREFIX)].lower() != _PREFIX:
        return None
    digest = header[len(_PREFIX) :].lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return digest.encode("ascii")


async def read_signed_body(
    chunks: AsyncIterator[bytes],
    secret: bytes | str,
    header: str | None,
    *,
    limit: int = MAX_BODY_BYTES,
    declared_length: str | None = None,
) -> tuple[bytes, bool]:
    """Read a delivery body of at most ``limit`` bytes, checking its signature as it streams.

    Returns ``(body, signature_ok)``. Raises ``BodyTooLarge`` as soon as the
    declared ``Content-Length`` or the bytes received pass ``limit``, so a
    huge body costs at most ``limit`` bytes of memory, never its own size.
    The HMAC is fed chunk by chunk: what is verified is exactly what was read.
    """
    if declared_length is not None:
        try:
            declared = int(declared_length)
        except ValueError:
            declared = None
        if declared is not None and declared > limit:
            raise BodyTooLarge(f"the body is {declared} bytes; at most {limit} are accepted")
    mac = hmac.new(_key(secret), digestmod=hashlib.sha256)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes")
        mac.update(chunk)
        parts.append(chunk)
    given = signature_digest(header)
    ok = given is not None and hmac.compare_digest(mac.hexdigest().encode("ascii"), given)
    return b"".join(parts), ok


def parse_event(body: bytes) -> WebhookEvent:
    """The event in a (verified) delivery body; ``InvalidWebhook`` if it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, TypeError):
        raise InvalidWebhook("KleanApp webhook body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidWebhook("KleanApp webhook body is not a JSON object")
    # The record in ``data`` reaches the connector without its decoder: the same rule here.
    payload, paths = strip_nul(payload)
    if paths:
        logger.warning(
            "KleanApp webhook: removed the NUL character (U+0000) from {} value(s) ({}): no "
            "one types it, and a PostgreSQL state store cannot keep it",
            len(paths),
            ", ".join(paths[:5]),
        )
    try:
        return WebhookEvent.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
        raise InvalidWebhook(f"KleanApp webhook event is malformed ({problems})") from None


def freshness_problem(
    occurred_at: dt.datetime,
    now: dt.datetime,
    *,
    max_age: dt.timedelta,
    max_ahead: dt.timedelta,
) -> str | None:
    """Why an event is outside the freshness window, or None if it is inside.

    A valid signature proves KleanApp wrote the body once, not that it is
    being sent now: a recorded delivery can be replayed forever. Events older
    than ``max_age`` (or dated further ahead than clock skew explains) are
    refused; within the window the receiver's content dedupe catches replays,
    which is why that memory must outlast the window.
    """
    if occurred_at < now - max_age:
        return (
            f"the event occurred at {occurred_at.isoformat()}, more than "
            f"{max_age.total_seconds():g} s ago; refused as stale"
        )
    if occurred_at > now + max_ahead:
        return (
            f"the event is dated {occurred_at.isoformat()}, more than "
            f"{max_ahead.total_seconds():g} s in the future; refused"
        )
    return None
