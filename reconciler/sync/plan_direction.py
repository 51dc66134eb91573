"""The configured direction of a sync: which side may be written, and who wins a one-way conflict.

``[sync] customers`` / ``units`` are ``both``, ``kleanapp-to-sevdesk``,
``sevdesk-to-kleanapp`` or ``off``. The planner never plans a write against
the direction, and in a one-way sync the source side decides every conflict
(whatever ``[rules]`` says), so a one-way sync never waits for an admin.
"""

from __future__ import annotations

from reconciler.config import Config
from reconciler.domain.models import OTHER, Side
from rules.policies import RuleSet


def writable(config: Config, entity: str, side: Side) -> bool:
    """Does the configured direction allow writing ``entity`` to ``side``?"""
    direction = config.sync.customers if entity == "customer" else config.sync.units
    return direction == "both" or direction == f"{OTHER[side]}-to-{side}"


def rules_for(config: Config, entity: str) -> RuleSet:
    """One-way sync: the source side decides every conflict."""
    direction = config.sync.customers if entity == "customer" else config.sync.units
    if direction == "kleanapp-to-sevdesk":
        return RuleSet(default="kleanapp-authoritative")
    if direction == "sevdesk-to-kleanapp":
        return RuleSet(default="sevdesk-authoritative")
    return RuleSet(default=config.rules.default, fields=dict(config.rules.fields))
