"""``kleansync doctor`` only reads: it neither creates nor migrates the state store.

On PostgreSQL it once created the whole schema in an empty database (on SQLite it already
left a missing file alone); whoever then ran the first real sync met a store someone else's
``doctor`` had made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, inspect


def test_doctor_on_an_empty_store_creates_no_table(
    sandbox_server, kleansync: Callable, tmp_path: Path, state_urls: Callable[..., str]
) -> None:
    sandbox_server.reset()
    url = state_urls("never-made.db", fresh=True)
    config = sandbox_server.config(tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace('"sqlite:///state.db"', f'"{url}"'),
        encoding="utf-8",
    )
    keys = {
        "SEVDESK_TOKEN": sandbox_server.sevdesk_token,
        "KLEANAPP_TOKEN": sandbox_server.kleanapp_token,
    }

    done = kleansync("doctor", "-c", str(config), env=keys, timeout=60)

    assert done.code == 0, done.output
    engine = create_engine(url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
