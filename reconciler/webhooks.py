"""KleanApp webhooks: prove a delivery came from KleanApp, then read it.

KleanApp POSTs a JSON event to our receiver and signs the *raw* body:
``X-KleanApp-Signature: sha256=<hex(HMAC-SHA256(secret, body))>``. Anyone can
reach a public webhook URL, so nothing in a delivery is trusted before the
signature checks out, and the check is constant-time (``hmac.compare_digest``)
so response timing does not leak how much of a forged signature was right.

Deliveries are at-least-once (a retry keeps its ``X-KleanApp-Delivery`` id),
so whoever handles events must treat a repeated one as harmless; the event
only says *which* record changed, the engine re-reads it anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from reconciler.errors import KleansyncError

SIGNATURE_HEADER = "X-KleanApp-Signature"
DELIVERY_HEADER = "X-KleanApp-Delivery"
_PREFIX = "sha256="


class InvalidWebhook(KleansyncError):
    """A delivery whose body is not a well-formed KleanApp event."""


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


def parse_event(body: bytes) -> WebhookEvent:
    """The event in a (verified) delivery body; ``InvalidWebhook`` if it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, TypeError):
        raise InvalidWebhook("KleanApp webhook body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidWebhook("KleanApp webhook body is not a JSON object")
    try:
        return WebhookEvent.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
        raise InvalidWebhook(f"KleanApp webhook event is malformed ({problems})") from None
