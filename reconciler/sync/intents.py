"""What the journal keeps of a write before it is sent.

Kept apart from ``apply`` (which sends) and ``recovery`` (which settles what a
killed run left), since both read it: above all the idempotency key a create
carries on every attempt, the recovery's included.
"""

from __future__ import annotations

import uuid
from typing import Any

from reconciler.sync.plan_model import Action
from state.tables import Journal


def payload_of(action: Action) -> dict[str, Any]:
    """What the journal keeps of an action; a create gets its own idempotency key.

    The key is made once, here, before anything is sent, and stored with the
    intent, so every attempt of this create (the recovery after a crash
    included) sends the same one. A fresh UUID rather than the row id: a
    state store rebuilt from scratch restarts ids, and a reused key would
    be answered with another create's record.
    """
    payload: dict[str, Any] = {"fields": action.fields, "source_id": action.source_id}
    if action.op == "create":
        payload["idempotency_key"] = f"kleansync-{uuid.uuid4()}"
    return payload


def idempotency_key(entry: Journal) -> str | None:
    """The create's idempotency key (None for rows journaled before keys existed)."""
    key = entry.payload.get("idempotency_key")
    return key if isinstance(key, str) and key else None
