"""Saved plans: written for review (``sync --plan-out``), applied once (``--apply-plan``).

A saved plan is what one state store decided at one moment. Applied to
another store, a second time, or days later, its creates and links clash with
what is there by then; that used to end in a database error quoting customer
data, stored in the run history. So a saved plan carries the id of the dry run
that made it and its store's identity (``state.plan_tables``), and
``check_plan`` refuses, in one line naming the file and before anything is
written, a plan that is not a kleansync plan, comes from another store, was
applied already, or is older than ``[sync] plan_max_age_hours``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import ValidationError

from reconciler.config import Config
from reconciler.domain.errors import ConfigError
from reconciler.sync.plan_model import Plan
from state import Store
from state.plan_tables import applied_plan, record_applied_plan, store_identity

MAKE_NEW = "make a new one with 'kleansync sync --plan-out FILE'"


def check_plan_out(path: Path) -> None:
    """Refuse ``--plan-out`` into a folder that does not exist, before anything is read."""
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"--plan-out {path}: there is no folder {folder}")


def save_plan(plan: Plan, path: Path, *, run_id: str, store: Store) -> Plan:
    """Write ``plan`` to ``path`` stamped with its run and store; the stamped plan."""
    stamped = plan.model_copy(update={"id": run_id, "store_id": store_identity(store)})
    try:
        path.write_text(stamped.model_dump_json(indent=2), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--plan-out {path}: cannot write ({exc.strerror})") from None
    return stamped


def load_plan(path: Path) -> Plan:
    """The plan saved in ``path``; ``ConfigError`` in one line if it is none."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such plan file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a kleansync plan (not text)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the plan ({exc.strerror})") from None
    try:
        return Plan.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(f"{path}: not a kleansync plan ({exc.errors()[0]['msg']})") from None


def _age(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


def check_plan(
    plan: Plan, path: Path, store: Store, config: Config, *, now: dt.datetime | None = None
) -> None:
    """Refuse a plan this store must not apply (see the module docstring)."""
    if not plan.id or not plan.store_id:
        raise ConfigError(
            f"{path}: this plan names no state store (saved by an older kleansync); {MAKE_NEW}"
        )
    if plan.store_id != store_identity(store):
        raise ConfigError(
            f"{path}: this plan was made from another state store than [state] url; "
            f"apply it there, or {MAKE_NEW}"
        )
    earlier = applied_plan(store, plan.id)
    if earlier is not None:
        raise ConfigError(
            f"{path}: this plan was applied already (run {earlier.run_id}); {MAKE_NEW}"
        )
    limit = config.sync.plan_max_age_hours
    age = ((now or dt.datetime.now(dt.UTC)) - plan.created_at).total_seconds()
    if age > limit * 3600:
        raise ConfigError(
            f"{path}: this plan is {_age(age)} old, older than [sync] plan_max_age_hours = "
            f"{limit:g}; {MAKE_NEW}"
        )


def claim_plan(plan: Plan, path: Path, store: Store, run_id: str) -> None:
    """Record that run ``run_id`` applies ``plan``, right before its first write.

    ``check_plan`` found it unapplied; a second process applying the same file
    at the same moment loses here, still before writing anything.
    """
    if not record_applied_plan(store, plan.id, run_id):
        earlier = applied_plan(store, plan.id)
        by = f" (run {earlier.run_id})" if earlier else ""
        raise ConfigError(f"{path}: this plan was applied already{by}; {MAKE_NEW}")
