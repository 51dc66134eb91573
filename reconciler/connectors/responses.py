"""What the HTTP layer reads off an answer: its JSON, a short quotable body, Retry-After.

Every JSON answer of either service passes ``without_nul`` (``json_body`` for
sevDesk, ``kleanapp.api.decode`` for KleanApp): a NUL character is removed
before any record is built from it (``reconciler.domain.nul`` says why).

Apart from ``reconciler.connectors.http`` (pacing, retries, error mapping) so
that module stays about sending; both connectors read bodies through these.
"""

from __future__ import annotations

from typing import Any

import httpx
from loguru import logger

from reconciler.domain import json_text
from reconciler.domain.errors import FatalError
from reconciler.domain.nul import NUL, strip_nul
from reconciler.log import redact

__all__ = ["has_elapsed", "json_body", "retry_after", "short_body", "without_nul"]

#: JSON can carry a NUL only as this escape (a raw control character is invalid JSON), so
#: an answer without it is not walked at all.
_NUL_ESCAPE = b"\\u0000"
#: JSON paths named in the log line before the rest is only counted.
_NAMED_PATHS = 5


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
    text = redact(response.text.strip().replace("\n", " ").replace(NUL, ""))
    return text[:limit] + ("…" if len(text) > limit else "")


def json_body(response: httpx.Response, service: str) -> Any:
    """The decoded body, or a ``FatalError`` naming what was not JSON.

    Decoded by ``json_text.loads`` (orjson): what ``response.json()`` gives, faster.
    """
    try:
        data = json_text.loads(response.content)
    except ValueError:
        raise FatalError(
            f"{service} answered HTTP {response.status_code} with a body that is not JSON: "
            f"{short_body(response, 80)}"
        ) from None
    return without_nul(data, response, service)


def without_nul(data: Any, response: httpx.Response, service: str) -> Any:
    """``data`` decoded from ``response`` with every NUL character removed, and a log line.

    The line names the request and the JSON paths that held a NUL, never a value (a
    customer's name is not for the log).
    """
    if _NUL_ESCAPE not in response.content:
        return data
    cleaned, paths = strip_nul(data)
    if paths:
        named = ", ".join(paths[:_NAMED_PATHS])
        more = len(paths) - _NAMED_PATHS
        logger.warning(
            "{}: removed the NUL character (U+0000) from {} value(s) ({}{}): no one types "
            "it, and a PostgreSQL state store cannot keep it",
            f"{service} {_request_line(response)}".rstrip(),
            len(paths),
            named,
            f" and {more} more" if more > 0 else "",
        )
    return cleaned


def _request_line(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:  # a response made by hand (tests) has no request
        return ""
    return f"{request.method} {request.url.path}"
