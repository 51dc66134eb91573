"""The HTTP side of ``kleansync serve``: the KleanApp webhook receiver, /healthz, /metrics.

Part of ``reconciler.service.Service`` (mixed in as ``ServiceHttp``): the
Starlette app that ``reconciler.service.serve`` runs under uvicorn, and the
registration of the receiver with KleanApp.

Why the receiver looks the way it does: a public URL can be POSTed by anyone,
so nothing happens before the signature checks out (401 otherwise). KleanApp
delivers at least once and retries a delivery not answered within 10 s, so
the receiver answers 202 at once and does the work in the background, and a
delivery id seen before is answered 200 and otherwise ignored. A delivery
accepted but never acted on (the process died) is not lost: the poll exports
the invoice, the next sync reconciles the customer. While stopping, the
receiver answers 503 without remembering the delivery, so KleanApp retries it.

``/healthz`` is for an outside monitor: 503 when the state store does not
answer, the last run failed, or no run completed for too long (see
``ServiceHttp.health``). ``/metrics`` is Prometheus (``reconciler.metrics``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.errors import KleansyncError
from reconciler.metrics import CONTENT_TYPE
from reconciler.service_jobs import COMPLETED
from reconciler.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    InvalidWebhook,
    parse_event,
    verify_signature,
)

if TYPE_CHECKING:
    from reconciler.metrics import Metrics
    from reconciler.service import ServiceSettings
    from state import Store
    from state.service_tables import DeliveryLog

RECEIVER_PATH = "/webhooks/kleanapp"
EVENTS = ("invoice.saved", "customer.saved", "customer.archived", "unit.saved")
RECONCILE_EVENTS = frozenset({"customer.saved", "customer.archived", "unit.saved"})


class ServiceHttp:
    """The receiver, its registration with KleanApp, /healthz and /metrics.

    Hands the work to ``_enqueue_export`` and ``request_reconcile``
    (``reconciler.service_jobs``) besides the attributes below.
    """

    settings: ServiceSettings
    store: Store
    connectors: dict[str, Any]
    metrics: Metrics
    deliveries: DeliveryLog
    stop_event: asyncio.Event
    webhook_state: str
    trigger: Any
    started_at: dt.datetime

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(RECEIVER_PATH, self.receive_webhook, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            ]
        )

    # -- webhooks ---------------------------------------------------------------------------
    async def receive_webhook(self, request: Request) -> Response:
        secret = self.settings.secret
        if not secret:
            return JSONResponse({"error": "webhooks are not configured"}, status_code=503)
        body = await request.body()
        if not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
            self.metrics.webhooks.labels("rejected").inc()
            logger.warning("webhook with a bad signature refused")
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            event = parse_event(body)
        except InvalidWebhook as exc:
            self.metrics.webhooks.labels("rejected").inc()
            return JSONResponse({"error": str(exc)}, status_code=400)
        if self.stop_event.is_set():
            # Not remembered: KleanApp retries it, and the restarted service takes it.
            return JSONResponse({"error": "stopping"}, status_code=503)
        delivery = request.headers.get(DELIVERY_HEADER) or (
            "body-sha256:" + hashlib.sha256(body).hexdigest()
        )
        if not self.deliveries.remember(delivery[:200], event.event, event.id):
            self.metrics.webhooks.labels("duplicate").inc()
            return JSONResponse({"status": "duplicate"}, status_code=200)
        self.metrics.webhooks.labels("accepted").inc()
        if event.event == "invoice.saved":
            self._enqueue_export("one", event.id)
        elif event.event in RECONCILE_EVENTS:
            self.request_reconcile()
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def ensure_webhook(self) -> str:
        """Register the receiver with KleanApp unless it already is (state: see below).

        ``present``, ``registered``, or ``pending`` after a failure (retried by
        the next poll); without public_url and secret nothing is done. A registration
        under our URL with another secret or fewer events is replaced.
        """
        url, secret = self.settings.receiver_url, self.settings.secret
        if not url or not secret:
            return self.webhook_state
        kleanapp = self.connectors["kleanapp"]
        try:
            hooks = await kleanapp.list_webhooks()
            mine = [h for h in hooks if h.get("url") == url]
            good = [
                h
                for h in mine
                if set(EVENTS) <= set(h.get("events") or ()) and h.get("secret") in (None, secret)
            ]
            if not good:
                await kleanapp.register_webhook(url, list(EVENTS), secret)
                logger.info("registered the webhook receiver {} with KleanApp", url)
            for stale in [h for h in mine if h not in good[:1]]:
                await kleanapp.delete_webhook(str(stale["id"]))
            self.webhook_state = "present" if good else "registered"
        except KleansyncError as exc:
            logger.warning("could not register the webhook with KleanApp (retrying): {}", exc)
            self.webhook_state = "pending"
        return self.webhook_state

    # -- health and metrics ----------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        body, healthy = self.health()
        return JSONResponse(body, status_code=200 if healthy else 503)

    def health(self, now: dt.datetime | None = None) -> tuple[dict[str, Any], bool]:
        """The ``/healthz`` body and verdict.

        Healthy: the state store answers, the last finished run did not fail
        (or get killed), and a run completed (``ok`` or ``errors``: both read
        both sides and applied what they could) within the max age, two cron
        periods plus an hour by default; before the first run ever, the
        service counts as healthy for that long after its start.
        """
        now = now or dt.datetime.now(dt.UTC)
        max_age = self._max_age(now)
        problems: list[str] = []
        body: dict[str, Any] = {
            "store": "ok",
            "webhook": self.webhook_state,
            "last_run": None,
            "last_success_at": None,
            "last_success_age_seconds": None,
            "max_age_seconds": max_age.total_seconds(),
        }
        try:
            runs = self.store.runs(50, dry_run=False)
        except Exception as exc:  # noqa: BLE001 - that is the finding
            body["store"] = f"unreachable: {type(exc).__name__}"
            problems.append("the state store does not answer")
            runs = []
        finished = [r for r in runs if r.outcome != "running"]
        if finished:
            last = finished[0]
            body["last_run"] = {
                "id": last.id,
                "trigger": last.trigger,
                "outcome": last.outcome,
                "started_at": last.started_at.isoformat(),
                "finished_at": last.finished_at.isoformat() if last.finished_at else None,
                "error": last.error,
            }
            if last.outcome not in COMPLETED:
                problems.append(f"the last run ended {last.outcome}")
        success = next((r for r in finished if r.outcome in COMPLETED), None)
        if success is not None:
            at = success.finished_at or success.started_at
            age = now - at
            body["last_success_at"] = at.isoformat()
            body["last_success_age_seconds"] = round(age.total_seconds(), 3)
            if age > max_age:
                problems.append(f"no completed run for {_human(age)}")
        elif body["store"] == "ok" and now - self.started_at > max_age:
            problems.append(
                f"no completed run since the service started {_human(now - self.started_at)} ago"
            )
        body["status"] = "unhealthy" if problems else "ok"
        body["problems"] = problems
        return body, not problems

    def _max_age(self, now: dt.datetime) -> dt.timedelta:
        if self.settings.health_max_age_seconds is not None:
            return dt.timedelta(seconds=self.settings.health_max_age_seconds)
        first = self.trigger.get_next_fire_time(None, now)
        second = self.trigger.get_next_fire_time(first, first) if first else None
        period = (second - first) if first and second else dt.timedelta(days=1)
        return 2 * period + dt.timedelta(hours=1)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    def _api_stats(self) -> dict[str, Mapping[str, int]]:
        out: dict[str, Mapping[str, int]] = {}
        for side, connector in self.connectors.items():
            http = getattr(connector, "http", None)
            if http is not None:
                out[side] = http.stats
        return out

    def _open_conflicts(self) -> int:
        return len(self.store.open_conflicts())


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"
