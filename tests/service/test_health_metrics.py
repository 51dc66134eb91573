"""``GET /healthz`` and ``GET /metrics`` as a monitoring system sees them."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.service.runner import Service
from state import Store
from tests.service.conftest import World, make_config

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


async def _get(service: Service, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kleansync.test") as c:
        return await c.get(path)


async def _metrics(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    response = await _get(service, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthy_while_waiting_for_the_first_run(world: World) -> None:
    service = await world.start()
    response = await _get(service, "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["store"] == "ok" and body["last_run"] is None
    assert body["webhook"] == "registered"
    # ... but not forever: two nightly periods and an hour later it is a finding.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2, hours=2)
    body, healthy = service.health.check(now=later)
    assert not healthy and "no completed run since the service started" in body["problems"][0]


async def test_health_follows_the_runs(world: World) -> None:
    service = await world.start()
    result = await service.jobs.sync("manual")
    assert result.outcome == "ok"
    response = await _get(service, "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["last_run"]["outcome"] == "ok" and body["last_run"]["trigger"] == "manual"
    assert 0 <= body["last_success_age_seconds"] < 60

    stale = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    body, healthy = service.health.check(now=stale)
    assert not healthy and body["problems"] == ["no completed run for 72 h"]

    # sevDesk refuses the key: the run fails, and /healthz says so.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.sev_app), base_url="http://sevdesk.test"
    ) as ctl:
        fault = {"kind": "status", "status": 401, "times": None}
        assert (await ctl.post("/_sandbox/faults", json=fault)).status_code == 201
    assert await service.jobs.sync("manual") is None
    response = await _get(service, "/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["last_run"]["outcome"] == "failed"
    refused, failed = body["problems"]
    assert refused.startswith("sevDesk rejected the API key (HTTP 401)")
    assert failed == "the last run ended failed"
    assert body["api_keys"]["sevdesk"] == "rejected"
    assert body["last_success_at"] is not None  # the earlier run still counts for the age


async def test_an_unreachable_store_is_unhealthy(world: World, tmp_path) -> None:
    where = tmp_path / "gone"
    where.mkdir()
    store = Store(f"sqlite:///{where / 'state.db'}")
    service = Service(
        make_config(store.url, report_dir=tmp_path / "reports"),
        settings=world.settings(),
        connectors=world.connectors,
        store=store,
    )
    shutil.rmtree(where)
    store.engine.dispose()
    try:
        response = await _get(service, "/healthz")
    finally:
        store.close()
    assert response.status_code == 503
    body = response.json()
    assert body["store"].startswith("unreachable") and body["status"] == "unhealthy"


async def test_metrics_parse_and_move_with_runs_and_deliveries(world: World) -> None:
    service = await world.start()
    before = await _metrics(service)
    assert _value(before, "kleansync_runs_total", trigger="manual", outcome="ok") == 0
    assert _value(before, "kleansync_last_success_timestamp_seconds") == 0
    assert _value(before, "kleansync_webhook_deliveries_total", result="accepted") == 0
    registered_requests = _value(before, "kleansync_api_requests_total", service="kleanapp")
    assert registered_requests >= 2  # listing and registering the webhook

    result = await service.jobs.sync("manual")
    assert result.counts == {"customer.sevdesk.create": 2}
    response = await world.ka.http.request(
        "PATCH", f"customers/{world.customer_ids['K-00001']}", json={"phone": "0221 1"}
    )
    assert response.status_code == 200
    await world.deliveries()  # KleanApp delivered customer.saved to the receiver

    after = await _metrics(service)
    assert _value(after, "kleansync_runs_total", trigger="manual", outcome="ok") == 1
    assert (
        _value(after, "kleansync_actions_total", entity="customer", side="sevdesk", op="create")
        == 2
    )
    assert _value(after, "kleansync_webhook_deliveries_total", result="accepted") == 1
    assert _value(after, "kleansync_api_requests_total", service="sevdesk") > 0
    assert _value(after, "kleansync_api_requests_total", service="kleanapp") > registered_requests
    assert _value(after, "kleansync_api_throttled_total", service="kleanapp") == 0
    finished = world.store.get_run(result.run_id).finished_at
    assert _value(after, "kleansync_last_success_timestamp_seconds") == finished.timestamp()
    assert _value(after, "kleansync_conflicts_open") == 0


async def test_two_services_in_one_process_keep_their_own_counters(world: World) -> None:
    one = await world.start()
    other = Service(
        world.config, settings=world.settings(), connectors=world.connectors, store=world.store
    )
    await one.jobs.sync("manual")
    samples: dict[Any, float] = await _metrics(other)
    assert _value(samples, "kleansync_runs_total", trigger="manual", outcome="ok") == 0
