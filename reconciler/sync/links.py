"""What a pair's link and agreed base become once its writes went through.

The base of a pair is replaced field by field only where its writes went
through: the base must be what *both* sides hold. A pair whose writes went
through in part (one side refused, or was edited meanwhile) remembers what
landed and leaves every field of a write that did not land as the run found
it (``partly_applied``). After a create the
base is what the new record holds, if that is what was sent; a record that
differs (the create found one an earlier attempt, or someone else, wrote)
keeps no base, so the next run diffs it with no base instead of trusting
either copy. Used by the applier for the writes of a run and by crash
recovery for the creates it finishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.connectors.base import Connector
from reconciler.domain.models import SYNCED_ENTITIES, Canonical, Remote, Side
from reconciler.domain.problems import problem
from reconciler.sync.plan_model import Action, PairPlan
from rules.normalize import normalize_record
from state import Store
from state.tables import Link, utcnow

OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


def base_after_create(
    connectors: Mapping[Side, Connector],
    entity: str,
    side: Side,
    fields: dict[str, Any],
    result: Remote[Canonical],
    base: dict[str, Any] | None,
    assigned: str | None,
) -> dict[str, Any] | None:
    """The agreed base once a create of ``fields`` on ``side`` wrote ``result``, or None.

    Fields one side cannot keep (``Collection.unstorable_fields``) are not
    compared; the base holds KleanApp's value for them, as the planner
    does for linked pairs. Anything else that differs means the create
    found a record an earlier attempt (or someone else) wrote: the next
    run diffs it with no base instead of trusting either copy.
    """
    if base is None:
        return None
    model = SYNCED_ENTITIES[entity]
    written = normalize_record(result.record).model_dump()
    # Fields are sent as typed; compare them the way the diff does.
    expected = normalize_record(result.record.model_copy(update=fields)).model_dump()
    if fields.get("customer_number", assigned) is None:
        expected["customer_number"] = assigned  # assigned on create
    skip = connectors[side].collection(model).unstorable_fields(result.record) | connectors[
        OTHER[side]
    ].collection(model).unstorable_fields(model.model_validate(fields))
    if any(written[f] != expected[f] for f in written if f not in skip):
        return None
    kleanapp_copy = written if side == "kleanapp" else base
    return {**base, **{f: kleanapp_copy[f] for f in skip if f in kleanapp_copy}}


def link_row(
    pair: PairPlan,
    ids: Mapping[str, str | None],
    versions: Mapping[str, str | None],
    base: dict[str, Any] | None,
    seen: dict[str, dict[str, str]] | None,
) -> dict[str, Any] | None:
    """The column values of the link a pair leaves; None if it has no two records.

    Plain values: a new link with nothing written is inserted as this row
    (``state.link_queries.insert_links``), no table model built for it.
    """
    kleanapp_id, sevdesk_id = ids["kleanapp"], ids["sevdesk"]
    if kleanapp_id is None or sevdesk_id is None:
        return None
    quiet = pair.digests_after if not pair.actions else None
    return {
        "id": pair.link_id,
        "entity": pair.entity,
        "key": pair.key,
        "kleanapp_id": kleanapp_id,
        "sevdesk_id": sevdesk_id,
        "base": base,
        "kleanapp_raw": seen.get("kleanapp") if seen and base is not None else None,
        "sevdesk_raw": seen.get("sevdesk") if seen and base is not None else None,
        "kleanapp_version": versions.get("kleanapp"),
        "sevdesk_version": versions.get("sevdesk"),
        # Known as quiet only when nothing was written: else no digest (next run decides).
        "kleanapp_digest": quiet[0] if quiet else None,
        "sevdesk_digest": quiet[1] if quiet else None,
    }


def pair_link(
    store: Store,
    pair: PairPlan,
    ids: Mapping[str, str | None],
    versions: Mapping[str, str | None],
    base: dict[str, Any] | None,
    seen: dict[str, dict[str, str]] | None,
) -> Link | None:
    """The link a pair leaves once all its writes succeeded; None if it has no two records.

    An existing link keeps its creation time, and what it knew that the
    pair did not change (the raw-value fingerprints when the pair brought
    none, the versions of a side it did not write).
    """
    row = link_row(pair, ids, versions, base, seen)
    if row is None:
        return None
    now = utcnow()  # given, not left to the default factories: pydantic inspects a
    # factory's signature on every call, half of building a link (issue 21)
    link = Link(**row, created_at=now, updated_at=now)
    if pair.link_id is not None:
        old = store.get_link(pair.link_id)
        if old is not None:
            if pair.seen_after is None and base is not None:
                link.kleanapp_raw, link.sevdesk_raw = old.kleanapp_raw, old.sevdesk_raw
            link.created_at = old.created_at
            link.kleanapp_version = link.kleanapp_version or old.kleanapp_version
            link.sevdesk_version = link.sevdesk_version or old.sevdesk_version
    return link


def partly_applied(
    store: Store,
    pair: PairPlan,
    failed: list[Action],
    ids: Mapping[str, str | None],
    versions: Mapping[str, str | None],
    base: dict[str, Any] | None,
    seen: dict[str, dict[str, str]] | None,
) -> Link | None:
    """The link of a linked pair whose ``failed`` updates did not land while its other writes did.

    What landed is remembered (the written side's fingerprints, version and
    base), so the next run does not take kleansync's own write for a
    person's edit there and put it over a newer edit on the other side.
    Every field of a write that did not land keeps the base and *both*
    sides' fingerprints it had before the run: the change is still a
    change next run, planned again, and whatever a person typed meanwhile
    is judged against the same old state. None (the link stays as it was)
    for a pair linked only now or to be unlinked, a failed create or delete, or a link from
    before fingerprints: there is no earlier state to keep per field.
    """
    old = store.get_link(pair.link_id) if pair.link_id is not None else None
    if old is None or pair.unlink or old.base is None or any(a.op != "update" for a in failed):
        return None
    link = pair_link(store, pair, ids, versions, base, seen)
    before = {"kleanapp": old.kleanapp_raw, "sevdesk": old.sevdesk_raw}
    if link is None or link.base is None or None in before.values():
        return None
    agreed = dict(link.base)
    raw = {"kleanapp": dict(link.kleanapp_raw or {}), "sevdesk": dict(link.sevdesk_raw or {})}
    for name in {name for action in failed for name in action.fields}:
        if name in old.base:
            agreed[name] = old.base[name]
        for side, fingerprints in raw.items():
            kept = (before[side] or {}).get(name)
            if kept is None:
                fingerprints.pop(name, None)
            else:
                fingerprints[name] = kept
    link.base, link.kleanapp_raw, link.sevdesk_raw = agreed, raw["kleanapp"], raw["sevdesk"]
    return link


def link_clash(pair: PairPlan, kleanapp_id: str, sevdesk_id: str) -> dict[str, Any]:
    """The run's error entry when another link already holds one of the pair's records.

    The planner never plans that; should it happen anyway, the run reports
    this pair and goes on (the stored links stay as they were) instead of
    ending.
    """
    return {
        "action": f"{pair.entity}:{pair.key}:link",
        "entity": pair.entity,
        "key": pair.key,
        "side": "kleanapp",
        "op": "link",
        **problem(
            "link_clash",
            "error",
            text=f"{pair.entity} {pair.key}: KleanApp {kleanapp_id} or sevDesk "
            f"{sevdesk_id} is already linked to another record; links left as they were",
            entity=pair.entity,
            key=pair.key,
        ),
    }
