"""The state store's schema comes from Alembic's revisions, on SQLite and PostgreSQL alike.

A store made by kleansync before Alembic (``legacy/schema4.*.sql``: that code's own store,
dumped) is upgraded in place with its rows; a new store is made by the revisions and holds
exactly the tables of ``state/*_tables.py`` (a table changed without a migration fails
here); two processes opening an empty store at the same moment both start.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text
from sqlmodel import SQLModel

from reconciler.domain.errors import FatalError
from state import Store
from state.database import head
from state.invoice_tables import InvoiceLedger
from state.tables import Link
from tests.state import racers

# English: one test here checks what a message says (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

LEGACY = Path(__file__).with_name("legacy")
STALE = dt.timedelta(seconds=60)


def load_dump(url: str, name: str = "schema4") -> None:
    """Replay a dump of a pre-Alembic store (``legacy/``) into the empty store at ``url``."""
    backend = make_url(url).get_backend_name()
    script = (LEGACY / f"{name}.{backend}.sql").read_text(encoding="utf-8")
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(str(make_url(url).database)) as db:
            db.executescript(script)
        return
    import psycopg

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as db:
        db.execute(script.encode())  # several statements: the simple query protocol


def schema_differences(store: Store) -> list:
    """What the store's tables lack or have beyond ``state/*_tables.py`` (Alembic's compare)."""
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def stored(store: Store, sql: str) -> list:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_a_new_store_is_made_by_the_migrations_and_matches_the_tables(
    state_urls: Callable[..., str],
) -> None:
    store = Store(state_urls("new.db", fresh=True))
    try:
        assert stored(store, "SELECT version_num FROM alembic_version") == [(head(),)]
        # A pre-Alembic kleansync (it knows schema_info up to 4) refuses this store.
        assert stored(store, "SELECT version FROM schema_info") == [(5,)]
        assert schema_differences(store) == []
    finally:
        store.close()


def test_a_store_made_before_alembic_is_upgraded_in_place_with_its_rows(
    state_urls: Callable[..., str],
) -> None:
    url = state_urls("old.db", fresh=True)
    load_dump(url)

    store = Store(url)
    try:
        assert stored(store, "SELECT version_num FROM alembic_version") == [(head(),)]
        assert stored(store, "SELECT version FROM schema_info") == [(5,)]
        assert schema_differences(store) == []
        # Everything it remembered is still there and reads as before.
        [link] = store.links("customer")
        assert (link.key, link.kleanapp_id, link.sevdesk_id) == ("K-10001", "101", "9001")
        assert link.base == {
            "customer_number": "K-10001",
            "company_name": "Glanz & Gloria GmbH",
            "city": "Berlin",
        }
        assert link.kleanapp_raw == {"company_name": "ab12"}
        assert store.cursor("kleanapp", "customer") == dt.datetime(2026, 11, 30, 22, tzinfo=dt.UTC)
        assert [(j.key, j.state, j.result_id) for j in store.journal()] == [
            ("K-10001", "done", "9001")
        ]
        assert [c.field for c in store.open_conflicts()] == ["email"]
        exported = InvoiceLedger(store).get("501")
        assert exported is not None
        assert (exported.state, exported.sevdesk_id, exported.total_gross) == (
            "linked",
            "7001",
            "119.00",
        )
        assert exported.accounting_status == "open"
        # The run lock's fencing token goes on counting from the old store's.
        assert store.acquire_lock("sync", "hostA:1:x", 1, STALE).token == 2
        # New rows still get fresh ids after the old ones (sequences and autoincrement kept).
        again = store.save_link(
            Link(entity="customer", key="K-10002", kleanapp_id="102", sevdesk_id="9002")
        )
        assert again.id == 2
    finally:
        store.close()
    # Opening it again finds it current: nothing runs twice.
    Store(url).close()


def test_a_store_of_a_newer_kleansync_is_refused(state_url: str) -> None:
    Store(state_url).close()
    engine = create_engine(state_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(FatalError, match="newer kleansync"):
        Store(state_url)


def test_two_processes_opening_an_empty_store_at_once_both_start(
    state_urls: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: both ran create_all, the loser failed on the tables the winner made (19/20)."""
    rounds = 5
    urls = [state_urls(f"empty{i}.db", fresh=True) for i in range(rounds)]
    monkeypatch.syspath_prepend(str(racers.ROOT))  # the spawned processes import racers
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as pool:
        for url in urls:
            barrier = manager.Barrier(2)
            both = [(url, barrier), (url, barrier)]
            outcomes = pool.starmap_async(racers.open_store, both).get(timeout=120)
            assert outcomes == ["ok", "ok"], url
            store = Store(url)
            try:
                assert schema_differences(store) == []
            finally:
                store.close()
