"""E-mailing a run's report to the admins, when the run left them something to do.

Only runs with conflicts, parked records, admin tasks or errors are mailed:
an e-mail every night saying "all fine" teaches people to ignore the ones
that matter. The body is the short plain-text summary (readable in any
mail client, also on a phone); the full HTML report is attached.

The SMTP password is never in the config file: ``[report] smtp_password_env``
names the environment variable holding it, like the API tokens. It is
registered as a secret before it is used, and the whole message is built
from redacted text, so neither it nor an API token can end up in a mail.

Configuration is read duck-typed from the ``[report]`` section object
(``email_to``, ``email_from``, ``smtp_host``, ``smtp_port``, ``smtp_user``,
``smtp_password_env``, ``smtp_starttls``). Port 465 means implicit TLS
(RFC 8314 "submissions"); any other port is plain SMTP, upgraded with
STARTTLS when ``smtp_starttls`` is true (the default).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from loguru import logger

from reconciler.domain.errors import ConfigError, KleansyncError, TransientError
from reconciler.log import redact, register_secret
from reconciler.reporting import words
from reconciler.reporting.files import file_stem
from reconciler.reporting.render import render, render_mail_text
from reconciler.reporting.view import build_view, needs_attention

SMTPS_PORT = 465


def recipients(report_cfg: Any) -> list[str]:
    return [str(a).strip() for a in (getattr(report_cfg, "email_to", None) or []) if str(a).strip()]


def should_mail(view: dict[str, Any], report_cfg: Any) -> bool:
    """Mail only when someone is configured to get it and the run needs a person."""
    return bool(recipients(report_cfg)) and needs_attention(view)


def subject(view: dict[str, Any]) -> str:
    """The subject in the current language (``reporting.words.subject``), redacted."""
    return redact(words.subject(view))


def build_message(
    view: dict[str, Any], report_cfg: Any, *, html: str | None = None, tz: str = "UTC"
) -> EmailMessage:
    """The e-mail: summary as the body, the HTML report attached."""
    to = recipients(report_cfg)
    if not to:
        raise ConfigError("[report] email_to: no recipients configured")
    host = getattr(report_cfg, "smtp_host", None) or "localhost"
    sender = getattr(report_cfg, "email_from", None) or f"kleansync@{host}"
    msg = EmailMessage()
    msg["Subject"] = subject(view)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(render_mail_text(view, tz=tz))
    report = redact(html) if html is not None else render(view, "html", tz=tz)
    msg.add_attachment(
        report,
        subtype="html",
        charset="utf-8",
        cte="base64",
        filename=f"kleansync-report-{file_stem(view)}.html",
    )
    return msg


def _password(report_cfg: Any, env: Mapping[str, str]) -> str | None:
    name = getattr(report_cfg, "smtp_password_env", None)
    if not name:
        return None
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"environment variable {name} is not set (named by [report] smtp_password_env); "
            "it must hold the SMTP password"
        )
    register_secret(value)
    return value


def send(msg: EmailMessage, report_cfg: Any, *, env: Mapping[str, str] | None = None) -> None:
    """Deliver ``msg`` over SMTP; ``ConfigError``/``TransientError`` with a redacted message."""
    host = getattr(report_cfg, "smtp_host", None)
    if not host:
        raise ConfigError("[report] smtp_host: needed to e-mail reports (or remove email_to)")
    port = int(getattr(report_cfg, "smtp_port", None) or 587)
    user = getattr(report_cfg, "smtp_user", None)
    password = _password(report_cfg, os.environ if env is None else env)
    starttls = bool(getattr(report_cfg, "smtp_starttls", True))
    timeout = float(getattr(report_cfg, "smtp_timeout", None) or 30)
    context = ssl.create_default_context()
    try:
        if port == SMTPS_PORT:
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if starttls and port != SMTPS_PORT:
                client.starttls(context=context)
                client.ehlo()
            if user:
                client.login(user, password or "")
            client.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise ConfigError(
            f"SMTP server {host}:{port} refused the login of {user!r} ({exc.smtp_code})"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(
            redact(f"could not e-mail the report via {host}:{port}: {type(exc).__name__}: {exc}")
        ) from None


def mail_report(
    data: dict[str, Any],
    report_cfg: Any,
    *,
    html: str | None = None,
    tz: str = "UTC",
    env: Mapping[str, str] | None = None,
) -> bool:
    """E-mail a run's report if it needs an admin; True if a mail went out.

    Never raises: a mail server that is down must not turn a good sync into
    a failed one. Problems are logged as one warning line.
    """
    try:
        view = build_view(data)
        if not should_mail(view, report_cfg):
            return False
        send(build_message(view, report_cfg, html=html, tz=tz), report_cfg, env=env)
    except KleansyncError as exc:
        logger.warning("report e-mail not sent: {}", exc)
        return False
    logger.info("report e-mailed to {}", ", ".join(recipients(report_cfg)))
    return True


async def mail_report_async(
    data: dict[str, Any], report_cfg: Any, *, html: str | None = None, tz: str = "UTC"
) -> bool:
    """``mail_report`` off the event loop (smtplib blocks)."""
    return await asyncio.to_thread(mail_report, data, report_cfg, html=html, tz=tz)
