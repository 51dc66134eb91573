"""How far a long step has come, told to whoever shows it (the CLI's bar or its lines).

A first sync of a few thousand customers spends most of its time paging
through both services' lists before it writes anything; a progress bar that
only starts with the writes leaves the admin looking at a silent terminal
for minutes. So the paged listings (``connectors.listing.PageCheck``) report
the rows they have read, the snapshot names the phase around each listing
(``phase("KleanApp: Kunden lesen")``), and the CLI installs a ``Reporter``
for the run (``showing``). Without one (the service, tests) every call is a
no-op.

Context variables, not arguments: the listing sits several layers below the
engine, and threading a callback through every connector method for a
display concern would touch every signature on the way. ``asyncio.run``
copies the context it is started in, so a reporter installed around it is
seen by the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

__all__ = ["Reporter", "phase", "rows_read", "showing"]


class Reporter(Protocol):
    def update(self, phase: str, done: int, total: int | None) -> None:
        """``done`` of ``total`` (None: not known yet) in the step called ``phase``."""


_REPORTER: ContextVar[Reporter | None] = ContextVar("kleansync_progress", default=None)
_PHASE: ContextVar[str | None] = ContextVar("kleansync_progress_phase", default=None)


@contextmanager
def showing(reporter: Reporter | None) -> Iterator[None]:
    """Send progress to ``reporter`` while the block runs (None: to nobody)."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


@contextmanager
def phase(label: str) -> Iterator[None]:
    """Rows read inside the block count for the step ``label``."""
    token = _PHASE.set(label)
    try:
        yield
    finally:
        _PHASE.reset(token)


def rows_read(done: int, total: int | None) -> None:
    """A listing has read ``done`` of ``total`` rows (outside a phase: not shown)."""
    reporter, label = _REPORTER.get(), _PHASE.get()
    if reporter is not None and label is not None:
        reporter.update(label, done, total)
