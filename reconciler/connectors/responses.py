"""What the HTTP layer reads off an answer: its JSON, a short quotable body, Retry-After.

Apart from ``reconciler.connectors.http`` (pacing, retries, error mapping) so
that module stays about sending; both connectors read bodies through these.
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.domain.errors import FatalError
from reconciler.log import redact

__all__ = ["has_elapsed", "json_body", "retry_after", "short_body"]


def has_elapsed(response: httpx.Response) -> bool:
    try:
        response.elapsed  # noqa: B018 - only set once the body was read
    except RuntimeError:
        return False
    return True


def retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, min(120.0, float(value)))
    except ValueError:
        return default


def short_body(response: httpx.Response, limit: int = 200) -> str:
    text = redact(response.text.strip().replace("\n", " "))
    return text[:limit] + ("…" if len(text) > limit else "")


def json_body(response: httpx.Response, service: str) -> Any:
    """The decoded body, or a ``FatalError`` naming what was not JSON."""
    try:
        return response.json()
    except ValueError:
        raise FatalError(
            f"{service} answered HTTP {response.status_code} with a body that is not JSON: "
            f"{short_body(response, 80)}"
        ) from None
