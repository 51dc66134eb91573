"""``kleansync serve``: the always-on service.

One process that keeps both systems in agreement without anyone starting it:

* the nightly sync on ``[schedule] cron`` (``reconciler.schedule``);
* ``POST /webhooks/kleanapp``: KleanApp's webhooks. ``invoice.saved`` exports
  that invoice; ``customer.saved``, ``customer.archived`` and ``unit.saved``
  ask for a sync run "soon": the first event starts a debounce wait of
  ``[webhooks] debounce_seconds`` and every event arriving meanwhile rides
  along, so a burst of edits makes one incremental run (trigger ``webhook``).
  The incremental snapshot reads every record changed since the last run, so
  the records the events named are reconciled, along with anything else that
  changed;
* the invoice poll every ``[schedule] invoice_poll_minutes``: the exporter's
  ``--since-last`` run (unexported invoices changed since the last poll, plus
  held and failed ones), for webhooks that never arrived;
* ``GET /healthz`` and ``GET /metrics`` (Prometheus).

Why the receiver looks the way it does: a public URL can be POSTed by anyone,
so nothing happens before the signature checks out (401 otherwise). KleanApp
delivers at least once and retries a delivery not answered within 10 s, so
the receiver answers 202 at once and does the work in the background, and a
delivery id seen before is answered 200 and otherwise ignored. A delivery
accepted but never acted on (the process died) is not lost: the poll exports
the invoice, the next sync reconciles the customer. While stopping, the
receiver answers 503 without remembering the delivery, so KleanApp retries it.

One write job at a time: sync runs and invoice exports take turns on one
``asyncio.Lock``. Each job starts by settling the journal rows a killed job
left ``pending``, and a row another job of this process has in flight must
never look like one of those. It also means an invoice is never exported by
two paths at once; the exporter's ledger and its ``customerInternalNote``
lookup make sure it is never exported twice at all. Across processes the
sync run lock in the state store still applies (a hand-started ``kleansync
sync`` and the service never run together).

Stopping (SIGTERM/SIGINT): the receiver stops accepting, the scheduler stops
firing, a sync run finishes the pair of writes in flight (journaled) and
applies nothing more (``reconciler.apply.STOP``), an export in flight is
finished; then the process exits 0. The next start resumes: the sync's
cursors were not advanced past what was not applied. A second signal stops
at once; the journal settles whatever was in flight on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.apply import STOP
from reconciler.errors import ConfigError, KleansyncError, RunInProgress
from reconciler.log import register_secret
from reconciler.metrics import CONTENT_TYPE, Metrics
from reconciler.schedule import (
    SYNC_JOB,
    build_scheduler,
    catch_up_from,
    cron_trigger,
    poll_seconds,
)
from reconciler.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    InvalidWebhook,
    parse_event,
    verify_signature,
)
from state import Store
from state.service_tables import DeliveryLog

RECEIVER_PATH = "/webhooks/kleanapp"
EVENTS = ("invoice.saved", "customer.saved", "customer.archived", "unit.saved")
RECONCILE_EVENTS = frozenset({"customer.saved", "customer.archived", "unit.saved"})
#: Completed runs: they read both sides and applied what they could.
COMPLETED = ("ok", "errors")
#: The invoice poll's first position is this far before the first start (clock skew).
POLL_START_SLACK = dt.timedelta(minutes=1)
#: The exporter's ``--since-last`` cursor (``reconciler.invoices``).
INVOICE_CURSOR = ("kleanapp", "invoice")


@dataclass(frozen=True)
class ServiceSettings:
    """What ``serve`` needs beyond the engine's config (``[webhooks]`` and a few knobs)."""

    #: Where KleanApp reaches this service from outside, e.g. "https://sync.example.de".
    public_url: str | None = None
    #: The webhook signing secret itself (read from the variable ``[webhooks] secret_env``).
    secret: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8800
    #: A burst of customer/unit events within this many seconds makes one sync run.
    debounce_seconds: float = 5.0
    #: None: ``[schedule] invoice_poll_minutes``.
    poll_interval_seconds: float | None = None
    #: /healthz turns 503 when no run completed for this long (None: from the cron).
    health_max_age_seconds: float | None = None

    @classmethod
    def from_config(cls, config: Any) -> ServiceSettings:
        """Read ``[webhooks]`` (with defaults while the section is not in the config yet)."""
        hooks = getattr(config, "webhooks", None)
        secret_env = getattr(hooks, "secret_env", None)
        secret = None
        if secret_env:
            secret = os.environ.get(secret_env, "").strip()
            if not secret:
                raise ConfigError(
                    f"environment variable {secret_env} is not set (named by [webhooks] "
                    "secret_env); it must hold the webhook signing secret"
                )
            if len(secret) < 16:
                raise ConfigError(
                    f"the webhook secret in {secret_env} must be at least 16 characters "
                    "(KleanApp refuses shorter ones)"
                )
            register_secret(secret)
        public_url = getattr(hooks, "public_url", None)
        return cls(
            public_url=public_url.rstrip("/") if public_url else None,
            secret=secret,
            listen_host=getattr(hooks, "listen_host", cls.listen_host),
            listen_port=int(getattr(hooks, "listen_port", cls.listen_port)),
            debounce_seconds=float(getattr(hooks, "debounce_seconds", cls.debounce_seconds)),
        )

    @property
    def receiver_url(self) -> str | None:
        return self.public_url + RECEIVER_PATH if self.public_url else None


# -- the export module's API, in one place (a signature change is a one-line fix) --------
async def export_invoice(
    config: Any, invoice_id: str, *, connectors: Mapping[str, Any], store: Store
) -> Any:
    """Export one KleanApp invoice (``invoice.saved``)."""
    from reconciler.invoices import export_one

    return await export_one(
        invoice_id, config, connectors=connectors, store=store, trigger="webhook"
    )


async def export_since_last_poll(
    config: Any, *, connectors: Mapping[str, Any], store: Store
) -> Any:
    """Export what the webhooks may have missed (``invoices export --since-last``)."""
    from reconciler.invoices import ExportFilters, export_invoices

    return await export_invoices(
        config, ExportFilters(since_last=True), connectors=connectors, store=store, trigger="poll"
    )


class Service:
    """The scheduler, the webhook receiver and the workers behind them, on one store.

    ``connectors``/``store`` default to ones opened from ``config`` (and are
    then closed by ``stop``); tests pass their own.
    """

    def __init__(
        self,
        config: Any,
        *,
        settings: ServiceSettings | None = None,
        connectors: dict[str, Any] | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or ServiceSettings.from_config(config)
        self._owns_store = store is None
        self.store = store or Store(config.state.url)
        self._owns_connectors = connectors is None
        if connectors is None:
            from reconciler.connectors import from_config

            kleanapp, sevdesk = from_config(config)
            connectors = {"kleanapp": kleanapp, "sevdesk": sevdesk}
        self.connectors = connectors
        self.deliveries = DeliveryLog(self.store)
        self.metrics = Metrics(api_stats=self._api_stats, open_conflicts=self._open_conflicts)
        self.trigger = cron_trigger(config.schedule.cron, config.schedule.timezone)
        self.stop_event = asyncio.Event()
        #: disabled (no secret), manual (no public_url: registered by hand), pending,
        #: registered (by this start) or present (registered before).
        self.webhook_state = (
            "disabled"
            if not self.settings.secret
            else "pending"
            if self.settings.receiver_url
            else "manual"
        )
        #: The port the HTTP side listens on, once ``serve`` bound it.
        self.port: int | None = None
        self._stopped = False
        self.started_at = dt.datetime.now(dt.UTC)
        self.scheduler: Any = None
        self._writer = asyncio.Lock()
        self._reconcile_wanted = asyncio.Event()
        self._exports: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._export_waiters: dict[tuple[str, str | None], asyncio.Future[Any]] = {}
        self._workers: list[asyncio.Task[Any]] = []
        self._work: set[asyncio.Task[Any]] = set()
        self.app = Starlette(
            routes=[
                Route(RECEIVER_PATH, self.receive_webhook, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            ]
        )

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Start the workers and the scheduler (catching up a missed nightly run)."""
        self._init_invoice_cursor()
        self._refresh_last_success()
        now = dt.datetime.now(dt.UTC)
        last = self._last_run()
        catch_up = catch_up_from(self.trigger, last.started_at if last else None, now)
        if catch_up is not None:
            logger.info("the sync due at {} was missed; running it now", catch_up)
        self.scheduler = build_scheduler(
            self.config,
            sync_job=self.scheduled_sync,
            poll_job=self.poll,
            catch_up=catch_up,
            poll_interval_seconds=self.settings.poll_interval_seconds,
        )
        self._workers = [
            asyncio.create_task(self._export_worker(), name="kleansync-exports"),
            asyncio.create_task(self._reconcile_worker(), name="kleansync-reconcile"),
        ]
        self.scheduler.start()
        job = self.scheduler.get_job(SYNC_JOB)
        logger.info(
            "scheduled: sync {} ({}), next at {}; invoice poll every {:g} s",
            self.config.schedule.cron,
            self.config.schedule.timezone,
            job.next_run_time if job else None,
            self.settings.poll_interval_seconds or poll_seconds(self.config),
        )

    def request_stop(self) -> None:
        """Begin a graceful stop (what SIGTERM/SIGINT do)."""
        if not self.stop_event.is_set():
            logger.info("stopping: finishing the work in flight")
        self.stop_event.set()
        self._reconcile_wanted.set()  # wake the worker so it can leave

    async def stop(self) -> None:
        """Stop gracefully: let the write in flight finish, then close everything."""
        self.request_stop()
        if self._stopped:
            return
        self._stopped = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # no new fire times; jobs already waiting return at once
        while self._work:
            await asyncio.gather(*list(self._work), return_exceptions=True)
        await asyncio.sleep(0)  # let the job coroutines see their (shielded) work finish
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for waiter in self._export_waiters.values():
            if not waiter.done():
                waiter.cancel()
        if self._owns_connectors:
            for connector in self.connectors.values():
                await connector.aclose()
        if self._owns_store:
            self.store.close()

    def abort(self) -> None:
        """Stop now (second signal): cancel the work in flight; the journal settles it later."""
        for task in list(self._work):
            task.cancel()

    def _track(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        return task

    # -- sync runs ----------------------------------------------------------------------
    async def scheduled_sync(self) -> Any:
        """The cron job. Cancelled by a scheduler shutdown, the run itself goes on (shielded)."""
        try:
            return await self.sync("schedule")
        except asyncio.CancelledError:
            return None

    async def sync(self, trigger: str) -> Any:
        """One sync run (None if it did not run); survives its caller's cancellation."""
        if self.stop_event.is_set():
            return None
        return await asyncio.shield(self._track(self._sync(trigger), f"kleansync-sync-{trigger}"))

    async def _sync(self, trigger: str) -> Any:
        from reconciler.engine import SyncOptions, run_sync

        async with self._writer:
            if self.stop_event.is_set():
                return None
            token = STOP.set(self.stop_event)
            try:
                result = await run_sync(
                    self.config,
                    SyncOptions(trigger=trigger),
                    connectors=self.connectors,  # type: ignore[arg-type]
                    store=self.store,
                )
            except RunInProgress as exc:
                logger.info("{} sync not started: {}", trigger, exc)
                self.metrics.run_finished(trigger, "locked", {})
                return None
            except KleansyncError as exc:
                logger.error("{} sync failed: {}", trigger, exc)
                self.metrics.run_finished(trigger, "failed", {})
                return None
            except Exception as exc:  # noqa: BLE001 - the service must outlive one bad run
                logger.opt(exception=exc).error("{} sync failed: {}", trigger, exc)
                self.metrics.run_finished(trigger, "failed", {})
                return None
            finally:
                STOP.reset(token)
        logger.info("{} sync {}: {}", trigger, result.outcome, result.counts or "nothing to do")
        self.metrics.run_finished(trigger, result.outcome, result.counts)
        self._refresh_last_success()
        if self._invoices_waiting():
            # Invoices held for a customer that was not in sevDesk yet may go out now.
            self._enqueue_export("poll", None)
        return result

    def request_reconcile(self) -> None:
        """Ask for a sync run after the debounce wait (events meanwhile ride along)."""
        self._reconcile_wanted.set()

    async def _reconcile_worker(self) -> None:
        while not self.stop_event.is_set():
            await self._reconcile_wanted.wait()
            if self.stop_event.is_set():
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.settings.debounce_seconds)
            self._reconcile_wanted.clear()
            if self.stop_event.is_set():
                return
            await self.sync("webhook")

    # -- invoice exports ------------------------------------------------------------------
    async def export(self, invoice_id: str) -> Any:
        """Export one invoice through the queue; the export's result (None if not run)."""
        return await self._enqueue_export("one", str(invoice_id))

    async def poll(self) -> Any:
        """The poll job: register the webhook if still due, then the ``--since-last`` export."""
        if self.stop_event.is_set():
            return None
        try:
            if self.webhook_state == "pending":
                await self.ensure_webhook()
            with contextlib.suppress(Exception):
                self.deliveries.prune()
            return await self._enqueue_export("poll", None)
        except asyncio.CancelledError:  # scheduler shutdown; the export itself goes on
            return None

    def _enqueue_export(self, kind: str, invoice_id: str | None) -> asyncio.Future[Any]:
        """Queue an export; the same one already waiting is not queued twice."""
        key = (kind, invoice_id)
        waiter = self._export_waiters.get(key)
        if waiter is None or waiter.done():
            waiter = asyncio.get_running_loop().create_future()
            self._export_waiters[key] = waiter
            self._exports.put_nowait(key)
        return waiter

    async def _export_worker(self) -> None:
        while not self.stop_event.is_set():
            key = await self._exports.get()
            waiter = self._export_waiters.pop(key, None)
            if self.stop_event.is_set():
                if waiter and not waiter.done():
                    waiter.cancel()
                return
            task = self._track(self._export(*key), f"kleansync-export-{key[0]}")
            try:
                result = await asyncio.shield(task)
            except Exception as exc:  # noqa: BLE001 - reported on the waiter
                if waiter and not waiter.done():
                    waiter.set_exception(exc)
                continue
            if waiter and not waiter.done():
                waiter.set_result(result)

    async def _export(self, kind: str, invoice_id: str | None) -> Any:
        async with self._writer:
            if self.stop_event.is_set():
                return None
            # The same stop signal, should the exporter check it between invoices.
            token = STOP.set(self.stop_event)
            try:
                if kind == "one":
                    result = await export_invoice(
                        self.config, str(invoice_id), connectors=self.connectors, store=self.store
                    )
                else:
                    result = await export_since_last_poll(
                        self.config, connectors=self.connectors, store=self.store
                    )
            except KleansyncError as exc:
                logger.error("invoice export ({}) failed: {}", kind, exc)
                self.metrics.exports.labels("failed").inc()
                return None
            except Exception as exc:  # noqa: BLE001 - the service must outlive one bad export
                logger.opt(exception=exc).error("invoice export ({}) failed: {}", kind, exc)
                self.metrics.exports.labels("failed").inc()
                return None
            finally:
                STOP.reset(token)
        for outcome, n in result.counts.items():
            if n:
                self.metrics.exports.labels(outcome).inc(n)
        for item in result.exported:
            logger.info("invoice {} exported ({})", item.get("number"), kind)
        if any(task.get("kind") == "customer" for task in result.tasks):
            self.request_reconcile()  # its customer is not in sevDesk yet: sync, then retry
        return result

    def _init_invoice_cursor(self) -> None:
        """Start the poll at the first start, not at the beginning of time.

        The exporter's ``--since-last`` without a cursor means "every unexported
        invoice ever"; an always-on service must not send years of invoices
        (maybe booked by hand long ago) by surprise. Older ones are exported
        on purpose with ``kleansync invoices export --from ...``.
        """
        if self.store.cursor(*INVOICE_CURSOR) is None:
            start = dt.datetime.now(dt.UTC) - POLL_START_SLACK
            self.store.set_cursor(*INVOICE_CURSOR, start)
            logger.info("the invoice poll starts with invoices changed after {}", start)

    def _invoices_waiting(self) -> bool:
        from state.invoice_tables import HELD, InvoiceLedger

        try:
            return bool(InvoiceLedger(self.store).rows((HELD,)))
        except Exception:  # noqa: BLE001 - only an optimisation
            return False

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
            runs = [r for r in self.store.runs(50) if not r.dry_run]
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

    def _last_run(self) -> Any:
        return next((r for r in self.store.runs(50) if not r.dry_run), None)

    def _refresh_last_success(self) -> None:
        finished = [r for r in self.store.runs(50) if not r.dry_run and r.outcome in COMPLETED]
        if finished:
            at = finished[0].finished_at or finished[0].started_at
            self.metrics.last_success.set(at.timestamp())


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# -- the runner -------------------------------------------------------------------------------
async def serve(
    config: Any,
    *,
    service: Service | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[Service], None] | None = None,
) -> int:
    """Run the service until SIGTERM/SIGINT (or ``service.request_stop()``); exit code.

    The HTTP side is uvicorn on ``[webhooks] listen_host:listen_port``
    (port 0: a free one, see ``service.port`` once ready).
    """
    service = service or Service(config)
    settings = service.settings
    sock = socket.socket(socket.AF_INET6 if ":" in settings.listen_host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.listen_host, settings.listen_port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {settings.listen_host}:{settings.listen_port} "
            f"([webhooks] listen_host/listen_port): {exc.strerror}"
        ) from None
    service.port = sock.getsockname()[1]
    server = _QuietServer(
        uvicorn.Config(
            service.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        server.should_exit = True
        if signals == 1:
            service.request_stop()
        else:
            logger.warning("second signal: stopping now")
            service.abort()

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
    try:
        await service.start()
        server_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not server_task.done():
            await asyncio.sleep(0.01)
        if server_task.done():
            await server_task
            raise ConfigError("the HTTP server did not start")
        logger.info(
            "kleansync serve: listening on http://{}:{} (webhooks at {})",
            settings.listen_host,
            service.port,
            RECEIVER_PATH,
        )
        await service.ensure_webhook()
        if on_ready is not None:
            on_ready(service)
        await service.stop_event.wait()
        server.should_exit = True
        await service.stop()
        await server_task
    finally:
        with contextlib.suppress(Exception):
            await service.stop()  # no-op after a graceful stop; cleans up after an error
        sock.close()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    logger.info("kleansync serve stopped")
    return 0


class _QuietServer(uvicorn.Server):
    """uvicorn's Server without its own signal handlers (ours decide how to stop)."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield
