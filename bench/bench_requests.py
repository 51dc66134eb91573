"""Benchmark: how many requests kleansync spends, and how much of a rate limit it uses.

Prints figures; asserts nothing (speed and economy are measured, not tested;
the request counts a user relies on are pinned in tests/engine/test_request_economy.py).

1. Economy (both emulators in-process, pacing off): an activation of
   ``--customers`` (4/5 only in KleanApp, 1/5 only in sevDesk), an update round
   (a tenth of the customers edited on each side) and two quiet runs. For each
   kind of action: requests sent, the minimum a correct client needs, the ratio.
2. Pace (``--served N``): both emulators served for real on loopback by
   ``kleansync sandbox`` (sandbox/serve.py, a process of its own) with their
   rate limits on (KleanApp its documented 10/s, sevDesk ``--sevdesk-limit``),
   N customers only in KleanApp and N only in sevDesk, activated at the
   default pace (``[sevdesk]``/``[kleanapp]`` defaults): wall time, and per
   side the requests, the share of the limit used over the apply phase (first
   write to last request) and the 429s.

    .venv/bin/python bench/bench_requests.py [--customers 2500] [--served 500]

It uses only what every version of kleansync has (``from_config``, ``run_sync``),
so the same script measures a checkout from before a change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from reconciler.config import parse_config
from reconciler.connectors import from_config
from reconciler.connectors.sevdesk.mapping import (
    ADDRESS_FIELDS,
    CONTACT_FIELDS,
    WAY_TYPES,
    has_address,
)
from reconciler.sync.engine import SyncOptions, run_sync
from sandbox import kleanapp, sevdesk
from sandbox.seed import cleaning_company
from sandbox.serve import Endpoint, free_port
from state import Store

KIND: contextvars.ContextVar[str] = contextvars.ContextVar("bench_kind", default="listing")
LISTS = {
    "customers",
    "units",
    "Contact",
    "ContactAddress",
    "CommunicationWay",
    "Unity",
    "ContactCustomFieldSetting",
    "ContactCustomField",
}


class Tally:
    """Requests by the kind of action that sent them, and the minimum each needed."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.minimum: Counter[str] = Counter()
        self.paths: dict[str, Counter[str]] = defaultdict(Counter)
        self.on = True

    async def hook(self, request: httpx.Request) -> None:
        if self.on:
            kind = KIND.get()
            self.requests[kind] += 1
            parts = request.url.path.removeprefix("/api/v1/").split("/")
            path = parts[0] + ("/{id}" if len(parts) > 1 and parts[1].isdigit() else "")
            self.paths[kind][f"{request.method} {path}"] += 1

    def wrap(self, owner: Any, name: str, kind: str, minimum: Any) -> None:
        """Count what ``owner.name(...)`` sends as ``kind``; ``minimum(*args)`` it needs."""
        inner = getattr(owner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            token = KIND.set(kind)
            try:
                result = await inner(*args, **kwargs)
            finally:
                KIND.reset(token)
            if self.on:
                self.actions[kind] += 1
                self.minimum[kind] += minimum(*args, **kwargs)
            return result

        setattr(owner, name, counted)

    def print(self, title: str) -> None:
        print(f"\n{title}")
        print(
            f"  {'kind':<28} {'actions':>7} {'requests':>8} {'per action':>10} "
            f"{'minimum':>8} {'ratio':>6}"
        )
        for kind in sorted(self.requests):
            n, sent, least = self.actions[kind], self.requests[kind], self.minimum[kind]
            per = f"{sent / n:10.2f}" if n else f"{'':>10}"
            ratio = f"{sent / least:6.3f}" if least else f"{'':>6}"
            print(f"  {kind:<28} {n:7d} {sent:8d} {per} {least or '':>8} {ratio}")
            if kind == "listing" or least != sent:
                shown = ", ".join(f"{p} {c}" for p, c in self.paths[kind].most_common(8))
                print(f"  {'':<28} {shown}")
        self.requests.clear(), self.actions.clear(), self.minimum.clear(), self.paths.clear()


def sevdesk_create_minimum(record: Any, *args: Any, **kwargs: Any) -> int:
    """1 POST Contact + 1 POST ContactAddress if any address field + 1 per e-mail/phone/mobile."""
    return 1 + has_address(record) + sum(getattr(record, f) is not None for f in WAY_TYPES)


def sevdesk_update_minimum(_id: str, changes: dict, *args: Any, **kwargs: Any) -> int:
    """3 reads (the version check: contact, addresses, ways) + one write per changed part."""
    contact = bool(set(changes) & set(CONTACT_FIELDS))
    address = bool(set(changes) & set(ADDRESS_FIELDS))
    return 3 + contact + address + sum(f in changes for f in WAY_TYPES)


def instrument(tally: Tally, k: Any, s: Any) -> None:
    for conn, _side in ((k, "kleanapp"), (s, "sevdesk")):
        conn.http._client.event_hooks["request"].append(tally.hook)
    tally.wrap(s.customers, "create", "customer.sevdesk.create", sevdesk_create_minimum)
    tally.wrap(s.customers, "update", "customer.sevdesk.update", sevdesk_update_minimum)
    tally.wrap(k.customers, "create", "customer.kleanapp.create", lambda *a, **kw: 1)
    tally.wrap(k.customers, "update", "customer.kleanapp.update", lambda *a, **kw: 1)
    tally.wrap(s.stable_ids, "write", "stable_id.sevdesk.write", lambda *a, **kw: 1)
    # 1 POST; the read that finds no setting yet is counted with the listing reads
    tally.wrap(s.stable_ids, "create_setting", "stable_id.setting", lambda *a, **kw: 1)


def config_for(k_url: str, s_url: str, store_url: str, tmp: Path) -> Any:
    return parse_config(
        {
            "kleanapp": {"base_url": k_url},
            "sevdesk": {"base_url": s_url},
            "state": {"url": store_url},
            "report": {"dir": str(tmp / "reports")},
            "sync": {"units": "off"},
        }
    )


async def economy(customers: int) -> None:
    only_k = customers * 4 // 5
    data = cleaning_company(shared=0, kleanapp_only=only_k, sevdesk_only=customers - only_k)
    k_app = kleanapp.create_app("k-token", rate_limit_rps=None)
    s_app = sevdesk.create_app("s-token")
    await k_app.load({"customers": data.kleanapp})
    await s_app.load({"contacts": data.sevdesk})
    os.environ.update(KLEANAPP_TOKEN="k-token", SEVDESK_TOKEN="s-token")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'state.db'}")
        config = config_for("http://k/api/v1", "http://s/api/v1", store.url, Path(tmp))
        k, s = from_config(
            config,
            kleanapp_transport=httpx.ASGITransport(app=k_app),
            sevdesk_transport=httpx.ASGITransport(app=s_app),
        )
        for conn in (k, s):
            conn.http.bucket.rate = 1e6
            if hasattr(conn.http, "pace"):
                conn.http.pace.rate = conn.http.pace.ceiling = 1e6
        tally = Tally()
        instrument(tally, k, s)
        connectors = {"kleanapp": k, "sevdesk": s}
        result = await run_sync(config, SyncOptions(), connectors=connectors, store=store)
        tally.print(
            f"Activation: {only_k} customers only in KleanApp, "
            f"{customers - only_k} only in sevDesk ({dict(result.counts)})"
        )
        tally.on = False
        await edit_both(k, s, customers // 10)
        tally.on = True
        result = await run_sync(config, SyncOptions(), connectors=connectors, store=store)
        tally.print(f"Update round: {customers // 10} edited on each side ({dict(result.counts)})")
        quiet = (
            ("the run after the update round, incremental", SyncOptions()),
            ("incremental", SyncOptions()),
            ("full", SyncOptions(full=True)),
        )
        for label, options in quiet:
            # sevDesk stamps whole seconds and is asked from one second before the
            # cursor: a run seconds after the last write is what a schedule sees.
            await asyncio.sleep(2.5)
            result = await run_sync(config, options, connectors=connectors, store=store)
            non_listing = {
                p: n
                for p, n in tally.paths["listing"].items()
                if not p.startswith("GET ") or p.split(" ")[1] not in LISTS
            }
            print(
                f"\nQuiet run ({label}): {sum(tally.requests.values())} requests, "
                f"{sum(result.counts.values())} actions; "
                f"{dict(tally.paths['listing'])}; not listing pages: {non_listing or 0}"
            )
            tally.requests.clear(), tally.paths.clear()
        await k.aclose()
        await s.aclose()
        store.close()


async def edit_both(k: Any, s: Any, n: int) -> None:
    """A tenth edited on each side: e-mail and city in KleanApp, phone and note in sevDesk."""
    k_list = sorted((await k.customers.list_changed()).records, key=lambda r: r.id)
    s_list = sorted((await s.customers.list_changed()).records, key=lambda r: r.id)
    for i, remote in enumerate(k_list[:n]):
        await k.customers.update(remote.id, {"email": f"neu{i}@kunde.example", "city": "Bonn"})
    for i, remote in enumerate(s_list[-n:]):
        await s.customers.update(remote.id, {"phone": f"0221 {100000 + i}", "note": "Schlüssel"})


@contextlib.contextmanager
def served_emulators() -> Iterator[tuple[Endpoint, Endpoint]]:
    """Both emulators as ``kleansync sandbox`` serves them: a process of their own."""
    s_ep = Endpoint("sevDesk", None, "127.0.0.1", free_port(), "sandbox-sevdesk-token")  # type: ignore[arg-type]
    k_ep = Endpoint("KleanApp", None, "127.0.0.1", free_port(), "sandbox-kleanapp-token")  # type: ignore[arg-type]
    args = [sys.executable, "-m", "reconciler.cli", "sandbox"]
    args += ["--sevdesk-port", str(s_ep.port), "--sevdesk-token", s_ep.token]
    args += ["--kleanapp-port", str(k_ep.port), "--kleanapp-token", k_ep.token]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        for ep in (s_ep, k_ep):
            while True:
                with socket.socket() as sock:
                    if sock.connect_ex((ep.host, ep.port)) == 0:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("kleansync sandbox did not start")
                time.sleep(0.05)
        yield s_ep, k_ep
    finally:
        process.terminate()
        process.wait(10)


async def served(customers: int, sevdesk_limit: float) -> None:
    data = cleaning_company(shared=0, kleanapp_only=customers, sevdesk_only=customers, seed=11)
    with served_emulators() as (s_ep, k_ep), tempfile.TemporaryDirectory() as tmp:
        limits = {"sevdesk": sevdesk_limit, "kleanapp": 10.0}
        async with httpx.AsyncClient() as c:
            root = s_ep.base_url.removesuffix("/api/v1")
            rule = {"kind": "rate_limit", "rps": sevdesk_limit}
            (await c.post(f"{root}/_sandbox/faults", json=rule)).raise_for_status()
            for ep, body in (
                (k_ep, {"customers": data.kleanapp}),
                (s_ep, {"contacts": data.sevdesk}),
            ):
                root = ep.base_url.removesuffix("/api/v1")
                (await c.post(f"{root}/_sandbox/bulk", json=body)).raise_for_status()
        os.environ.update(KLEANAPP_TOKEN=k_ep.token, SEVDESK_TOKEN=s_ep.token)
        store = Store(f"sqlite:///{Path(tmp) / 'state.db'}")
        config = config_for(k_ep.base_url, s_ep.base_url, store.url, Path(tmp))
        k, s = from_config(config)
        seen: dict[str, list[tuple[float, str, int]]] = {"kleanapp": [], "sevdesk": []}
        for conn, side in ((k, "kleanapp"), (s, "sevdesk")):

            async def record(response: httpx.Response, side: str = side) -> None:
                seen[side].append((time.monotonic(), response.request.method, response.status_code))

            conn.http._client.event_hooks["response"].append(record)
        started = time.monotonic()
        result = await run_sync(
            config, SyncOptions(), connectors={"kleanapp": k, "sevdesk": s}, store=store
        )
        took = time.monotonic() - started
        most = getattr(config.sevdesk, "max_requests_per_second", None)  # before: none
        print(
            f"\nServed activation: {customers} customers per side, default pace "
            f"(sevDesk {config.sevdesk.requests_per_second:g}/s"
            f"{f' up to {most:g}/s' if most else ''}"
            f", KleanApp {config.kleanapp.requests_per_second:g}/s); limits: sevDesk "
            f"{sevdesk_limit:g}/s, KleanApp 10/s"
        )
        print(
            f"  outcome {result.outcome}, {dict(result.counts)}, wall {took:.1f} s "
            f"({took / 60:.1f} min)"
        )
        for side, rows in seen.items():
            writes = [t for t, m, _ in rows if m != "GET"]
            if not writes:
                continue
            window = [r for r in rows if writes[0] <= r[0] <= rows[-1][0]]
            span = max(rows[-1][0] - writes[0], 1e-9)
            share = (len(window) - 1) / span / limits[side]
            throttled = [t for t, _, st in rows if st == 429]
            after = 0
            if throttled:
                first_ok = next(
                    (t for t, _, st in rows if t > throttled[0] and st != 429), math.inf
                )
                after = sum(1 for t in throttled if t > first_ok)
            pace = getattr((k if side == "kleanapp" else s).http, "pace", None)  # before: none
            paced = f"; pace cut {pace.epoch}x, ended at {pace.rate:.2f}/s" if pace else ""
            print(
                f"  {side:<9} {len(rows):6d} requests, apply phase {span:7.1f} s, "
                f"{(len(window) - 1) / span:5.2f} req/s = {share:6.1%} of the limit; "
                f"429s {len(throttled)} ({after} after the first back-off){paced}"
            )
        await k.aclose()
        await s.aclose()
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2500, help="economy part; 0 skips")
    parser.add_argument("--served", type=int, default=0, help="customers per side; 0 skips")
    parser.add_argument("--sevdesk-limit", type=float, default=10.0)
    args = parser.parse_args()
    if args.customers:
        asyncio.run(economy(args.customers))
    if args.served:
        asyncio.run(served(args.served, args.sevdesk_limit))
