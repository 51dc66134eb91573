"""The mass-delete brake: a run that would remove too much stops before writing anything.

A side that suddenly returns no customers (or no units), a plan that archives or deletes
more than ``max_delete_fraction`` of the linked customers, or addresses and
communication ways vanishing from that many sevDesk customers at once is far
more likely a broken API, a wrong account, a partial answer or a wiped
database than a real wish; nothing may wipe one side because the other
looked empty. Vanished parts count like deletions because they are
deletions: each clears fields in KleanApp. ``--allow-mass-delete`` lets one
run through.
"""

from __future__ import annotations

import math

from reconciler.config import Config
from reconciler.sync.plan_model import Plan
from state import Store


def removal_budget(store: Store, config: Config, allow: bool) -> int | None:
    """How many removals the brake lets through (None: no limit).

    The snapshot confirms that many suspected removals by reading each record
    again; beyond it, the brake stops the run anyway, so confirming them
    would only cost requests.
    """
    if allow:
        return None
    return math.floor(config.sync.max_delete_fraction * store.count_links("customer"))


def mass_delete_brake(
    plan: Plan, store: Store, config: Config, dropped: frozenset[str] = frozenset()
) -> str | None:
    """Why this plan must not run unattended, or None.

    ``dropped``: link keys of customers whose sevDesk parts vanished
    (``Snapshot.dropped``).
    """
    units = store.count_links("unit")  # counted, never read (issue 21)
    for side, label in (("kleanapp", "KleanApp"), ("sevdesk", "sevDesk")):
        if units and plan.complete_counts.get(f"unit.{side}") == 0:
            return f"{label} returned no units although {units} are linked"
    linked = store.count_links("customer")
    if not linked:
        return None
    for side, label in (("kleanapp", "KleanApp"), ("sevdesk", "sevDesk")):
        if plan.complete_counts.get(f"customer.{side}") == 0:
            return f"{label} returned no customers although {linked} are linked"
    removed = {a.key for a in plan.removals if a.entity == "customer"}
    allowed = config.sync.max_delete_fraction * linked
    fraction = f"(max_delete_fraction = {config.sync.max_delete_fraction})"
    if len(removed | dropped) <= allowed:
        return None
    if not dropped:
        return (
            f"the run would archive or delete {len(removed)} of {linked} linked customers "
            + fraction
        )
    return (
        f"the run would archive or delete {len(removed)} and clear vanished sevDesk addresses "
        f"or communication ways of {len(dropped - removed)} of {linked} linked customers "
        + fraction
    )
