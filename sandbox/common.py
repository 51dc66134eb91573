"""What both emulators share: the `/_sandbox/` control API and fault injection.

Each emulator is a Starlette app for its service's paths under `/api/v1`.
``SandboxControl`` wraps it with the behaviour a test or demo needs to steer
from outside, identically for sevDesk and KleanApp:

* ``POST /_sandbox/reset``      empty the store (re-seed defaults), clear faults and stats
* ``POST /_sandbox/faults``     add fault rules (see ``Fault``) or a rate limit
* ``DELETE /_sandbox/faults``   remove them all
* ``GET /_sandbox/stats``       requests and writes counted by method and path
* ``POST /_sandbox/bulk``       load many records at once (service-specific)

Faults are matched on method, a path regex and (optionally) a ``query`` regex
searched in the raw query string (``"offset=1000"``: only the second page),
and fire for the next ``times`` matching requests (``null`` = until cleared).
Kinds:

* ``status``        answer ``status`` without doing anything
* ``after_write``   perform the request, then answer ``status`` anyway
                    (sevDesk is known to write and still answer 500)
* ``error_in_200``  do nothing and answer HTTP 200 with an error body
* ``latency``       wait ``latency_ms`` before handling the request
* ``empty_list``    answer HTTP 200 with an empty list in the service's envelope
                    (an API that suddenly "has no records": the engine's brake)
* ``rate_limit``    more than ``rps`` requests per second per token → 429 + Retry-After

Nothing under `/_sandbox/` exists on the real services, and nothing of it is
reachable under `/api/v1`.

Test-only, in-process: ``SandboxControl.after_response`` is a list of
callbacks ``(method, path, status)`` (plain or async) run after each
``/api/v1`` request was answered and before the client gets the answer, so a
test can act *between* two requests of a run: edit a record between two pages
of a listing, as a person would while a sync is reading. A callback is also
called for the requests it makes itself; it must guard against that.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["status", "after_write", "error_in_200", "latency", "rate_limit", "empty_list"]
FAULT_KINDS = ("status", "after_write", "error_in_200", "latency", "rate_limit", "empty_list")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: (status, message) -> JSON body in the service's own error shape.
ErrorBody = Callable[[int, str], dict[str, Any]]
#: The API token a request carries (for per-token rate limits), or None.
TokenOf = Callable[[Scope], str | None]
#: ``after_response`` callback: (method, path, status) -> None, or an awaitable.
AfterResponse = Callable[[str, str, int], Awaitable[None] | None]


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = None
    path: str | None = None
    query: str | None = None
    status: int = 500
    times: int | None = 1
    latency_ms: int = 0
    rps: float = 0.0
    message: str = "injected fault"
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)
    _query: re.Pattern[str] | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        fault = cls(
            kind=kind,
            method=(data.get("method") or None) and str(data["method"]).upper(),
            path=data.get("path"),
            query=data.get("query"),
            status=int(data.get("status", 429 if kind == "rate_limit" else 500)),
            times=None if data.get("times", 1) is None else int(data.get("times", 1)),
            latency_ms=int(data.get("latency_ms", 0)),
            rps=float(data.get("rps", 0)),
            message=str(data.get("message", "injected fault")),
        )
        if kind == "rate_limit":
            fault.times = None
            if fault.rps <= 0:
                raise ValueError("rate_limit needs rps > 0")
        fault._pattern = re.compile(fault.path) if fault.path else None
        fault._query = re.compile(fault.query) if fault.query else None
        return fault

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method and self.method != method:
            return False
        if self._query and not self._query.search(query):
            return False
        return not (self._pattern and not self._pattern.search(path))


class RateWindow:
    """Counts requests per token over the last second (sliding window)."""

    def __init__(self) -> None:
        self.hits: dict[str, deque[float]] = {}

    def admit(self, token: str, rps: float, now: float) -> float:
        """Record a request; return 0 if allowed, else seconds until it would be."""
        window = self.hits.setdefault(token, deque())
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= rps:
            return 1.0 - (now - window[0])
        window.append(now)
        return 0.0


class SandboxControl:
    """ASGI wrapper adding the control API, faults, rate limits and stats."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        error_body: ErrorBody,
        token_of: TokenOf,
        reset: Callable[[], None],
        bulk: Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]],
        rate_limit_rps: float | None = None,
        extra_routes: list[Route] | None = None,
        empty_list: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.app = app
        self.empty_list = empty_list or (lambda: {"data": []})
        self.error_body = error_body
        self.token_of = token_of
        self._reset = reset
        self._bulk = bulk
        self.default_rps = rate_limit_rps
        self.faults: list[Fault] = []
        self.requests: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.window = RateWindow()
        self.after_response: list[AfterResponse] = []  # test-only, see module docstring
        self.control = Starlette(
            routes=[
                Route("/_sandbox/reset", self.reset_endpoint, methods=["POST"]),
                Route("/_sandbox/faults", self.add_faults, methods=["POST"]),
                Route("/_sandbox/faults", self.clear_faults, methods=["DELETE"]),
                Route("/_sandbox/faults", self.list_faults, methods=["GET"]),
                Route("/_sandbox/stats", self.stats, methods=["GET"]),
                Route("/_sandbox/bulk", self.bulk_endpoint, methods=["POST"]),
                *(extra_routes or []),
            ]
        )

    # -- control endpoints -------------------------------------------------
    async def reset_endpoint(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    def reset(self) -> None:
        self._reset()
        self.faults.clear()
        self.requests.clear()
        self.writes.clear()
        self.window = RateWindow()

    async def add_faults(self, request: Request) -> Response:
        try:
            data = await request.json()
            items = data if isinstance(data, list) else data.get("faults", [data])
            new = [Fault.from_json(item) for item in items]
        except (ValueError, TypeError, AttributeError, re.error) as exc:
            return JSONResponse({"error": f"bad fault rule: {exc}"}, status_code=400)
        self.faults.extend(new)
        return JSONResponse({"faults": len(self.faults)}, status_code=201)

    async def clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return Response(status_code=204)

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse(
            {
                "faults": [
                    {k: v for k, v in vars(f).items() if not k.startswith("_")} for f in self.faults
                ]
            }
        )

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "requests": dict(self.requests),
                "writes": dict(self.writes),
                "total_requests": sum(self.requests.values()),
                "total_writes": sum(self.writes.values()),
            }
        )

    async def bulk_endpoint(self, request: Request) -> Response:
        try:
            data = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        try:
            result = await self.load(data)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad bulk load: {exc}"}, status_code=400)
        return JSONResponse(result, status_code=201)

    async def load(self, data: dict[str, Any]) -> dict[str, Any]:
        """What ``POST /_sandbox/bulk`` loads, for a caller in the same process (benchmarks)."""
        result = self._bulk(data)
        return await result if isinstance(result, Awaitable) else result

    # -- the wrapper -------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_sandbox/"):
            await self.control(scope, receive, send)
            return
        method: str = scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        key = f"{method} {path}"
        self.requests[key] += 1

        token = self.token_of(scope) or ""
        limits = [f.rps for f in self.faults if f.kind == "rate_limit" and f.matches(method, path)]
        if self.default_rps:
            limits.append(self.default_rps)
        if limits:
            wait = self.window.admit(token, min(limits), time.monotonic())
            if wait > 0:
                await self._send_error(
                    scope,
                    send,
                    429,
                    "Too many requests",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
                return

        for fault in list(self.faults):
            if fault.kind == "rate_limit" or not fault.matches(method, path, query):
                continue
            if fault.times is not None:
                fault.times -= 1
            if fault.kind == "latency":
                await asyncio.sleep(fault.latency_ms / 1000)
                continue
            if fault.kind == "status":
                await self._send_error(scope, send, fault.status, fault.message)
                return
            if fault.kind == "error_in_200":
                await self._send_error(scope, send, 200, fault.message)
                return
            if fault.kind == "empty_list":
                await JSONResponse(self.empty_list())(scope, _empty_receive, send)
                return
            if fault.kind == "after_write":
                status = await self._run_discarding(scope, receive)
                if method in WRITE_METHODS and status < 400:
                    self.writes[key] += 1
                await self._send_error(scope, send, fault.status, fault.message)
                return

        status_holder: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder.append(message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)
        if method in WRITE_METHODS and status_holder and status_holder[0] < 400:
            self.writes[key] += 1
        for callback in list(self.after_response):
            done = callback(method, path, status_holder[0] if status_holder else 500)
            if done is not None:
                await done

    async def _run_discarding(self, scope: Scope, receive: Receive) -> int:
        status: list[int] = []

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await self.app(scope, receive, swallow)
        return status[0] if status else 500

    async def _send_error(
        self,
        scope: Scope,
        send: Send,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = self.error_body(status, message)
        await JSONResponse(body, status_code=status, headers=headers)(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
