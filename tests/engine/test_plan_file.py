"""``reconciler.sync.plan_file``: when a saved plan counts as too old, and the store's identity.

The process tests (tests/cli/test_saved_plans.py) show the refusals as a user
meets them; here the boundary of ``[sync] plan_max_age_hours`` with a frozen
clock, and that a store keeps one identity across reopening.
"""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from reconciler.config import parse_config
from reconciler.domain.errors import ConfigError
from reconciler.sync.plan_file import check_plan, claim_plan, load_plan, save_plan
from reconciler.sync.plan_model import Plan
from state import Store
from state.plan_tables import store_identity

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

MADE = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(state_url: str):
    store = Store(state_url)
    yield store
    store.close()


def config(hours: float = 24):
    return parse_config(
        {
            "kleanapp": {"base_url": "https://k.example/api/v1"},
            "sync": {"plan_max_age_hours": hours},
        }
    )


def test_a_plan_is_accepted_up_to_the_configured_age_and_refused_after(store, tmp_path):
    path = tmp_path / "plan.json"
    saved = save_plan(Plan(created_at=MADE, full=True), path, run_id="r1", store=store)
    plan = load_plan(path)
    assert plan == saved and (plan.id, plan.store_id) == ("r1", store_identity(store))
    with freeze_time(MADE + dt.timedelta(hours=24)):
        check_plan(plan, path, store, config())
    with freeze_time(MADE + dt.timedelta(hours=24, seconds=1)):
        with pytest.raises(ConfigError, match="older than \\[sync\\] plan_max_age_hours = 24;"):
            check_plan(plan, path, store, config())
        check_plan(plan, path, store, config(hours=48))  # configurable


def test_the_store_keeps_its_identity_and_a_claimed_plan_is_refused(store, tmp_path):
    first = store_identity(store)
    again = Store(store.url)
    try:
        assert store_identity(again) == first
    finally:
        again.close()
    path = tmp_path / "plan.json"
    plan = save_plan(
        Plan(created_at=dt.datetime.now(dt.UTC), full=True), path, run_id="r1", store=store
    )
    claim_plan(plan, path, store, "r2")
    with pytest.raises(ConfigError, match=r"applied already \(run r2\)"):
        claim_plan(plan, path, store, "r3")
    with pytest.raises(ConfigError, match=r"applied already \(run r2\)"):
        check_plan(plan, path, store, config())
