"""``Idempotency-Key`` on KleanApp's creates, as the contract's conventions say.

A POST that carries ``Idempotency-Key`` (1-200 printable characters) already
used by the same token in the last 24 hours creates nothing and answers the
first request's status and body again; the same key with a different body
answers 422 ``idempotency_key_reused``.

Why the emulator implements it faithfully: it is what makes a create safe to
repeat after a crash or a timeout when nothing else identifies the record (a
customer without a customer number gets one assigned that the client never
saw). The engine's crash recovery relies on it, so the emulator must replay
exactly what the first answer was, including error answers, and must refuse a
reused key rather than silently creating a second record.

"The same body" means the same request: the same path and the same JSON
value (key order and whitespace do not matter; a body that is not JSON is
compared byte for byte). Keys are per token, so two tenants never see each
other's answers. Sandbox faults (``/_sandbox/faults``) sit outside the API: a
fault answered instead of the API is not remembered, while ``after_write``
(the create happened, the answer was lost) is, which is the case the key is for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.kleanapp.validation import ApiError, now

HEADER = "idempotency-key"
#: How long a key is remembered (the contract: "in the last 24 hours").
RETENTION = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Answer:
    """The first answer given under one key, and what it answered."""

    fingerprint: str
    status: int
    body: bytes
    at: dt.datetime


@dataclass
class IdempotencyKeys:
    """Remembered answers per (token, key); expired ones are forgotten lazily."""

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)

    def reset(self) -> None:
        self.answers.clear()

    def prune(self, at: dt.datetime) -> None:
        for slot in [k for k, a in self.answers.items() if at - a.at >= RETENTION]:
            del self.answers[slot]

    async def handle(
        self,
        request: Request,
        token: str,
        create: Callable[[], Awaitable[Response]],
    ) -> Response:
        """Answer a create, replaying the remembered answer for a known key."""
        raw = await request.body()  # Starlette keeps it: the create reads it again
        key = request.headers.get(HEADER)
        if key is None:
            return await _answer(create)
        problem = key_problem(key)
        if problem:
            error = ApiError(422, "validation_failed", problem, fields={"Idempotency-Key": problem})
            return JSONResponse(error.body(), status_code=error.status)
        at = now()
        self.prune(at)
        slot = (token, key)
        print_ = fingerprint(request.url.path, raw)
        known = self.answers.get(slot)
        if known is not None:
            if known.fingerprint != print_:
                error = ApiError(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request in the last 24 hours",
                )
                return JSONResponse(error.body(), status_code=error.status)
            return Response(known.body, status_code=known.status, media_type="application/json")
        response = await _answer(create)
        self.answers[slot] = Answer(print_, response.status_code, bytes(response.body), at)
        return response


async def _answer(create: Callable[[], Awaitable[Response]]) -> Response:
    """The create's answer, an ``ApiError`` turned into its response (it is remembered too)."""
    try:
        return await create()
    except ApiError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid Idempotency-Key, or None."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return f"must be 1 to {MAX_KEY_LENGTH} characters"
    if not key.isprintable():
        return "must consist of printable characters"
    return None


def fingerprint(path: str, raw: bytes) -> str:
    """One request's identity: its path and its JSON value (raw bytes if not JSON)."""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = b"raw:" + raw
    return hashlib.sha256(path.encode() + b"\n" + canonical).hexdigest()
