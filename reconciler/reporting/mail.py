"""E-mailing a run's report to the admins, when the run left them something to do.

Only runs with conflicts, parked records, admin tasks or errors are mailed:
an e-mail every night saying "all fine" teaches people to ignore the ones
that matter. For the same reason, with the state store at hand, a run is
mailed only when it brings something new, or as a reminder once a day
while items stay open (``reconciler.reporting.news`` decides). The body is
the short plain-text summary (readable in any mail client, also on a
phone), headed by what is new; the full HTML report is attached.

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
import datetime as dt
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from loguru import logger

from reconciler.domain.errors import ConfigError, KleansyncError, TransientError
from reconciler.domain.i18n import _, format_datetime
from reconciler.log import redact, register_secret
from reconciler.reporting import words
from reconciler.reporting.news import (
    REMINDER,
    MailNews,
    news_for,
    remember_sent,
    remind_every,
    store_items,
    view_items,
)
from reconciler.reporting.render import render, render_mail_text
from reconciler.reporting.shown import SHOWN_ROWS
from reconciler.reporting.view import build_view, file_stem, needs_attention
from state import Store

SMTPS_PORT = 465


def recipients(report_cfg: Any) -> list[str]:
    return [str(a).strip() for a in (getattr(report_cfg, "email_to", None) or []) if str(a).strip()]


def should_mail(view: dict[str, Any], report_cfg: Any) -> bool:
    """Without a state store: mail when someone is configured and the run needs a person."""
    return bool(recipients(report_cfg)) and needs_attention(view)


def subject(view: dict[str, Any], news: MailNews | None = None) -> str:
    """The subject in the current language (``reporting.words.subject``), redacted; a mail
    with news or a reminder says so first."""
    text = words.subject(view)
    if news is not None and news.reason == REMINDER:
        text = text.replace("[kleansync] ", "[kleansync] " + _("Reminder, nothing new") + " – ", 1)
    elif news is not None and news.new:
        new = _("%(count)s new", count=len(news.new))
        text = text.replace("[kleansync] ", f"[kleansync] {new} – ", 1)
    return redact(text)


def news_lines(news: MailNews | None, tz: str, limit: int = 20) -> list[str]:
    """What heads the body: the new items, or why this is a reminder."""
    if news is None:
        return []
    if news.reason == REMINDER:
        if news.last_sent is not None:
            head = _(
                "Reminder: nothing new since the e-mail of %(when)s; still open (%(count)s):",
                when=format_datetime(news.last_sent, tz),
                count=news.open,
            )
        else:
            head = _("Reminder: nothing new; still open (%(count)s):", count=news.open)
        return [*_listed(head, news.still_open, limit), ""]
    head = _("New since the last e-mail (%(count)s):", count=len(news.new))
    return [*_listed(head, news.new, limit), ""]


def _listed(head: str, texts: tuple[str, ...], limit: int) -> list[str]:
    lines = [head, *(f"  - {text}" for text in texts[:limit])]
    if len(texts) > limit:
        more = len(texts) - limit
        lines.append("  " + _("... and %(more)s more (see the attached report)", more=more))
    return lines


def build_message(
    view: dict[str, Any],
    report_cfg: Any,
    *,
    html: str | None = None,
    tz: str = "UTC",
    news: MailNews | None = None,
) -> EmailMessage:
    """The e-mail: summary as the body, the HTML report attached."""
    to = recipients(report_cfg)
    if not to:
        raise ConfigError(_("[report] email_to: no recipients configured"))
    host = getattr(report_cfg, "smtp_host", None) or "localhost"
    sender = getattr(report_cfg, "email_from", None) or f"kleansync@{host}"
    msg = EmailMessage()
    msg["Subject"] = subject(view, news)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    head = "".join(f"{line}\n" for line in news_lines(news, tz))
    limit = getattr(report_cfg, "shown_rows", SHOWN_ROWS)
    msg.set_content(redact(head) + render_mail_text(view, tz=tz, limit=limit))
    report = redact(html) if html is not None else render(view, "html", tz=tz, shown_rows=limit)
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
            _(
                "environment variable %(name)s is not set (named by [report] smtp_password_env); "
                "it must hold the SMTP password",
                name=name,
            )
        )
    register_secret(value)
    return value


def send(msg: EmailMessage, report_cfg: Any, *, env: Mapping[str, str] | None = None) -> None:
    """Deliver ``msg`` over SMTP; ``ConfigError``/``TransientError`` with a redacted message."""
    host = getattr(report_cfg, "smtp_host", None)
    if not host:
        raise ConfigError(_("[report] smtp_host: needed to e-mail reports (or remove email_to)"))
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
            _(
                "SMTP server %(server)s refused the login of %(user)r (%(code)s)",
                server=f"{host}:{port}",
                user=user,
                code=exc.smtp_code,
            )
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(
            redact(
                _(
                    "could not e-mail the report via %(server)s: %(kind)s: %(error)s",
                    server=f"{host}:{port}",
                    kind=type(exc).__name__,
                    error=exc,
                )
            )
        ) from None


def mail_report(
    data: dict[str, Any],
    report_cfg: Any,
    *,
    html: str | None = None,
    tz: str = "UTC",
    env: Mapping[str, str] | None = None,
    store: Store | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """E-mail a run's report if it needs an admin; True if a mail went out.

    With ``store``: only if the run brings something new since the last
    mail, or a reminder is due (``reconciler.reporting.news``). Never
    raises: a mail server that is down must not turn a good sync into a
    failed one. Problems are logged as one warning line.
    """
    news = None
    try:
        view = build_view(data)
        if not recipients(report_cfg):
            return False
        if store is None:
            if not needs_attention(view):
                return False
        else:
            items = {**store_items(store), **view_items(view)}
            remind = remind_every(report_cfg)
            news = news_for(store, _channel(view), items, now=now, remind=remind)
            if not news.send:
                logger.info("report e-mail not sent: {} since the last one", news.reason)
                return False
        send(build_message(view, report_cfg, html=html, tz=tz, news=news), report_cfg, env=env)
    except KleansyncError as exc:
        logger.warning("report e-mail not sent: {}", exc)
        return False
    if store is not None and news is not None:
        remember_sent(store, news, now=now)
    logger.info("report e-mailed to {}", ", ".join(recipients(report_cfg)))
    return True


def _channel(view: dict[str, Any]) -> str:
    """Previews (dry runs) have their own memory: they must not hush the real run's mail."""
    return "report-dry" if view["run"]["dry_run"] else "report"


async def mail_report_async(
    data: dict[str, Any],
    report_cfg: Any,
    *,
    html: str | None = None,
    tz: str = "UTC",
    store: Store | None = None,
) -> bool:
    """``mail_report`` off the event loop (smtplib blocks)."""
    return await asyncio.to_thread(mail_report, data, report_cfg, html=html, tz=tz, store=store)
