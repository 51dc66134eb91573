"""The state store's tables (SQLModel, portable SQL only).

What is kept, and why:

* ``Link``      which KleanApp record and which sevDesk record are the same
                customer/unit, and the **base**: the last canonical version
                both sides agreed on. The three-way diff needs it to tell
                "changed here" from "changed there". Besides it, per side, the
                **fingerprints** of the raw values that side held then
                (``kleanapp_raw``/``sevdesk_raw``: field -> hash, see
                ``rules.fingerprints``), which tell exactly which side changed
                a field, whatever the normaliser or the country say. And per side
                one **digest** of the whole raw record (``kleanapp_digest``/
                ``sevdesk_digest``) from the last run that found the pair quiet:
                the next run tells a pair that is still quiet by two hashes
                (``reconciler.sync.plan_writes.still_quiet``); any write drops them.
* ``Cursor``    per side and entity, the service timestamp up to which
                changes were read and applied (incremental snapshots).
* ``Run``       every run: when, how, what it counted, how it ended.
* ``Journal``   every write to an outside system, written *before* it is
                sent (``pending``) and completed after (``done``/``failed``).
                A ``pending`` row found at start-up is a write whose outcome
                is unknown: it is read back before anything is sent again.
* ``ConflictRow``, ``Parked``, ``QuarantineRow``, ``Task``: what waits for
                an admin, kept across runs.
* ``RunLock``   one run at a time across processes. Its ``token`` (the
                fencing token) grows with every acquisition, so a run that
                was paused and lost the lock can tell, before each write,
                that the lock is no longer its own. The row is kept on
                release (holder emptied) so the token never starts over.

Only generic column types are used (JSON, DateTime, String, Integer), so the
same tables work on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from reconciler.domain.conflicts import Conflict
from reconciler.domain.errors import FatalError

#: What ``schema_info`` holds. 2: ``run_lock.token`` (fencing). 3: ``link.kleanapp_raw``/
#: ``sevdesk_raw`` (fingerprints). 4: the invoice ledger's status. 5: the schema is Alembic's
#: (``state/migrations``; its revision is the one that counts, this number only makes a
#: kleansync from before Alembic refuse the store instead of writing into it).
SCHEMA_VERSION = 5


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database.

    SQLite keeps no time zone, so values are stored as naive UTC and given
    their zone back on the way out; comparing them with the services'
    timestamps then never mixes naive and aware values.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def when(*, default_now: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column (optionally defaulting to now)."""
    column: Column[dt.datetime] = Column(UTCDateTime(), index=index, nullable=not default_now)
    if default_now:
        return Field(default_factory=utcnow, sa_column=column)
    return Field(default=None, sa_column=column)


class SchemaInfo(SQLModel, table=True):
    __tablename__ = "schema_info"
    id: int = Field(default=1, primary_key=True)
    version: int


class Link(SQLModel, table=True):
    __tablename__ = "link"
    __table_args__ = (
        UniqueConstraint("entity", "kleanapp_id"),
        UniqueConstraint("entity", "sevdesk_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(index=True)
    key: str = Field(index=True, description="customer number or unit key, for humans")
    kleanapp_id: str
    sevdesk_id: str
    base: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: field -> fingerprint of the raw value each side held when ``base`` was agreed;
    #: None on links from before schema 3 (filled by their next agreed state).
    kleanapp_raw: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    sevdesk_raw: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    kleanapp_version: str | None = None
    sevdesk_version: str | None = None
    #: Each side's ``rules.fingerprints.record_digest`` when a run last found the pair quiet
    #: against this base; None after any write of the link (``state/migrations`` 0006).
    kleanapp_digest: str | None = None
    sevdesk_digest: str | None = None
    created_at: dt.datetime = when(default_now=True)
    updated_at: dt.datetime = when(default_now=True)


class Cursor(SQLModel, table=True):
    __tablename__ = "cursor"
    __table_args__ = (UniqueConstraint("side", "entity"),)
    id: int | None = Field(default=None, primary_key=True)
    side: str
    entity: str
    value: dt.datetime = when(default_now=True)


class Run(SQLModel, table=True):
    __tablename__ = "run"
    id: str = Field(primary_key=True)
    started_at: dt.datetime = when(default_now=True, index=True)
    finished_at: dt.datetime | None = when()
    trigger: str = "manual"
    dry_run: bool = False
    full: bool = False
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    outcome: str = "running"  # running | ok | errors | failed
    error: str | None = None
    pid: int | None = None
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Journal(SQLModel, table=True):
    __tablename__ = "journal"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    action_id: str = Field(index=True)
    entity: str
    side: str
    op: str
    key: str
    target_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    expected_version: str | None = None
    state: str = Field(default="pending", index=True)  # pending | done | failed | skipped
    result_id: str | None = None
    error: str | None = None
    created_at: dt.datetime = when(default_now=True)
    finished_at: dt.datetime | None = when()

    @property
    def stored_id(self) -> int:
        """The id of a row that is in the store (``journal_intent`` returns one committed).

        ``id`` is ``None`` only before the row is first stored; a journal row is
        never completed from there, so that would be a programming error.
        """
        if self.id is None:
            raise FatalError(f"journal row {self.action_id} used before it was stored")
        return self.id


class ConflictRow(SQLModel, table=True):
    """A :class:`~reconciler.domain.conflicts.Conflict` kept for an admin, and its answer.

    Besides the run, the status and the answer, its columns are the conflict's
    fields (``tests/engine/test_conflict_model.py`` checks they stay alike), so a
    row is made from the conflict's ``model_dump()`` and read back as one,
    never copied field by field.
    """

    __tablename__ = "conflict"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    entity: str
    link_id: int | None = Field(default=None, index=True)
    key: str
    label: str | None = None
    field: str
    base: Any = Field(default=None, sa_column=Column(JSON))
    kleanapp: Any = Field(default=None, sa_column=Column(JSON))
    sevdesk: Any = Field(default=None, sa_column=Column(JSON))
    rule: str
    decision: str  # kleanapp | sevdesk | manual
    reason: str = ""
    status: str = Field(default="open", index=True)  # open | decided | resolved | closed
    resolution: Any = Field(default=None, sa_column=Column(JSON))
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = when()
    #: "console" (``resolved_by`` is a console account) or "cli" (a login name, by hand).
    resolved_via: str | None = None
    #: Grows with every answer: a run marks the conflict applied only if the answer it
    #: planned with is still the current one (``admin_tables.mark_conflict_applied``).
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: dt.datetime = when(default_now=True)

    @classmethod
    def of(cls, conflict: Conflict, *, run_id: str, status: str) -> ConflictRow:
        """The row that keeps ``conflict`` (status "open" for an admin, "decided" by a rule)."""
        return cls(run_id=run_id, status=status, **conflict.model_dump())

    def conflict(self) -> Conflict:
        """The conflict this row keeps, as the rules and the plan know it."""
        return Conflict.model_validate(self.model_dump(include=set(Conflict.model_fields)))


class Parked(SQLModel, table=True):
    __tablename__ = "parked"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str
    entity: str
    side: str
    record_id: str
    key: str
    reason: str
    candidates: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    status: str = Field(default="open", index=True)
    created_at: dt.datetime = when(default_now=True)


class QuarantineRow(SQLModel, table=True):
    __tablename__ = "quarantine"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    side: str
    entity: str
    record_id: str | None = None
    reason: str
    created_at: dt.datetime = when(default_now=True)


class RunLock(SQLModel, table=True):
    __tablename__ = "run_lock"
    name: str = Field(primary_key=True)
    holder: str  # "released:<holder>" once released (state.run_lock)
    pid: int
    token: int = 0
    since: dt.datetime = when(default_now=True)
    heartbeat: dt.datetime = when(default_now=True)
