"""When a run reads everything: first run, every N-th regular run, on request."""

from __future__ import annotations

import uuid

from reconciler.config import parse_config
from reconciler.sync.engine import needs_full
from state import Store
from state.tables import Run


def finished(store: Store, trigger: str = "schedule", dry_run: bool = False) -> None:
    run = store.start_run(Run(id=uuid.uuid4().hex[:12], trigger=trigger, dry_run=dry_run))
    store.finish_run(run.id, outcome="ok")


def test_first_then_every_nth_regular_run_is_full(state_url):
    store = Store(state_url)
    config = parse_config({"kleanapp": {"base_url": "http://k"}, "sync": {"full_every": 3}})
    pattern = []
    for _ in range(7):
        pattern.append(needs_full(store, config, requested=False))
        finished(store)
        finished(store, dry_run=True)  # dry-runs change nothing and do not count
        finished(store, trigger="webhook")  # nor do the many small webhook runs
    assert pattern == [True, False, True, False, False, True, False]
    assert needs_full(store, config, requested=True)


def test_full_every_zero_means_only_on_request(state_url):
    store = Store(state_url)
    config = parse_config({"kleanapp": {"base_url": "http://k"}, "sync": {"full_every": 0}})
    assert needs_full(store, config, requested=False)  # the very first run
    for _ in range(5):
        finished(store)
        assert not needs_full(store, config, requested=False)
