"""Tenants on one PostgreSQL database: each one's rows are its own, proven, not assumed.

Before tenants, pointing company B's kleansync at company A's store planned 49 archives
and updates that paired *different* customers (only the brake stopped it). A tenant's
store (``Store(url, tenant=…)``) is a schema of its own (``state.tenancy``): here tenant A
writes through the store's functions, and tenant B (and the unscoped store of the same
database) must find none of it, nor change it, through any of them; then two companies
sync through the real engine side by side.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import SQLModel, func, select

import state  # noqa: F401 - every table module registered in SQLModel.metadata
from reconciler.domain.errors import ConfigError, FatalError
from state import Store
from state.tables import Journal, Link, Run
from state.tenancy import FLEET_TABLES
from tests.engine.conftest import SyncEnv, customer, sync_env
from tests.state_backend import POSTGRES

on_postgres = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL (KLEANSYNC_TEST_STATE=postgres)")
STALE = dt.timedelta(seconds=60)
# English: the refusals below are about what the messages say (German: tests/i18n).
pytestmark = pytest.mark.usefixtures("english")


def rows_per_table(store: Store) -> dict[str, int]:
    """Rows of every state table as ``store`` sees them (its tenant's schema)."""
    present = set(store.tables())
    with store.session() as s:
        return {
            table.name: s.exec(select(func.count()).select_from(table)).one()
            for table in SQLModel.metadata.sorted_tables
            if table.name in present
        }


def fill(store: Store) -> dict[str, object]:
    """Write through the store's functions; what was written, to look for elsewhere."""
    run = store.start_run(Run(id="run-a-1", pid=os.getpid()))
    link = store.save_link(
        Link(entity="customer", key="K-00001", kleanapp_id="11", sevdesk_id="22", base={})
    )
    entry = store.journal_intent(
        Journal(
            run_id=run.id, action_id="a1", entity="customer", side="sevdesk", op="create", key="K-1"
        )
    )
    store.set_cursor("kleanapp", "customer", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    grant = store.acquire_lock("sync", "host-a:1:a", 1, STALE)
    return {"run": run.id, "link": link.id, "entry": entry.id, "token": grant.token}


@on_postgres
def test_a_tenant_finds_nothing_of_another_and_cannot_change_it(state_url: str) -> None:
    a, b = Store(state_url, tenant="a"), Store(state_url, tenant="b")
    plain = Store(state_url)  # the single-company store of the same database
    try:
        written = fill(a)
        # What A wrote (schema_info is the schema's own bookkeeping, in every schema).
        kept = {t: n for t, n in rows_per_table(a).items() if n and t != "schema_info"}
        assert kept == {"run": 1, "link": 1, "journal": 1, "cursor": 1, "run_lock": 1}
        for other in (b, plain):
            leaked = {t: n for t, n in rows_per_table(other).items() if n and t != "schema_info"}
            assert leaked == {}
            # Reading A's rows by their ids and names finds nothing...
            assert other.get_run(str(written["run"])) is None
            assert other.get_link(int(written["link"])) is None  # type: ignore[arg-type]
            assert other.links("customer") == [] and other.runs() == []
            assert other.journal() == [] and other.pending_journal() == []
            assert other.cursor("kleanapp", "customer") is None
            assert other.lock_holder("sync") is None
            # ...and writing to them changes nothing of A's.
            with pytest.raises(FatalError):
                other.finish_run(str(written["run"]), outcome="ok")
            other.delete_link(int(written["link"]))  # type: ignore[arg-type]
            other.journal_outcome(int(written["entry"]), "done")  # type: ignore[arg-type]
            assert other.release_lock("sync", "host-a:1:a", int(written["token"])) is False  # type: ignore[arg-type]
            assert other.heartbeat("sync", "host-a:1:a", int(written["token"])) is False  # type: ignore[arg-type]
            assert other.mark_interrupted_runs() == 0
        assert a.get_run(str(written["run"])).outcome == "running"  # type: ignore[union-attr]
        assert len(a.links("customer")) == 1
        assert [e.state for e in a.journal()] == ["pending"]
        assert a.lock_holder("sync").holder == "host-a:1:a"  # type: ignore[union-attr]
        # One tenant's run does not hold up another's: each has its own lock.
        b.release_lock("sync", "host-b:2:b", b.acquire_lock("sync", "host-b:2:b", 2, STALE).token)
        # Every state table is in a tenant's schema, the fleet's registry only in the default.
        assert sorted(t for t in b.tables() if t != "alembic_version") == sorted(
            t.name for t in SQLModel.metadata.sorted_tables if t.name not in FLEET_TABLES
        )
        assert set(plain.tables()) >= FLEET_TABLES
    finally:
        for store in (a, b, plain):
            store.close()


def world(tmp: Path, url: str, tenant: str) -> SyncEnv:
    env = sync_env(tmp, Store(url, tenant=tenant))
    env.configure(sync={"units": "off"})
    return env


@on_postgres
async def test_two_companies_sync_side_by_side_in_one_database(
    tmp_path: Path, state_url: str
) -> None:
    a, b = world(tmp_path / "a", state_url, "a"), world(tmp_path / "b", state_url, "b")
    try:
        for n in range(1, 6):  # company A: five customers on both sides, linked
            await a.k.customers.create(customer(f"K-{n:05d}"))
            await a.s.customers.create(customer(f"K-{n:05d}"))
        first = await a.sync()
        assert first.errors == [] and len(a.store.links("customer")) == 5
        # Company B has other customers under the same numbers: B's store holds no link of
        # A's, so nothing of B is archived, updated or paired with A's customers.
        for n in range(1, 4):
            await b.k.customers.create(customer(f"K-{n:05d}", company_name=f"Hotel {n}"))
        result = await b.sync()
        assert result.errors == []
        assert result.counts == {"customer.sevdesk.create": 3}, result.counts
        assert {link.key for link in b.store.links("customer")} == {"K-00001", "K-00002", "K-00003"}
        assert len(a.store.links("customer")) == 5
        again = await a.sync(full=True)
        assert again.plan.actions == [], again.plan.actions
    finally:
        for env in (a, b):
            await env.k.aclose()
            await env.s.aclose()
            env.store.close()


def test_a_tenant_on_sqlite_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tenants need a PostgreSQL state store") as caught:
        Store(f"sqlite:///{tmp_path / 'state.db'}", tenant="a")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["A", "1st", "a-b", 'a"; drop schema public', "x" * 41, ""])
def test_a_tenant_name_that_is_no_identifier_is_refused(name: str, tmp_path: Path) -> None:
    from state.tenancy import schema_for

    with pytest.raises(ConfigError, match="tenant name"):
        schema_for(name)


#: A state table named after FROM/JOIN/INTO/UPDATE/TABLE, with the schema before it if any.
_TABLE_REFERENCE = re.compile(
    r'\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(?:"?(\w+)"?\.)?"?(\w+)"?', re.IGNORECASE
)


@on_postgres
async def test_every_statement_of_a_tenants_sync_names_its_own_schema(
    tmp_path: Path, state_url: str
) -> None:
    """Not only the functions tried above: whatever a whole run sends (runs, links,
    journal, cursors, lock, conflicts, quarantine, bookkeeping, the report's reads) names
    the tenant's schema, so no store function can reach another tenant's rows."""
    env = world(tmp_path / "b", state_url, "b")
    sent: list[str] = []
    listener = lambda *args: sent.append(args[2])  # noqa: E731 - (conn, cursor, statement, …)
    event.listen(env.store.engine, "before_cursor_execute", listener)
    try:
        for n in range(1, 4):
            await env.k.customers.create(customer(f"K-{n:05d}"))
        await env.s.customers.create(customer("K-00002", city="Bonn"))  # a conflict to keep
        first = await env.sync()
        assert first.errors == []
        await env.k.customers.create(customer("K-00004"))
        assert (await env.sync()).errors == []
        assert (await env.sync(full=True)).errors == []
    finally:
        event.remove(env.store.engine, "before_cursor_execute", listener)
        await env.k.aclose()
        await env.s.aclose()
        env.store.close()
    tables = {t.name for t in SQLModel.metadata.sorted_tables}
    references = [
        (schema, table, statement)
        for statement in sent
        for schema, table in _TABLE_REFERENCE.findall(statement)
        if table in tables
    ]
    assert len({table for _s, table, _st in references}) >= 8, "the run reached few tables"
    elsewhere = [(schema, table) for schema, table, _st in references if schema != "tenant_b"]
    assert elsewhere == [], elsewhere[:5]
