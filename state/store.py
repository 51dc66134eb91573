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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, create_engine, func, select

from reconciler.domain.errors import ConfigError, FatalError
from reconciler.domain.secrets import redact
from state import run_lock
from state.tables import (
    SCHEMA_VERSION,
    ConflictRow,
    Cursor,
    Journal,
    Link,
    Parked,
    QuarantineRow,
    Run,
    RunLock,
    SchemaInfo,
    utcnow,
)


def _add_columns(engine: Engine, table: str, columns: dict[str, str]) -> None:
    """ALTER TABLE … ADD COLUMN for the columns ``table`` lacks (safe to run twice)."""
    have = {c["name"] for c in inspect(engine).get_columns(table)}
    with engine.begin() as conn:
        for name, sql_type in columns.items():
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")


def _link_fingerprints(engine: Engine) -> None:
    """Schema 3: per-side fingerprints on links.

    Existing links get none; their next agreed state fills them (the planner
    compares those fields by value once, and a pair both sides agree on is
    then saved without any write), so no re-link is needed.
    """
    _add_columns(engine, "link", {"kleanapp_raw": "JSON", "sevdesk_raw": "JSON"})


#: version -> step that brings the schema from version-1 to version.
#: create_all adds new tables by itself; steps are for changed columns.
MIGRATIONS: dict[int, Callable[[Engine], None]] = {3: _link_fingerprints}


def _add_lock_token(engine: Engine) -> None:
    """Schema 2: the run lock's fencing token (existing rows start at 0)."""
    columns = {c["name"] for c in inspect(engine).get_columns("run_lock")}
    if "token" not in columns:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE run_lock ADD COLUMN token INTEGER NOT NULL DEFAULT 0"))


MIGRATIONS[2] = _add_lock_token


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the service and a hand-started command read while one writes;
    # the busy timeout makes them wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _masked(value: Any) -> Any:
    """Secrets never reach the disk, whatever a service echoed into an error text."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict | list):
        return json.loads(redact(json.dumps(value, default=str)))
    return value


#: Where the ``--new-store`` flag exists (named in the refusal).
NEW_STORE_COMMANDS = "kleansync sync, serve or invoices export"


def _refuse_emptied_file(url: str, new_store: bool) -> None:
    """``ConfigError`` if ``url`` is an SQLite file that exists but holds nothing.

    A file that does not exist is a fresh install and is created. SQLite
    writes its header the moment a store is first opened, so an existing
    0-byte file is never one kleansync made (unless a write-ahead log still
    holds its pages, which SQLite reads back).
    """
    if new_store or not url.startswith("sqlite"):
        return
    try:
        database = make_url(url).database
    except Exception:  # noqa: BLE001 - a bad URL is reported when the engine is made
        return
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    wal = Path(f"{database}-wal")
    try:
        empty = path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size > 0)
    except FileNotFoundError:
        return
    if empty:
        raise ConfigError(
            f"[state] url: {path} is empty (0 bytes), so the run history, open conflicts and "
            "invoice ledger it held are gone; restore it from a backup, or pass --new-store "
            f"({NEW_STORE_COMMANDS}) to start over with an empty store"
        )


class Store:
    """Typed access to the state tables; see ``state.tables`` for what each holds."""

    def __init__(self, url: str, *, new_store: bool = False) -> None:
        """Open (and on a fresh install create) the store at ``url``.

        ``new_store``: an existing but empty (0-byte) SQLite file may be
        started over. Without it such a file is refused: it is what a full
        disk, a failed copy or a truncating restore leaves behind, and
        treating it as new would silently forget the history, the open
        conflicts and the invoice ledger.
        """
        self.url = url
        _refuse_emptied_file(url, new_store)
        try:
            if url.startswith("sqlite"):
                self.engine = create_engine(url, connect_args={"timeout": 30})
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
            self._migrate()
        except OperationalError as exc:
            raise ConfigError(f"[state] url: cannot open the state store ({exc.orig})") from None
        except Exception as exc:  # noqa: BLE001 - bad URL, missing driver, ...
            if isinstance(exc, FatalError):
                raise
            raise ConfigError(f"[state] url: {type(exc).__name__}: {exc}") from None

    def _migrate(self) -> None:
        # Two processes may open a brand-new store at the same moment (the
        # service and a hand-started command): whoever loses a race re-checks.
        for attempt in (1, 2):
            try:
                SQLModel.metadata.create_all(self.engine)
                break
            except OperationalError:
                if attempt == 2:
                    raise
        try:
            with self.session() as session:
                if session.get(SchemaInfo, 1) is None:
                    session.add(SchemaInfo(id=1, version=SCHEMA_VERSION))
        except IntegrityError:
            pass  # the other process wrote it first
        with self.session() as session:
            info = session.get(SchemaInfo, 1)
            if info.version > SCHEMA_VERSION:
                raise FatalError(
                    f"the state store was written by a newer kleansync (schema {info.version}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade kleansync"
                )
            for version in range(info.version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](self.engine)
                info.version = version
            session.add(info)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    def tables(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def close(self) -> None:
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
            query = select(Run).order_by(Run.started_at.desc())
            if dry_run is not None:
                query = query.where(Run.dry_run == dry_run)
            return list(s.exec(query.limit(limit)))

    def count_runs(
        self, *, dry_run: bool = False, outcome: str | None = None, exclude_trigger: str = ""
    ) -> int:
        """Finished runs (of the given kind); the one in progress does not count."""
        with self.session() as s:
            query = (
                select(func.count())
                .select_from(Run)
                .where(
                    Run.dry_run == dry_run,
                    Run.outcome != "running",
                    Run.trigger != exclude_trigger,
                )
            )
            if outcome:
                query = query.where(Run.outcome == outcome)
            return s.exec(query).one()

    # -- links and base ---------------------------------------------------
    def links(self, entity: str) -> list[Link]:
        with self.session() as s:
            return list(s.exec(select(Link).where(Link.entity == entity)))

    def links_without_fingerprints(self, entity: str = "customer") -> int:
        """Links from before schema 3 whose fingerprints are not filled yet."""
        with self.session() as s:
            # JSON columns store None as JSON null, so filter here, not in SQL.
            rows = s.exec(select(Link).where(Link.entity == entity))
            return sum(1 for link in rows if link.base and link.kleanapp_raw is None)

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
            query = select(Journal).order_by(Journal.id)
            if run_id:
                query = query.where(Journal.run_id == run_id)
            return list(s.exec(query))

    # -- what waits for an admin -----------------------------------------
    def add_conflicts(self, rows: list[ConflictRow]) -> None:
        with self.session() as s:
            s.add_all(rows)

    def open_conflicts(self) -> list[ConflictRow]:
        with self.session() as s:
            return list(s.exec(select(ConflictRow).where(ConflictRow.status == "open")))

    def close_conflicts(self, link_id: int, fields: set[str] | None = None) -> int:
        """Close open manual conflicts of a link (all, or those on ``fields``)."""
        with self.session() as s:
            rows = s.exec(
                select(ConflictRow).where(
                    ConflictRow.link_id == link_id, ConflictRow.status == "open"
                )
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
        self, rows: list[QuarantineRow], *, complete: set[tuple[str, str]] = frozenset()
    ) -> list[QuarantineRow]:
        """Remember quarantined records; returns the ones not already remembered.

        A record set aside for the same reason as before is not added again
        (it would be a new row, and a new report line, on every run). For the
        ``(side, entity)`` reads in ``complete``, rows of records no longer
        quarantined are forgotten: those were fixed or are gone.
        """
        with self.session() as s:
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

    def add_parked(self, rows: list[Parked]) -> None:
        """Park records; one already waiting is not parked twice."""
        with self.session() as s:
            waiting = {
                (p.entity, p.side, p.record_id)
                for p in s.exec(select(Parked).where(Parked.status == "open"))
            }
            s.add_all(r for r in rows if (r.entity, r.side, r.record_id) not in waiting)

    def close_parked(self, linked: set[tuple[str, str]]) -> int:
        """Parked records that got linked since (by a later run or an admin) close."""
        with self.session() as s:
            closed = 0
            for row in s.exec(select(Parked).where(Parked.status == "open")):
                if (row.side, row.record_id) in linked:
                    row.status = "closed"
                    s.add(row)
                    closed += 1
            return closed

    def open_parked(self) -> list[Parked]:
        with self.session() as s:
            return list(s.exec(select(Parked).where(Parked.status == "open")))

    # -- admin queue (reports issue) --------------------------------------
    # Resolutions are conditional updates ("... WHERE status = 'open'"), so two
    # admins answering the same conflict at once cannot both win.
    def get_conflict(self, conflict_id: int) -> ConflictRow | None:
        with self.session() as s:
            return s.get(ConflictRow, conflict_id)

    def conflicts(self, statuses: tuple[str, ...] | None = None) -> list[ConflictRow]:
        with self.session() as s:
            query = select(ConflictRow).order_by(ConflictRow.id)
            if statuses:
                query = query.where(ConflictRow.status.in_(statuses))
            return list(s.exec(query))

    def resolve_conflict(
        self, conflict_id: int, resolution: dict[str, Any], by: str, at: dt.datetime
    ) -> bool:
        """Mark an open conflict resolved; False if it was not open (any more)."""
        from sqlalchemy import update

        with self.session() as s:
            result = s.exec(
                update(ConflictRow)
                .where(ConflictRow.id == conflict_id, ConflictRow.status == "open")
                .values(status="resolved", resolution=resolution, resolved_by=by, resolved_at=at)
            )
            return result.rowcount == 1

    def resolved_conflicts(self) -> list[ConflictRow]:
        """Resolutions the next run must carry out (status ``resolved``)."""
        return self.conflicts(("resolved",))

    def mark_conflict_applied(self, conflict_id: int) -> None:
        with self.session() as s:
            row = s.get(ConflictRow, conflict_id)
            if row is not None and row.status == "resolved":
                row.status = "applied"
                s.add(row)

    def get_parked(self, parked_id: int) -> Parked | None:
        with self.session() as s:
            return s.get(Parked, parked_id)

    def parked(self, statuses: tuple[str, ...] | None = None) -> list[Parked]:
        with self.session() as s:
            query = select(Parked).order_by(Parked.id)
            if statuses:
                query = query.where(Parked.status.in_(statuses))
            return list(s.exec(query))

    def resolve_parked(self, resolution: Any) -> bool:
        """Store a ``ParkedResolution`` and mark its parked row(s) resolved, atomically.

        False (and nothing stored) when the parked row, or the other record's
        parked row it links to, is no longer open.
        """
        from sqlalchemy import update

        ids = [resolution.parked_id]
        if resolution.with_parked_id is not None:
            ids.append(resolution.with_parked_id)
        with self.session() as s:
            result = s.exec(
                update(Parked)
                .where(Parked.id.in_(ids), Parked.status == "open")
                .values(status="resolved")
            )
            if result.rowcount != len(ids):
                s.rollback()
                return False
            s.add(resolution)
            s.flush()
            s.refresh(resolution)
            return True

    def parked_resolutions(self, applied: bool | None = None) -> list[Any]:
        """``ParkedResolution`` rows; ``applied=False``: what the next run must do."""
        from state.admin_tables import ParkedResolution

        with self.session() as s:
            query = select(ParkedResolution).order_by(ParkedResolution.id)
            if applied is not None:
                query = query.where(ParkedResolution.applied == applied)
            return list(s.exec(query))

    def mark_parked_resolution_applied(self, resolution_id: int, run_id: str | None = None) -> None:
        from state.admin_tables import ParkedResolution

        with self.session() as s:
            row = s.get(ParkedResolution, resolution_id)
            if row is not None and not row.applied:
                row.applied = True
                row.applied_at = utcnow()
                row.applied_run_id = run_id
                s.add(row)

    def last_run(self, *, with_result: bool = False) -> Run | None:
        """The most recent run (only finished ones with a stored result if asked)."""
        with self.session() as s:
            query = select(Run).order_by(Run.started_at.desc())
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


# Every table module, so ``Store._migrate`` creates all of them. At the end
# because some of them use ``Store`` in their helpers.
from state import (  # noqa: E402, F401
    admin_tables,
    invoice_tables,
    part_tables,
    refusal_tables,
    service_tables,
)
