"""The one error tree of kleansync.

Every failure the product can meet is one of these, so the CLI can turn any
of them into a single line and an exit code, and the engine can tell what to
do next by type alone::

    KleansyncError                  base; exit code 1
    ├── ConfigError                 bad config file, flag or environment; exit code 2
    ├── AuthError                   a service rejected our API key; stop the run
    ├── RemoteValidationError       a service refused one record; skip it, go on
    │   └── StillReferenced         it cannot be deleted while documents refer to it
    ├── ChangedMeanwhile            the record changed since we read it; re-plan it
    ├── NotFound                    the record is gone on that side
    ├── TransientError              worth retrying later (5xx, timeout, 429 budget)
    │   ├── Unreachable             no connection to the service at all
    │   └── IncompleteListing       a list did not add up to the service's total; nothing planned
    ├── RunInProgress               another process is running a sync; nothing touched
    ├── LockLost                    another run took this run's lock over; stopped before writing
    ├── StateStoreError             the state database failed; said in one line, no SQL, no data
    ├── MassDeleteBrake             a run would delete too much; stopped before writing
    └── FatalError                  anything else that must stop the run

Messages never contain API tokens: the HTTP layer builds them from status
codes and response bodies only, never from request headers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


class KleansyncError(Exception):
    """Base of every error kleansync raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(KleansyncError):
    """The configuration or the command line is wrong; nothing was attempted."""

    exit_code = 2


class AuthError(KleansyncError):
    """A service answered 401/403: the key is wrong, expired or lacks rights.

    ``service`` ("sevDesk", "KleanApp") and ``status`` say who refused and how,
    so ``serve`` can report a rejected key once (``reconciler.sync.rejected_keys``)
    instead of on every run.
    """

    def __init__(self, message: str, *, service: str | None = None, status: int | None = None):
        super().__init__(message)
        self.service = service
        self.status = status


class RemoteValidationError(KleansyncError):
    """A service refused one record (4xx with a reason). Skippable per record."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class StillReferenced(RemoteValidationError):
    """The record cannot be deleted while documents or positions refer to it."""


class ChangedMeanwhile(KleansyncError):
    """The target changed since it was read (KleanApp 412); never overwrite it.

    ``current`` holds the record as the service has it now, when it said so.
    """

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


class NotFound(KleansyncError):
    """The record does not exist (any more) on that side."""


class TransientError(KleansyncError):
    """A failure that may go away: 5xx, timeout, rate limit out of patience.

    ``maybe_written`` is true when the request was a write that may have taken
    effect although it failed (sevDesk can answer 500 after writing): the
    caller must read back before trying again.
    """

    def __init__(self, message: str, *, maybe_written: bool = False) -> None:
        super().__init__(message)
        self.maybe_written = maybe_written


class Unreachable(TransientError):
    """No HTTP answer at all: refused connection, DNS failure, timeout."""


class IncompleteListing(TransientError):
    """A paged list did not add up to its total twice in a row (see ``connectors.listing``).

    Absent records would be read as deleted and absent parts as cleared
    fields, so the run stops before planning anything.
    """


class RunInProgress(KleansyncError):
    """Another process holds the run lock; nothing was touched."""

    def __init__(self, since: dt.datetime, pid: int, holder: str) -> None:
        local = since.astimezone()
        super().__init__(
            f"a run is in progress since {local:%H:%M:%S} (pid {pid} on {holder.split(':')[0]}); "
            "nothing was changed"
        )
        self.since = since
        self.pid = pid


class LockLost(KleansyncError):
    """Another run took the run lock over: this one stops before its next write.

    Raised by the fence (``reconciler.sync.fence``) in place of a write; what this
    run left undone is planned again by the run that holds the lock now.
    """

    def __init__(self, since: dt.datetime | None, holder: str, writes: int) -> None:
        at = f"{since.astimezone():%H:%M:%S}" if since else "an unknown time"
        host, _, rest = holder.removeprefix("released:").partition(":")
        who = f" (pid {rest.split(':')[0]} on {host})" if rest else ""
        super().__init__(
            f"another run took over the lock at {at}{who}; "
            f"stopped after {writes} writes, nothing lost"
        )
        self.writes = writes


class StateStoreError(KleansyncError):
    """The state database refused or failed a statement (see ``state.db_errors``)."""


class MassDeleteBrake(KleansyncError):
    """The plan would archive/delete more than allowed; nothing was written."""


class NeedsResync(KleansyncError):
    """The state store knows no links, but both sides are already linked by stable ids.

    A sync would create every customer a second time; ``kleansync resync``
    rebuilds the links instead. Exit code 1, like the mass-delete brake: a
    safety stop before any write, not a mistake in the command line or config.
    """


class FatalError(KleansyncError):
    """Something that must stop the run and that retrying will not fix."""
