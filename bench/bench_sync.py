"""Benchmark: a full activation sync and a quiet re-run at realistic sizes.

Prints figures; asserts nothing about time (speed is measured, not tested).
Both emulators run in-process (httpx.ASGITransport) with pacing switched off,
so the figures show the engine's own cost, not the services' rate limits.
At the configured production pace the wall time is dominated by the number
of requests, which is printed too.

    .venv/bin/python bench/bench_sync.py [--customers 2500]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx

from reconciler.config import parse_config
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.sync.engine import SyncOptions, run_sync
from sandbox import kleanapp, sevdesk
from sandbox.seed import cleaning_company
from state import Store


async def main(customers: int) -> None:
    shared = int(customers * 0.8)
    data = cleaning_company(
        shared=shared, kleanapp_only=customers - shared, sevdesk_only=customers // 10
    )
    k_app = kleanapp.create_app("k", rate_limit_rps=None)
    s_app = sevdesk.create_app("s")
    await k_app.load({"customers": data.kleanapp})
    await s_app.load({"contacts": data.sevdesk})
    print(
        f"KleanApp {len(data.kleanapp)} customers, sevDesk {len(data.sevdesk)} contacts "
        f"({shared} shared)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'state.db'}")
        config = parse_config(
            {
                "kleanapp": {"base_url": "http://k/api/v1"},
                "sevdesk": {"base_url": "http://s/api/v1"},
                "sync": {"units": "off"},
            }
        )
        k = KleanappConnector(
            "http://k/api/v1",
            "k",
            requests_per_second=1e6,
            transport=httpx.ASGITransport(app=k_app),
        )
        s = SevdeskConnector(
            "http://s/api/v1",
            "s",
            requests_per_second=1e6,
            transport=httpx.ASGITransport(app=s_app),
        )
        connectors = {"kleanapp": k, "sevdesk": s}
        tracemalloc.start()
        for label, options in (
            ("dry-run (full)", SyncOptions(dry_run=True)),
            ("activation sync", SyncOptions()),
            ("quiet re-run (incremental)", SyncOptions()),
            ("quiet re-run (full)", SyncOptions(full=True)),
        ):
            before = k.http.stats["requests"] + s.http.stats["requests"]
            started = time.perf_counter()
            result = await run_sync(config, options, connectors=connectors, store=store)
            took = time.perf_counter() - started
            requests = k.http.stats["requests"] + s.http.stats["requests"] - before
            actions = sum(result.counts.values())
            print(
                f"{label:<28} {took:6.2f} s  {requests:6d} requests  {actions:5d} actions  "
                f"{result.counts}"
            )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await k.aclose()
        await s.aclose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"python heap peak {peak / 2**20:.1f} MiB, max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2500)
    asyncio.run(main(parser.parse_args().customers))
