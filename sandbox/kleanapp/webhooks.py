"""Outgoing webhooks: signed, at-least-once, in background asyncio tasks.

KleanApp POSTs a WebhookEvent ``{event, id, occurred_at, data}`` to every
registered url subscribed to the event, with

* ``X-KleanApp-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``
* ``X-KleanApp-Delivery: <unique id>``, the same id on every retry of one
  delivery, so a receiver can drop duplicates (at-least-once semantics).

A delivery not answered 2xx (or not within ``timeout`` s) is retried after each
delay of ``retry_delays`` (exponential by default) and then given up. The
schedule is configurable so tests need not wait; ``drain()`` awaits every
pending delivery so a test can assert on what the receiver got.

Deliveries go through ``httpx.AsyncClient(transport=...)``: in-process tests
pass an ``httpx.ASGITransport`` around a receiver app; ``None`` means the
network. ``enabled = False`` drops events, like webhooks switched off in
KleanApp, so the engine has to fall back to polling.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

#: 0.2 s, doubling: six retries after the first attempt, ~12.6 s in all.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.4, 0.8, 1.6, 3.2, 6.4)
DELIVERY_TIMEOUT_S = 10.0


@dataclass
class Subscription:
    id: int
    url: str
    events: list[str]
    secret: str


@dataclass
class Delivery:
    """One event to one url, across all its attempts (GET /_sandbox/deliveries)."""

    delivery_id: str
    webhook_id: int
    url: str
    event: str
    record_id: int
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    state: str = "pending"  # pending | delivered | failed


def sign(secret: str, body: bytes) -> str:
    """The X-KleanApp-Signature value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _Borrowed(httpx.AsyncBaseTransport):
    """Lends a caller's transport to short-lived clients without closing it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass


class WebhookDispatcher:
    """Fans events out to subscribers and keeps the delivery log."""

    def __init__(
        self,
        subscribers: Callable[[str], list[Subscription]],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        timeout: float = DELIVERY_TIMEOUT_S,
    ) -> None:
        self.subscribers = subscribers
        self.transport = transport
        self.retry_delays = self._initial_delays = tuple(retry_delays)
        self.timeout = self._initial_timeout = timeout
        self.enabled = True
        self.deliveries: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, event: str, record_id: int, data: dict[str, Any], occurred_at: str) -> None:
        """Queue one delivery per subscriber; returns at once (needs a running loop)."""
        if not self.enabled:
            return
        payload = {"event": event, "id": record_id, "occurred_at": occurred_at, "data": data}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        for sub in self.subscribers(event):
            delivery = Delivery(uuid.uuid4().hex, sub.id, sub.url, event, record_id)
            self.deliveries.append(delivery)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # store changed from sync code: nothing can deliver
                delivery.state, delivery.last_error = "failed", "no running event loop"
                continue
            task = loop.create_task(self._deliver(delivery, sub, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery, sub: Subscription, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "KleanApp-Webhooks/1.0",
            "X-KleanApp-Event": delivery.event,
            "X-KleanApp-Delivery": delivery.delivery_id,
            "X-KleanApp-Signature": sign(sub.secret, body),
        }
        transport = _Borrowed(self.transport) if self.transport else None
        async with httpx.AsyncClient(transport=transport, timeout=self.timeout) as client:
            for delay in (None, *self.retry_delays):
                if delay is not None:
                    await asyncio.sleep(delay)
                delivery.attempts += 1
                try:
                    response = await client.post(sub.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    delivery.last_status = None
                    delivery.last_error = type(exc).__name__
                    continue
                delivery.last_status = response.status_code
                delivery.last_error = None
                if 200 <= response.status_code < 300:
                    delivery.state = "delivered"
                    return
        delivery.state = "failed"

    async def drain(self) -> None:
        """Wait until every queued delivery has succeeded or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.deliveries.clear()
        self.enabled = True
        self.retry_delays, self.timeout = self._initial_delays, self._initial_timeout

    def log(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in self.deliveries]
