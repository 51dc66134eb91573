"""One ``kleansync worker`` process: procrastinate's worker plus the fleet's housekeeping.

Stopping (SIGTERM/SIGINT): the worker takes no new job; a sync in flight finishes the
pair of writes it is on and applies nothing more (``reconciler.sync.apply.STOP``), then
defers its tenant's sync again so another worker carries on from the journal; an export
in flight is finished; then the process exits 0. A second signal stops at once, exactly
like a kill: the journal settles whatever was in flight when the job runs again.

Stalled jobs (a worker killed, its machine gone): procrastinate marks a job ``doing``
with the id of the worker running it, and each worker renews its row's heartbeat every
``heartbeat_seconds``. A job whose worker's heartbeat is older than
``stalled_after_seconds`` is *stalled*; procrastinate only finds them
(``job_manager.get_stalled_jobs``) and leaves it to the application to retry them. Here
every worker does so from a loop of its own, every ``stalled_check_seconds`` — not from a
periodic *job*, as procrastinate's how-to suggests: such a job with a ``lock`` stalls
with its worker like any other, and then nothing retries stalled jobs any more, itself
included (procrastinate issue #1408). Retrying a stalled job puts it back to ``todo``;
when an equal job (same ``queueing_lock``) already waits, that update violates the
queueing lock's unique index (procrastinate issues #1543, #1446) and the stalled job is
instead finished as failed: the waiting job does the same work, from the journal.
The retried job runs on any worker; the sync's run lock (its holder's pid is gone) is
taken over at once on the same host, after ``[state] lock_timeout_seconds`` elsewhere,
and the run first settles the journal rows the killed one left pending
(``reconciler.sync.recovery``): nothing is lost and nothing is written twice.

Why a heartbeat thread (``WorkerHeartbeat``): procrastinate renews the worker's heartbeat
from the event loop, and the engine keeps the loop busy for seconds at a time (the state
store is synchronous, planning is CPU-bound). A live worker then looks stalled, its job is
handed to a second worker while the first still runs it (the run lock stops the second
before it writes: the first test run of the fleet showed exactly that), and both then
fail to record the job's end. The sync's run lock has the same problem and the same
cure (``reconciler.sync.fence.Heartbeat``): the worker's row is renewed from a thread of
its own, over its own connection, so only a process that is gone or frozen looks
stalled. ``stalled_after_seconds`` still defaults to two minutes, not procrastinate's
30 s: a database that stalls for a while must not hand every running job out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import procrastinate
import psycopg
from loguru import logger
from procrastinate import exceptions, jobs
from procrastinate.worker import Worker

from reconciler.fleet.app import conninfo
from reconciler.fleet.context import Fleet


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 4
    #: None: every queue (reconciler.fleet.jobs.QUEUES).
    queues: tuple[str, ...] | None = None
    name: str | None = None
    heartbeat_seconds: float = 10.0
    stalled_after_seconds: float = 120.0
    stalled_check_seconds: float = 30.0
    #: How often the worker looks for new jobs when no notification came (LISTEN/NOTIFY).
    poll_seconds: float = 5.0


class _ToLoguru(logging.Handler):
    """procrastinate logs through ``logging``; its lines join kleansync's (masked) log."""

    def emit(self, record: logging.LogRecord) -> None:
        level = (
            record.levelname
            if record.levelname in ("DEBUG", "INFO", "WARNING", "ERROR")
            else "ERROR"
        )
        logger.opt(exception=record.exc_info).log(level, "procrastinate: {}", record.getMessage())


def route_procrastinate_logs(level: int = logging.INFO) -> None:
    """procrastinate's job starts and ends, warnings and errors, in the worker's log."""
    log = logging.getLogger("procrastinate")
    if not any(isinstance(h, _ToLoguru) for h in log.handlers):
        log.addHandler(_ToLoguru())
    log.setLevel(level)
    log.propagate = False


class WorkerHeartbeat(threading.Thread):
    """Renews procrastinate's heartbeat of one worker from its own thread and connection."""

    def __init__(self, url: str, worker_id: int, interval: float) -> None:
        super().__init__(name=f"kleansync-worker-heartbeat-{worker_id}", daemon=True)
        self.url, self.worker_id, self.interval = url, worker_id, interval
        self._halt = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection[object] | None = None
        while not self._halt.wait(self.interval):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(conninfo(self.url), autocommit=True)
                conn.execute("SELECT procrastinate_update_heartbeat_v1(%s)", (self.worker_id,))
            except psycopg.Error as exc:  # the database away for a moment: beat again next time
                logger.warning("the worker's heartbeat failed ({})", type(exc).__name__)
                conn = None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)


async def retry_stalled(app: procrastinate.App, stalled_after: float) -> list[int]:
    """Put every stalled job back to ``todo`` (or fail it if an equal one waits); their ids."""
    manager = app.job_manager
    retried: list[int] = []
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        assert job.id is not None
        try:
            await manager.retry_job(job)
            retried.append(job.id)
            logger.warning(
                "job {} ({}) stalled: its worker is gone; it runs again", job.id, job.task_name
            )
        except exceptions.UniqueViolation:
            # An equal job waits already (issue #1543): it does this work.
            with contextlib.suppress(exceptions.ConnectorException):
                await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)
            logger.warning(
                "job {} ({}) stalled; an equal job waits, which covers it", job.id, job.task_name
            )
        except exceptions.ConnectorException as exc:  # another worker retried it first
            logger.debug("stalled job {} not retried here: {}", job.id, exc)
    return retried


async def _sweep(app: procrastinate.App, settings: WorkerSettings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await retry_stalled(app, settings.stalled_after_seconds)
        except Exception as exc:  # noqa: BLE001 - the database may be away for a moment
            logger.warning("could not look for stalled jobs: {}", exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.stalled_check_seconds)


async def run_worker(
    fleet: Fleet,
    app: procrastinate.App,
    settings: WorkerSettings,
    *,
    handle_signals: bool = True,
    on_ready: Callable[[Worker], None] | None = None,
) -> int:
    """Run one worker until SIGTERM/SIGINT (or ``fleet.stop``); its exit code."""
    queues: Iterable[str] | None = settings.queues
    route_procrastinate_logs()
    async with app.open_async():
        worker = Worker(
            app,
            queues=queues,
            name=settings.name or f"kleansync-{os.getpid()}",
            concurrency=settings.concurrency,
            fetch_job_polling_interval=settings.poll_seconds,
            install_signal_handlers=False,
            update_heartbeat_interval=settings.heartbeat_seconds,
            stalled_worker_timeout=settings.stalled_after_seconds,
            additional_context={"fleet": fleet},
        )
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                logger.info("stopping: finishing the jobs in flight")
                fleet.stop.set()
                worker.stop()
            else:
                logger.warning(
                    "second signal: stopping now; the journal settles what was in flight"
                )
                os._exit(130)

        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal)
        sweeper = asyncio.create_task(_sweep(app, settings, fleet.stop), name="kleansync-stalled")
        watcher = asyncio.create_task(_stop_when(fleet.stop, worker), name="kleansync-stop")
        beat: WorkerHeartbeat | None = None
        try:
            run = asyncio.create_task(worker.run(), name="kleansync-worker")
            while worker.worker_id is None and not run.done():
                await asyncio.sleep(0.01)
            if worker.worker_id is not None:
                beat = WorkerHeartbeat(
                    fleet.config.state.url, worker.worker_id, settings.heartbeat_seconds
                )
                beat.start()
            if on_ready is not None and not run.done():
                on_ready(worker)
            await run
        finally:
            if beat is not None:
                beat.stop()
            fleet.stop.set()
            for task in (sweeper, watcher):
                task.cancel()
            await asyncio.gather(sweeper, watcher, return_exceptions=True)
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
    logger.info("kleansync worker stopped")
    return 0


async def _stop_when(stop: asyncio.Event, worker: Worker) -> None:
    await stop.wait()
    worker.stop()
