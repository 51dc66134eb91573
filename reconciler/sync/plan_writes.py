"""What the planner writes for a pair besides carrying changes, and what it holds back.

Kept apart from ``plan.py`` (which decides per pair) because these are the
rules about *values*: a change is written as typed (``rules.carry``), a value
that cannot be carried is quarantined instead, a re-format is a write of its
own with its own reason, and a link's fingerprints say what each side held.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from reconciler.domain.models import OTHER, SIDE_LABEL, Customer, Quarantined, Remote, Side
from reconciler.sync.number_swaps import holds_temporary_number
from reconciler.sync.plan_model import Action, PairPlan
from rules.carry import carry_problem, carry_record_fields
from rules.fingerprints import Seen, fingerprints, record_digest
from rules.merge_result import MergeResult
from rules.normalize import normalize_record, normalized_customer_fields
from state.tables import Link


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


def aligned(
    unstorable: Mapping[Side, Callable[[Customer], frozenset[str]]],
    k: Remote[Customer],
    s: Remote[Customer],
) -> tuple[Remote[Customer], Remote[Customer]]:
    """The pair with every field a side cannot keep set to the other side's value.

    sevDesk has no archive flag and keeps no contact-person names on an
    organisation (``Connector.unstorable_fields``): such a field is never a
    change on that side, so nothing is copied back and nothing bounces.
    """
    # Only what a side cannot keep whatever the kind: when the kind itself
    # changes on one side, the names belonging to the new kind must travel.
    s_skip = unstorable["sevdesk"](s.record) & unstorable["sevdesk"](
        s.record.model_copy(update={"kind": k.record.kind})
    )
    k_skip = (
        unstorable["kleanapp"](k.record)
        & unstorable["kleanapp"](k.record.model_copy(update={"kind": s.record.kind}))
    ) - s_skip
    if s_skip:
        s = s.model_copy(
            update={"record": s.record.model_copy(update={f: getattr(k.record, f) for f in s_skip})}
        )
    if k_skip:
        k = k.model_copy(
            update={"record": k.record.model_copy(update={f: getattr(s.record, f) for f in k_skip})}
        )
    return k, s


def unchanged_pair(
    unstorable: Mapping[Side, Callable[[Customer], frozenset[str]]],
    link: Link,
    k: Customer,
    s: Customer,
) -> bool:
    """Whether a linked pair is quiet: both records agree with the link's base.

    The planner's quiet test (``unswapped``, then :func:`aligned`, then both
    normalised records equal to the base with KleanApp's archive flag) decided
    on plain values, without a model copy per side and step: a quiet full run
    asks this of every linked pair (issue 21). False whenever that test might
    not hold or might not even be asked: a link without a base or fingerprints,
    a kind that differs, a number mid-swap, a base the model would not take as
    it is, a KleanApp record newly archived. The planner then takes its full
    path, which decides as before. An admin's answer (``Planner.forced``) is
    the planner's to check.
    """
    if link.kleanapp_raw is None and link.sevdesk_raw is None:
        return False
    return quiet_against(unstorable, link.base, k, s)


def quiet_against(
    unstorable: Mapping[Side, Callable[[Customer], frozenset[str]]],
    base: dict[str, Any] | None,
    k: Customer,
    s: Customer,
) -> bool:
    """:func:`unchanged_pair` for a base in hand (a link with fingerprints, or one to be)."""
    if not base:
        return False
    was_archived = base.get("archived")
    if (
        k.kind != s.kind
        or type(was_archived) is not bool
        or holds_temporary_number(k.customer_number, base)
    ):
        return False
    # ``aligned``: with one kind on both sides, each side's fields it cannot keep.
    kv: dict[str, Any] = k.__dict__
    sv: dict[str, Any] = s.__dict__
    s_skip = unstorable["sevdesk"](s)
    k_skip = unstorable["kleanapp"](k) - s_skip
    if s_skip:
        sv = {**sv, **{f: kv[f] for f in s_skip}}
    if k_skip:
        kv = {**kv, **{f: sv[f] for f in k_skip}}
    archived = kv["archived"]
    if archived and not was_archived:
        return False  # newly archived: ``kleanapp_archived`` decides
    if sv["archived"] != archived:
        return False
    # Equal to the base as a dict means the model would take it unchanged: the
    # values compared are the normalised strings, None, the kind and a bool.
    # The base's archive flag is KleanApp's for the comparison (as in the planner).
    normal = normalized_customer_fields(kv)
    normal["archived"] = was_archived
    if normal != base:
        return False
    other = normalized_customer_fields(sv)
    other["archived"] = was_archived
    return other == normal


#: Part of every digest a link keeps (:func:`pair_digests`). Raise it whenever what
#: :func:`unchanged_pair` decides can change for the same two records and base: the quiet
#: test, the normaliser, a connector's ``unstorable_fields``. The installed version is part
#: of it too, so an upgrade trusts no digest an older kleansync kept (each pair takes the
#: full path once, then is digested again).
QUIET_SCHEME = "quiet-1"
try:
    _SALT = f"{QUIET_SCHEME}/{version('kleansync')}"
except PackageNotFoundError:  # pragma: no cover - run from a tree that is not installed
    _SALT = QUIET_SCHEME


def pair_digests(k: Customer, s: Customer) -> tuple[str, str]:
    """Each side's record digest, as a link keeps them for a quiet pair."""
    return record_digest(k, _SALT), record_digest(s, _SALT)


def still_quiet(link: Link, digests: tuple[str, str]) -> bool:
    """Whether the pair is the one a run found quiet against this link's base.

    The link's digests are kept only by a run whose :func:`unchanged_pair` said
    quiet for these exact two records (``Planner.quiet``), and every write of a
    link drops them (``sync.links.pair_link`` builds a new row). The same two
    digests therefore mean the same raw records against the same base, for which
    :func:`unchanged_pair` says quiet again; it need not be asked.
    """
    return (
        link.kleanapp_digest == digests[0]
        and link.sevdesk_digest == digests[1]
        # What ``unchanged_pair`` needs held then: a store whose fingerprints were
        # dropped (restored from before schema 3) is not taken on the digests' word.
        and bool(link.base)
        and (link.kleanapp_raw is not None or link.sevdesk_raw is not None)
    )


def create_pair(
    remote: Remote[Customer],
    target: Side,
    *,
    number_back: bool,
    resolution_id: int | None = None,
    note: str = "",
) -> PairPlan | list[Quarantined]:
    """The pair that creates ``remote`` on ``target``, or why it cannot be created.

    ``number_back``: a record without a customer number gets the one the
    target assigns written back to its own side (if that side may be written).
    """
    record = normalize_record(remote.record)
    key = record.customer_number or f"{remote.side}:{remote.id}"
    fields, problems = create_fields(remote, key, target)
    if problems:
        return problems
    actions = [
        Action(
            entity="customer",
            side=target,
            op="create",
            key=key,
            source_id=remote.id,
            fields=fields,
            reason=f"new in {SIDE_LABEL[remote.side]}{note}",
        )
    ]
    if record.customer_number is None and number_back:
        actions.append(
            Action(
                entity="customer",
                side=remote.side,
                op="update",
                key=key,
                target_id=remote.id,
                fields={"customer_number": None},
                expected_version=remote.version,
                number_from_create=True,
                reason=f"customer number assigned by {SIDE_LABEL[target]}",
            )
        )
    written = Customer.model_validate({**fields, "archived": remote.record.archived})
    return PairPlan(
        entity="customer",
        key=key,
        kleanapp_id=remote.id if remote.side == "kleanapp" else None,
        sevdesk_id=remote.id if remote.side == "sevdesk" else None,
        actions=tuple(actions),
        base_after=record.model_dump(),
        seen_after={
            remote.side: fingerprints(remote.record),
            target: fingerprints(written),
        },
        parked_resolution_ids=(resolution_id,) if resolution_id is not None else (),
    )
