"""``kleansync serve``: the always-on service.

One process that keeps both systems in agreement without anyone starting it:

* the nightly sync on ``[schedule] cron`` (``reconciler.service.schedule``);
* ``POST /webhooks/kleanapp``: KleanApp's webhooks. ``invoice.saved`` exports
  that invoice; ``customer.saved``, ``customer.archived`` and ``unit.saved``
  ask for a sync run "soon" (debounced: a burst of edits makes one run);
* the invoice poll every ``[schedule] invoice_poll_minutes``: the exporter's
  ``--since-last`` run, for webhooks that never arrived;
* ``GET /healthz`` and ``GET /metrics`` (Prometheus).

Four modules, one ``Service`` object: this one holds its life cycle (start,
graceful stop) and the ``serve`` runner; ``reconciler.service.jobs`` the write
jobs (sync runs, debounce, invoice exports and poll, one at a time);
``reconciler.service.http`` the Starlette app (the receiver with its body cap,
streamed signature check, freshness window and dedupe, the webhook
registration, /healthz, /metrics); ``reconciler.service.inbox`` the durable
inbox that keeps every accepted event until it was acted on, across restarts.
They are mixed into ``Service``, so they share its state without handing it
around, and everything stays importable from here.

Stopping (SIGTERM/SIGINT): the receiver stops accepting, the scheduler stops
firing, a sync run finishes the pair of writes in flight (journaled) and
applies nothing more (``reconciler.sync.apply.STOP``), an export in flight is
finished; then the process exits 0. The next start resumes: the sync's
cursors were not advanced past what was not applied. A second signal stops
at once; the journal settles whatever was in flight on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from loguru import logger

from reconciler.connectors import from_config
from reconciler.domain.errors import ConfigError
from reconciler.log import register_secret
from reconciler.service.http import EVENTS, RECEIVER_PATH, RECONCILE_EVENTS, ServiceHttp
from reconciler.service.inbox import ServiceInbox
from reconciler.service.jobs import (
    COMPLETED,
    INVOICE_CURSOR,
    POLL_START_SLACK,
    ServiceJobs,
    export_invoice,
    export_since_last_poll,
)
from reconciler.service.metrics import Metrics
from reconciler.service.schedule import (
    SYNC_JOB,
    build_scheduler,
    catch_up_from,
    cron_trigger,
    poll_seconds,
)
from reconciler.service.webhooks import MAX_BODY_BYTES
from state import Store
from state.inbox_tables import Inbox
from state.service_tables import DeliveryLog

__all__ = [
    "COMPLETED",
    "EVENTS",
    "INVOICE_CURSOR",
    "POLL_START_SLACK",
    "RECEIVER_PATH",
    "RECONCILE_EVENTS",
    "Service",
    "ServiceSettings",
    "export_invoice",
    "export_since_last_poll",
    "serve",
]


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
    #: A scheduled run that finds another run in progress tries again this much later,
    #: up to ``lock_retries`` times, so a long hand-started run does not cost the night.
    lock_retry_seconds: float = 600.0
    lock_retries: int = 6
    #: The freshness window of webhook events (``occurred_at``); see ``service.webhooks``.
    max_event_age_seconds: float = 3600.0
    max_clock_skew_seconds: float = 300.0
    #: Pending inbox events (their sync could not start) are dispatched again this often.
    inbox_retry_seconds: float = 60.0
    #: The largest webhook body read (bytes); larger ones are refused with 413.
    max_body_bytes: int = MAX_BODY_BYTES

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
            max_event_age_seconds=float(
                getattr(hooks, "max_event_age_seconds", cls.max_event_age_seconds)
            ),
            max_clock_skew_seconds=float(
                getattr(hooks, "max_clock_skew_seconds", cls.max_clock_skew_seconds)
            ),
            inbox_retry_seconds=float(
                getattr(hooks, "inbox_retry_seconds", cls.inbox_retry_seconds)
            ),
        )

    @property
    def receiver_url(self) -> str | None:
        return self.public_url + RECEIVER_PATH if self.public_url else None


class Service(ServiceInbox, ServiceJobs, ServiceHttp):
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
        new_store: bool = False,
    ) -> None:
        self.config = config
        self.settings = settings or ServiceSettings.from_config(config)
        self._owns_store = store is None
        self.store = store or Store(config.state.url, new_store=new_store)
        self._owns_connectors = connectors is None
        if connectors is None:
            kleanapp, sevdesk = from_config(config)
            connectors = {"kleanapp": kleanapp, "sevdesk": sevdesk}
        self.connectors = connectors
        self.deliveries = DeliveryLog(self.store)
        self.inbox = Inbox(self.store)
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
        self.app = self._build_app()

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
            # Last: its first round dispatches what a killed predecessor acknowledged.
            asyncio.create_task(self._inbox_worker(), name="kleansync-inbox"),
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
