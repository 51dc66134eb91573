"""The emulators' own errors: the sandbox imports nothing of ``reconciler``.

Why its own: the emulators stand in for two outside services and must stay
usable without the application (and the application's layering checked
without them). The CLI turns a ``SandboxError`` into its one-line error with
the exit code of a configuration problem (``reconciler.cli.app.guarded``).
"""

from __future__ import annotations


class SandboxError(Exception):
    """The emulators cannot be served as asked (a port in use, say)."""
