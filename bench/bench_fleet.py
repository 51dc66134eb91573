"""Benchmark: a fleet of tenants on one PostgreSQL, synced by W worker processes (issue 20).

Prints figures; asserts nothing about time (speed is measured, not tested).

* **One emulator host process** serves every tenant's pair of sandbox emulators
  (``PrefixHost``): ``/t/{tenant}/kleanapp/…`` and ``/t/{tenant}/sevdesk/…`` reach that
  tenant's own KleanApp and sevDesk, each with its own token and ``--customers``
  customers (``sandbox.seed``: the same customers typed differently on each side). Why a
  dispatcher of our own and not Starlette's ``Mount``: the sandbox apps route on
  ``scope["path"]``, which Starlette 1.x leaves whole under a mount (it only sets
  ``root_path``), so the host strips the prefix itself.
* **The fleet database**: ``--pg-url`` (an admin URL; a database per worker count is made
  on it) or, without one, a private cluster started with ``.ci/postgres.sh``. Every tenant
  is registered (``state.tenant_tables``) with the host's URLs; its tokens are files of a
  temporary secrets directory, named by the row, never in the database.
* **The workers**: ``worker_command`` is the one place that knows how a worker is started
  (``kleansync worker``, fleetw's), ``FleetJobs`` the one place that defers its jobs.
* Per worker count (``--workers 1,2,4``): one nightly wave (a sync deferred for every
  tenant; the wave ends when every tenant has a finished run), then a stream of on-save
  invoices (``--onsave`` across the other tenants at ``--onsave-rate``/s) while the first
  tenant runs a backfill of ``--backfill`` invoices.
* Printed: wave duration, jobs/s, on-save export lag p50/p99 during the backfill (saved in
  KleanApp → created in sevDesk, stamped by the host), lock violations (overlapping runs of
  one tenant, from each tenant's run rows), duplicate exports (two sevDesk invoices with one
  ``kleanapp:<id>`` note), and the wave time per worker count with what it predicts.

    .venv/bin/python bench/bench_fleet.py [--tenants 200] [--customers 300] [--workers 1,2,4]
        [--pg-url postgresql+psycopg://…] [--host-only]

``--host-only`` runs the parts that need no worker: the host, the seeding, the registry,
and the measurement on what the database and the emulators hold. Output goes to stdout
and to ``--out`` (default /work/wt/bench20-out/).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVICES = ("kleanapp", "sevdesk")
API = "/api/v1"


# -- the emulator host ----------------------------------------------------------------------
def tenant_names(n: int) -> list[str]:
    return [f"t{i:04d}" for i in range(1, n + 1)]


def token(tenant: str, service: str) -> str:
    """A tenant's token at a service: distinct per pair, so a mixed-up URL is refused (401)."""
    return (
        f"bench-{service}-{tenant}-"
        + hashlib.sha256(f"{tenant}{service}".encode()).hexdigest()[:16]
    )


class PrefixHost:
    """One ASGI app for every tenant's emulators: ``/t/{tenant}/{service}/rest`` → that app.

    ``/_host/report`` answers, per tenant, the sevDesk invoices (``kleanapp:<id>`` notes)
    with the wall time each was first seen after a ``saveInvoice`` (the export's lag end).
    """

    def __init__(self, tenants: list[str], customers: int) -> None:
        from sandbox import kleanapp, sevdesk

        self.customers = customers
        self.apps: dict[tuple[str, str], Any] = {}
        for name in tenants:
            self.apps[name, "kleanapp"] = kleanapp.create_app(
                token(name, "kleanapp"), rate_limit_rps=10
            )
            self.apps[name, "sevdesk"] = sevdesk.create_app(token(name, "sevdesk"))
        self.tenants = tenants
        self.created: dict[str, dict[str, float]] = {name: {} for name in tenants}

    async def seed(self) -> dict[str, int]:
        """Every tenant's customers on both sides (the same data set, distinct per tenant)."""
        from sandbox.seed import cleaning_company

        for i, name in enumerate(self.tenants):
            data = cleaning_company(shared=self.customers, kleanapp_only=0, sevdesk_only=0, seed=i)
            await self.apps[name, "kleanapp"].load({"customers": data.kleanapp, "webhooks": False})
            await self.apps[name, "sevdesk"].load({"contacts": data.sevdesk})
            self.created[name] = {}
        return {"tenants": len(self.tenants), "customers_per_side": self.customers}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        parts = scope["path"].split("/", 4)  # "", "t", tenant, service, rest
        if scope["path"] == "/_host/report":
            await self._json(send, self.report())
            return
        if scope["path"] == "/_host/reset" and scope["method"] == "POST":
            for app in self.apps.values():
                app.reset()
            await self._json(send, await self.seed())
            return
        app = self.apps.get((parts[2], parts[3])) if len(parts) >= 4 and parts[1] == "t" else None
        if app is None:
            await self._json(send, {"error": "no such tenant or service"}, 404)
            return
        inner = dict(scope, path="/" + (parts[4] if len(parts) > 4 else ""))
        inner["raw_path"] = inner["path"].encode()
        await app(inner, receive, send)
        if parts[3] == "sevdesk" and inner["path"].endswith("Invoice/Factory/saveInvoice"):
            seen, now = self.created[parts[2]], time.time()
            for invoice in app.store.invoices.values():
                note = invoice.get("customerInternalNote") or ""
                seen.setdefault(f"{note}#{invoice['id']}", now)

    def report(self) -> dict[str, Any]:
        return {name: self.created[name] for name in self.tenants}

    @staticmethod
    async def _json(send: Any, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def serve_host(port: int, tenants: int, customers: int) -> None:
    """The host process: seed every tenant, then serve until SIGTERM."""
    import asyncio

    import uvicorn

    host = PrefixHost(tenant_names(tenants), customers)
    asyncio.run(host.seed())
    config = uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    uvicorn.Server(config).run()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes ``pids`` used so far (Linux ``/proc``).

    Why: the machine is shared (CI, other work), so a wave's wall time says how long it
    took *here, now*; the CPU seconds its processes used say how much work it was, which
    is what a prediction for more cores needs.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


#: The emulator host's process id (its CPU time is measured with the workers').
HOST: dict[str, int] = {}


@contextlib.contextmanager
def hosted(tenants: int, customers: int, timeout: float = 600) -> Iterator[str]:
    """The host in a process of its own; its base URL once it answers."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--_host", str(port), str(tenants), str(customers)]
    )
    base = f"http://127.0.0.1:{port}"
    HOST["pid"] = child.pid
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/_host/report", timeout=5).status_code == 200:
                    break
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulator host did not start")
            time.sleep(0.3)
        yield base
    finally:
        child.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(30)
        if child.poll() is None:
            child.kill()


def service_url(base: str, tenant: str, service: str) -> str:
    return f"{base}/t/{tenant}/{service}{API}"


# -- the fleet database and its registry -----------------------------------------------------
def register(fleet_url: str, tenants: list[str], base: str, secrets: Path) -> None:
    """Every tenant in the registry; its tokens as files of ``secrets`` (named by the row)."""
    from state import Store
    from state.tenant_tables import Tenant, Tenants

    store = Store(fleet_url)
    try:
        registry = Tenants(store)
        for name in tenants:
            row = Tenant(
                name=name,
                kleanapp_base_url=service_url(base, name, "kleanapp"),
                sevdesk_base_url=service_url(base, name, "sevdesk"),
                kleanapp_token_env=f"KLEANAPP_TOKEN_{name.upper()}",
                sevdesk_token_env=f"SEVDESK_TOKEN_{name.upper()}",
                rules={},
                schedule={},
            )
            registry.add(row)
            for env, service in (
                (row.kleanapp_token_env, "kleanapp"),
                (row.sevdesk_token_env, "sevdesk"),
            ):
                (secrets / env).write_text(token(name, service), encoding="utf-8")
            Store.sharing(store, name)  # the tenant's schema, made before the clock starts
    finally:
        store.close()


@contextlib.contextmanager
def database(pg_url: str | None, scratch: Path, label: str) -> Iterator[str]:
    """A fresh database for one measurement (on ``pg_url``'s server, or a private cluster)."""
    import psycopg
    from sqlalchemy import make_url

    cluster = None
    if not pg_url:
        cluster = scratch / "pg"
        pg_url = (
            subprocess.run(
                ["bash", str(ROOT / ".ci/postgres.sh"), "start", str(cluster)],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    admin = make_url(pg_url)
    plain = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bench_fleet_{label}_{os.getpid()}"
    try:
        with psycopg.connect(plain, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{name}"')
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(plain, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if cluster is not None:
            subprocess.run(
                ["bash", str(ROOT / ".ci/postgres.sh"), "stop", str(cluster)], check=False
            )


def fleet_config(path: Path, fleet_url: str) -> Path:
    """The workers' config: the fleet's database and pacing (each tenant's rest is its row).

    The pace per token: KleanApp's emulator allows 10 requests/s per token (9 stays under
    it, as a real installation keeps under KleanApp's limit); sevDesk publishes none, 20/s
    is a careful pace. Every tenant has its own tokens, so each has its own budget, shared
    by every worker that runs one of its jobs (``state.rate_bucket``).
    """
    path.write_text(
        f'[state]\nurl = "{fleet_url}"\n\n'
        '[kleanapp]\nbase_url = "http://127.0.0.1:9/api/v1"\nrequests_per_second = 9\n\n'
        "[sevdesk]\nrequests_per_second = 20\n\n"
        '[report]\ndir = "' + str(path.parent / "reports") + '"\n',
        encoding="utf-8",
    )
    return path


# -- the workers (`kleansync worker`) ---------------------------------------------------------
def worker_command(config: Path, secrets: Path, *, schedule: bool, concurrency: int) -> list[str]:
    """How one worker process is started: the one place that knows the worker's command line.

    Only the first worker fires schedules (the tick; a fleet needs one, more are
    harmless), the others run ``--no-schedule``: the wave is deferred by the benchmark
    itself, as the tick would at 02:00, so its start is known to the millisecond.
    ``--poll-seconds 1``: a worker notified by LISTEN/NOTIFY starts a job at once anyway;
    polling only covers a missed notification.
    """
    command = [
        sys.executable,
        "-m",
        "reconciler.cli",
        "worker",
        "--config",
        str(config),
        "--secrets-dir",
        str(secrets),
        "--concurrency",
        str(concurrency),
        "--poll-seconds",
        "1",
    ]
    return command if schedule else [*command, "--no-schedule"]


def live_workers(fleet_url: str) -> int:
    """Workers registered in procrastinate's table (started and heartbeating)."""
    import psycopg

    from reconciler.fleet.app import conninfo

    with psycopg.connect(conninfo(fleet_url)) as conn:
        row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        return int(row[0]) if row else 0


@contextlib.contextmanager
def workers(
    n: int, fleet_url: str, config: Path, secrets: Path, logs: Path, concurrency: int
) -> Iterator[list[subprocess.Popen]]:
    """``n`` worker processes, once all of them are registered (a cold start takes seconds)."""
    procs = []
    try:
        for i in range(n):
            log = (logs / f"worker-{n}-{i}.log").open("w")
            command = worker_command(config, secrets, schedule=i == 0, concurrency=concurrency)
            procs.append(subprocess.Popen(command, stdout=log, stderr=log))
        started = wait_for(
            lambda: live_workers(fleet_url) >= n or any(p.poll() is not None for p in procs),
            300,
            step=0.3,
        )
        if not started or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"the {n} workers did not start (see {logs}/worker-{n}-*.log)")
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class FleetJobs:
    """Defers the fleet's jobs (``reconciler.fleet.jobs``): the one place that knows them.

    The defer functions are coroutines on an opened procrastinate ``App``; the benchmark's
    driver is synchronous (it paces the on-save stream with ``time.sleep``), so one event
    loop runs in a thread of its own for the whole measurement and holds the one ``App``
    (its connection pool) open; each call waits for its defer to be committed.
    """

    def __init__(self, fleet_url: str) -> None:
        import asyncio
        import threading

        from reconciler.fleet import jobs
        from reconciler.fleet.app import make_app

        self.jobs = jobs
        self.app = make_app(fleet_url, tasks=False)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._opened: Any = None

    def __enter__(self) -> FleetJobs:
        self.thread.start()
        self._opened = self.app.open_async()
        self._call(self._opened.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call(self._opened.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def _call(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def sync(self, tenant: str) -> int | None:
        return self._call(self.jobs.defer_sync(self.app, tenant, trigger="schedule"))

    def export(self, tenant: str, invoice_id: str) -> int | None:
        """The on-save path: what a drained ``invoice.saved`` event defers."""
        return self._call(self.jobs.defer_invoice_export(self.app, tenant, invoice_id))

    def backfill(self, tenant: str, date_from: Any, date_to: Any) -> int | None:
        return self._call(self.jobs.defer_backfill(self.app, tenant, date_from, date_to))


# -- measurement -----------------------------------------------------------------------------
def overlaps(spans: list[tuple[float, float]]) -> int:
    """How many runs started before the run before them had finished (one tenant's)."""
    spans = sorted(spans)
    count, latest_end = 0, float("-inf")
    for start, end in spans:
        if start < latest_end:
            count += 1
        latest_end = max(latest_end, end)
    return count


def run_spans(
    fleet_url: str, tenants: list[str], outcomes: dict[str, int] | None = None
) -> dict[str, list[tuple[float, float]]]:
    """Each tenant's runs (start, end): its syncs and its invoice runs (an open one: now).

    Both kinds, because the tenant lock must keep a sync and an export of one tenant
    apart as well as two syncs. ``outcomes`` (if given) counts the syncs' outcomes.
    """
    from state import Store
    from state.invoice_tables import InvoiceLedger

    store = Store(fleet_url)
    try:
        spans: dict[str, list[tuple[float, float]]] = {}
        now = time.time()
        for name in tenants:
            tenant = Store.sharing(store, name)
            runs = tenant.runs(limit=100_000)
            if outcomes is not None:
                for r in runs:
                    outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
            both = [*runs, *InvoiceLedger(tenant).runs(limit=100_000)]
            spans[name] = [
                (r.started_at.timestamp(), r.finished_at.timestamp() if r.finished_at else now)
                for r in both
            ]
        return spans
    finally:
        store.close()


def sync_ends(fleet_url: str, tenants: list[str], since: float) -> int:
    """Tenants with a sync started at or after ``since`` that has finished."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from state import Store
    from state.tables import Run

    store = Store(fleet_url)
    try:
        done = 0
        since_dt = _utc(since)
        for name in tenants:
            with Store.sharing(store, name).session() as s:
                query = select(func.count()).where(
                    col(Run.started_at) >= since_dt, col(Run.finished_at).is_not(None)
                )
                done += 1 if s.exec(query).one() else 0
        return done
    finally:
        store.close()


def jobs_open(fleet_url: str, ids: list[int | None]) -> int:
    """How many of the jobs ``ids`` still wait or run (procrastinate's job table)."""
    import psycopg

    from reconciler.fleet.app import conninfo

    wanted = [i for i in ids if i is not None]
    with psycopg.connect(conninfo(fleet_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE id = ANY(%s)"
            " AND status IN ('todo', 'doing')",
            (wanted,),
        ).fetchone()
        return int(row[0]) if row else 0


def _utc(at: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(at, dt.UTC)  # the store takes aware times only


def duplicates(report: dict[str, dict[str, float]]) -> int:
    """sevDesk invoices beyond the first for one ``kleanapp:<id>`` note (must be 0)."""
    extra = 0
    for seen in report.values():
        notes = [key.rpartition("#")[0] for key in seen]
        extra += len(notes) - len(set(notes))
    return extra


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def lags(saved: dict[tuple[str, str], float], report: dict[str, dict[str, float]]) -> list[float]:
    """Seconds from saving in KleanApp to the sevDesk invoice, per on-save invoice exported."""
    out = []
    for (tenant, invoice_id), at in saved.items():
        for key, created in report.get(tenant, {}).items():
            if key.startswith(f"kleanapp:{invoice_id}#"):
                out.append(created - at)
                break
    return out


def amdahl(times: dict[int, float]) -> str:
    """What the wave times predict for more cores (Amdahl's law fitted to 1 and 2 workers)."""
    if 1 not in times or 2 not in times or times[2] <= 0:
        return "(needs the wave with 1 and 2 workers)"
    speedup = times[1] / times[2]
    serial = min(1.0, max(0.0, 2 / speedup - 1))
    ahead = ", ".join(
        f"{c} Kerne ≈ {times[1] * (serial + (1 - serial) / c):.1f} s" for c in (4, 8, 16)
    )
    return (
        f"Beschleunigung 1→2 Worker ×{speedup:.2f} (serieller Anteil {serial:.0%}); "
        f"mit je einem Worker pro Kern sagt das voraus: {ahead} (solange PostgreSQL und "
        f"die Dienste nicht der Engpass sind)"
    )


def cpu_bound(rows: list[dict[str, Any]], tenants: int) -> str:
    """The other prediction: the wave's CPU seconds (workers + emulator host) spread on K cores.

    A lower bound for a wave that is CPU-bound (PostgreSQL's own CPU not counted; the
    services' pacing per token is a floor of its own, see the wall times per worker).
    """
    measured = [r for r in rows if r.get("wave_cpu_workers_s") is not None]
    if not measured:
        return "(keine CPU-Zeiten gemessen)"
    r = max(measured, key=lambda row: row["workers"])
    cpu = r["wave_cpu_workers_s"] + r["wave_cpu_host_s"]
    ahead = ", ".join(f"{c} Kerne ≥ {cpu / c:.0f} s" for c in (2, 4, 8, 16))
    return (
        f"CPU der Welle ({r['workers']} Worker): {r['wave_cpu_workers_s']:.0f} s Worker + "
        f"{r['wave_cpu_host_s']:.0f} s Emulator-Host = {cpu / tenants:.2f} CPU-s je Mandant; "
        f"rechengebunden hieße das: {ahead}"
    )


# -- one measurement per worker count --------------------------------------------------------
def wait_for(check: Any, timeout: float, step: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return False


def measure(args: argparse.Namespace, base: str, n_workers: int, scratch: Path, out: Path) -> dict:
    import random

    names = tenant_names(args.tenants)
    httpx.post(base + "/_host/reset", timeout=600).raise_for_status()
    row: dict[str, Any] = {"workers": n_workers}
    with database(args.pg_url, scratch, f"w{n_workers}") as fleet_url:
        secrets = scratch / f"secrets-{n_workers}"
        secrets.mkdir(exist_ok=True)
        register(fleet_url, names, base, secrets)
        from reconciler.fleet.app import apply_schema

        apply_schema(fleet_url)  # the job queue's tables, before any worker or defer
        config = fleet_config(scratch / f"fleet-{n_workers}.toml", fleet_url)
        if args.host_only:
            report = httpx.get(base + "/_host/report", timeout=60).json()
            spans = run_spans(fleet_url, names)
            row.update(
                lock_violations=sum(overlaps(s) for s in spans.values()),
                duplicate_exports=duplicates(report),
                registered=len(names),
            )
            return row
        with (
            workers(n_workers, fleet_url, config, secrets, out, args.concurrency) as procs,
            FleetJobs(fleet_url) as jobs,
        ):
            # The nightly wave: one sync per tenant, as the tick defers them at 02:00.
            pids = [p.pid for p in procs]
            cpu0, host0 = cpu_seconds(pids), cpu_seconds([HOST["pid"]])
            start = time.time()
            for name in names:
                jobs.sync(name)
            deferred = time.time() - start
            done = wait_for(
                lambda: sync_ends(fleet_url, names, start) == len(names), args.timeout, step=0.5
            )
            wave = time.time() - start
            outcomes: dict[str, int] = {}
            run_spans(fleet_url, names, outcomes)
            row.update(
                wave_s=round(wave, 2),
                wave_complete=done,
                wave_synced=f"{sync_ends(fleet_url, names, start)}/{len(names)}",
                wave_deferred_s=round(deferred, 2),
                jobs_per_s=round(len(names) / wave, 2),
                sync_outcomes=outcomes,
                wave_cpu_workers_s=round(cpu_seconds(pids) - cpu0, 1),
                wave_cpu_host_s=round(cpu_seconds([HOST["pid"]]) - host0, 1),
                load_avg_1min=round(os.getloadavg()[0], 2),
            )
            # The on-save stream while the first tenant backfills.
            big, others = names[0], names[1:] or names
            ka = f"{base}/t/{big}/kleanapp"
            invoices = [invoice_body(1) for _ in range(args.backfill)]
            httpx.post(
                ka + "/_sandbox/bulk", json={"invoices": invoices, "webhooks": False}, timeout=600
            ).raise_for_status()
            day = dt.date.fromisoformat(INVOICE_DATE)
            jobs.backfill(big, day, day)
            rng, saved, export_jobs = random.Random(n_workers), {}, []
            stream_start = time.time()
            for _ in range(args.onsave):
                tenant = rng.choice(others)
                answer = httpx.post(
                    f"{base}/t/{tenant}/kleanapp/_sandbox/invoices",
                    json=invoice_body(1),
                    timeout=60,
                )
                answer.raise_for_status()
                invoice_id = str(answer.json()["id"])
                saved[tenant, invoice_id] = time.time()
                export_jobs.append(jobs.export(tenant, invoice_id))
                time.sleep(1 / args.onsave_rate)
            # Until every on-save export job has ended: an export that met an error (the
            # emulator host overloaded) ends without its invoice, and must not hold the
            # measurement until --timeout; the exported count says how many arrived.
            wait_for(lambda: jobs_open(fleet_url, export_jobs) == 0, args.timeout)
            stream = time.time() - stream_start
            backfilled = len(httpx.get(base + "/_host/report", timeout=60).json()[big])
            row.update(
                onsave_window_s=round(stream, 1),
                backfill_exported_meanwhile=f"{backfilled}/{args.backfill}",
            )
        report = httpx.get(base + "/_host/report", timeout=60).json()
        measured = lags(saved, report)
        spans = run_spans(fleet_url, names)
        row.update(
            onsave_exported=f"{len(measured)}/{len(saved)}",
            lag_p50_s=percentile(measured, 50),
            lag_p99_s=percentile(measured, 99),
            lock_violations=sum(overlaps(s) for s in spans.values()),
            duplicate_exports=duplicates(report),
        )
    return row


INVOICE_DATE = "2026-11-30"


def invoice_body(customer_id: int) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "invoice_date": INVOICE_DATE,
        "status": "open",
        "positions": [
            {
                "product_name": "Unterhaltsreinigung",
                "quantity": 2.5,
                "unit_name": "Std",
                "unit_price_net": 33.33,
                "tax_rate": 19,
            }
        ],
    }


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--_host":
        serve_host(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--pg-url", default=os.environ.get("KLEANSYNC_TEST_PG_URL"))
    parser.add_argument("--onsave", type=int, default=100)
    parser.add_argument("--onsave-rate", type=float, default=5.0)
    parser.add_argument("--backfill", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--concurrency", type=int, default=4, help="jobs per worker at once")
    parser.add_argument("--host-only", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("/work/wt/bench20-out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        t0 = time.monotonic()
        with hosted(args.tenants, args.customers) as base:
            host_ready = time.monotonic() - t0
            print(
                f"Emulator-Host: {args.tenants} Mandanten × {args.customers} Kunden je Seite, "
                f"bereit nach {host_ready:.1f} s ({base})"
            )
            for n in counts:
                t1 = time.monotonic()
                rows.append(measure(args, base, n, Path(tmp), args.out))
                rows[-1]["measured_s"] = round(time.monotonic() - t1, 1)
                print(json.dumps(rows[-1], ensure_ascii=False))
    waves = {r["workers"]: r["wave_s"] for r in rows if "wave_s" in r}
    lines = [
        f"{'Worker':>6} {'Welle s':>8} {'Jobs/s':>7} {'Lag p50':>8} {'Lag p99':>8} "
        f"{'Lock-Verstöße':>13} {'Doppelte':>8} {'CPU-s W+H':>10} {'Last':>5}"
    ]
    for r in rows:
        lines.append(
            f"{r['workers']:>6} {r.get('wave_s', '–')!s:>8} {r.get('jobs_per_s', '–')!s:>7} "
            f"{_s(r.get('lag_p50_s')):>8} {_s(r.get('lag_p99_s')):>8} "
            f"{r.get('lock_violations')!s:>13} {r.get('duplicate_exports')!s:>8} "
            f"{_cpu(r):>10} {r.get('load_avg_1min', '–')!s:>5}"
        )
    lines.append(amdahl(waves) if waves else "(keine Welle gemessen: --host-only)")
    lines.append(cpu_bound(rows, args.tenants))
    text = "\n".join(lines)
    print(text)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (args.out / f"bench_fleet-{stamp}.txt").write_text(text + "\n", encoding="utf-8")
    (args.out / f"bench_fleet-{stamp}.json").write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "rows": rows,
                "host_ready_s": round(host_ready, 1),
            },
            indent=2,
        ),
        encoding="utf-8",
    )


def _cpu(row: dict[str, Any]) -> str:
    if row.get("wave_cpu_workers_s") is None:
        return "–"
    return f"{row['wave_cpu_workers_s']:.0f}+{row['wave_cpu_host_s']:.0f}"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
