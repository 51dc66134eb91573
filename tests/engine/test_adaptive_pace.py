"""Adaptive pacing: AIMD per service, never above a ceiling, no second 429 (issue 16).

sevDesk documents no fixed limit but may block a token that produces many
errors (API-NOTES §8). The pace starts at ``requests_per_second``, is halved
on a 429 or 5xx (once per episode), grows back additively, never exceeds
``max_requests_per_second``, and after a 429 stays below the rate that 429
answered. The arithmetic is tested directly (no clock); the HTTP behaviour
against the in-process emulator, with the waits recorded instead of slept.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reconciler.config import parse_config
from reconciler.connectors import from_config
from reconciler.connectors.http import AdaptivePace
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.errors import ConfigError
from sandbox import sevdesk as sevdesk_sandbox

from .conftest import S_TOKEN, S_URL


def test_the_pace_grows_additively_up_to_the_ceiling_and_never_beyond():
    pace = AdaptivePace(5, 10)
    pace.went_through()
    assert pace.rate == pytest.approx(5.2)  # + increase / rate: about 1 req/s per second
    for _ in range(200):
        pace.went_through()
    assert pace.rate == 10


def test_a_429_halves_the_pace_once_and_caps_it_below_the_rate_it_answered():
    pace = AdaptivePace(8, 20)
    sent_before = pace.epoch  # several requests in flight when the service says stop
    assert pace.pushed_back(sent_before, throttled=True)
    assert not pace.pushed_back(sent_before, throttled=True)  # the same episode
    assert pace.rate == 4
    assert pace.limit == 8
    for _ in range(500):
        pace.went_through()
    assert pace.rate == pytest.approx(7.6)  # 95 % of the rate the 429 answered, not 20


def test_a_5xx_halves_the_pace_but_teaches_no_limit():
    pace = AdaptivePace(6, 10)
    assert pace.pushed_back(pace.epoch, throttled=False)
    assert (pace.rate, pace.limit) == (3, None)
    for _ in range(500):
        pace.went_through()
    assert pace.rate == 10


def test_the_defaults_are_sevdesk_5_up_to_10_and_kleanapp_just_below_its_documented_10(
    monkeypatch,
):
    monkeypatch.setenv("SEVDESK_TOKEN", "s" * 32)
    monkeypatch.setenv("KLEANAPP_TOKEN", "k" * 32)
    config = parse_config({"kleanapp": {"base_url": "http://k/api/v1"}})
    kleanapp, sevdesk = from_config(config)
    assert (sevdesk.http.pace.rate, sevdesk.http.pace.ceiling) == (5, 10)
    assert (kleanapp.http.pace.rate, kleanapp.http.pace.ceiling) == (9.5, 9.5)
    configured = parse_config(
        {
            "kleanapp": {"base_url": "http://k/api/v1"},
            "sevdesk": {"requests_per_second": 2, "max_requests_per_second": 4},
        }
    )
    _, slow = from_config(configured)
    assert (slow.http.pace.rate, slow.http.pace.ceiling, slow.http.bucket.rate) == (2, 4, 2)


def test_a_ceiling_below_the_start_is_refused_in_one_line_and_a_fast_start_is_kept(monkeypatch):
    monkeypatch.setenv("SEVDESK_TOKEN", "s" * 32)
    monkeypatch.setenv("KLEANAPP_TOKEN", "k" * 32)
    with pytest.raises(ConfigError) as refused:
        parse_config(
            {
                "kleanapp": {"base_url": "http://k/api/v1"},
                "sevdesk": {"requests_per_second": 20, "max_requests_per_second": 8},
            }
        )
    assert "\n" not in str(refused.value)
    assert "[sevdesk]: max_requests_per_second (8) is below requests_per_second (20)" in str(
        refused.value
    )
    fast = parse_config(
        {"kleanapp": {"base_url": "http://k/api/v1"}, "sevdesk": {"requests_per_second": 20}}
    )
    _, sevdesk = from_config(fast)  # a fast start above the default ceiling stays as it was
    assert (sevdesk.http.pace.rate, sevdesk.http.pace.ceiling) == (20, 20)


async def _fault(app, rule: dict) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        assert (await c.post("http://s/_sandbox/faults", json=rule)).status_code == 201


async def _requests(app) -> dict[str, int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        return (await c.get("http://s/_sandbox/stats")).json()["requests"]


async def test_a_429_from_sevdesk_slows_the_connector_down_once_and_it_recovers():
    app = sevdesk_sandbox.create_app(S_TOKEN)
    s = SevdeskConnector(
        S_URL,
        S_TOKEN,
        requests_per_second=40,
        max_requests_per_second=80,
        transport=httpx.ASGITransport(app=app),
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    s.http.sleep = sleep
    await _fault(
        app,
        {"kind": "status", "status": 429, "method": "GET", "path": "^/api/v1/Contact$", "times": 3},
    )

    await s.customers.list_changed()  # its first page is refused three times, then read

    assert s.http.stats["429"] == 3
    assert s.http.stats["pace_cuts"] == 1  # one episode: its repeats back off on their own
    assert s.http.pace.limit == 40
    for _ in range(600):  # +1/rate each: from 20 to 38 takes ~520 answers
        await s.api.call("GET", "Contact", params={"limit": 1})
    assert s.http.pace.rate == pytest.approx(38)  # back up, below the rate refused
    assert s.http.bucket.rate == s.http.pace.rate
    await s.aclose()


async def test_while_a_429_is_waited_out_no_other_request_is_sent():
    app = sevdesk_sandbox.create_app(S_TOKEN)
    s = SevdeskConnector(
        S_URL, S_TOKEN, requests_per_second=1000, transport=httpx.ASGITransport(app=app)
    )
    holding, release = asyncio.Event(), asyncio.Event()

    async def sleep(seconds: float) -> None:
        if seconds >= 0.25:  # the 429's wait, not the pacing bucket's
            holding.set()
            await release.wait()

    s.http.sleep = sleep
    await _fault(
        app,
        {"kind": "status", "status": 429, "method": "GET", "path": "^/api/v1/Unity$", "times": 1},
    )

    refused = asyncio.create_task(s.api.call("GET", "Unity"))
    await holding.wait()
    other = asyncio.create_task(s.api.call("GET", "SevUser"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert "GET /api/v1/SevUser" not in await _requests(app)  # held back with the refused one

    release.set()
    await asyncio.gather(refused, other)
    assert (await _requests(app))["GET /api/v1/SevUser"] == 1
    await s.aclose()
