"""The HTTP layer both connectors stand on: pacing, retries, error mapping.

Why one layer: the rules that keep us from hurting a service (or being
blocked by it) are the same for both: pace requests with a token bucket
whose rate adapts (``AdaptivePace``: AIMD, halved on 429/5xx, regained
step by step, never above a ceiling nor above the rate a 429 taught us),
honour ``429 Retry-After`` (and back off exponentially when a 429 has
none, within a bounded total wait), retry *reads* on 5xx/timeouts with backoff, and
never retry a *write* whose outcome is unknown (the caller reads back
first). Error messages are built from the status and body only, so the API
token, which lives in the request headers, can never leak into one.

A fleet (many workers, one token each tenant) also injects a ``limiter``:
before each request the client asks it for a slot of the token's shared
budget (``state.rate_bucket.SharedRateBucket``, in PostgreSQL) and waits as
told, on top of its own pacing. Without one (the embedded single-company
mode, SQLite) the in-process pacing above is all there is, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
from loguru import logger

from reconciler.connectors.responses import has_elapsed, retry_after, short_body
from reconciler.domain.errors import (
    AuthError,
    ConfigError,
    TransientError,
    Unreachable,
)
from reconciler.domain.i18n import _
from reconciler.domain.rate_limits import Limiter, rate_key
from reconciler.log import register_secret

Sleep = Callable[[float], Awaitable[None]]

#: Methods whose repetition cannot create or change anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteGuard(Protocol):
    """Called right before a request that is not a read; raises to stop it."""

    def __call__(self, method: str, path: str, *, retry: bool = False) -> None: ...


#: The current task's write guard, set by whoever holds the run lock (the
#: fence, ``reconciler.sync.fence.fenced``); None: writes are not guarded. A
#: hook rather than an import, so the connectors never depend on the sync.
WRITE_GUARD: contextvars.ContextVar[WriteGuard | None] = contextvars.ContextVar(
    "kleansync_write_guard", default=None
)


class TokenBucket:
    """Allows ``rate`` requests per second on average, bursts up to ``burst``.

    The default burst is one request: a service that counts requests in a
    sliding second (KleanApp: 10/s) then never sees more than ``rate + 1``.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock=time.monotonic) -> None:
        self.rate = float(rate)
        self.capacity = float(burst)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.sent = self.stamp - 1.0 / self.rate  # when the last request went out
        self._lock = asyncio.Lock()
        self._open = asyncio.Event()
        self._open.set()
        self._holders = 0

    def delay(self) -> float:
        """Take one token; return how long to wait before using it."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        await self._open.wait()  # nobody sends while a 429 is waited out
        async with self._lock:
            wait = self.delay()
        if wait > 0:
            await sleep(wait)
        # Timers that fire late (a busy machine) must not let two requests out back
        # to back: the service counts both in the same second. Each send keeps its
        # slot at least 1/rate after the previous one, wherever the clock is now.
        async with self._lock:
            now = self.clock()
            slot = max(now, self.sent + 1.0 / self.rate)
            self.sent = slot
        if slot > now:
            await sleep(slot - now)

    async def hold(self, seconds: float, sleep: Sleep = asyncio.sleep) -> None:
        """Wait ``seconds`` and let no other request start meanwhile.

        A 429's Retry-After speaks for the token, not for one request: the
        requests of other records in flight wait with this one instead of
        running into the same refusal.
        """
        self._holders += 1
        self._open.clear()
        try:
            await sleep(seconds)
        finally:
            self._holders -= 1
            if self._holders == 0:
                self._open.set()


class AdaptivePace:
    """The request rate for one service: additive increase, multiplicative decrease.

    Why: sevDesk documents no limit but may block a token that produces many
    errors (API-NOTES §8), so we neither guess a fixed rate nor hammer it.
    The pace starts at ``start``; a 429 or 5xx halves it (once per episode:
    the answers to requests sent before the cut do not cut it again, nor do
    the repeats of one throttled request, which back off on their own); every
    request that went through adds ``increase / rate``, about ``increase``
    req/s per second of traffic. It never exceeds ``ceiling``, and after a
    429 never ``headroom`` of the rate that 429 answered: the service told us
    its limit, so we stay below it instead of probing it again (no 429 after
    the first back-off). Pure arithmetic, no clock: tests drive it directly.
    """

    def __init__(
        self,
        start: float,
        ceiling: float | None = None,
        *,
        floor: float = 0.5,
        decrease: float = 0.5,
        increase: float = 1.0,
        headroom: float = 0.95,
    ) -> None:
        self.ceiling = max(float(start), float(ceiling or start))
        self.rate = float(start)
        self.floor = min(floor, self.rate)
        self.decrease = decrease
        self.increase = increase
        self.headroom = headroom
        #: The lowest rate a 429 answered; None until one did.
        self.limit: float | None = None
        #: Bumped at every cut; a request remembers the epoch it was sent in.
        self.epoch = 0

    @property
    def cap(self) -> float:
        """The highest rate allowed now (the ceiling, or below the learnt limit)."""
        if self.limit is None:
            return self.ceiling
        return max(self.floor, min(self.ceiling, self.limit * self.headroom))

    def went_through(self) -> None:
        self.rate = min(self.cap, self.rate + self.increase / self.rate)

    def pushed_back(self, epoch: int, *, throttled: bool) -> bool:
        """A 429 (``throttled``) or 5xx answered a request sent in ``epoch``; True if cut."""
        if epoch != self.epoch:
            return False  # sent before the last cut: that cut already answered it
        if throttled:
            self.limit = self.rate if self.limit is None else min(self.limit, self.rate)
        self.epoch += 1
        self.rate = max(self.floor, self.rate * self.decrease)
        return True


def _token_of(headers: dict[str, str]) -> str:
    """The credential in ``headers`` (what the service counts requests by)."""
    for name, value in headers.items():
        if name.lower() == "authorization":
            return value.partition(" ")[2].strip() or value
    return ""


class HttpClient:
    """An ``httpx.AsyncClient`` with the politeness rules above.

    ``transport`` lets tests and the demo plug an emulator in-process
    (``httpx.ASGITransport``); the engine cannot tell the difference.
    """

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        headers: dict[str, str],
        requests_per_second: float = 5.0,
        max_requests_per_second: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        read_retries: int = 4,
        max_throttle_wait: float = 300.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        answered_by: Callable[[httpx.Response], str | None] | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.service = service
        #: The shared budget of this token (a fleet's workers); None: in-process pacing only.
        self.limiter = limiter
        self.limit_key = rate_key(service, _token_of(headers))
        #: Which other service a refusal (401/403) comes from, None if it is ours: a
        #: URL of the wrong service is a config mistake, not a wrong API key.
        self.answered_by = answered_by
        #: Appended to the message of a 401 (where a new key goes; the sevDesk connector sets it).
        self.auth_hint = ""
        self.base_url = base_url.rstrip("/")
        # A server may quote our key back in an error body, which we quote in
        # messages: the key is masked wherever kleansync prints or stores text.
        for name, value in headers.items():
            if name.lower() == "authorization":
                register_secret(value)
                register_secret(value.partition(" ")[2].strip())
        #: The adaptive rate (starts at ``requests_per_second``, never above the max).
        self.pace = AdaptivePace(requests_per_second, max_requests_per_second)
        self.bucket = TokenBucket(requests_per_second)
        self.read_retries = read_retries
        #: Seconds one request may spend waiting out 429s before it fails
        #: (``[sevdesk]``/``[kleanapp]`` ``max_throttle_wait_seconds``).
        self.max_throttle_wait = max_throttle_wait
        self.sleep = sleep
        #: Jitter source; tests give a seeded one so waits are the same every run.
        self.rng = rng or random.Random()
        #: Requests, 429s and pace cuts seen, for `/metrics` and benchmarks.
        self.stats: Counter[str] = Counter()
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={"Accept": "application/json", "User-Agent": "kleansync/0.1", **headers},
            transport=transport,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send one request; return the response for any status below 400 or in ``ok``.

        Raises ``AuthError`` on 401/403, ``TransientError`` on 5xx after the
        retries a safe method is allowed (a write gets none, and its error says
        ``maybe_written``), ``Unreachable`` when there is no answer at all.
        Other 4xx responses are returned to the caller, who knows what they
        mean for its service.
        """
        method = method.upper()
        safe = method in SAFE_METHODS
        attempt = 0
        throttled = 0
        waited = 0.0  # on 429s, this request
        url = path.lstrip("/")
        sent = False
        while True:
            await self.bucket.acquire(self.sleep)
            if self.limiter is not None:
                # A database round trip: off the event loop, so other requests keep going.
                wait = await asyncio.to_thread(self.limiter.acquire, self.limit_key)
                if wait > 0:
                    self.stats["shared_waits"] += 1
                    await self.sleep(wait)
            epoch = self.pace.epoch
            if not safe:
                # The fence: a run whose lock was taken over writes nothing more.
                guard = WRITE_GUARD.get()
                if guard is not None:
                    guard(method, url, retry=sent)
                sent = True
            self.stats["requests"] += 1
            try:
                response = await self._client.request(
                    method, url, params=params, json=json, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server: even a write may be repeated.
                if attempt < self.read_retries:
                    attempt += 1
                    await self.sleep(self._backoff(attempt))
                    continue
                raise Unreachable(
                    _(
                        "cannot reach %(service)s at %(url)s (%(kind)s)",
                        service=self.service,
                        url=self.base_url,
                        kind=type(exc).__name__,
                    )
                ) from None
            except httpx.TransportError as exc:
                # The request may have arrived: only safe methods are retried.
                if safe and attempt < self.read_retries:
                    attempt += 1
                    await self.sleep(self._backoff(attempt))
                    continue
                raise TransientError(
                    f"{self.service} {method} /{url}: no answer ({type(exc).__name__})",
                    maybe_written=not safe,
                ) from None

            status = response.status_code
            # Path and status only: headers (the token) are never logged.
            logger.debug(
                "{} {} /{} → {} ({:.0f} ms)",
                self.service,
                method,
                url,
                status,
                response.elapsed.total_seconds() * 1000 if has_elapsed(response) else 0,
            )
            if status == 429:
                # A 429 means "not processed": repeating it is safe for writes too.
                # Without Retry-After we back off exponentially (with jitter, so
                # parallel clients spread out) until the budget is spent.
                self.stats["429"] += 1
                throttled += 1
                if throttled == 1:  # its repeats back off on their own (below)
                    self._slow_down(epoch, throttled=True)
                wait = retry_after(response, default=self.throttle_backoff(throttled))
                budget = self.max_throttle_wait - waited
                if budget <= 0.001:
                    raise TransientError(
                        f"{self.service} kept answering 429 Too Many Requests for "
                        f"{waited:.0f} s ({throttled} times); gave up on {method} /{url} "
                        f"(max_throttle_wait_seconds = {self.max_throttle_wait:g})"
                    )
                wait = min(wait, budget)
                logger.debug("{} asked us to wait {:.2f}s (429)", self.service, wait)
                await self.bucket.hold(wait, self.sleep)
                waited += wait
                continue
            if status >= 500:
                self._slow_down(epoch, throttled=False)
            else:
                self.pace.went_through()
                self.bucket.rate = self.pace.rate
            if status in ok or status < 400:
                return response
            if status in (401, 403):
                other = self.answered_by(response) if self.answered_by else None
                if other:  # another service's URL in this service's slot
                    raise ConfigError(
                        _(
                            "%(url)s is %(other)s, not %(service)s: check [%(section)s] base_url",
                            url=self.base_url,
                            other=other,
                            service=self.service,
                            section=self.service.lower(),
                        )
                    )
                hint = self.auth_hint if status == 401 and self.auth_hint else ""
                raise AuthError(
                    _(
                        "%(service)s rejected the API key (HTTP %(status)s)",
                        service=self.service,
                        status=status,
                    )
                    + hint,
                    service=self.service,
                    status=status,
                )
            if status >= 500:
                if safe and attempt < self.read_retries:
                    attempt += 1
                    await self.sleep(self._backoff(attempt))
                    continue
                raise TransientError(
                    f"{self.service} {method} /{url} failed with HTTP {status}: "
                    f"{short_body(response)}",
                    maybe_written=not safe,
                )
            return response

    def _slow_down(self, epoch: int, *, throttled: bool) -> None:
        if self.pace.pushed_back(epoch, throttled=throttled):
            self.stats["pace_cuts"] += 1
            logger.info(
                "{} pushed back (HTTP {}); pacing at {:.1f} requests/s now",
                self.service,
                429 if throttled else "5xx",
                self.pace.rate,
            )
        self.bucket.rate = self.pace.rate

    def throttle_backoff(self, attempt: int) -> float:
        """Wait after the n-th 429 without Retry-After: 0.5 s, 1 s, 2 s, … ≤ 30 s, jittered.

        "Equal jitter": half the step fixed, half random, so the wait grows
        for sure and clients throttled together do not come back together.
        """
        step = min(30.0, 0.5 * 2 ** (attempt - 1))
        return step / 2 + self.rng.random() * step / 2

    @staticmethod
    def _backoff(attempt: int) -> float:
        """0.2 s, 0.4 s, 0.8 s, … with jitter, capped at 10 s."""
        return min(10.0, 0.2 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)
