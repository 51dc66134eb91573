"""Opening the state database: SQLite settings, emptied files refused, the schema migrated.

Kept apart from ``state.store`` (what is read and written) because it is
what an operator meets when something is wrong with the file or the URL
itself: a 0-byte SQLite file after a full disk, a store written by a newer
kleansync, a missing driver. Each becomes one ``ConfigError`` or
``FatalError`` line naming ``[state] url``.

Migrations: ``create_all`` adds new tables by itself; ``MIGRATIONS`` holds the
steps for changed columns, one per schema version, each safe to run twice
(two processes may open an old store at the same moment).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from reconciler.domain.errors import ConfigError, FatalError
from reconciler.domain.i18n import _
from state import paths
from state.tables import SCHEMA_VERSION, SchemaInfo

#: Where the ``--new-store`` flag exists (named in the refusal).
NEW_STORE_COMMANDS = "kleansync sync, serve or invoices export"


def open_engine(url: str, *, new_store: bool = False) -> Engine:
    """The engine for ``url``, its schema created or migrated to ``SCHEMA_VERSION``.

    Every table module must be imported before this runs (``state.store``
    imports them all), or ``create_all`` would leave their tables out.
    """
    _refuse_emptied_file(url, new_store)
    try:
        engine = make_engine(url)
        migrate(engine)
    except OperationalError as exc:
        # SQLite names neither the file nor the reason ("unable to open database file").
        problem = paths.write_problem(url)
        if problem:
            raise ConfigError(
                _("[state] url: %(problem)s (%(reason)s)", problem=problem, reason=exc.orig)
            ) from None
        raise ConfigError(
            _("[state] url: cannot open the state store (%(reason)s)", reason=exc.orig)
        ) from None
    except Exception as exc:  # noqa: BLE001 - bad URL, missing driver, ...
        if isinstance(exc, FatalError | ConfigError):
            raise
        raise ConfigError(
            _("[state] url: %(kind)s: %(error)s", kind=type(exc).__name__, error=exc)
        ) from None
    paths.remember(url)
    return engine


def make_engine(url: str) -> Engine:
    """The engine for ``url`` with the settings kleansync relies on, nothing created yet."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        # The driver kleansync ships for (the ``postgres`` extra); SQLAlchemy's own default
        # for a bare ``postgresql://`` is psycopg2, which it does not install.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.get_driver_name() == "psycopg" and importlib.util.find_spec("psycopg") is None:
        raise ConfigError(
            _(
                "[state] url: PostgreSQL needs its driver, which is not installed: "
                "pip install 'kleansync[postgres]'"
            )
        )
    return create_engine(
        parsed,
        pool_pre_ping=True,
        # Every conditional write ("… WHERE token = :seen") and the run lock assume READ
        # COMMITTED; a server whose default is REPEATABLE READ would make the loser of a
        # race fail with a SerializationFailure instead of seeing the winner's row.
        isolation_level="READ COMMITTED",
        # A process needs a few connections (the run, the lock's heartbeat thread, the
        # service's web threads); a fleet of processes on one server must not each hold 15.
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=30,
        pool_recycle=1800,
        connect_args=_pg_connect_args(parsed),
    )


#: Connections one process keeps open, and how many more it may open at a peak.
POOL_SIZE, POOL_OVERFLOW = 2, 6
#: Server-side limits (ms): a dead network or a forgotten lock ends in an error, not a hang.
PG_TIMEOUTS = {
    "statement_timeout": 120_000,
    "lock_timeout": 30_000,
    "idle_in_transaction_session_timeout": 300_000,
}


def _pg_connect_args(url: URL) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = 10
    if "options" not in url.query:  # the URL's own ``options`` win
        args["options"] = " ".join(f"-c {name}={ms}" for name, ms in PG_TIMEOUTS.items())
    return args


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the service and a hand-started command read while one writes;
    # the busy timeout makes them wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


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
            _(
                "[state] url: %(path)s is empty (0 bytes), so the run history, open conflicts "
                "and invoice ledger it held are gone; restore it from a backup, or pass "
                "--new-store (%(commands)s) to start over with an empty store",
                path=path,
                commands=NEW_STORE_COMMANDS,
            )
        )


# -- schema versions ----------------------------------------------------------------------
def _add_columns(engine: Engine, table: str, columns: dict[str, str]) -> None:
    """ALTER TABLE … ADD COLUMN for the columns ``table`` lacks (safe to run twice)."""
    have = {c["name"] for c in inspect(engine).get_columns(table)}
    with engine.begin() as conn:
        for name, sql_type in columns.items():
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")


def _add_lock_token(engine: Engine) -> None:
    """Schema 2: the run lock's fencing token (existing rows start at 0)."""
    columns = {c["name"] for c in inspect(engine).get_columns("run_lock")}
    if "token" not in columns:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE run_lock ADD COLUMN token INTEGER NOT NULL DEFAULT 0"))


def _link_fingerprints(engine: Engine) -> None:
    """Schema 3: per-side fingerprints on links.

    Existing links get none; their next agreed state fills them (the planner
    compares those fields by value once, and a pair both sides agree on is
    then saved without any write), so no re-link is needed.
    """
    _add_columns(engine, "link", {"kleanapp_raw": "JSON", "sevdesk_raw": "JSON"})


def _invoice_status(engine: Engine) -> None:
    """Schema 4: the invoice ledger keeps sevDesk's payment status and what KleanApp was told.

    Existing rows start with none; the next status poll reads every exported
    invoice once (it has no cursor yet) and fills them.
    """
    from state.invoice_tables import STATUS_COLUMNS

    _add_columns(engine, "invoice_export", STATUS_COLUMNS)


#: version -> step that brings the schema from version-1 to version.
MIGRATIONS: dict[int, Callable[[Engine], None]] = {
    2: _add_lock_token,
    3: _link_fingerprints,
    4: _invoice_status,
}


def migrate(engine: Engine) -> None:
    """Create missing tables, then run the steps from the stored version up."""
    # Two processes may open a brand-new store at the same moment (the
    # service and a hand-started command): whoever loses a race re-checks.
    for attempt in (1, 2):
        try:
            SQLModel.metadata.create_all(engine)
            break
        except OperationalError:
            if attempt == 2:
                raise
    try:
        with Session(engine) as session:
            if session.get(SchemaInfo, 1) is None:
                session.add(SchemaInfo(id=1, version=SCHEMA_VERSION))
            session.commit()
    except IntegrityError:
        pass  # the other process wrote it first
    with Session(engine, expire_on_commit=False) as session:
        info = session.get(SchemaInfo, 1)
        assert info is not None  # written just above, by us or by the process that won
        if info.version > SCHEMA_VERSION:
            raise FatalError(
                _(
                    "the state store was written by a newer kleansync (schema %(found)s, this "
                    "one knows %(known)s); upgrade kleansync",
                    found=info.version,
                    known=SCHEMA_VERSION,
                )
            )
        for version in range(info.version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](engine)
            info.version = version
        session.add(info)
        session.commit()
