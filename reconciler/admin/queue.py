"""The resolution queue: what waits for an admin, and recording their answers.

What waits for a person is kept in the state store (``ConflictRow``,
``Parked``), so an answer given today is applied by tonight's run, even
after restarts. This module only *records* answers; the engine carries them
out on its next run. The contract with the engine:

* conflict: ``status`` "open" → "resolved", ``resolution = {"value": v}``
  (``v`` already normalised; ``--take`` also stores ``"take": side``),
  ``resolved_by``, ``resolved_at``. The next sync writes ``v`` to both sides
  for that field of that link and sets ``status`` "applied".
* parked match: ``Parked.status`` "open" → "resolved" plus one
  ``ParkedResolution`` row (``action`` "link" with ``with_id`` "side:id", or
  "create-new"), ``applied`` false until the engine has carried it out.

Typed values are checked in ``reconciler.admin.values``; ``kleansync status``
(run history) is ``reconciler.admin.status``.

An answer can be given once: a second ``resolve`` of the same conflict is
refused (also when two admins race, see ``Store.resolve_conflict``).

IDs shown to admins carry a letter, ``C12`` for a conflict and ``P3`` for a
parked record, because ``conflicts list`` shows both kinds in one list.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
from typing import Any

from reconciler.admin.values import InvalidValue, validate_value
from reconciler.domain.errors import KleansyncError
from reconciler.domain.i18n import _
from reconciler.domain.labels import entity_word
from reconciler.domain.models import SIDE_LABEL, SIDES
from state import Store
from state.admin_tables import ParkedResolution
from state.tables import ConflictRow, Parked, utcnow

__all__ = [
    "InvalidValue",
    "QueueError",
    "conflict_view",
    "iso",
    "link_parked",
    "parked_view",
    "parse_id",
    "queue",
    "resolve_conflict",
    "show",
    "validate_value",
    "who",
]


#: How many of the newest runs are searched for a parked record's evidence (see ``show``).
EVIDENCE_RUNS = 20


class QueueError(KleansyncError):
    """The answer cannot be recorded (unknown ID, already resolved, ...); exit code 1."""


# -- IDs ----------------------------------------------------------------------------------------
_ID = re.compile(r"\s*([CcPp]?)\s*#?(\d+)\s*")


def parse_id(text: str, default_kind: str) -> tuple[str, int]:
    """``"C12"``/``"c12"``/``"12"`` -> ("C", 12); a bare number is of ``default_kind``."""
    match = _ID.fullmatch(str(text))
    if not match:
        raise InvalidValue(
            _("%(text)r is not a queue ID (like C12 for a conflict, P3 for parked)", text=text)
        )
    return (match.group(1).upper() or default_kind), int(match.group(2))


def who(by: str | None = None) -> str:
    """Who answers: ``--by``, else the login name (``getpass`` fails in some containers)."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry, no env: still record something
        return os.environ.get("USER") or "unknown"


# -- views --------------------------------------------------------------------------------------
def conflict_view(row: ConflictRow) -> dict[str, Any]:
    return {
        "id": f"C{row.id}",
        "kind": "conflict",
        "status": row.status,
        **row.conflict().model_dump(),
        "resolution": row.resolution,
        "resolved_by": row.resolved_by,
        "resolved_at": iso(row.resolved_at),
        "resolved_via": row.resolved_via,
        "run_id": row.run_id,
        "created_at": iso(row.created_at),
    }


def parked_view(row: Parked, resolution: ParkedResolution | None = None) -> dict[str, Any]:
    return {
        "id": f"P{row.id}",
        "kind": "parked",
        "status": row.status,
        "entity": row.entity,
        "side": row.side,
        "record_id": row.record_id,
        "record": f"{row.side}:{row.record_id}",
        "key": row.key,
        "reason": row.reason,
        "candidates": list(row.candidates or []),
        "resolution": None
        if resolution is None
        else {
            "action": resolution.action,
            "with": resolution.with_id,
            "by": resolution.by,
            "via": resolution.via,
            "at": iso(resolution.at),
            "applied": resolution.applied,
        },
        "run_id": row.run_id,
        "created_at": iso(row.created_at),
    }


def iso(value: dt.datetime | None) -> str | None:
    """A stored time as the views show it (ISO 8601), or None when there is none."""
    return value.isoformat() if value else None


def _resolution_of(store: Store, parked_id: int) -> ParkedResolution | None:
    for res in store.parked_resolutions():
        if parked_id in (res.parked_id, res.with_parked_id):
            return res
    return None


def queue(store: Store, *, everything: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Open conflicts and parked records (``everything``: also answered and closed ones).

    Conflicts a rule decided by itself (status "decided") are history, not
    queue: they are only listed with ``everything``.
    """
    statuses = None if everything else ("open",)
    resolutions: dict[int | None, ParkedResolution] = {}
    for res in store.parked_resolutions():
        resolutions[res.parked_id] = res
        if res.with_parked_id is not None:
            resolutions[res.with_parked_id] = res
    return {
        "conflicts": [conflict_view(r) for r in store.conflicts(statuses)],
        "parked": [parked_view(p, resolutions.get(p.id)) for p in store.parked(statuses)],
    }


def show(store: Store, ident: str) -> dict[str, Any]:
    """One queue item by ID (``C12``, ``P3``; a bare number is a conflict)."""
    kind, number = parse_id(ident, "C")
    if kind == "C":
        row = store.get_conflict(number)
        if row is None:
            raise QueueError(
                _("no conflict C%(number)s (see 'kleansync conflicts list')", number=number)
            )
        return conflict_view(row)
    parked = store.get_parked(number)
    if parked is None:
        raise QueueError(
            _("no parked record P%(number)s (see 'kleansync conflicts list')", number=number)
        )
    return {**parked_view(parked, _resolution_of(store, number)), **_evidence_of(store, parked)}


def _evidence_of(store: Store, row: Parked) -> dict[str, Any]:
    """Who the parked record and each candidate are, and the evidence, as the run saw them.

    The run that parked the record keeps it in its result (``ParkedItem.details``
    and ``evidence``), so an admin judges the same comparison the engine made,
    without kleansync reading either system again.
    """
    first = store.get_run(row.run_id) if row.run_id else None
    # The run that parked it first may be pruned by now (report retention) or have lost the
    # row to the size bound; every later run that still saw it parked keeps it too.
    for run in [first, *store.runs(EVIDENCE_RUNS)]:
        for item in ((run.result or {}).get("parked") or []) if run else []:
            if (item.get("entity", "customer"), item.get("side"), item.get("record_id")) == (
                row.entity,
                row.side,
                row.record_id,
            ) and (item.get("details") or item.get("evidence")):
                return {
                    "details": item.get("details") or {},
                    "evidence": item.get("evidence") or [],
                }
    return {"details": {}, "evidence": []}


# -- answering ----------------------------------------------------------------------------------
def _not_open(row: ConflictRow) -> QueueError:
    cid = f"C{row.id}"
    if row.status in ("resolved", "applied"):
        value = (row.resolution or {}).get("value")
        when = row.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if row.resolved_at else "?"
        if row.status == "applied":
            text = _(
                "conflict %(id)s was already resolved by %(by)s at %(when)s to %(value)r and "
                "applied; it cannot be resolved twice",
                id=cid,
                by=row.resolved_by,
                when=when,
                value=value,
            )
        else:
            text = _(
                "conflict %(id)s was already resolved by %(by)s at %(when)s to %(value)r "
                "(applied by the next run); it cannot be resolved twice",
                id=cid,
                by=row.resolved_by,
                when=when,
                value=value,
            )
        return QueueError(text)
    if row.status == "closed":
        return QueueError(_("conflict %(id)s closed itself: both sides agree now", id=cid))
    if row.status == "decided":
        return QueueError(
            _(
                "conflict %(id)s was decided by the rule %(rule)s (%(side)s won); nothing to "
                "resolve",
                id=cid,
                rule=row.rule,
                side=SIDE_LABEL.get(row.decision, row.decision),
            )
        )
    return QueueError(
        _(
            "conflict %(id)s is %(status)s; only open conflicts can be resolved",
            id=cid,
            status=row.status,
        )
    )


def resolve_conflict(
    store: Store,
    ident: str,
    *,
    take: str | None = None,
    value: str | None = None,
    by: str | None = None,
    now: dt.datetime | None = None,
    change: bool = False,
    via: str = "cli",
) -> ConflictRow:
    """Record the admin's answer to an open conflict (applied by the next run).

    ``change``: an answer already given may be replaced until the next run
    carries it out (status "resolved"); once applied it stays as it is.
    ``via``: "cli" (``by`` is a login name or ``--by``) or "console" (an account).
    """
    if (take is None) == (value is None):
        raise InvalidValue(_("give exactly one of --take kleanapp|sevdesk or --value VALUE"))
    kind, number = parse_id(ident, "C")
    if kind != "C":
        raise InvalidValue(_("%(id)s is a parked record; use 'kleansync conflicts link'", id=ident))
    row = store.get_conflict(number)
    if row is None:
        raise QueueError(
            _("no conflict C%(number)s (see 'kleansync conflicts list')", number=number)
        )
    changeable = ("open", "resolved") if change else ("open",)
    if row.status not in changeable:
        raise _not_open(row)
    if take is not None:
        side = take.strip().lower()
        if side not in SIDES:
            raise InvalidValue(_("--take must be kleanapp or sevdesk, not %(take)r", take=take))
        resolution: dict[str, Any] = {"value": getattr(row, side), "take": side}
    else:
        resolution = {"value": validate_value(row.field, value or "")}
    at = now or utcnow()
    if not store.resolve_conflict(
        number, resolution, who(by), at, from_statuses=changeable, via=via
    ):
        # Someone else answered between our read and our write.
        raise _not_open(store.get_conflict(number) or row)
    resolved = store.get_conflict(number)
    assert resolved is not None
    return resolved


def _other_record(store: Store, row: Parked, with_id: str) -> tuple[str, int | None]:
    """The record ``--with`` names, as ("side:id", its parked id or None)."""
    text = with_id.strip()
    other_side = "sevdesk" if row.side == "kleanapp" else "kleanapp"
    open_parked = {(p.entity, p.side, p.record_id): p for p in store.parked(("open",))}
    if re.fullmatch(r"[Pp]\d+", text):
        other = store.get_parked(int(text[1:]))
        if other is None:
            raise QueueError(_("no parked record %(id)s", id=text.upper()))
        if other.entity != row.entity or other.side != other_side:
            raise InvalidValue(
                _(
                    "%(id)s is a %(entity)s in %(side)s; P%(parked)s needs a %(wanted)s in "
                    "%(other)s",
                    id=text.upper(),
                    entity=entity_word(other.entity),
                    side=SIDE_LABEL[other.side],
                    parked=row.id,
                    wanted=entity_word(row.entity),
                    other=SIDE_LABEL[other_side],
                )
            )
        if other.status != "open":
            raise QueueError(_("%(id)s was already settled", id=text.upper()))
        return f"{other.side}:{other.record_id}", other.id
    candidates = [str(c) for c in row.candidates or []]
    ref = text if ":" in text else f"{other_side}:{text}"
    side, _sep, record_id = ref.partition(":")
    side = side.lower()
    if side not in SIDES or side == row.side:
        raise InvalidValue(
            _(
                "--with must name a record in %(side)s (like %(code)s:ID or a parked ID like "
                "P3), not %(given)r",
                side=SIDE_LABEL[other_side],
                code=other_side,
                given=with_id,
            )
        )
    ref = f"{side}:{record_id}"
    if ref not in candidates:
        raise InvalidValue(
            _(
                "%(ref)s is not a candidate of P%(id)s (candidates: %(candidates)s)",
                ref=ref,
                id=row.id,
                candidates=", ".join(candidates) or _("none"),
            )
        )
    other = open_parked.get((row.entity, side, record_id))
    return ref, other.id if other else None


def link_parked(
    store: Store,
    ident: str,
    *,
    with_id: str | None = None,
    create_new: bool = False,
    by: str | None = None,
    now: dt.datetime | None = None,
    via: str = "cli",
) -> ParkedResolution:
    """Record how a parked record is settled: linked with ``with_id``, or created anew.

    ``via`` as for ``resolve_conflict``: who ``by`` is (a login name or an account)."""
    if (with_id is None) == (not create_new):
        raise InvalidValue(_("give exactly one of --with OTHER_ID or --create-new"))
    kind, number = parse_id(ident, "P")
    if kind != "P":
        raise InvalidValue(_("%(id)s is a conflict; use 'kleansync conflicts resolve'", id=ident))
    row = store.get_parked(number)
    if row is None:
        raise QueueError(
            _("no parked record P%(number)s (see 'kleansync conflicts list')", number=number)
        )
    if row.status != "open":
        raise _parked_not_open(store, row)
    ref, other_parked = (None, None) if with_id is None else _other_record(store, row, with_id)
    resolution = ParkedResolution(
        parked_id=number,
        entity=row.entity,
        side=row.side,
        record_id=row.record_id,
        action="create-new" if create_new else "link",
        with_id=ref,
        with_parked_id=other_parked,
        by=who(by),
        via=via,
        at=now or utcnow(),
    )
    if not store.resolve_parked(resolution):
        fresh = store.get_parked(number) or row
        if fresh.status != "open":
            raise _parked_not_open(store, fresh)
        raise QueueError(
            _("%(id)s was settled meanwhile; see 'kleansync conflicts list'", id=with_id)
        )
    return resolution


def _parked_not_open(store: Store, row: Parked) -> QueueError:
    res = _resolution_of(store, row.id or 0)
    if res is None:
        return QueueError(
            _(
                "parked record P%(id)s is %(status)s; nothing to settle",
                id=row.id,
                status=row.status,
            )
        )
    what = (
        _("linked with %(other)s", other=res.with_id)
        if res.action == "link"
        else _("to be created anew")
    )
    return QueueError(
        _(
            "parked record P%(id)s was already settled by %(by)s at %(when)s (%(what)s); it "
            "cannot be settled twice",
            id=row.id,
            by=res.by,
            when=res.at.strftime("%Y-%m-%d %H:%M UTC"),
            what=what,
        )
    )
