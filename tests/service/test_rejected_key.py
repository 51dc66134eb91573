"""sevDesk refuses the API key (the user was saved in sevDesk): ``serve`` says so once.

``/healthz`` shows the refused key and where the new one goes, and the
failed-run e-mail goes out once, not after every run, until a run completes
again; a later refusal is mailed again. The mail goes to a real SMTP server
(aiosmtpd) on loopback; sevDesk's 401 comes from its emulator.
"""

from __future__ import annotations

import httpx
import pytest

from reconciler.service.runner import Service
from tests.service.conftest import SEV_TOKEN, World, make_config
from tests.smtp_inbox import smtp_server  # noqa: F401  (the "smtp" fixture)

HINT = "sevDesk issues a new API key whenever the user is saved in sevDesk"


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """English, the catalogue's source language (set before the world's connectors exist)."""
    monkeypatch.setenv("KLEANSYNC_LANG", "en")


async def _healthz(service: Service) -> httpx.Response:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kleansync.test") as c:
        return await c.get("/healthz")


async def _sevdesk_refuses_the_key(world: World, refuse: bool) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.sev_app), base_url="http://sevdesk.test"
    ) as ctl:
        if refuse:
            fault = {"kind": "status", "status": 401, "times": None}
            assert (await ctl.post("/_sandbox/faults", json=fault)).status_code == 201
        else:
            assert (await ctl.delete("/_sandbox/faults")).status_code < 300


async def test_a_refused_sevdesk_key_is_on_healthz_and_mailed_once(world: World, smtp) -> None:
    inbox, port = smtp
    world.config = make_config(
        world.store.url,
        report_dir=world.tmp / "reports",
        report={
            "dir": str(world.tmp / "reports"),
            "email_to": ["buero@firma.example"],
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,
            "smtp_timeout": 5,
        },
    )
    service = await world.start()
    assert (await service.jobs.sync("manual")).outcome == "ok"
    assert inbox.messages == []  # a quiet run mails nothing
    healthy = (await _healthz(service)).json()
    assert healthy["api_keys"] == {"kleanapp": "ok", "sevdesk": "ok"}

    await _sevdesk_refuses_the_key(world, True)
    assert await service.jobs.sync("schedule") is None
    assert await service.jobs.sync("webhook") is None  # fails the same way: no second mail

    response = await _healthz(service)
    assert response.status_code == 503
    body = response.json()
    assert body["api_keys"] == {"kleanapp": "ok", "sevdesk": "rejected"}
    [refused] = [p for p in body["problems"] if "rejected the API key" in p]
    assert refused.startswith("sevDesk rejected the API key (HTTP 401); " + HINT)
    assert "environment variable SEVDESK_TOKEN" in refused and "\n" not in refused
    assert [r.outcome for r in world.store.runs(3)] == ["failed", "failed", "ok"]

    [mail] = inbox.messages
    # The mail follows the language like every other text: English here (this file's fixture);
    # German by default is tests/reports' and tests/cli/test_german_cli.py's to show.
    assert "FAILED" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert HINT in text and "SEVDESK_TOKEN" in text
    assert SEV_TOKEN not in mail.as_string()

    # The new key is entered: the next run completes and the alert is gone ...
    await _sevdesk_refuses_the_key(world, False)
    assert (await service.jobs.sync("manual")).outcome == "ok"
    assert (await _healthz(service)).json()["api_keys"]["sevdesk"] == "ok"
    # ... so the next refusal, weeks later, is mailed again (once).
    await _sevdesk_refuses_the_key(world, True)
    assert await service.jobs.sync("schedule") is None
    assert await service.jobs.sync("schedule") is None
    assert len(inbox.messages) == 2
