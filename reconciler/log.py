"""Logging to stderr with loguru, with secrets masked at the last moment.

Why mask at the sink and not at the call sites: a token can reach a log line
by paths nobody planned (an exception's repr, a URL, a third-party message).
Every secret the process learns is registered once (the registry itself is
``reconciler.domain.secrets``, re-exported here), and every line written to
stderr, every error printed by the CLI and every report passes through
``redact`` on its way out.
"""

from __future__ import annotations

import sys
from typing import TextIO

from loguru import logger

from reconciler.domain.secrets import MASK, redact, register_secret

__all__ = ["MASK", "redact", "register_secret", "setup_logging"]


def setup_logging(verbose: int = 0, quiet: bool = False, stream: TextIO | None = None) -> None:
    """Send loguru's output to stderr (never stdout: ``--json`` owns stdout)."""
    level = "WARNING" if quiet else ("DEBUG" if verbose > 0 else "INFO")
    out = stream or sys.stderr

    def sink(message: str) -> None:
        out.write(redact(str(message)))
        out.flush()

    logger.remove()
    logger.add(sink, level=level, format="{time:HH:mm:ss} {level: <7} {message}", colorize=False)
