"""The report e-mail, delivered to a real SMTP server (aiosmtpd) on a free loopback port."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from reconciler.log import register_secret
from reconciler.reporting.mail import mail_report
from reconciler.reporting.render import render
from reconciler.reporting.view import result_data
from sandbox.serve import free_port

from .conftest import KLEAN_TOKEN, SEV_TOKEN

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SMTP_USER = "kleansync@firma.example"
SMTP_PASSWORD = "smtp-Pa55word-not-for-mails"


@dataclass
class Inbox:
    """The SMTP server's side: who logged in, and every message it accepted."""

    messages: list[tuple[Any, bytes]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope, envelope.original_content))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        # handled=False: the server answers 235/535 itself.
        return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD), handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_required=True,
        auth_require_tls=False,  # loopback test server without a certificate
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def report_config(port: int, **overrides: Any) -> SimpleNamespace:
    values = {
        "dir": "reports",
        "email_to": ["chefin@firma.example", "buero@firma.example"],
        "email_from": "kleansync@firma.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_user": SMTP_USER,
        "smtp_password_env": "KLEANSYNC_TEST_SMTP_PASSWORD",
        "smtp_starttls": False,
        "smtp_timeout": 5,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


async def test_run_with_conflicts_is_mailed_with_summary_and_html_attached(
    world, smtp, monkeypatch
):
    inbox, port = smtp
    register_secret(SEV_TOKEN)
    register_secret(KLEAN_TOKEN)
    monkeypatch.setenv("KLEANSYNC_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    result = await world.sync()
    data = result_data(result)
    # An error message that quotes a token must not carry it into the mail.
    data["errors"] = [
        {
            "action": "customer:K-7:sevdesk:update",
            "entity": "customer",
            "key": "K-7",
            "side": "sevdesk",
            "op": "update",
            "error": f"rejected token {SEV_TOKEN}",
        }
    ]

    assert mail_report(data, report_config(port), tz="Europe/Berlin") is True

    assert inbox.logins == [(SMTP_USER, SMTP_PASSWORD)]
    assert len(inbox.messages) == 1
    envelope, raw = inbox.messages[0]
    assert sorted(envelope.rcpt_tos) == ["buero@firma.example", "chefin@firma.example"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"].startswith(f"[kleansync] run {result.run_id}: 1 conflict to decide")
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "needs you: 1 conflict to decide, 3 matches to check, 1 task, 1 error" in body
    assert 'Customer K-1, E-mail: KleanApp "buero@kleanapp-seite.de"' in body
    assert "create unit 'Einsatz' in sevDesk" in body
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == [
        next(a.get_filename() for a in attachments if result.run_id in a.get_filename())
    ]
    html = attachments[0].get_content()
    assert attachments[0].get_content_type() == "text/html"
    assert html.startswith("<!doctype html>") and 'id="conflicts"' in html
    assert "rejected token ***" in html

    decoded = raw.decode("utf-8", "replace") + body + html
    for secret in (SMTP_PASSWORD, SEV_TOKEN, KLEAN_TOKEN):
        assert secret not in decoded


async def test_quiet_run_sends_no_mail(world, smtp, monkeypatch):
    inbox, port = smtp
    monkeypatch.setenv("KLEANSYNC_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    data = {"run_id": "quiet", "dry_run": False, "outcome": "ok", "counts": {"x.sevdesk.update": 2}}
    assert mail_report(data, report_config(port)) is False
    assert (
        mail_report(
            {**data, "tasks": [{"kind": "k", "entity": "u", "key": "k", "message": "do it"}]},
            report_config(port, email_to=[]),
        )
        is False
    )
    assert inbox.messages == []


async def test_mail_problems_are_one_warning_and_never_fail_the_run(world, smtp, monkeypatch):
    inbox, port = smtp
    warnings: list[str] = []
    from loguru import logger

    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    try:
        data = {"run_id": "r", "outcome": "errors", "errors": [{"action": "a", "error": "e"}]}
        monkeypatch.delenv("KLEANSYNC_TEST_SMTP_PASSWORD", raising=False)
        assert mail_report(data, report_config(port)) is False
        monkeypatch.setenv("KLEANSYNC_TEST_SMTP_PASSWORD", "wrong-password-123")
        assert mail_report(data, report_config(port)) is False
        assert mail_report(data, report_config(free_port())) is False  # nobody listens
    finally:
        logger.remove(sink)
    assert inbox.messages == []
    assert "KLEANSYNC_TEST_SMTP_PASSWORD is not set" in warnings[0]
    assert "refused the login" in warnings[1]
    assert "could not e-mail the report" in warnings[2]
    assert all("wrong-password-123" not in w for w in warnings)


def test_html_attachment_is_the_report_itself(smtp, monkeypatch):
    inbox, port = smtp
    monkeypatch.setenv("KLEANSYNC_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    data = {
        "run_id": "r9",
        "outcome": "ok",
        "conflicts": [
            {
                "entity": "customer",
                "key": "K-5",
                "field": "city",
                "base": "A",
                "kleanapp": "B",
                "sevdesk": "C",
                "decision": "kleanapp",
                "rule": "kleanapp-authoritative",
                "reason": "r",
            }
        ],
    }
    from reconciler.reporting.view import build_view

    html = render(build_view(data), "html")
    assert mail_report(data, report_config(port), html=html) is True
    msg = email.message_from_bytes(inbox.messages[0][1], policy=email.policy.default)
    assert next(msg.iter_attachments()).get_content() == html


async def test_a_failed_run_is_mailed_too(world, smtp, monkeypatch):
    from reconciler.reporting.view import run_data
    from state.tables import Run

    inbox, port = smtp
    monkeypatch.setenv("KLEANSYNC_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    world.store.start_run(Run(id="0bad0bad0bad", trigger="schedule"))
    run = world.store.finish_run("0bad0bad0bad", outcome="failed", error="sevDesk unreachable")
    assert mail_report(run_data(run), report_config(port)) is True
    msg = email.message_from_bytes(inbox.messages[0][1], policy=email.policy.default)
    assert msg["Subject"] == "[kleansync] run 0bad0bad0bad: FAILED"
    assert "The run failed: sevDesk unreachable." in msg.get_body().get_content()
