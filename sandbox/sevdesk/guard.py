"""The emulator never crashes and never stores half: one guard around every route.

A route that hits something unexpected (a bug, an input nobody thought of) must
still answer like sevDesk: HTTP 500 with sevDesk's JSON error body, not
Starlette's plain-text "Internal Server Error". And whatever the failed request
had added to or removed from the account is undone, so a client that retries or
reads back finds the account as it was before the call. Every request that may
write also marks the account changed, so no cached listing outlives it
(``Store.listed``). Routes validate before
they write; this guard is the net under that rule, not a replacement for it.

It sits inside Starlette's exception middleware stack, below the
``ServerErrorMiddleware`` (which would send plain text and re-raise), so the
exception ends here: in-process tests get an answer, not a raised error.
"""

from __future__ import annotations

from loguru import logger
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .store import Store
from .wire import error_body

#: Methods that only read: no snapshot needed.
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
MESSAGE = "An unexpected error occurred"  # [inferred] sevDesk's 500 text is not recorded


class CrashGuard:
    """ASGI middleware: unexpected exception -> JSON 500 error body + store rolled back."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        writes = scope.get("method") not in SAFE
        snapshot = self.store.snapshot() if writes else None
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.opt(exception=True).error(
                "sevDesk emulator: {} {} failed", scope.get("method"), scope.get("path")
            )
            if snapshot is not None:
                self.store.restore(snapshot)
            if not started:
                await JSONResponse(error_body(500, MESSAGE), status_code=500)(scope, receive, send)
        finally:
            if writes:  # whatever it changed, the cached listings are stale
                self.store.changed()
