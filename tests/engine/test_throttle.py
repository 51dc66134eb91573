"""429 without Retry-After: back off and go on, within a bounded total wait.

Before: the tenth 429 in a row aborted the run ("kept answering 429"). Now
each request backs off exponentially with jitter and gives up only once it
waited ``max_throttle_wait_seconds`` in total. The waits are recorded, not
slept (the HTTP layer's ``sleep``), and the jitter comes from a seeded
random source, so the test is exact and instant.
"""

from __future__ import annotations

import random

import pytest

from reconciler.config import parse_config
from reconciler.connectors import from_config
from reconciler.domain.errors import TransientError

from .conftest import K_URL, S_URL, customer


async def _sandbox(app, method: str, path: str, body: dict | None = None):
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        response = await c.request(method, f"{S_URL.removesuffix('/api/v1')}{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()


def _recording(http) -> list[float]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    http.sleep = sleep
    http.rng = random.Random(20261201)
    return waits


def _throttle_waits(waits: list[float]) -> list[float]:
    """The 429 waits (≥ 0.25 s), not the pacing bucket's millisecond ones."""
    return [w for w in waits if w >= 0.25]


async def test_ten_429s_without_retry_after_are_waited_out_and_the_sync_goes_on(env):
    await env.k.customers.create(customer("K-00001"))
    env.configure(sync={"units": "off"})
    await _sandbox(
        env.sevdesk_app,
        "POST",
        "/_sandbox/faults",
        {
            "kind": "status",
            "status": 429,
            "method": "GET",
            "path": "^/api/v1/Contact$",
            "times": 10,
        },
    )
    waits = _recording(env.s.http)

    result = await env.sync()

    assert result.outcome == "ok", result.errors
    assert result.counts == {"customer.sevdesk.create": 1}
    assert env.s.http.stats["429"] == 10
    backoff = _throttle_waits(waits)
    assert len(backoff) == 10
    for n, wait in enumerate(backoff, start=1):
        step = min(30.0, 0.5 * 2 ** (n - 1))
        assert step / 2 <= wait <= step, (n, wait)
    assert sum(backoff) < 300
    assert await env.normalised("kleanapp") == await env.normalised("sevdesk")


async def test_429s_beyond_the_wait_budget_fail_the_run_with_one_line(env):
    await env.k.customers.create(customer("K-00001"))
    env.configure(sync={"units": "off"})
    await _sandbox(
        env.sevdesk_app,
        "POST",
        "/_sandbox/faults",
        {
            "kind": "status",
            "status": 429,
            "method": "GET",
            "path": "^/api/v1/Contact$",
            "times": None,
        },
    )
    waits = _recording(env.s.http)
    env.s.http.max_throttle_wait = 20

    with pytest.raises(TransientError) as failed:
        await env.sync()

    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("sevDesk kept answering 429 Too Many Requests for 20 s (")
    assert message.endswith("gave up on GET /Contact (max_throttle_wait_seconds = 20)")
    assert sum(_throttle_waits(waits)) == pytest.approx(20)
    (run,) = env.store.runs()
    assert (run.outcome, run.error) == ("failed", message)


async def test_the_wait_budget_is_configured_per_service(monkeypatch):
    monkeypatch.setenv("SEVDESK_TOKEN", "x" * 32)
    monkeypatch.setenv("KLEANAPP_TOKEN", "y" * 20)
    config = parse_config(
        {
            "kleanapp": {"base_url": K_URL},
            "sevdesk": {"base_url": S_URL, "max_throttle_wait_seconds": 45},
        }
    )
    kleanapp, sevdesk = from_config(config)
    async with kleanapp, sevdesk:
        assert (kleanapp.http.max_throttle_wait, sevdesk.http.max_throttle_wait) == (300, 45)
