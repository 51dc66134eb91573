"""Every write the invoice export sends, journaled: its ``Journal`` row committed first.

A process killed between the row and the answer leaves it ``pending``;
``reconciler.invoices.recover`` settles such rows at the start of the next
run by reading back, never by sending again. ``KLEANSYNC_CRASH_AT`` (the same
switch as ``reconciler.sync.apply``) kills the process at one such point,
``after_intent:invoice.sevdesk.create`` or ``after_request:…``, for crash tests.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from reconciler.domain.errors import KleansyncError, LockLost, TransientError
from reconciler.domain.models import Invoice, Remote
from state import Store
from state.tables import Journal

#: The journal's entity for invoice writes (the sync engine's rows are left to it).
ENTITY = "invoice"
#: ``stage:invoice.side.op`` SIGKILLs the process there.
CRASH_ENV = "KLEANSYNC_CRASH_AT"

T = TypeVar("T")


def _crashpoint(stage: str, key: str) -> None:
    if os.environ.get(CRASH_ENV) == f"{stage}:{key}":
        os.kill(os.getpid(), signal.SIGKILL)


async def journaled(
    store: Store,
    run_id: str,
    remote: Remote[Invoice],
    side: str,
    op: str,
    call: Callable[[], Awaitable[T]],
    *,
    target_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> T:
    """Run ``call`` (one write to ``side``) with its journal row committed before it.

    A write that surely failed is marked ``failed``; one whose outcome is unknown
    (``maybe_written``, or the lock lost) stays ``pending`` for ``recover``.
    """
    return await journaled_for(
        store,
        run_id,
        remote.id,
        remote.record.number,
        side,
        op,
        call,
        target_id=target_id,
        payload=payload,
    )


async def journaled_for(
    store: Store,
    run_id: str,
    kleanapp_id: str,
    number: str,
    side: str,
    op: str,
    call: Callable[[], Awaitable[T]],
    *,
    target_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> T:
    """``journaled`` for an invoice known by its KleanApp id and number (the status poll)."""
    key = f"{ENTITY}.{side}.{op}"
    entry = store.journal_intent(
        Journal(
            run_id=run_id,
            action_id=f"{key}:{kleanapp_id}",
            entity=ENTITY,
            side=side,
            op=op,
            key=number,
            target_id=target_id,
            payload={"kleanapp_id": kleanapp_id, **(payload or {})},
        )
    )
    _crashpoint("after_intent", key)
    try:
        result = await call()
    except LockLost:
        raise  # stays pending: the lock's new holder reads it back
    except TransientError as exc:
        # Outcome unknown when maybe_written: stays pending, recover() reads back.
        if not exc.maybe_written:
            store.journal_outcome(entry.stored_id, "failed", error=str(exc))
        raise
    except KleansyncError as exc:
        store.journal_outcome(entry.stored_id, "failed", error=str(exc))
        raise
    _crashpoint("after_request", key)
    result_id = getattr(result, "id", None)
    store.journal_outcome(entry.stored_id, "done", result_id=result_id and str(result_id))
    return result
