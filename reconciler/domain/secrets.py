"""The process's secrets and their masking: what must never be printed, and ``redact``.

Why in ``domain``: every layer writes text somewhere (the state store keeps
error reasons, the connectors quote services' answers, the reports and the
CLI print), and each must mask the same secrets. The registry is plain data
with no dependencies, so the lowest layer holds it and the state store can
use it without importing the application (``reconciler.log`` puts it on the
log sink and re-exports it for the rest).
"""

from __future__ import annotations

_SECRETS: set[str] = set()
MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a value that must never be printed (tokens, webhook secrets)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
