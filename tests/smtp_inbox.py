"""A real SMTP server (aiosmtpd) on a free loopback port, and the mails it accepted.

``from tests.smtp_inbox import Inbox, smtp_server`` in a test module makes the ``smtp``
fixture ``(inbox, port)`` available there (import ``smtp_server``, ask for ``smtp``).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from sandbox.serve import free_port


@dataclass
class Inbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def body(self, i: int) -> str:
        return self.messages[i].get_body(preferencelist=("plain",)).get_content()


@pytest.fixture(name="smtp")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
