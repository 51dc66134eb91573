"""The admin's side of kleansync: the resolution queue and the run history.

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
from zoneinfo import ZoneInfo

from reconciler.domain.bounds import one_line
from reconciler.domain.errors import KleansyncError
from reconciler.domain.models import SIDE_LABEL, SIDES, Customer
from rules.normalize import (
    normalize_country,
    normalize_customer_number,
    normalize_email,
    normalize_multiline,
    normalize_phone,
    normalize_text,
    normalize_vat_id,
)
from state import Store
from state.admin_tables import ParkedResolution
from state.refusal_tables import Refusals
from state.tables import ConflictRow, Parked, Run, utcnow


class QueueError(KleansyncError):
    """The answer cannot be recorded (unknown ID, already resolved, ...); exit code 1."""


class InvalidValue(KleansyncError):
    """``--value`` is not a valid value for the field; exit code 2 like any bad input."""

    exit_code = 2


# -- IDs ----------------------------------------------------------------------------------------
_ID = re.compile(r"\s*([CcPp]?)\s*#?(\d+)\s*")


def parse_id(text: str, default_kind: str) -> tuple[str, int]:
    """``"C12"``/``"c12"``/``"12"`` -> ("C", 12); a bare number is of ``default_kind``."""
    match = _ID.fullmatch(str(text))
    if not match:
        raise InvalidValue(f"{text!r} is not a queue ID (like C12 for a conflict, P3 for parked)")
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
        "entity": row.entity,
        "key": row.key,
        "link_id": row.link_id,
        "field": row.field,
        "base": row.base,
        "kleanapp": row.kleanapp,
        "sevdesk": row.sevdesk,
        "rule": row.rule,
        "decision": row.decision,
        "reason": row.reason,
        "resolution": row.resolution,
        "resolved_by": row.resolved_by,
        "resolved_at": _iso(row.resolved_at),
        "run_id": row.run_id,
        "created_at": _iso(row.created_at),
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
            "at": _iso(resolution.at),
            "applied": resolution.applied,
        },
        "run_id": row.run_id,
        "created_at": _iso(row.created_at),
    }


def _iso(value: dt.datetime | None) -> str | None:
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
    resolutions: dict[int, ParkedResolution] = {}
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
            raise QueueError(f"no conflict C{number} (see 'kleansync conflicts list')")
        return conflict_view(row)
    parked = store.get_parked(number)
    if parked is None:
        raise QueueError(f"no parked record P{number} (see 'kleansync conflicts list')")
    return {**parked_view(parked, _resolution_of(store, number)), **_evidence_of(store, parked)}


def _evidence_of(store: Store, row: Parked) -> dict[str, Any]:
    """Who the parked record and each candidate are, and the evidence, as the run saw them.

    The run that parked the record keeps it in its result (``ParkedItem.details``
    and ``evidence``), so an admin judges the same comparison the engine made,
    without kleansync reading either system again.
    """
    run = store.get_run(row.run_id) if row.run_id else None
    for item in ((run.result or {}).get("parked") or []) if run else []:
        if (item.get("entity", "customer"), item.get("side"), item.get("record_id")) == (
            row.entity,
            row.side,
            row.record_id,
        ):
            return {"details": item.get("details") or {}, "evidence": item.get("evidence") or []}
    return {"details": {}, "evidence": []}


# -- validating a typed value -------------------------------------------------------------------
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}", re.UNICODE
)
_VAT = re.compile(r"[A-Z]{2}[0-9A-Z+*.]{2,13}")
_REQUIRED = {"customer_number", "kind", "name"}


def _check_email(raw: str) -> str | None:
    value = normalize_email(raw)
    if value is None:
        return None
    local = value.split("@", 1)[0]
    if (
        not _EMAIL.fullmatch(value)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in value
        or len(value) > 254
    ):
        raise InvalidValue(
            f"{raw!r} is not a valid e-mail address (expected something like name@example.de)"
        )
    return value


def _check_country(raw: str) -> str | None:
    value = normalize_country(raw)
    if value is not None and not re.fullmatch(r"[A-Z]{2}", value):
        raise InvalidValue(
            f"{raw!r} is not a country kleansync knows; use the ISO code (DE, AT, CH, ...)"
        )
    return value


def _check_vat(raw: str) -> str | None:
    value = normalize_vat_id(raw)
    if value is not None and not _VAT.fullmatch(value):
        raise InvalidValue(f"{raw!r} is not a VAT id (expected like DE123456789)")
    return value


def _check_kind(raw: str) -> str:
    value = (normalize_text(raw) or "").lower()
    if value not in ("company", "person"):
        raise InvalidValue(f"{raw!r} is not a customer kind (company or person)")
    return value


def _check_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise InvalidValue(f"{raw!r} is not true or false")


_VALIDATORS: dict[str, Any] = {
    "customer_number": normalize_customer_number,
    "kind": _check_kind,
    "company_name": normalize_text,
    "first_name": normalize_text,
    "last_name": normalize_text,
    "email": _check_email,
    "phone": normalize_phone,
    "mobile": normalize_phone,
    "street": normalize_text,
    "postal_code": normalize_text,
    "city": normalize_text,
    "country": _check_country,
    "vat_id": _check_vat,
    "note": normalize_multiline,
    "archived": _check_bool,
    "name": normalize_text,  # units
}


def validate_value(field: str, raw: str) -> Any:
    """``raw`` as the field's normalised value, or ``InvalidValue`` saying why not.

    The same normalisers the diff uses, so the stored value is exactly what
    the next run compares with; an empty value clears an optional field.
    """
    check = _VALIDATORS.get(field)
    if check is None:
        raise InvalidValue(f"kleansync cannot take a typed value for the field {field!r}")
    value = check(raw)
    if value is None and field in _REQUIRED:
        raise InvalidValue(f"{field} cannot be empty")
    if field in Customer.model_fields:
        try:
            Customer(**{field: value})
        except ValueError as exc:
            raise InvalidValue(f"{raw!r} is not a valid {field}: {exc}") from None
    return value


# -- answering ----------------------------------------------------------------------------------
def _not_open(row: ConflictRow) -> QueueError:
    cid = f"C{row.id}"
    if row.status in ("resolved", "applied"):
        value = (row.resolution or {}).get("value")
        when = row.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if row.resolved_at else "?"
        state = "and applied" if row.status == "applied" else "(applied by the next run)"
        return QueueError(
            f"conflict {cid} was already resolved by {row.resolved_by} at {when} "
            f"to {value!r} {state}; it cannot be resolved twice"
        )
    if row.status == "closed":
        return QueueError(f"conflict {cid} closed itself: both sides agree now")
    if row.status == "decided":
        return QueueError(
            f"conflict {cid} was decided by the rule {row.rule} "
            f"({SIDE_LABEL.get(row.decision, row.decision)} won); nothing to resolve"
        )
    return QueueError(f"conflict {cid} is {row.status}; only open conflicts can be resolved")


def resolve_conflict(
    store: Store,
    ident: str,
    *,
    take: str | None = None,
    value: str | None = None,
    by: str | None = None,
    now: dt.datetime | None = None,
) -> ConflictRow:
    """Record the admin's answer to an open conflict (applied by the next run)."""
    if (take is None) == (value is None):
        raise InvalidValue("give exactly one of --take kleanapp|sevdesk or --value VALUE")
    kind, number = parse_id(ident, "C")
    if kind != "C":
        raise InvalidValue(f"{ident} is a parked record; use 'kleansync conflicts link'")
    row = store.get_conflict(number)
    if row is None:
        raise QueueError(f"no conflict C{number} (see 'kleansync conflicts list')")
    if row.status != "open":
        raise _not_open(row)
    if take is not None:
        side = take.strip().lower()
        if side not in SIDES:
            raise InvalidValue(f"--take must be kleanapp or sevdesk, not {take!r}")
        resolution: dict[str, Any] = {"value": getattr(row, side), "take": side}
    else:
        resolution = {"value": validate_value(row.field, value or "")}
    at = now or utcnow()
    if not store.resolve_conflict(number, resolution, who(by), at):
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
            raise QueueError(f"no parked record {text.upper()}")
        if other.entity != row.entity or other.side != other_side:
            raise InvalidValue(
                f"{text.upper()} is a {other.entity} in {SIDE_LABEL[other.side]}; "
                f"P{row.id} needs a {row.entity} in {SIDE_LABEL[other_side]}"
            )
        if other.status != "open":
            raise QueueError(f"{text.upper()} was already settled")
        return f"{other.side}:{other.record_id}", other.id
    candidates = [str(c) for c in row.candidates or []]
    ref = text if ":" in text else f"{other_side}:{text}"
    side, _, record_id = ref.partition(":")
    side = side.lower()
    if side not in SIDES or side == row.side:
        raise InvalidValue(
            f"--with must name a record in {SIDE_LABEL[other_side]} "
            f"(like {other_side}:ID or a parked ID like P3), not {with_id!r}"
        )
    ref = f"{side}:{record_id}"
    if ref not in candidates:
        raise InvalidValue(
            f"{ref} is not a candidate of P{row.id} (candidates: {', '.join(candidates) or 'none'})"
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
) -> ParkedResolution:
    """Record how a parked record is settled: linked with ``with_id``, or created anew."""
    if (with_id is None) == (not create_new):
        raise InvalidValue("give exactly one of --with OTHER_ID or --create-new")
    kind, number = parse_id(ident, "P")
    if kind != "P":
        raise InvalidValue(f"{ident} is a conflict; use 'kleansync conflicts resolve'")
    row = store.get_parked(number)
    if row is None:
        raise QueueError(f"no parked record P{number} (see 'kleansync conflicts list')")
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
        at=now or utcnow(),
    )
    if not store.resolve_parked(resolution):
        fresh = store.get_parked(number) or row
        if fresh.status != "open":
            raise _parked_not_open(store, fresh)
        raise QueueError(f"{with_id} was settled meanwhile; see 'kleansync conflicts list'")
    return resolution


def _parked_not_open(store: Store, row: Parked) -> QueueError:
    res = _resolution_of(store, row.id or 0)
    if res is None:
        return QueueError(f"parked record P{row.id} is {row.status}; nothing to settle")
    what = f"linked with {res.with_id}" if res.action == "link" else "to be created anew"
    return QueueError(
        f"parked record P{row.id} was already settled by {res.by} at "
        f"{res.at.strftime('%Y-%m-%d %H:%M UTC')} ({what}); it cannot be settled twice"
    )


# -- run history --------------------------------------------------------------------------------
def _run_view(run: Run) -> dict[str, Any]:
    result = run.result or {}
    duration = (
        round((run.finished_at - run.started_at).total_seconds(), 1)
        if run.finished_at and run.started_at
        else None
    )
    return {
        "run_id": run.id,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": duration,
        "trigger": run.trigger,
        "dry_run": run.dry_run,
        "full": run.full,
        "outcome": run.outcome,
        "error": run.error,
        "counts": dict(run.counts or {}),
        "changes": sum(int(n) for n in (run.counts or {}).values()),
        "conflicts": len(result.get("conflicts") or []),
        "parked": len(result.get("parked") or []),
        "tasks": len(result.get("tasks") or []),
        "quarantined": len(result.get("quarantined") or []),
        "errors": len(result.get("errors") or []),
    }


def next_run(cron: str, timezone: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the scheduler fires next (the same computation ``serve`` uses)."""
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(timezone)
    now = now or dt.datetime.now(zone)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return CronTrigger.from_crontab(cron, timezone=zone).get_next_fire_time(None, now)


def status(
    store: Store, config: Any = None, *, now: dt.datetime | None = None, limit: int = 10
) -> dict[str, Any]:
    """Everything ``kleansync status`` shows, as one JSON-able dict."""
    latest = store.last_run(with_result=True)
    schedule = getattr(config, "schedule", None)
    upcoming = None
    if schedule is not None and getattr(schedule, "cron", None):
        upcoming = next_run(schedule.cron, schedule.timezone, now)
    open_queue = queue(store)
    waiting = [conflict_view(r) for r in store.resolved_conflicts()]
    pending_links = store.parked_resolutions(applied=False)
    refused = sorted(Refusals(store).open().values(), key=lambda r: r.id or 0)
    return {
        "runs": [_run_view(r) for r in store.runs(limit)],
        "waiting_for_fix": [
            {
                "entity": r.entity,
                "key": one_line(r.key, 80),
                "side": r.side,
                "op": r.op,
                "field": r.field,
                "message": r.message,
                "since": _iso(r.created_at),
            }
            for r in refused
        ],
        "open_conflicts": open_queue["conflicts"],
        "parked": open_queue["parked"],
        "tasks": list((latest.result or {}).get("tasks") or []) if latest else [],
        "tasks_run_id": latest.id if latest else None,
        "waiting_to_apply": len(waiting) + len(pending_links),
        "next_run": _iso(upcoming),
        "schedule": {"cron": schedule.cron, "timezone": schedule.timezone} if schedule else None,
    }


def _when(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return "-"
    return dt.datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def status_lines(data: dict[str, Any]) -> list[str]:
    """``kleansync status`` for people."""
    zone = ZoneInfo((data.get("schedule") or {}).get("timezone") or "UTC")
    lines = ["Last runs:" if data["runs"] else "No runs yet."]
    for r in data["runs"]:
        took = f"{r['duration_s']:.1f}s" if r["duration_s"] is not None else "-"
        kind = "dry-run" if r["dry_run"] else "real"
        extra = f"; {r['error']}" if r["error"] else ""
        lines.append(
            f"  {_when(r['started_at'], zone)}  {took:>7}  {r['trigger']:<9} {kind:<7} "
            f"{'full' if r['full'] else 'incr':<4}  {r['outcome']:<7} {r['changes']} "
            f"{'planned' if r['dry_run'] else 'changes'}, "
            f"{r['conflicts']} conflicts, {r['errors']} errors  (run {r['run_id']}){extra}"
        )
    conflicts, parked, tasks = data["open_conflicts"], data["parked"], data["tasks"]
    lines.append(f"Open conflicts: {len(conflicts)}")
    for c in conflicts[:20]:
        lines.append(
            f"  {c['id']:<5} {c['entity']} {c['key']} {c['field']}: KleanApp {c['kleanapp']!r} "
            f"vs sevDesk {c['sevdesk']!r}"
        )
    lines.append(f"Parked records: {len(parked)}")
    for p in parked[:20]:
        lines.append(f"  {p['id']:<5} {p['entity']} {p['record']} ({p['key']}): {p['reason']}")
    if len(conflicts) > 20 or len(parked) > 20:
        lines.append("  ... see 'kleansync conflicts list' for all")
    refused = data.get("waiting_for_fix") or []
    if refused:
        lines.append(f"Refused, waiting for a fix at the source: {len(refused)}")
        for r in refused[:20]:
            what = f"{r['field']}: {r['message']}" if r["field"] else r["message"]
            lines.append(
                f"  {r['entity']} {r['key']} ({r['op']} in {SIDE_LABEL.get(r['side'], r['side'])})"
                f": {what}"
            )
        if len(refused) > 20:
            lines.append("  ... see 'kleansync status --json' for all")
    lines.append(f"Open admin tasks: {len(tasks)}")
    lines += [f"  - {t['message']}" for t in tasks]
    if data["waiting_to_apply"]:
        lines.append(f"Answers waiting for the next run: {data['waiting_to_apply']}")
    if data["next_run"]:
        sched = data["schedule"]
        lines.append(
            f"Next scheduled run: {_when(data['next_run'], zone)} "
            f"(cron '{sched['cron']}', {sched['timezone']})"
        )
    return lines
