"""What the planner writes for a pair besides carrying changes, and what it holds back.

Kept apart from ``plan.py`` (which decides per pair) because these are the
rules about *values*: a change is written as typed (``rules.carry``), a value
that cannot be carried is quarantined instead, a re-format is a write of its
own with its own reason, and a link's fingerprints say what each side held.
"""

from __future__ import annotations

from typing import Any

from reconciler.domain.models import SIDE_LABEL, Customer, Quarantined, Remote, Side
from reconciler.sync.plan_model import Action
from rules.carry import carry_problem, carry_record_fields
from rules.fingerprints import Seen
from rules.merge_result import MergeResult
from state.tables import Link

OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


def seen_of(link: Link) -> Seen | None:
    """The link's per-side fingerprints, or None for a link from before they existed."""
    if link.kleanapp_raw is None and link.sevdesk_raw is None:
        return None
    return {"kleanapp": link.kleanapp_raw or {}, "sevdesk": link.sevdesk_raw or {}}


def keep_fingerprint(after: Seen, seen: Seen | None, side: Side, name: str) -> None:
    """Keep ``side``'s old fingerprint of ``name``, so a change not carried stays one."""
    known = (seen or {}).get(side, {}).get(name)
    if known is None:
        after.get(side, {}).pop(name, None)
    else:
        after.setdefault(side, {})[name] = known


def held_quarantine(
    result: MergeResult[Customer], key: str, remotes: dict[Side, Remote[Customer]]
) -> list[Quarantined]:
    """Changes that cannot be carried as typed are quarantined, never rewritten."""
    return [
        Quarantined(
            side=held.side,
            entity="customer",
            id=remotes[held.side].id,
            reason=f"customer {key}: {held.field} not written to {SIDE_LABEL[OTHER[held.side]]}: "
            f"{held.reason}; fix it in {SIDE_LABEL[held.side]}",
        )
        for held in result.held
    ]


def reformat_actions(
    result: MergeResult[Customer],
    key: str,
    remotes: dict[Side, Remote[Customer]],
    writes_to: dict[Side, dict[str, Any]],
    writable: dict[Side, bool],
) -> list[Action]:
    """A value re-formatted so it keeps its meaning: its own write, with its own reason."""
    by_side: dict[Side, list[Any]] = {}
    for fix in result.reformats:
        if fix.field not in writes_to[fix.side] and writable[fix.side]:
            by_side.setdefault(fix.side, []).append(fix)
    return [
        Action(
            entity="customer",
            side=side,
            op="update",
            key=key,
            target_id=remotes[side].id,
            fields={fix.field: fix.value for fix in fixes},
            expected_version=remotes[side].version,
            reason="; ".join(fix.reason for fix in fixes),
            step="reformat",
        )
        for side, fixes in by_side.items()
    ]


def create_fields(
    remote: Remote[Customer], key: str, target: Side
) -> tuple[dict[str, Any], list[Quarantined]]:
    """The fields a create on ``target`` sends (as typed), or why it cannot be sent."""
    fields = carry_record_fields(remote.record, exclude=frozenset({"archived"}))
    problems = [
        Quarantined(
            side=remote.side,
            entity="customer",
            id=remote.id,
            reason=f"customer {key} not created in {SIDE_LABEL[target]}: {name}: {problem}; "
            f"fix it in {SIDE_LABEL[remote.side]}",
        )
        for name, value in fields.items()
        if (problem := carry_problem(name, value)) is not None
    ]
    return fields, problems
