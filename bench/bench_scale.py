"""Benchmark: the engine at scale (issue 21), N customers per side, linked and unchanged.

Prints figures; asserts nothing about time (speed is measured, not tested).

For each N (``--sizes``, default 1,000 / 10,000 / 100,000) both emulators are
served by ``kleansync sandbox`` in a process of their own and loaded with N
customers per side, each typed independently on both sides (``sandbox.seed``:
the same customer, formatted differently, so normalising finds them equal).
Then four scenarios run one after the other against one state store, each in
a **fresh child process** (so peak RSS is that scenario's own):

1. ``dry-run``      the first run, full, nothing written (matching all N pairs);
2. ``activation``   the first real run: it only links the N identical pairs
                    (0 writes to the services; the stable ids are left off, so
                    this is the cost of linking itself, see below);
3. ``incremental``  a quiet incremental run (nothing changed anywhere);
4. ``full``         a quiet full run (``--full``).

Per scenario: wall and CPU time, the time spent waiting for the emulators
(the transport is timed, request sent to last body byte), **engine** time
(wall minus that wait: the emulators' own cost excluded), the split by phase
(exclusive time of the innermost phase: ``links`` is every ``Store.links``
call, wherever it is made), SQL statements and commits (SQLAlchemy event
listeners on the store's engine) and the child's peak RSS. A scenario that
takes longer than ``--timeout`` seconds is stopped and shown as "über N s
abgebrochen". At the end: the growth ratios issue 21 names.

sevDesk's part listings (addresses, communication ways) honour ``updateAfter``
here (``create_app(part_time_filters=True)``; the notes could not confirm a
real account does): an incremental run then reads a page and the changes per
part table. ``--no-part-filter`` serves the emulator's default (the filter
ignored, so every incremental run reads every part, as before issue 21).

The stable ids (the KleanApp id written on each new sevDesk contact link) are
switched off for the bench, because with them an activation is N journaled
sevDesk writes, which is the services' pace, not the engine's: the activation
row is the cost of linking alone, as the issue measures it.

    .venv/bin/python bench/bench_scale.py [--sizes 1000,10000,100000] [--timeout 600]

It only uses ``run_sync``, ``from_config`` and ``Store``, and wraps the phase
functions it finds (those it does not find are not shown), so the same script
measures a checkout from before a change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

SCENARIOS = ("dry-run", "activation", "incremental", "full")
K_TOKEN, S_TOKEN = "bench-kleanapp-token", "bench-sevdesk-token"

#: (module, attribute, phase): the functions whose time is shown as a phase of their own.
PHASES = (
    ("reconciler.sync.engine", "settle_interrupted_runs", "bookkeeping"),
    ("reconciler.sync.engine", "recover_writes", "recovery"),
    ("reconciler.sync.engine", "needs_full", "bookkeeping"),
    ("reconciler.sync.engine", "removal_budget", "brake"),
    ("reconciler.sync.engine", "take_snapshot", "snapshot"),
    ("reconciler.sync.engine", "refuse_duplicating", "snapshot"),
    ("reconciler.sync.engine", "build_plan", "diff/plan"),
    ("reconciler.sync.engine", "mass_delete_brake", "brake"),
    ("reconciler.sync.engine", "remember_parts", "bookkeeping"),
    ("reconciler.sync.engine", "remember_for_admins", "bookkeeping"),
    ("reconciler.sync.engine", "publish_report", "report"),
    ("reconciler.sync.engine", "bounded_result", "report"),
    ("reconciler.sync.apply.Applier", "apply", "apply"),
    ("reconciler.sync.refusals.Refusals", "settle", "bookkeeping"),
    ("reconciler.sync.stable_ids.StableIds", "backfill", "bookkeeping"),
    ("state.store.Store", "links", "links"),
    ("state.store.Store", "links_by_ids", "links"),
    ("state.store.Store", "links_by_keys", "links"),
    ("state.link_queries.StoredLinks", "batch", "links"),  # a full run's walk, in batches
    ("state.store.Store", "link_ids", "links"),
    ("state.store.Store", "link_ids_by_keys", "links"),
    ("state.store.Store", "count_links", "links"),
    ("state.store.Store", "taken_numbers", "links"),
    ("state.store.Store", "finish_run", "bookkeeping"),
)
SHOWN = (
    "snapshot",
    "links",
    "diff/plan",
    "brake",
    "apply",
    "bookkeeping",
    "report",
    "recovery",
    "other",
)


# -- the child: one scenario, measured ------------------------------------------------
class Phases:
    """Exclusive wall and CPU time per phase (nested phases count for the innermost)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.stack: list[tuple[str, float, float]] = []

    def _enter(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if self.stack:  # the outer phase pauses
            outer, since, cpu_since = self.stack[-1]
            self.wall[outer] += now - since
            self.cpu[outer] += cpu - cpu_since
        self.stack.append((name, now, cpu))

    def _leave(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        name, since, cpu_since = self.stack.pop()
        self.wall[name] += now - since
        self.cpu[name] += cpu - cpu_since
        if self.stack:
            outer, _, _ = self.stack[-1]
            self.stack[-1] = (outer, now, cpu)

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        inner = getattr(owner, attr)
        phases = self
        if asyncio.iscoroutinefunction(inner):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                phases._enter(name)
                try:
                    return await inner(*args, **kwargs)
                finally:
                    phases._leave()

            setattr(owner, attr, timed_async)
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                phases._enter(name)
                try:
                    return inner(*args, **kwargs)
                finally:
                    phases._leave()

            setattr(owner, attr, timed)


def _resolve(path: str) -> Any:
    import importlib

    module, _, rest = path.partition(".")
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        with contextlib.suppress(ImportError):
            obj: Any = importlib.import_module(".".join(parts[:i]))
            for name in parts[i:]:
                obj = getattr(obj, name)
            return obj
    raise ImportError(module + rest)


class TimedTransport(httpx.AsyncHTTPTransport):
    """The real HTTP transport; ``waited`` is the wall time with a request in flight.

    Requests overlap (a sevDesk listing reads contacts, addresses and ways at
    once), so the intervals are joined, not added: wall time during which at
    least one request was out, from sent to its last body byte read.
    """

    waited = 0.0
    requests = 0
    in_flight = 0
    since = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if TimedTransport.in_flight == 0:
            TimedTransport.since = time.perf_counter()
        TimedTransport.in_flight += 1
        try:
            response = await super().handle_async_request(request)
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
            await response.aclose()
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=httpx.ByteStream(raw),
                extensions=response.extensions,
            )
        finally:
            TimedTransport.in_flight -= 1
            TimedTransport.requests += 1
            if TimedTransport.in_flight == 0:
                TimedTransport.waited += time.perf_counter() - TimedTransport.since


async def child(scenario: str, k_url: str, s_url: str, store_url: str, tmp: Path) -> dict:
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from sqlalchemy import event

    from reconciler.config import parse_config
    from reconciler.connectors import from_config
    from reconciler.sync.engine import SyncOptions, run_sync
    from state import Store

    phases = Phases()
    for owner, attr, name in PHASES:
        with contextlib.suppress(ImportError, AttributeError):
            phases.wrap(_resolve(owner), attr, name)
    os.environ.update(KLEANAPP_TOKEN=K_TOKEN, SEVDESK_TOKEN=S_TOKEN)
    config = parse_config(
        {
            "kleanapp": {"base_url": k_url},
            "sevdesk": {"base_url": s_url},
            "state": {"url": store_url},
            "report": {"dir": str(tmp / "reports")},
            "sync": {"units": "off"},
        }
    )
    store = Store(store_url)
    counts = {"statements": 0, "commits": 0}

    def statement(*_a: Any) -> None:
        counts["statements"] += 1

    def commit(*_a: Any) -> None:
        counts["commits"] += 1

    event.listen(store.engine, "before_cursor_execute", statement)
    event.listen(store.engine, "commit", commit)
    k, s = from_config(
        config, kleanapp_transport=TimedTransport(), sevdesk_transport=TimedTransport()
    )
    for conn in (k, s):
        conn.http.bucket.rate = 1e6
        if hasattr(conn.http, "pace"):
            conn.http.pace.rate = conn.http.pace.ceiling = 1e6
    s.stable_ids = None  # type: ignore[attr-defined]  # see the module docstring
    options = {
        "dry-run": SyncOptions(dry_run=True),
        "activation": SyncOptions(),
        "incremental": SyncOptions(),
        "full": SyncOptions(full=True),
    }[scenario]
    rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu_started = time.perf_counter(), time.process_time()
    result = await run_sync(config, options, connectors={"kleanapp": k, "sevdesk": s}, store=store)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await k.aclose()
    await s.aclose()
    store.close()
    accounted = sum(phases.wall.values())
    walls = dict(phases.wall)
    walls["other"] = max(wall - accounted, 0.0)
    waited = TimedTransport.waited
    return {
        "scenario": scenario,
        "wall": wall,
        "cpu": cpu,
        "waited": waited,
        "requests": TimedTransport.requests,
        "engine": cpu,
        "phases": walls,
        "phases_cpu": dict(phases.cpu),
        "statements": counts["statements"],
        "commits": counts["commits"],
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_start": rss_start,
        "rss_ready": rss_ready,
        "full": result.full,
        "counts": dict(result.counts),
        "outcome": result.outcome,
        "actions": len(result.plan.actions) if result.plan is not None else None,
        "pairs": len(result.plan.pairs) if result.plan is not None else None,
    }


# -- the parent: emulators, scenarios, tables -------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_emulators(n: int, part_filters: bool = True) -> Iterator[tuple[str, str]]:
    """Both emulators served on loopback by a process of their own (``serve_emulators``)."""
    s_port, k_port = _free_port(), _free_port()
    args = [sys.executable, __file__, "--serve", str(k_port), str(s_port), str(n)]
    args.append("on" if part_filters else "off")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 3600  # loading 100,000 per side takes a while
        for port in (s_port, k_port):
            while True:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("kleansync sandbox did not start")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{k_port}/api/v1", f"http://127.0.0.1:{s_port}/api/v1"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_emulators(k_port: int, s_port: int, n: int, part_filters: bool = True) -> None:
    """What ``kleansync sandbox`` serves, with KleanApp's 10/s limit off (the services'
    pace is not the engine's cost), loaded with ``n`` customers per side before it
    listens: the seed data never passes through the parent, whose RSS a forked
    child's peak RSS would start from."""
    from sandbox import kleanapp, sevdesk
    from sandbox.seed import cleaning_company
    from sandbox.serve import Endpoint, serve

    k_app = kleanapp.create_app(K_TOKEN, rate_limit_rps=None)
    try:  # part listings that honour updateAfter (see the module docstring)
        s_app = sevdesk.create_app(S_TOKEN, part_time_filters=part_filters)
    except TypeError:  # a checkout from before issue 21's part reads
        s_app = sevdesk.create_app(S_TOKEN)

    async def main() -> None:
        data = cleaning_company(shared=n, kleanapp_only=0, sevdesk_only=0)
        await k_app.load({"customers": data.kleanapp})
        await s_app.load({"contacts": data.sevdesk})
        del data
        eps = [
            Endpoint("sevDesk", s_app, "127.0.0.1", s_port, S_TOKEN),
            Endpoint("KleanApp", k_app, "127.0.0.1", k_port, K_TOKEN),
        ]
        await serve(eps)

    asyncio.run(main())


def run_size(
    n: int, timeout: float, scenarios: tuple[str, ...] = SCENARIOS, part_filters: bool = True
) -> list[dict]:
    rows: list[dict] = []
    loaded = time.perf_counter()
    with served_emulators(n, part_filters) as (k_url, s_url), tempfile.TemporaryDirectory() as tmp:
        print(f"\nN = {n:,} customers per side (loaded in {time.perf_counter() - loaded:.1f} s)")
        store_url = f"sqlite:///{Path(tmp) / 'state.db'}"
        failed = False
        for scenario in scenarios:
            if failed:
                rows.append({"scenario": scenario, "skipped": "nach Abbruch nicht gemessen"})
                continue
            if scenario == "incremental":
                # sevDesk stamps whole seconds and is asked from one second before the
                # cursor: a run seconds after the last one is what a schedule sees.
                time.sleep(2.5)
            args = [sys.executable, __file__, "--child", scenario, k_url, s_url, store_url, tmp]
            try:
                done = subprocess.run(
                    args, capture_output=True, text=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired:
                rows.append({"scenario": scenario, "skipped": f"über {timeout:.0f} s abgebrochen"})
                failed = scenario == "activation"
                print(f"  {scenario}: über {timeout:.0f} s abgebrochen", flush=True)
                continue
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            if done.returncode != 0 or not lines:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                rows.append({"scenario": scenario, "skipped": "failed: " + " | ".join(tail)})
                failed = scenario == "activation"
                print(f"  {scenario}: failed: {' | '.join(tail)}", flush=True)
                continue
            row = json.loads(lines[-1])
            rows.append(row)
            print("  " + json.dumps(row), flush=True)
    return rows


def table(n: int, rows: list[dict]) -> None:
    print(f"\nN = {n:,}")
    head = f"  {'scenario':<12} {'wall':>7} {'cpu':>7} {'wait':>6}"
    head += "".join(f" {p:>11}" for p in SHOWN)
    head += f" {'SQL':>8} {'commits':>7} {'RSS MB':>6} {'requests':>8}  actions"
    print(head)
    for row in rows:
        if "skipped" in row:
            print(f"  {row['scenario']:<12} {row['skipped']}")
            continue
        line = f"  {row['scenario']:<12} {row['wall']:7.2f} {row['cpu']:7.2f}"
        line += f" {row['waited']:6.2f}"
        line += "".join(f" {row['phases'].get(p, 0.0):11.2f}" for p in SHOWN)
        line += (
            f" {row['statements']:8d} {row['commits']:7d} {row['rss']:6.0f} {row['requests']:8d}"
        )
        line += f"  {row['actions']} in {row['pairs']} pairs, {row['counts'] or '{}'}"
        print(line)


def ratios(results: dict[int, list[dict]]) -> None:
    def engine(n: int, scenario: str) -> float | None:
        row = next((r for r in results.get(n, []) if r["scenario"] == scenario), None)
        return None if row is None or "skipped" in row else row["cpu"]

    print("\nGrowth (engine time = the engine process's CPU time; the emulators are not in it):")
    small, big = min(results), max(results)
    a, b = engine(small, "incremental"), engine(big, "incremental")
    if a and b and big != small:
        print(
            f"  quiet incremental at {big:,} ÷ at {small:,}: {b / a:.2f}  (goal ≤ 1.5 at 100k ÷ 1k)"
        )
    tenth = big // 10
    c, d = engine(tenth, "full"), engine(big, "full")
    if c and d and tenth in results:
        print(f"  full at {big:,} ÷ (10 × full at {tenth:,}): {d / (10 * c):.2f}  (1.0 = linear)")
    if d:
        print(f"  full at {big:,}: {d:.2f} s engine time = {big / d:,.0f} pairs/s (goal < 10 s)")
    e = engine(big, "activation")
    if e:
        print(f"  linking {big:,} identical pairs: {e:.2f} s engine time (goal < 30 s at 100k)")
    rss = [(r["rss"], r["scenario"]) for r in results.get(big, []) if "skipped" not in r]
    if rss:
        peak, where = max(rss)
        print(f"  peak RSS at {big:,}: {peak:.0f} MB ({where}; goal < 400 MB at 100k)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_emulators(
            int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:6] != ["off"]
        )
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        scenario, k_url, s_url, store_url, tmp = sys.argv[2:7]
        row = asyncio.run(child(scenario, k_url, s_url, store_url, Path(tmp)))
        print(json.dumps(row))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per scenario")
    parser.add_argument("--tables-from", type=Path, help="print the tables of a saved output")
    parser.add_argument(
        "--no-part-filter",
        action="store_true",
        help="sevDesk's part listings ignore updateAfter (the emulator's default)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="a subset, in this order (activation is needed by the quiet runs)",
    )
    args = parser.parse_args()
    if args.tables_from:
        tables_from(args.tables_from)
        return
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    print(f"kleansync scale benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}, sizes {sizes}")
    results: dict[int, list[dict]] = {}
    for n in sizes:
        try:
            scenarios = tuple(args.scenarios.split(","))
            results[n] = run_size(n, args.timeout, scenarios, not args.no_part_filter)
        except Exception as exc:  # noqa: BLE001 - the other sizes' figures still count
            print(f"N = {n:,}: failed: {type(exc).__name__}: {exc}", flush=True)
            results[n] = [{"scenario": s, "skipped": "failed"} for s in SCENARIOS]
    report(results)


def report(results: dict[int, list[dict]]) -> None:
    print("\nTimes in seconds. cpu: the engine process's CPU time, its own cost (the emulators")
    print("run in a process of their own); wall: elapsed, on a shared machine also waiting for a")
    print("core; wait: wall time with a request to an emulator in flight. Phases: wall time,")
    print("exclusive (links = every link query, wherever it is made; the wait is in the phase")
    print("that sent the request).")
    for n, rows in results.items():
        table(n, rows)
    ratios(results)


def tables_from(path: Path) -> None:
    """Print the tables again from a saved output (its JSON lines), e.g. an older run's."""
    results: dict[int, list[dict]] = {}
    size = 0
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("N = ") and "customers per side" in line:
            size = int(line.split()[2].replace(",", ""))
            results[size] = []
        elif line.strip().startswith("{") and size:
            row = json.loads(line)
            row["engine"] = row["cpu"]
            results[size].append(row)
        elif size and line.startswith("  ") and ": über " in line:
            scenario, _, why = line.strip().partition(": ")
            results[size].append({"scenario": scenario, "skipped": why})
    for rows in results.values():
        seen = {r["scenario"] for r in rows}
        rows += [{"scenario": s, "skipped": "nicht gemessen"} for s in SCENARIOS if s not in seen]
        rows.sort(key=lambda r: SCENARIOS.index(r["scenario"]))
    report(results)


if __name__ == "__main__":
    main()
