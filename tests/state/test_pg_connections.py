"""What one process asks of a PostgreSQL server: a small pool, timeouts, READ COMMITTED.

Before: every store opened SQLAlchemy's default pool of up to 15 connections and set no
timeout, so a fleet of processes exhausted the server's max_connections and a dead network
or a forgotten lock hung a run for ever. Now the pool is small and set in ``[state]``
(``pool_size``, ``max_overflow``), and every connection carries connect, statement,
lock and idle-in-transaction timeouts unless the URL's own ``options`` say otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import make_url

from reconciler.config import load_config
from reconciler.domain.errors import ConfigError
from state import Store
from state.database import Pool
from tests.state_backend import POSTGRES

on_postgres = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL (KLEANSYNC_TEST_STATE=postgres)")


def settings(store: Store) -> dict[str, str]:
    names = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    with store.engine.connect() as conn:
        found = {name: str(conn.exec_driver_sql(f"SHOW {name}").scalar()) for name in names}
        found["isolation"] = str(conn.exec_driver_sql("SHOW transaction_isolation").scalar())
        parameters = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        found["connect_timeout"] = parameters.get("connect_timeout", "")
    return found


@on_postgres
def test_every_connection_has_timeouts_and_read_committed(state_url: str) -> None:
    store = Store(state_url)
    try:
        assert settings(store) == {
            "statement_timeout": "2min",
            "lock_timeout": "30s",
            "idle_in_transaction_session_timeout": "5min",
            "isolation": "read committed",
            "connect_timeout": "10",
        }
        assert (store.engine.pool.size(), store.engine.pool._max_overflow) == (2, 6)  # type: ignore[attr-defined]
    finally:
        store.close()


@on_postgres
def test_the_urls_own_options_and_the_configured_pool_win(state_url: str) -> None:
    url = make_url(state_url).update_query_dict(
        {"options": "-c statement_timeout=5000", "connect_timeout": "3"}
    )
    store = Store(url.render_as_string(hide_password=False), pool=Pool(size=3, overflow=1))
    try:
        found = settings(store)
        assert found["statement_timeout"] == "5s" and found["connect_timeout"] == "3"
        assert (store.engine.pool.size(), store.engine.pool._max_overflow) == (3, 1)  # type: ignore[attr-defined]
    finally:
        store.close()


def test_the_pool_is_set_in_the_state_section(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    base = '[kleanapp]\nbase_url = "http://127.0.0.1:8802/api/v1"\n[state]\n'
    path.write_text(base, encoding="utf-8")
    assert load_config(path).state.pool == Pool(size=2, overflow=6)
    path.write_text(base + "pool_size = 4\nmax_overflow = 0\n", encoding="utf-8")
    assert load_config(path).state.pool == Pool(size=4, overflow=0)
    path.write_text(base + "pool_size = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[state\] pool_size"):
        load_config(path)
