"""When a customer's link ends: its contact deleted in sevDesk, or it was archived in KleanApp.

KleanApp never erases a customer, so a sevDesk deletion archives the
KleanApp customer (``[sync] on_sevdesk_delete = "ignore"`` keeps it and the
link, reported once). A customer archived in KleanApp is reported by default
and its sevDesk contact left alone, because documents may refer to it;
``on_kleanapp_archive = "delete"`` deletes the contact instead. Either way the
answer is one ``PairPlan`` (ending the link, with the archive or delete to
send first) or one ``Task`` for an admin, decided from the config alone.
"""

from __future__ import annotations

from typing import Any

from reconciler.config import Config
from reconciler.domain.models import Customer, Remote, Side
from reconciler.sync.plan_direction import writable
from reconciler.sync.plan_model import Action, Op, PairPlan, Task
from state.tables import Link


def sevdesk_deleted(config: Config, link: Link, k: Remote[Customer] | None) -> PairPlan | Task:
    """A sevDesk deletion archives the KleanApp customer (KleanApp never erases).

    With ``on_sevdesk_delete = "ignore"`` the KleanApp customer stays as it
    is and the link is kept, so the customer is not created again.
    """
    if config.sync.on_sevdesk_delete == "ignore":
        return Task(
            kind="deleted",
            entity="customer",
            key=link.key,
            message=f"customer {link.key} was deleted in sevDesk; KleanApp keeps it "
            "(on_sevdesk_delete = ignore)",
        )
    if k is not None and not k.record.archived and writable(config, "customer", "kleanapp"):
        return removal(link, "kleanapp", "archive", k, "deleted in sevDesk")
    # already archived (or not ours to write): just forget the link
    return removal(link, "kleanapp", None, k, "deleted in sevDesk")


def kleanapp_archived(config: Config, link: Link, s: Remote[Customer]) -> PairPlan | Task:
    """Policy for a customer newly archived in KleanApp: a removal, or a task (then diffed)."""
    if config.sync.on_kleanapp_archive == "delete" and writable(config, "customer", "sevdesk"):
        # If sevDesk refuses (documents refer to the contact), the link stays
        # with the archive recorded in its base, so it is not tried every run.
        return removal(
            link,
            "sevdesk",
            "delete",
            s,
            "archived in KleanApp (on_kleanapp_archive = delete)",
            base_after={**(link.base or {}), "archived": True},
        )
    # Default: report, never delete in sevDesk (its contact may carry documents).
    # The base then records the archive, so it is reported once.
    return Task(
        kind="archived",
        entity="customer",
        key=link.key,
        message=f"customer {link.key} was archived in KleanApp; its sevDesk contact "
        "was left as it is",
    )


def removal(
    link: Link,
    side: Side,
    op: Op | None,
    remote: Remote[Customer] | None,
    reason: str,
    base_after: dict[str, Any] | None = None,
) -> PairPlan:
    """A pair that ends its link, archiving or deleting on ``side`` first (if ``op``)."""
    actions: tuple[Action, ...] = ()
    if op is not None and remote is not None:
        actions = (
            Action(
                entity="customer",
                side=side,
                op=op,
                key=link.key,
                target_id=remote.id,
                expected_version=remote.version,
                reason=reason,
            ),
        )
    return PairPlan(
        entity="customer",
        key=link.key,
        link_id=link.id,
        kleanapp_id=link.kleanapp_id,
        sevdesk_id=link.sevdesk_id,
        actions=actions,
        base_after=base_after,
        unlink=True,
    )
