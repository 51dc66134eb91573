"""Opening the state database: SQLite settings, emptied files refused, the schema migrated.

Kept apart from ``state.store`` (what is read and written) because it is
what an operator meets when something is wrong with the file or the URL
itself: a 0-byte SQLite file after a full disk, a store written by a newer
kleansync, a missing driver. Each becomes one ``ConfigError`` or
``FatalError`` line naming ``[state] url``.

Migrations: Alembic's revisions in ``state/migrations`` (one per change, the same
for SQLite and PostgreSQL), run by ``migrate`` only when the store is behind; the
first revision also upgrades stores made before Alembic (``create_all`` and the
numbered ``schema_info`` steps) in place.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import create_engine

from reconciler.domain import json_text
from reconciler.domain.errors import ConfigError, FatalError
from reconciler.domain.i18n import _
from state import paths
from state.tenancy import schema_of, scoped

#: Where the ``--new-store`` flag exists (named in the refusal).
NEW_STORE_COMMANDS = "kleansync sync, serve or invoices export"


@dataclass(frozen=True)
class Pool:
    """How many PostgreSQL connections one process keeps open, and how many more at a peak.

    A process needs few (the run, the run lock's heartbeat thread, the service's web
    threads); a fleet of processes on one server must not each hold SQLAlchemy's 15.
    ``[state] pool_size`` and ``max_overflow`` set them.
    """

    size: int = 2
    overflow: int = 6


DEFAULT_POOL = Pool()
#: Connections one process keeps open, and how many more it may open at a peak.
POOL_SIZE, POOL_OVERFLOW = DEFAULT_POOL.size, DEFAULT_POOL.overflow


def open_engine(
    url: str, *, new_store: bool = False, pool: Pool = DEFAULT_POOL, tenant: str | None = None
) -> Engine:
    """The engine for ``url``, its schema created or migrated to the newest revision.

    ``tenant``: the engine reaches only that tenant's schema (``state.tenancy``), made and
    migrated here like a new store the first time it is opened.
    """
    _refuse_emptied_file(url, new_store)
    _create_sqlite_file(url)
    try:
        engine = make_engine(url, pool)
        if tenant is not None:
            engine = scoped(engine, tenant)
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


def read_json(text: str | bytes | memoryview) -> Any:
    """A JSON column's value (``reconciler.domain.json_text``: orjson, ``json`` where it refuses).

    A full run reads every link's base and per-side fingerprints (three JSON
    columns a link): with ``json.loads`` that was a third of reading 100,000
    links (issue 21). Writes stay ``json.dumps``: the stored text does not change.
    """
    return json_text.loads(text)


def make_engine(url: str, pool: Pool = DEFAULT_POOL) -> Engine:
    """The engine for ``url`` with the settings kleansync relies on, nothing created yet."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, json_deserializer=read_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        # The driver kleansync ships for (the ``postgres`` extra); SQLAlchemy's own default
        # for a bare ``postgresql://`` is psycopg2, which it does not install.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "postgresql":
        return create_engine(parsed, pool_pre_ping=True, json_deserializer=read_json)
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
        json_deserializer=read_json,
        # Every conditional write ("… WHERE token = :seen") and the run lock assume READ
        # COMMITTED; a server whose default is REPEATABLE READ would make the loser of a
        # race fail with a SerializationFailure instead of seeing the winner's row.
        isolation_level="READ COMMITTED",
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=30,
        pool_recycle=1800,
        connect_args=_pg_connect_args(parsed),
    )


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


def _create_sqlite_file(url: str) -> None:
    """Make a new SQLite store's file whole, never visible at 0 bytes.

    SQLite creates the file when it first connects and writes its header a
    moment later; another process opening the store in that moment saw a
    0-byte file and refused it as emptied (``_refuse_emptied_file``). So a new
    file is made beside it with its header (and WAL mode) and linked into
    place, which fails harmlessly if another process got there first. A file
    that cannot be made here is left to SQLite, whose error is then explained
    (``paths.write_problem``).
    """
    path = paths.sqlite_file(url)
    if path is None or path.exists():
        return
    draft = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        with contextlib.closing(sqlite3.connect(draft)) as db:
            db.execute("PRAGMA journal_mode=WAL")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    except (OSError, sqlite3.Error):
        pass
    finally:
        with contextlib.suppress(OSError):
            draft.unlink()


# -- the schema: Alembic's revisions (state/migrations) ------------------------------------
#: ``pg_advisory_xact_lock`` key of "migrating this database" (any 64-bit number; "kleansyn").
MIGRATION_LOCK = 0x6B6C65616E73796E
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _alembic(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
        config.attributes["version_table_schema"] = schema_of(connection)
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic())


def head() -> str:
    """The newest revision this kleansync knows."""
    newest = _scripts().get_current_head()
    assert newest is not None  # state/migrations/versions is never empty
    return newest


def revision(connection: Connection) -> str | None:
    """The store's revision; None for an empty database or one from before Alembic."""
    # A tenant's alembic_version lives in its schema; Alembic's lookup of the table is
    # reflection, which schema_translate_map does not reach, so it is named here.
    opts = {"version_table_schema": schema_of(connection)}
    return MigrationContext.configure(connection, opts=opts).get_current_revision()


def _known(found: str) -> bool:
    try:
        return _scripts().get_revision(found) is not None
    except CommandError:  # a revision of a newer kleansync
        return False


def is_current(engine: Engine) -> bool:
    """Whether the store at ``engine`` is at the newest revision (reads only)."""
    with engine.connect() as conn:
        return revision(conn) == head()


def migrate(engine: Engine) -> None:
    """Bring the store to the newest revision: once, serialised, all or nothing.

    A store at the newest revision costs one query. Otherwise the migration
    runs in one transaction that first takes the database's migration lock
    (PostgreSQL: an advisory lock; SQLite: ``BEGIN IMMEDIATE``, its one
    writer), then looks at the revision again: two processes opening an empty
    or old store at the same moment migrate it once, the second one waits and
    finds the work done (before Alembic, both ran ``create_all`` and the
    loser failed on the tables the winner had just made).
    """
    if is_current(engine):
        return
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # A long migration of another process is waited for, never cut short.
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10min'")
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            schema = schema_of(conn)
            if schema is not None:  # a tenant's first open (the name is checked: an identifier)
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        found = revision(conn)
        if found == head():
            conn.rollback()
            return
        if found is not None and not _known(found):
            raise FatalError(
                _(
                    "the state store was written by a newer kleansync (schema %(found)s, this "
                    "one knows %(known)s); upgrade kleansync",
                    found=found,
                    known=head(),
                )
            )
        command.upgrade(_alembic(conn), "head")
        conn.commit()
