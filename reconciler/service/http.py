"""The HTTP side of ``kleansync serve``: the KleanApp webhook receiver, /healthz, /metrics.

``ServiceHttp.app`` is the Starlette app that ``reconciler.service.runner.serve``
runs under uvicorn. It hands accepted events to the jobs
(``reconciler.service.jobs``); the verdict of /healthz is
``reconciler.service.health``'s, /metrics is ``reconciler.service.metrics``.

Why the receiver looks the way it does: a public URL can be POSTed by anyone,
so nothing happens before the signature checks out (401 otherwise), and the
checks cost the sender more than us: a body without a well-formed signature
header is refused before a byte of it is read, a body over 1 MB (the
contract's events are a few kB) is refused with 413 as soon as its
``Content-Length`` or its bytes say so, and the HMAC is computed while the
body streams in, so no request makes the service hold more than the cap. A
valid signature only proves KleanApp wrote the body once: an event outside
the freshness window (``occurred_at`` older than ``[webhooks]
max_event_age_seconds`` or further ahead than ``max_clock_skew_seconds``) is
refused, and one whose *content* was accepted before is a duplicate (200)
whatever its delivery id, as is a repeated delivery id. KleanApp delivers at
least once and retries a delivery not answered within 10 s, so the receiver
answers 202 at once and the work happens in the background; but first the
event is stored in the durable inbox (``reconciler.service.inbox``), so an
acknowledged event is acted on even if its sync cannot start yet or the
process dies. While stopping, the receiver answers 503 without remembering
the delivery, so KleanApp retries it.
"""

from __future__ import annotations

import asyncio

from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.service.admission import admit
from reconciler.service.health import Health
from reconciler.service.jobs import Jobs
from reconciler.service.metrics import CONTENT_TYPE, Metrics
from reconciler.service.settings import ServiceSettings
from reconciler.service.webhooks import RECEIVER_PATH
from state.inbox_tables import INVOICE_EVENT, RECONCILE_EVENTS, Inbox


class ServiceHttp:
    """The receiver, /healthz and /metrics, as one Starlette ``app``."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        inbox: Inbox,
        jobs: Jobs,
        health: Health,
        metrics: Metrics,
        stop: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.jobs = jobs
        self.health = health
        self.metrics = metrics
        self.stop = stop
        self.app = Starlette(
            routes=[
                Route(RECEIVER_PATH, self.receive_webhook, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            ]
        )

    # -- webhooks ---------------------------------------------------------------------------
    async def receive_webhook(self, request: Request) -> Response:
        """Check, store, acknowledge; the work happens in the background (see the module)."""
        settings = self.settings
        secret = settings.secret
        if not secret:
            return JSONResponse({"error": "webhooks are not configured"}, status_code=503)
        if self.stop.is_set():
            # Not remembered: KleanApp retries it, and the restarted service takes it.
            return JSONResponse({"error": "stopping"}, status_code=503)
        verdict = await admit(request, secret=secret, settings=settings, inbox=self.inbox)
        if verdict.result == "duplicate":
            assert verdict.event is not None
            self.metrics.webhooks.labels("duplicate").inc()
            logger.debug(
                "webhook {} for {} dropped: {}", verdict.event.event, verdict.event.id, verdict.why
            )
            return JSONResponse(verdict.body, status_code=verdict.status)
        if verdict.event is None:
            return self._refuse(verdict.result, verdict.status, verdict.why or "refused")
        self.metrics.webhooks.labels("accepted").inc()
        event = verdict.event
        if event.event == INVOICE_EVENT:
            self.jobs.enqueue_export("one", event.id)
        elif event.event in RECONCILE_EVENTS:
            self.jobs.request_reconcile()
        return JSONResponse(verdict.body, status_code=verdict.status)

    def _refuse(self, result: str, status: int, why: str) -> Response:
        self.metrics.webhooks.labels(result).inc()
        logger.warning("webhook refused ({}): {}", status, why)
        return JSONResponse({"error": why}, status_code=status)

    # -- health and metrics ----------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        body, healthy = self.health.check()
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)
