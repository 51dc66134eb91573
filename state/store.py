"""The state store: everything kleansync remembers between runs.

One ``Store`` per process, opened from ``[state] url`` (any SQLAlchemy URL;
SQLite by default, PostgreSQL works with the same code). Every method is a
short transaction of its own, committed before it returns, because the
journal only protects anything if its rows are on disk *before* the request
they describe is sent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import inspect
from sqlmodel import Session, col, func, select

from reconciler.domain.errors import FatalError
from reconciler.domain.secrets import redact
from state import admin_tables, link_queries, run_lock
from state.database import DEFAULT_POOL, Pool, migrate, open_engine
from state.tables import Cursor, Journal, Link, Run, RunLock, utcnow
from state.tenancy import schema_of, scoped


def _masked(value: Any) -> Any:
    """Secrets never reach the disk, whatever a service echoed into an error text."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict | list):
        return json.loads(redact(json.dumps(value, default=str)))
    return value


class Store:
    """Typed access to the state tables; see ``state.tables`` for what each holds."""

    def __init__(
        self,
        url: str,
        *,
        new_store: bool = False,
        pool: Pool = DEFAULT_POOL,
        tenant: str | None = None,
    ) -> None:
        """Open (and on a fresh install create) the store at ``url``.

        ``new_store``: an existing but empty (0-byte) SQLite file may be
        started over. Without it such a file is refused: it is what a full
        disk, a failed copy or a truncating restore leaves behind, and
        treating it as new would silently forget the history, the open
        conflicts and the invoice ledger.
        """
        self.url = url
        self.tenant = tenant
        self.engine = open_engine(url, new_store=new_store, pool=pool, tenant=tenant)
        self._owns_engine = True

    @classmethod
    def sharing(cls, fleet: Store, tenant: str) -> Store:
        """``tenant``'s store on the connections of ``fleet`` (the fleet database's store).

        Why: a process that serves many tenants (the fleet's webhook receiver) would hold
        one pool per tenant, hundreds of idle connections; this store borrows ``fleet``'s
        pool and only adds the tenant's schema to its statements. Its schema is made and
        migrated like any tenant's on first use. ``close`` leaves the pool to ``fleet``.
        """
        if schema_of(fleet.engine) is not None:
            raise ValueError("Store.sharing needs the fleet database's unscoped store")
        store = cls.__new__(cls)
        store.url, store.tenant = fleet.url, tenant
        store.engine = scoped(fleet.engine, tenant)
        migrate(store.engine)
        store._owns_engine = False
        return store

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    def tables(self) -> list[str]:
        return inspect(self.engine).get_table_names(schema=schema_of(self.engine))

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # -- runs -------------------------------------------------------------
    def start_run(self, run: Run) -> Run:
        with self.session() as s:
            s.add(run)
        return run

    def finish_run(self, run_id: str, **values: Any) -> Run:
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise FatalError(f"run {run_id} vanished from the state store")
            for name, value in values.items():
                setattr(run, name, _masked(value))
            run.finished_at = utcnow()
            s.add(run)
        return run

    def mark_interrupted_runs(self, *, except_pid: int | None = None) -> int:
        """Runs left 'running' by a killed process become 'interrupted'.

        ``except_pid``: a process known to be alive (its lock was taken over
        while it was paused); its run is left to record its own end.
        """
        with self.session() as s:
            rows = s.exec(select(Run).where(Run.outcome == "running")).all()
            rows = [run for run in rows if except_pid is None or run.pid != except_pid]
            for run in rows:
                run.outcome = "interrupted"
                run.error = "the process ended before the run finished"
                s.add(run)
            return len(rows)

    def get_run(self, run_id: str) -> Run | None:
        with self.session() as s:
            return s.get(Run, run_id)

    def runs(self, limit: int = 20, *, dry_run: bool | None = None) -> list[Run]:
        """The latest runs, newest first (only real or only dry ones if asked)."""
        with self.session() as s:
            query = select(Run).order_by(col(Run.started_at).desc())
            if dry_run is not None:
                query = query.where(Run.dry_run == dry_run)
            return list(s.exec(query.limit(limit)))

    def count_runs(
        self,
        *,
        dry_run: bool = False,
        outcome: str | None = None,
        exclude_trigger: str | tuple[str, ...] = "",
    ) -> int:
        """Finished runs (of the given kind); the one in progress does not count."""
        excluded = (exclude_trigger,) if isinstance(exclude_trigger, str) else exclude_trigger
        with self.session() as s:
            query = (
                select(func.count())
                .select_from(Run)
                .where(
                    Run.dry_run == dry_run,
                    Run.outcome != "running",
                    col(Run.trigger).not_in(excluded),
                )
            )
            if outcome:
                query = query.where(Run.outcome == outcome)
            return s.exec(query).one()

    # -- links and base ---------------------------------------------------
    def links(self, entity: str) -> list[Link]:
        with self.session() as s:
            return list(s.exec(select(Link).where(Link.entity == entity)))

    def stored_links(self, entity: str) -> link_queries.StoredLinks:
        """Every link of ``entity``, read in batches while iterated (``StoredLinks``)."""
        return link_queries.StoredLinks(self, entity)

    # Looked up by id, key or counted instead of read all at once (see state.link_queries).
    count_links = link_queries.count_links
    links_by_ids = link_queries.links_by_ids
    link_ids = link_queries.link_ids
    links_by_keys = link_queries.links_by_keys
    link_ids_by_keys = link_queries.link_ids_by_keys
    taken_numbers = link_queries.taken_numbers
    links_without_fingerprints = link_queries.links_without_fingerprints
    insert_links = link_queries.insert_links
    keep_digests = link_queries.keep_digests

    def get_link(self, link_id: int) -> Link | None:
        with self.session() as s:
            return s.get(Link, link_id)

    def save_link(self, link: Link) -> Link:
        link.updated_at = utcnow()
        with self.session() as s:
            link = s.merge(link)
            s.flush()
            s.refresh(link)
        return link

    def delete_link(self, link_id: int) -> None:
        with self.session() as s:
            link = s.get(Link, link_id)
            if link is not None:
                s.delete(link)

    # -- cursors ----------------------------------------------------------
    def cursor(self, side: str, entity: str) -> dt.datetime | None:
        with self.session() as s:
            row = s.exec(select(Cursor).where(Cursor.side == side, Cursor.entity == entity)).first()
            return row.value if row else None

    def set_cursor(self, side: str, entity: str, value: dt.datetime) -> None:
        with self.session() as s:
            row = s.exec(select(Cursor).where(Cursor.side == side, Cursor.entity == entity)).first()
            if row is None:
                row = Cursor(side=side, entity=entity, value=value)
            elif value <= row.value:
                return
            row.value = value
            s.add(row)

    # -- journal ----------------------------------------------------------
    def journal_intent(self, entry: Journal) -> Journal:
        """Record a write before it is sent; committed when this returns."""
        with self.session() as s:
            s.add(entry)
            s.flush()
            s.refresh(entry)
        return entry

    def journal_outcome(
        self,
        entry_id: int,
        state: str,
        *,
        result_id: str | None = None,
        error: str | None = None,
        only_pending: bool = False,
    ) -> None:
        """Complete a journal row (``only_pending``: unless another run settled it already)."""
        with self.session() as s:
            entry = s.get(Journal, entry_id)
            if entry is None or (only_pending and entry.state != "pending"):
                return
            entry.state = state
            entry.result_id = result_id
            entry.error = _masked(error)
            entry.finished_at = utcnow()
            s.add(entry)

    def pending_journal(self) -> list[Journal]:
        """Writes whose outcome was never recorded (the process died mid-way)."""
        with self.session() as s:
            return list(s.exec(select(Journal).where(Journal.state == "pending")))

    def journal(self, run_id: str | None = None) -> list[Journal]:
        with self.session() as s:
            query = select(Journal).order_by(col(Journal.id))
            if run_id:
                query = query.where(Journal.run_id == run_id)
            return list(s.exec(query))

    # -- what waits for an admin, and the admins' answers (see state.admin_tables) ----
    add_conflicts = admin_tables.add_conflicts
    open_conflicts = admin_tables.open_conflicts
    close_conflicts = admin_tables.close_conflicts
    add_quarantined = admin_tables.add_quarantined
    count_quarantined = admin_tables.count_quarantined
    add_parked = admin_tables.add_parked
    close_parked = admin_tables.close_parked
    open_parked = admin_tables.open_parked
    get_conflict = admin_tables.get_conflict
    conflicts = admin_tables.conflicts
    resolve_conflict = admin_tables.resolve_conflict
    resolved_conflicts = admin_tables.resolved_conflicts
    mark_conflict_applied = admin_tables.mark_conflict_applied
    get_parked = admin_tables.get_parked
    parked = admin_tables.parked
    resolve_parked = admin_tables.resolve_parked
    parked_resolutions = admin_tables.parked_resolutions
    mark_parked_resolution_applied = admin_tables.mark_parked_resolution_applied

    def last_run(self, *, with_result: bool = False) -> Run | None:
        """The most recent run (only finished ones with a stored result if asked)."""
        with self.session() as s:
            query = select(Run).order_by(col(Run.started_at).desc())
            if not with_result:
                return s.exec(query.limit(1)).first()
            # JSON columns store None as JSON null, so filter here, not in SQL.
            return next((run for run in s.exec(query) if run.result), None)

    # -- one run at a time (fenced; see state.run_lock) --------------------
    def acquire_lock(
        self, name: str, holder: str, pid: int, stale_after: dt.timedelta
    ) -> run_lock.Grant:
        """Take the named lock (a new, larger fencing token) or raise ``RunInProgress``."""
        return run_lock.acquire(self.engine, name, holder, pid, stale_after)

    def heartbeat(self, name: str, holder: str, token: int | None = None) -> bool:
        """Prove the holder is alive; False if the lock was lost."""
        return run_lock.heartbeat(self.engine, name, holder, token)

    def release_lock(self, name: str, holder: str, token: int | None = None) -> bool:
        """Release the lock if (and only if) ``holder`` (with ``token``) still holds it."""
        return run_lock.release(self.engine, name, holder, token)

    def lock_row(self, name: str) -> RunLock | None:
        """The lock row as it is now, held or released (for the fence check)."""
        return run_lock.current(self.engine, name)

    def lock_holder(self, name: str) -> RunLock | None:
        """Who holds the lock now, or None when nobody does."""
        row = run_lock.current(self.engine, name)
        return row if row is not None and run_lock.held(row.holder) else None


# Every table module, so ``state.database.migrate`` creates all of them. At the end
# because some of them use ``Store`` in their helpers.
from state import (  # noqa: E402, F401
    alert_tables,
    invoice_tables,
    mail_tables,
    part_tables,
    plan_tables,
    refusal_tables,
    service_tables,
)
