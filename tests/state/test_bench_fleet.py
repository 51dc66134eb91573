"""The fleet benchmark's own parts (bench/bench_fleet.py), the ones that need no worker.

A benchmark's figures are only as good as its plumbing: every tenant must reach its own
emulators through the one host (another tenant's token is refused there), the registry
must name the host's URLs and keep the tokens out of the database, and the counters of
lock violations and duplicate exports must count what they say.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy import text

from state import Store
from state.tenant_tables import Tenants
from tests.state_backend import POSTGRES

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_fleet.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_fleet"] = module
    spec.loader.exec_module(module)
    return module


bench = load_bench()


async def test_the_host_serves_each_tenant_its_own_pair_of_emulators() -> None:
    host = bench.PrefixHost(["ta", "tb"], customers=12)
    await host.seed()
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:

        async def customers(tenant: str, owner: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {bench.token(owner, 'kleanapp')}"}
            return await client.get(f"/t/{tenant}/kleanapp/api/v1/customers", headers=headers)

        mine = await customers("ta", "ta")
        assert mine.status_code == 200 and mine.json()["meta"]["total"] == 12
        assert (await customers("ta", "tb")).status_code == 401  # tb's token at ta's KleanApp
        contacts = await client.get(
            "/t/tb/sevdesk/api/v1/Contact", headers={"Authorization": bench.token("tb", "sevdesk")}
        )
        assert contacts.status_code == 200 and contacts.json()["objects"]
        wrong = await client.get(
            "/t/tb/sevdesk/api/v1/Contact", headers={"Authorization": bench.token("ta", "sevdesk")}
        )
        assert wrong.status_code == 401
        assert (await client.get("/t/tc/kleanapp/api/v1/customers")).status_code == 404
        saved = await client.post("/t/tb/kleanapp/_sandbox/invoices", json=bench.invoice_body(1))
        assert saved.status_code == 201, saved.text
    assert len(host.apps["tb", "kleanapp"].store.invoices) == 1
    assert len(host.apps["ta", "kleanapp"].store.invoices) == 0


def test_overlapping_runs_and_duplicate_exports_are_counted() -> None:
    assert bench.overlaps([(0, 10), (10, 20), (30, 40)]) == 0  # back to back is not overlap
    assert bench.overlaps([(0, 10), (5, 15), (8, 9), (30, 40)]) == 2
    report = {"ta": {"kleanapp:1#5": 1.0, "kleanapp:2#6": 2.0}, "tb": {"kleanapp:1#7": 3.0}}
    assert bench.duplicates(report) == 0  # one note per tenant: not a duplicate
    report["ta"]["kleanapp:1#9"] = 4.0
    assert bench.duplicates(report) == 1
    saved = {("ta", "2"): 1.5, ("tb", "1"): 2.0, ("tb", "8"): 2.0}
    assert sorted(bench.lags(saved, report)) == [0.5, 1.0]  # tb's 8 is not exported yet
    assert bench.percentile([3.0, 1.0, 2.0], 50) == 2.0


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL (KLEANSYNC_TEST_STATE=postgres)")
def test_the_registry_names_the_host_and_the_tokens_stay_in_the_secrets_directory(
    state_url: str, tmp_path: Path
) -> None:
    bench.register(state_url, ["ta", "tb"], "http://127.0.0.1:9", tmp_path)
    store = Store(state_url)
    try:
        rows = {t.name: t for t in Tenants(store).all()}
        with store.engine.connect() as conn:
            dumped = " ".join(str(r) for r in conn.execute(text("SELECT t::text FROM tenant t")))
    finally:
        store.close()
    assert rows["tb"].kleanapp_base_url == "http://127.0.0.1:9/t/tb/kleanapp/api/v1"
    assert (tmp_path / rows["tb"].sevdesk_token_env).read_text() == bench.token("tb", "sevdesk")
    assert bench.token("ta", "kleanapp") not in dumped
