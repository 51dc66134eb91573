"""``kleansync serve``: the always-on service.

One process that keeps both systems in agreement without anyone starting it:

* the nightly sync on ``[schedule] cron`` (``reconciler.service.schedule``);
* ``POST /webhooks/kleanapp``: KleanApp's webhooks. ``invoice.saved`` exports
  that invoice; ``customer.saved``, ``customer.archived`` and ``unit.saved``
  ask for a sync run "soon" (debounced: a burst of edits makes one run);
* the invoice poll every ``[schedule] invoice_poll_minutes``: the exporter's
  ``--since-last`` run, for webhooks that never arrived;
* ``GET /healthz`` and ``GET /metrics`` (Prometheus).

``Service`` is made of parts, each built here and handed what it uses:
``jobs`` (``reconciler.service.jobs``: the write jobs, one at a time, and the
work in flight), ``inbox_worker`` and the jobs' ``InboxSettlement``
(``reconciler.service.inbox``: the durable inbox that keeps every accepted
event until it was acted on, across restarts), ``registration``
(``reconciler.service.registration``: the receiver registered with KleanApp),
``health`` (``reconciler.service.health``) and ``http``
(``reconciler.service.http``: the Starlette ``app``). This module holds the
life cycle (start, graceful stop) and the ``serve`` runner.

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
import signal
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import cast

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from loguru import logger

from reconciler.config import Config
from reconciler.connectors import from_config
from reconciler.connectors.base import Connector
from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import _
from reconciler.domain.models import Side
from reconciler.service.health import Health
from reconciler.service.http import ServiceHttp
from reconciler.service.inbox import InboxSettlement, InboxWorker
from reconciler.service.jobs import Jobs
from reconciler.service.metrics import Metrics
from reconciler.service.registration import WebhookApi, WebhookRegistration
from reconciler.service.schedule import (
    SYNC_JOB,
    build_scheduler,
    catch_up_from,
    cron_trigger,
    poll_seconds,
)
from reconciler.service.settings import ServiceSettings
from reconciler.service.webhooks import RECEIVER_PATH
from state import Store
from state.inbox_tables import Inbox
from state.service_tables import DeliveryLog

__all__ = ["Service", "ServiceSettings", "serve"]


class Service:
    """The scheduler, the webhook receiver and the workers behind them, on one store.

    ``connectors``/``store`` default to ones opened from ``config`` (and are
    then closed by ``stop``); tests pass their own.
    """

    def __init__(
        self,
        config: Config,
        *,
        settings: ServiceSettings | None = None,
        connectors: dict[Side, Connector] | None = None,
        store: Store | None = None,
        new_store: bool = False,
    ) -> None:
        self.config = config
        self.settings = settings = settings or ServiceSettings.from_config(config)
        self._owns_store = store is None
        self.store = store = store or Store(
            config.state.url, new_store=new_store, pool=config.state.pool
        )
        self._owns_connectors = connectors is None
        if connectors is None:
            kleanapp, sevdesk = from_config(config)
            connectors = {"kleanapp": kleanapp, "sevdesk": sevdesk}
        self.connectors = connectors
        self.deliveries = DeliveryLog(store)
        self.inbox = Inbox(store)
        self.metrics = Metrics(
            api_stats=lambda: _api_stats(self.connectors),
            open_conflicts=lambda: len(self.store.open_conflicts()),
        )
        self.trigger = cron_trigger(config.schedule.cron, config.schedule.timezone)
        #: Set once a graceful stop began; every part checks it before new work.
        self.stop_event = asyncio.Event()
        # KleanApp's connector is the one with webhook receivers (KleanappConnector).
        kleanapp_hooks = cast(WebhookApi, connectors["kleanapp"])
        self.registration = WebhookRegistration(settings, kleanapp_hooks)
        self.jobs = Jobs(
            config,
            settings,
            store=store,
            connectors=connectors,
            metrics=self.metrics,
            stop=self.stop_event,
            settle=InboxSettlement(self.inbox),
            registration=self.registration,
            deliveries=self.deliveries,
            inbox=self.inbox,
        )
        self.inbox_worker = InboxWorker(self.inbox, settings, self.stop_event, self.jobs)
        self.started_at = dt.datetime.now(dt.UTC)
        self.health = Health(
            settings,
            store=store,
            inbox=self.inbox,
            registration=self.registration,
            trigger=self.trigger,
            started_at=self.started_at,
        )
        self.http = ServiceHttp(
            settings,
            inbox=self.inbox,
            jobs=self.jobs,
            health=self.health,
            metrics=self.metrics,
            stop=self.stop_event,
        )
        self.app = self.http.app
        #: The port the HTTP side listens on, once ``serve`` bound it.
        self.port: int | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._stopped = False
        self._workers: list[asyncio.Task[None]] = []

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Start the workers and the scheduler (catching up a missed nightly run)."""
        jobs = self.jobs
        jobs.init_invoice_cursor()
        jobs.refresh_last_success()
        now = dt.datetime.now(dt.UTC)
        last = jobs.last_run()
        catch_up = catch_up_from(self.trigger, last.started_at if last else None, now)
        if catch_up is not None:
            logger.info("the sync due at {} was missed; running it now", catch_up)
        self.scheduler = build_scheduler(
            self.config,
            sync_job=jobs.scheduled_sync,
            poll_job=jobs.poll,
            catch_up=catch_up,
            poll_interval_seconds=self.settings.poll_interval_seconds,
        )
        self._workers = [
            asyncio.create_task(jobs.export_worker(), name="kleansync-exports"),
            asyncio.create_task(jobs.reconcile_worker(), name="kleansync-reconcile"),
            # Last: its first round dispatches what a killed predecessor acknowledged.
            asyncio.create_task(self.inbox_worker.run(), name="kleansync-inbox"),
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
        self.jobs.wake()  # so the debounce worker can leave

    async def stop(self) -> None:
        """Stop gracefully: let the write in flight finish, then close everything."""
        self.request_stop()
        if self._stopped:
            return
        self._stopped = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # no new fire times; jobs already waiting return at once
        await self.jobs.finish()
        await asyncio.sleep(0)  # let the job coroutines see their (shielded) work finish
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self.jobs.cancel_waiters()
        if self._owns_connectors:
            for connector in self.connectors.values():
                await connector.aclose()
        if self._owns_store:
            self.store.close()

    def abort(self) -> None:
        """Stop now (second signal): cancel the work in flight; the journal settles it later."""
        self.jobs.abort()


def _api_stats(connectors: Mapping[Side, Connector]) -> dict[str, Mapping[str, int]]:
    """Each connector's HTTP request counters, for /metrics."""
    out: dict[str, Mapping[str, int]] = {}
    for side, connector in connectors.items():
        http = getattr(connector, "http", None)
        if http is not None:
            out[side] = http.stats
    return out


# -- the runner -------------------------------------------------------------------------------
async def serve(
    config: Config,
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
    sock = listening_socket(settings)
    service.port = sock.getsockname()[1]
    server = QuietServer(
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
            raise ConfigError(_("the HTTP server did not start"))
        logger.info(
            "kleansync serve: listening on http://{}:{} (webhooks at {})",
            settings.listen_host,
            service.port,
            RECEIVER_PATH,
        )
        await service.registration.ensure()
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


def listening_socket(settings: ServiceSettings) -> socket.socket:
    """A socket bound to ``[webhooks] listen_host:listen_port``; ConfigError naming them."""
    sock = socket.socket(socket.AF_INET6 if ":" in settings.listen_host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.listen_host, settings.listen_port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            _(
                "cannot listen on %(address)s ([webhooks] listen_host/listen_port): %(cause)s",
                address=f"{settings.listen_host}:{settings.listen_port}",
                cause=exc.strerror,
            )
        ) from None
    return sock


class QuietServer(uvicorn.Server):
    """uvicorn's Server without its own signal handlers (ours decide how to stop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
