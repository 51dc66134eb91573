"""What makes a saved plan safe to apply: whose store it came from, and whether it ran.

A plan saved with ``sync --plan-out`` is applied later with ``--apply-plan``.
Applied twice, or against another state store (a copy, a test store, the
neighbour company's), its creates and link writes clash with what the store
already holds, and the run used to end in a database error quoting customer
data. So each store has an identity, made once (``store_identity``), which a
plan carries, and every plan applied is recorded by its id (``AppliedPlan``),
so the engine refuses such a plan in one line before anything is written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from state.tables import when

if TYPE_CHECKING:
    from state.store import Store


class StoreIdentity(SQLModel, table=True):
    """One row: this store's identity, made the first time anyone asks for it."""

    __tablename__ = "store_identity"
    id: int = Field(default=1, primary_key=True)
    store_id: str
    created_at: dt.datetime = when(default_now=True)


class AppliedPlan(SQLModel, table=True):
    """A saved plan that a run started to apply (it is never applied again)."""

    __tablename__ = "applied_plan"
    plan_id: str = Field(primary_key=True)
    run_id: str
    applied_at: dt.datetime = when(default_now=True)


def store_identity(store: Store) -> str:
    """This store's identity (a random id, the same for as long as the store lives)."""
    with store.session() as s:
        row = s.get(StoreIdentity, 1)
        if row is not None:
            return row.store_id
    try:
        with store.session() as s:
            s.add(StoreIdentity(id=1, store_id=uuid.uuid4().hex))
    except IntegrityError:
        pass  # another process made it at the same moment: theirs counts
    with store.session() as s:
        made = s.get(StoreIdentity, 1)
        assert made is not None  # written just above, by us or by the other process
        return made.store_id


def applied_plan(store: Store, plan_id: str) -> AppliedPlan | None:
    """The record of the run that applied ``plan_id``, if one did."""
    with store.session() as s:
        return s.get(AppliedPlan, plan_id)


def record_applied_plan(store: Store, plan_id: str, run_id: str) -> bool:
    """Record that ``run_id`` applies ``plan_id``; False if a run did so already."""
    try:
        with store.session() as s:
            s.add(AppliedPlan(plan_id=plan_id, run_id=run_id))
    except IntegrityError:
        return False
    return True
