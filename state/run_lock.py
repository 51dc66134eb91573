"""The run lock: one run at a time across processes, fenced.

Why a fencing token: a lock with a heartbeat can be taken over from a
holder that only *looked* dead (a paused process, a stalled database), and
that holder then wakes up believing it still holds the lock. Every
acquisition therefore increases ``token``; the holder checks, before each
write to an outside system, that the row still carries its own token
(``Fence`` in ``reconciler.sync.fence``) and stops at once when it does not.

The row is never deleted: release marks ``holder`` as released (keeping
who it was, for the message of a run that finds its lock gone) and keeps
``token``, so a later acquisition continues counting instead of starting
over (an old holder could otherwise meet "its" token again). Release, heartbeat and
takeover are conditional updates on the token, so only the holder can
release its lock and two processes racing for it cannot both win.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from reconciler.domain.errors import RunInProgress
from state.tables import RunLock, utcnow


@dataclass(frozen=True)
class Grant:
    """The lock as just acquired: its fencing token, and whom it was taken from."""

    token: int
    #: The holder whose stale lock was taken over, or None (the lock was free).
    taken_from: RunLock | None = None

    @property
    def previous_alive(self) -> bool:
        """The holder taken over is on this host and its process still exists (paused)."""
        prev = self.taken_from
        return prev is not None and same_host(prev.holder) and pid_alive(prev.pid)


#: Prefix of ``holder`` once released ("released:host:pid:nonce").
RELEASED = "released:"


def held(holder: str) -> bool:
    """Whether a lock row's ``holder`` names a current holder (not free)."""
    return bool(holder) and not holder.startswith(RELEASED)


def same_host(holder: str) -> bool:
    return holder.split(":")[0] == socket.gethostname()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def acquire(engine: Engine, name: str, holder: str, pid: int, stale_after: dt.timedelta) -> Grant:
    """Take the named lock or raise ``RunInProgress``; see the module docstring.

    A lock whose heartbeat is older than ``stale_after`` belongs to a process
    that died or stopped (SIGKILL, SIGSTOP, power loss) and is taken over; on
    the same host, a holder whose pid no longer exists is dead at once.
    """
    now = utcnow()
    with Session(engine) as s:
        row = s.get(RunLock, name)
        if row is None:
            s.add(RunLock(name=name, holder=holder, pid=pid, token=1, since=now, heartbeat=now))
            try:
                s.commit()
                return Grant(1)
            except IntegrityError:
                s.rollback()
                row = s.get(RunLock, name)
                if row is None:  # pragma: no cover - rows are never deleted
                    return acquire(engine, name, holder, pid, stale_after)
        previous: RunLock | None = None
        if held(row.holder):
            dead = row.holder.split(":")[0] == holder.split(":")[0] and not pid_alive(row.pid)
            if row.heartbeat >= now - stale_after and not dead:
                raise RunInProgress(row.since, row.pid, row.holder)
            previous = RunLock.model_validate(row.model_dump())
        token = row.token + 1
        # Conditional on the heartbeat too: a holder that beat since we read
        # the row is alive after all, and keeps its lock.
        taken = _updated(
            s,
            [
                col(RunLock.name) == name,
                col(RunLock.token) == row.token,
                col(RunLock.heartbeat) == row.heartbeat,
            ],
            holder=holder,
            pid=pid,
            token=token,
            since=now,
            heartbeat=now,
        )
        s.commit()
        if taken != 1:
            s.expire_all()
            fresh = s.get(RunLock, name)
            if fresh is None:  # pragma: no cover - rows are never deleted
                return acquire(engine, name, holder, pid, stale_after)
            raise RunInProgress(fresh.since, fresh.pid, fresh.holder)
        return Grant(token, previous)


def heartbeat(engine: Engine, name: str, holder: str, token: int | None = None) -> bool:
    """Prove the holder is alive; False if the lock is no longer its own."""
    with Session(engine) as s:
        done = _updated(s, _holding(name, holder, token), heartbeat=utcnow())
        s.commit()
        return done == 1


def release(engine: Engine, name: str, holder: str, token: int | None = None) -> bool:
    """Give the lock up; only its holder (with its token) can. True if released."""
    with Session(engine) as s:
        done = _updated(s, _holding(name, holder, token), holder=f"{RELEASED}{holder}")
        s.commit()
        return done == 1


def current(engine: Engine, name: str) -> RunLock | None:
    """The lock row (held or released), fresh from the database."""
    with Session(engine) as s:
        return s.get(RunLock, name)


def _holding(name: str, holder: str, token: int | None) -> list[ColumnElement[bool]]:
    """The lock row ``name`` while ``holder`` (with ``token``, if given) holds it."""
    conditions = [col(RunLock.name) == name, col(RunLock.holder) == holder]
    if token is not None:
        conditions.append(col(RunLock.token) == token)
    return conditions


def _updated(s: Session, where: list[ColumnElement[bool]], **values: Any) -> int:
    """Update the lock rows matching ``where``; how many matched (a conditional write)."""
    result = s.execute(update(RunLock).where(*where).values(**values))
    assert isinstance(result, CursorResult)  # an UPDATE's result counts its rows
    return result.rowcount
