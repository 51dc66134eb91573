"""What waits for an admin: conflicts, parked and quarantined records, and the admins' answers.

A parked match (one customer number used by several records) is settled by
an admin: link the record with one particular record of the other side, or
create a new counterpart for it. ``Parked`` has no column for that answer,
and the answer must outlive the process (it is applied by the *next* run,
which may be hours later in the nightly service), so it gets a table of its
own. The engine reads the rows with ``applied`` false, carries them out and
marks them applied; the row stays as the record of who decided what.

The functions below are ``Store`` methods (``Store`` binds them, so callers
write ``store.open_conflicts()``); they live here, next to the answers' table,
because they are the queue's rules: a record set aside for the same reason is
remembered once, a parked record is parked once, and a resolution is a
conditional update ("... WHERE status = 'open'"), so two admins answering the
same conflict at once cannot both win.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, update
from sqlmodel import Field, SQLModel, col, select

from state.tables import ConflictRow, Parked, QuarantineRow, utcnow, when

if TYPE_CHECKING:
    from state.store import Store


class ParkedResolution(SQLModel, table=True):
    __tablename__ = "parked_resolution"
    id: int | None = Field(default=None, primary_key=True)
    #: The ``Parked`` row the admin answered (one answer per parked row).
    parked_id: int = Field(index=True, unique=True)
    entity: str
    #: The parked record itself, copied so the engine needs no join.
    side: str
    record_id: str
    action: str  # link | create-new
    #: For "link": the record of the other side, as "side:id" (e.g. "sevdesk:100002").
    with_id: str | None = None
    #: For "link": the other record's own ``Parked`` row, settled by the same answer.
    with_parked_id: int | None = None
    by: str
    #: "console" (``by`` is a console account) or "cli" (a login name, by hand).
    via: str | None = None
    at: dt.datetime = when(default_now=True)
    applied: bool = Field(default=False, index=True)
    applied_at: dt.datetime | None = when()
    applied_run_id: str | None = None


# -- what a run leaves for an admin -------------------------------------------------------
def add_conflicts(store: Store, rows: list[ConflictRow]) -> None:
    with store.session() as s:
        s.add_all(rows)


def open_conflicts(store: Store) -> list[ConflictRow]:
    with store.session() as s:
        return list(s.exec(select(ConflictRow).where(ConflictRow.status == "open")))


def close_conflicts(store: Store, link_id: int, fields: set[str] | None = None) -> int:
    """Close open manual conflicts of a link (all, or those on ``fields``)."""
    with store.session() as s:
        rows = s.exec(
            select(ConflictRow).where(ConflictRow.link_id == link_id, ConflictRow.status == "open")
        ).all()
        closed = 0
        for row in rows:
            if fields is None or row.field in fields:
                row.status = "closed"
                row.resolved_at = utcnow()
                s.add(row)
                closed += 1
        return closed


def add_quarantined(
    store: Store, rows: list[QuarantineRow], *, complete: Collection[tuple[str, str]] = ()
) -> list[QuarantineRow]:
    """Remember quarantined records; returns the ones not already remembered.

    A record set aside for the same reason as before is not added again
    (it would be a new row, and a new report line, on every run). For the
    ``(side, entity)`` reads in ``complete``, rows of records no longer
    quarantined are forgotten: those were fixed or are gone.
    """
    with store.session() as s:
        existing = list(s.exec(select(QuarantineRow)))
        known = {(q.side, q.entity, q.record_id, q.reason) for q in existing}
        now = {(r.side, r.entity, r.record_id, r.reason) for r in rows}
        for old in existing:
            key = (old.side, old.entity, old.record_id, old.reason)
            if (old.side, old.entity) in complete and key not in now:
                s.delete(old)
        new = [r for r in rows if (r.side, r.entity, r.record_id, r.reason) not in known]
        s.add_all(new)
    return new


def count_quarantined(store: Store) -> int:
    """How many records are set aside now (each until it is fixed or gone)."""
    with store.session() as s:
        return int(s.exec(select(func.count()).select_from(QuarantineRow)).one())


def add_parked(store: Store, rows: list[Parked]) -> None:
    """Park records; one already waiting is not parked twice."""
    with store.session() as s:
        waiting = {
            (p.entity, p.side, p.record_id)
            for p in s.exec(select(Parked).where(Parked.status == "open"))
        }
        s.add_all(r for r in rows if (r.entity, r.side, r.record_id) not in waiting)


def close_parked(store: Store, linked: set[tuple[str, str]]) -> int:
    """Parked records that got linked since (by a later run or an admin) close."""
    with store.session() as s:
        closed = 0
        for row in s.exec(select(Parked).where(Parked.status == "open")):
            if (row.side, row.record_id) in linked:
                row.status = "closed"
                s.add(row)
                closed += 1
        return closed


def open_parked(store: Store) -> list[Parked]:
    with store.session() as s:
        return list(s.exec(select(Parked).where(Parked.status == "open")))


# -- the admins' answers --------------------------------------------------------------------
def get_conflict(store: Store, conflict_id: int) -> ConflictRow | None:
    with store.session() as s:
        return s.get(ConflictRow, conflict_id)


def conflicts(store: Store, statuses: tuple[str, ...] | None = None) -> list[ConflictRow]:
    with store.session() as s:
        query = select(ConflictRow).order_by(col(ConflictRow.id))
        if statuses:
            query = query.where(col(ConflictRow.status).in_(statuses))
        return list(s.exec(query))


def resolve_conflict(
    store: Store,
    conflict_id: int,
    resolution: dict[str, Any],
    by: str,
    at: dt.datetime,
    *,
    from_statuses: tuple[str, ...] = ("open",),
    via: str | None = None,
) -> bool:
    """Mark an open conflict resolved; False if it was not open (any more).

    ``from_statuses=("open", "resolved")`` changes an answer the next run has not
    carried out yet (the console's "change the answer"). Every answer raises the
    row's ``revision``, in the same statement: that is how a run tells the answer it
    planned with from one given while it was writing (``mark_conflict_applied``).
    """
    with store.session() as s:
        result = s.exec(
            update(ConflictRow)
            .where(col(ConflictRow.id) == conflict_id, col(ConflictRow.status).in_(from_statuses))
            .values(
                status="resolved",
                resolution=resolution,
                resolved_by=by,
                resolved_at=at,
                resolved_via=via,
                revision=col(ConflictRow.revision) + 1,
            )
        )
        return result.rowcount == 1


def resolved_conflicts(store: Store) -> list[ConflictRow]:
    """Resolutions the next run must carry out (status ``resolved``)."""
    return conflicts(store, ("resolved",))


def mark_conflict_applied(store: Store, conflict_id: int, revision: int | None = None) -> bool:
    """The run wrote the answer of ``revision`` to both sides: mark the conflict applied.

    Only if that answer is still the current one (one conditional UPDATE): an answer
    changed in the console after the run planned stays "resolved", and the next run
    writes it. False when nothing was marked. ``revision`` None (a plan saved before
    revisions were recorded) marks whatever answer is current, as before.
    """
    where = [col(ConflictRow.id) == conflict_id, col(ConflictRow.status) == "resolved"]
    if revision is not None:
        where.append(col(ConflictRow.revision) == revision)
    with store.session() as s:
        result = s.exec(update(ConflictRow).where(*where).values(status="applied"))
        return result.rowcount == 1


def get_parked(store: Store, parked_id: int) -> Parked | None:
    with store.session() as s:
        return s.get(Parked, parked_id)


def parked(store: Store, statuses: tuple[str, ...] | None = None) -> list[Parked]:
    with store.session() as s:
        query = select(Parked).order_by(col(Parked.id))
        if statuses:
            query = query.where(col(Parked.status).in_(statuses))
        return list(s.exec(query))


def resolve_parked(store: Store, resolution: ParkedResolution) -> bool:
    """Store a ``ParkedResolution`` and mark its parked row(s) resolved, atomically.

    False (and nothing stored) when the parked row, or the other record's
    parked row it links to, is no longer open.
    """
    ids = [resolution.parked_id]
    if resolution.with_parked_id is not None:
        ids.append(resolution.with_parked_id)
    with store.session() as s:
        result = s.exec(
            update(Parked)
            .where(col(Parked.id).in_(ids), col(Parked.status) == "open")
            .values(status="resolved")
        )
        if result.rowcount != len(ids):
            s.rollback()
            return False
        s.add(resolution)
        s.flush()
        s.refresh(resolution)
        return True


def parked_resolutions(store: Store, applied: bool | None = None) -> list[ParkedResolution]:
    """``ParkedResolution`` rows; ``applied=False``: what the next run must do."""
    with store.session() as s:
        query = select(ParkedResolution).order_by(col(ParkedResolution.id))
        if applied is not None:
            query = query.where(ParkedResolution.applied == applied)
        return list(s.exec(query))


def mark_parked_resolution_applied(
    store: Store, resolution_id: int, run_id: str | None = None
) -> None:
    with store.session() as s:
        row = s.get(ParkedResolution, resolution_id)
        if row is not None and not row.applied:
            row.applied = True
            row.applied_at = utcnow()
            row.applied_run_id = run_id
            s.add(row)
