"""What the HTTP layer reads off an answer: its JSON, a short quotable body, Retry-After.

Every JSON answer of either service passes ``without_nul`` (``json_body`` for
sevDesk, ``kleanapp.api.decode`` for KleanApp): a NUL character is removed
before any record is built from it (``reconciler.domain.nul`` says why).

Apart from ``reconciler.connectors.http`` (pacing, retries, error mapping) so
that module stays about sending; both connectors read bodies through these.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
from loguru import logger

from reconciler.domain.errors import FatalError
from reconciler.domain.nul import NUL, strip_nul
from reconciler.log import redact

__all__ = ["has_elapsed", "json_body", "retry_after", "short_body", "without_nul"]

#: JSON can carry a NUL only as this escape (a raw control character is invalid JSON), so
#: an answer without it is not walked at all.
_NUL_ESCAPE = b"\\u0000"
#: JSON paths named in the log line before the rest is only counted.
_NAMED_PATHS = 5
#: Every byte value to a space, the ten digits to "0": a body translated so has a run of
#: ``_LONG_NUMBER`` exactly where it has that many digits in a row (``decode_json``).
_DIGITS_ONLY = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
#: The shortest integer orjson may read differently from the standard library: it turns
#: one outside -2**63 .. 2**64-1 into a float; any with 18 digits or fewer is inside.
_LONG_NUMBER = b"0" * 19


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
    """The decoded body, or a ``FatalError`` naming what was not JSON."""
    try:
        data = decode_json(response.content)
    except ValueError:
        raise FatalError(
            f"{service} answered HTTP {response.status_code} with a body that is not JSON: "
            f"{short_body(response, 80)}"
        ) from None
    return without_nul(data, response, service)


def decode_json(content: bytes) -> Any:
    """``json.loads(content)`` exactly (what ``httpx.Response.json`` does), faster.

    Why: decoding sevDesk's listing pages was about a third of a full run's
    snapshot CPU under cProfile (issue 21), and orjson reads them in about half
    the time. It is used only where it gives the standard library's very result:
    a body it refuses (a BOM, UTF-16, NaN, a lone surrogate, deep nesting, or not
    JSON at all) goes to the standard library, which decides, so a bad body fails
    with the same error as ever; so does a body with 19 digits in a row anywhere,
    because orjson reads an integer beyond 64 bits as a float (the check costs
    about a twentieth of the decoding).
    """
    if _LONG_NUMBER not in content.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    return json.loads(content)


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
