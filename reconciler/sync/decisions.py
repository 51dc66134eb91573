"""The admins' answers a run carried out (or, in a dry-run, would): who gave each, and when.

The report says which answers it acted on, each with its author: "entschieden von anna am
03.12.2026 10:15" for an answer given in the console, "von Hand entschieden (Befehlszeile,
root)" for one typed on the command line. These are plain dicts in the run's result (the
stored run renders again as it did), English keys like the rest of ``sync --json``:

* ``kind`` "conflict": ``id`` (C12), ``entity``, ``key``, ``label``, ``field``, ``value``;
* ``kind`` "parked": ``id`` (P3), ``entity``, ``key``, ``action`` (link | create-new), ``with``;
* ``kind`` "task": ``message``, ``still_open`` (this run found it again);

each with ``by``, ``via`` (console | cli) and ``at`` (ISO 8601, UTC).

A task said "erledigt" in the console is re-checked by the next run, so that run lists the
mark: the console keeps only a digest of the task's message, so the message comes from the
previous run's task list (what the admin saw when saying so).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from reconciler.sync.plan_model import Plan
from state import Store
from state.console_tables import ConsoleTables, token_digest
from state.tables import Run


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _conflicts(store: Store, ids: Iterable[int]) -> list[dict[str, Any]]:
    out = []
    for cid in ids:
        row = store.get_conflict(cid)
        if row is None:
            continue
        out.append(
            {
                "kind": "conflict",
                "id": f"C{cid}",
                "entity": row.entity,
                "key": row.key,
                "label": row.label,
                "field": row.field,
                "value": (row.resolution or {}).get("value"),
                "by": row.resolved_by,
                "via": row.resolved_via,
                "at": _iso(row.resolved_at),
            }
        )
    return out


def _parked(store: Store, ids: Collection[int]) -> list[dict[str, Any]]:
    out = []
    for res in store.parked_resolutions():
        if res.id not in ids:
            continue
        parked = store.get_parked(res.parked_id)
        out.append(
            {
                "kind": "parked",
                "id": f"P{res.parked_id}",
                "entity": res.entity,
                "key": parked.key if parked else None,
                "action": res.action,
                "with": res.with_id,
                "by": res.by,
                "via": res.via,
                "at": _iso(res.at),
            }
        )
    return out


def _tasks(store: Store, previous: Run | None, plan: Plan) -> list[dict[str, Any]]:
    if previous is None:
        return []
    seen = {
        token_digest(str(t.get("message"))): str(t.get("message"))
        for t in (previous.result or {}).get("tasks") or []
    }
    found_again = {t.message for t in plan.tasks}
    out = []
    for digest, mark in ConsoleTables(store).tasks_done().items():
        if digest not in seen or mark.at <= previous.started_at:
            continue
        message = seen[digest]
        out.append(
            {
                "kind": "task",
                "message": message,
                "still_open": message in found_again,
                "by": mark.by,
                "via": "console",
                "at": _iso(mark.at),
            }
        )
    return out


def carried_out(
    store: Store,
    plan: Plan,
    previous: Run | None,
    *,
    conflict_ids: Iterable[int] | None = None,
    resolution_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """The answers this run carried out (the ids the apply marked applied), or, for a
    dry-run (ids None), the ones its plan would carry out; ``previous``: the run before."""
    if conflict_ids is None:
        conflict_ids = [cid for pair in plan.pairs for cid in pair.conflict_ids]
    if resolution_ids is None:
        resolution_ids = {rid for pair in plan.pairs for rid in pair.parked_resolution_ids}
    return [
        *_conflicts(store, conflict_ids),
        *_parked(store, resolution_ids),
        *_tasks(store, previous, plan),
    ]


__all__ = ["carried_out"]
