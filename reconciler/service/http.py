"""The HTTP side of ``kleansync serve``: the KleanApp webhook receiver, /healthz, /metrics.

Part of ``reconciler.service.runner.Service`` (mixed in as ``ServiceHttp``): the
Starlette app that ``reconciler.service.runner.serve`` runs under uvicorn, and the
registration of the receiver with KleanApp.

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

``/healthz`` is for an outside monitor: 503 when the state store does not
answer, the last run failed, no run completed for too long, or an accepted
webhook event has waited over an hour to be acted on (see
``ServiceHttp.health``). ``/metrics`` is Prometheus (``reconciler.service.metrics``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loguru import logger
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.domain.errors import KleansyncError
from reconciler.service.jobs import COMPLETED
from reconciler.service.metrics import CONTENT_TYPE
from reconciler.service.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    BodyTooLarge,
    InvalidWebhook,
    freshness_problem,
    parse_event,
    read_signed_body,
    signature_digest,
)

if TYPE_CHECKING:
    from reconciler.service.metrics import Metrics
    from reconciler.service.runner import ServiceSettings
    from state import Store
    from state.inbox_tables import Inbox
    from state.service_tables import DeliveryLog

RECEIVER_PATH = "/webhooks/kleanapp"
EVENTS = ("invoice.saved", "customer.saved", "customer.archived", "unit.saved")
RECONCILE_EVENTS = frozenset({"customer.saved", "customer.archived", "unit.saved"})
#: /healthz turns 503 when an accepted webhook event has waited this long to be acted on.
INBOX_STUCK = dt.timedelta(hours=1)


class ServiceHttp:
    """The receiver, its registration with KleanApp, /healthz and /metrics.

    Hands the work to ``_enqueue_export`` and ``request_reconcile``
    (``reconciler.service.jobs``) besides the attributes below.
    """

    settings: ServiceSettings
    store: Store
    connectors: dict[str, Any]
    metrics: Metrics
    deliveries: DeliveryLog
    inbox: Inbox
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
        """Check, store, acknowledge; the work happens in the background (see the module)."""
        settings = self.settings
        secret = settings.secret
        if not secret:
            return JSONResponse({"error": "webhooks are not configured"}, status_code=503)
        if self.stop_event.is_set():
            # Not remembered: KleanApp retries it, and the restarted service takes it.
            return JSONResponse({"error": "stopping"}, status_code=503)
        header = request.headers.get(SIGNATURE_HEADER)
        if signature_digest(header) is None:  # refused before a byte of the body is read
            return self._refuse("rejected", 401, "bad signature")
        try:
            body, signed = await read_signed_body(
                request.stream(),
                secret,
                header,
                limit=settings.max_body_bytes,
                declared_length=request.headers.get("content-length"),
            )
        except BodyTooLarge as exc:
            return self._refuse("too_large", 413, str(exc))
        except ClientDisconnect:
            return self._refuse("rejected", 400, "the sender went away mid-body")
        if not signed:
            return self._refuse("rejected", 401, "bad signature")
        try:
            event = parse_event(body)
        except InvalidWebhook as exc:
            return self._refuse("rejected", 400, str(exc))
        stale = freshness_problem(
            event.occurred_at,
            dt.datetime.now(dt.UTC),
            max_age=dt.timedelta(seconds=settings.max_event_age_seconds),
            max_ahead=dt.timedelta(seconds=settings.max_clock_skew_seconds),
        )
        if stale:
            return self._refuse("stale", 400, stale)
        digest = hashlib.sha256(body).hexdigest()
        delivery = request.headers.get(DELIVERY_HEADER) or f"body-sha256:{digest}"
        admitted = self.inbox.accept(
            delivery_id=delivery[:200],
            content_sha256=digest,
            event=event.event,
            record_id=event.id,
            occurred_at=event.occurred_at,
        )
        if admitted.outcome == "duplicate":
            self.metrics.webhooks.labels("duplicate").inc()
            logger.debug("webhook {} for {} dropped: {}", event.event, event.id, admitted.reason)
            return JSONResponse({"status": "duplicate"}, status_code=200)
        # On disk before the 2xx: from here on a kill loses nothing (the inbox resumes it).
        self.metrics.webhooks.labels("accepted").inc()
        if event.event == "invoice.saved":
            self._enqueue_export("one", event.id)
        elif event.event in RECONCILE_EVENTS:
            self.request_reconcile()
        return JSONResponse({"status": "accepted"}, status_code=202)

    def _refuse(self, result: str, status: int, why: str) -> Response:
        self.metrics.webhooks.labels(result).inc()
        logger.warning("webhook refused ({}): {}", status, why)
        return JSONResponse({"error": why}, status_code=status)

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
        if body["store"] == "ok":
            problems += self._inbox_health(body, now)
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

    def _inbox_health(self, body: dict[str, Any], now: dt.datetime) -> list[str]:
        """``body["inbox"]``: accepted webhook events not done yet; a problem if one waits long."""
        try:
            pending = self.inbox.pending()
        except Exception:  # noqa: BLE001 - the store check above reports the store itself
            return []
        oldest = min((r.received_at for r in pending), default=None)
        waiting = (now - oldest).total_seconds() if oldest else None
        body["inbox"] = {"pending": len(pending), "oldest_pending_age_seconds": waiting}
        if waiting is not None and waiting > INBOX_STUCK.total_seconds():
            return [f"{len(pending)} accepted webhook event(s) waiting for {_human(now - oldest)}"]
        return []

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
