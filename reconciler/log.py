"""Logging to stderr with loguru, with secrets masked at the last moment.

Why mask at the sink and not at the call sites: a token can reach a log line
by paths nobody planned (an exception's repr, a URL, a third-party message).
Every secret the process learns is registered here once, and every line
written to stderr, every error printed by the CLI and every report passes
through ``redact`` on its way out.
"""

from __future__ import annotations

import sys
from typing import TextIO

from loguru import logger

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


def setup_logging(verbose: int = 0, quiet: bool = False, stream: TextIO | None = None) -> None:
    """Send loguru's output to stderr (never stdout: ``--json`` owns stdout)."""
    level = "WARNING" if quiet else ("DEBUG" if verbose > 0 else "INFO")
    out = stream or sys.stderr

    def sink(message: str) -> None:
        out.write(redact(str(message)))
        out.flush()

    logger.remove()
    logger.add(sink, level=level, format="{time:HH:mm:ss} {level: <7} {message}", colorize=False)
