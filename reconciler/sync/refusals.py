"""A write a service refused: parked as waiting for a fix, reported this once.

A refused record is refused again on every run until someone fixes it where
it was typed (``state.refusal_tables`` says why it is remembered). What the
admin needs from the refusal is the field and the service's message, in one
short line; this module turns the service's answer into that line and the
parked row, so the applier only decides *that* a write was refused.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from reconciler.domain.bounds import one_line
from reconciler.domain.errors import RemoteValidationError
from reconciler.domain.models import SIDE_LABEL
from reconciler.domain.problems import problem
from reconciler.sync.plan_model import Action
from state.refusal_tables import Refusal, Refusals


def refusal_reason(action: Action, exc: RemoteValidationError) -> tuple[str | None, str]:
    """The field(s) a service refused and its message, as one short line.

    KleanApp names fields (``{"company_name": "must be at most 200
    characters"}``) under a general "validation failed"; those are what an
    admin needs. A service that names none: an update of a single field
    can only have been refused for that field.
    """
    if exc.fields:
        names = sorted(exc.fields)
        text = "; ".join(
            f"{name}: {one_line(msg, 120)}" if len(names) > 1 else one_line(msg, 200)
            for name, msg in sorted(exc.fields.items())
        )
        return ", ".join(names), one_line(text, 240)
    guessed = (
        next(iter(action.fields)) if action.op == "update" and len(action.fields) == 1 else None
    )
    return guessed, one_line(str(exc), 240)


def park_refusal(
    refusals: Refusals,
    action: Action,
    exc: RemoteValidationError,
    *,
    stamp: str,
    records: list[str],
    run_id: str,
) -> dict[str, Any]:
    """Park a refused write as waiting for a fix; the run's error entry for it."""
    field_name, message = refusal_reason(action, exc)
    said = problem(
        "refused",
        "error",
        side=SIDE_LABEL[action.side],
        op=action.op,
        entity=action.entity,
        key=one_line(action.key, 80),
        problem=f"{field_name}: {message}" if field_name else message,
    )
    reason = said["error"] = one_line(said["error"])
    logger.warning("{}", reason)
    refusals.record(
        Refusal(
            action_id=action.id,
            entity=action.entity,
            key=action.key,
            side=action.side,
            op=action.op,
            records=list(records),
            field=field_name,
            message=message,
            fingerprint=stamp,
            first_run_id=run_id,
            last_run_id=run_id,
        )
    )
    return {
        "action": action.id,
        "entity": action.entity,
        "key": action.key,
        "side": action.side,
        "op": action.op,
        "field": field_name,
        **said,
        "waiting_for_fix": True,
    }
