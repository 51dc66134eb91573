"""After a run: what it leaves for the admins (their queues, the report and its mail).

A run ends with decisions only a person can make and facts a person should
read, and both must outlive the run:

* ``remember_for_admins`` keeps the plan's conflicts, parked records and
  quarantined records in the state store, where ``kleansync conflicts``,
  ``status`` and the next runs find them. A conflict already waiting is not
  added twice, and one whose pair no longer differs is closed; a record
  quarantined for the same reason before is only counted (the report lists
  the new ones).
* ``publish_report`` writes the run's report files and mails them when an
  admin is needed. A full disk or a dead mail server must not turn a finished
  sync into a failed one, so problems here are one warning line.
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from reconciler.config import Config
from reconciler.domain.bounds import one_line
from reconciler.reporting.files import write_report_files
from reconciler.reporting.mail import mail_report_async
from reconciler.reporting.retention import prune_reports, prune_run_results
from reconciler.reporting.view import result_data, run_data
from reconciler.sync import rejected_keys
from reconciler.sync.plan_model import Plan
from reconciler.sync.report import RunResult
from state import Store
from state.tables import ConflictRow, Parked, QuarantineRow


def remember_for_admins(store: Store, run_id: str, plan: Plan) -> list[QuarantineRow]:
    """Keep conflicts, parked and quarantined records beyond the run.

    Returns the records quarantined for the first time (the report lists
    only those; the others were reported before and are only counted).
    """
    # Only the links the plan names are looked up (by key), never all of them.
    wanted: dict[str, set[str]] = {}
    for entity, key in [(c.entity, c.key) for c in plan.conflicts] + [
        (p.entity, p.key) for p in plan.pairs
    ]:
        wanted.setdefault(entity, set()).add(key)
    link_ids = {
        (entity, key): link_id
        for entity, keys in wanted.items()
        for key, link_id in store.link_ids_by_keys(entity, keys).items()
    }
    conflicts = [
        c
        if c.link_id is not None
        else c.model_copy(update={"link_id": link_ids.get((c.entity, c.key))})
        for c in plan.conflicts
    ]
    examined = {link_ids.get((p.entity, p.key), p.link_id) for p in plan.pairs} - {None}
    open_by_key = {(c.link_id, c.field): c for c in store.open_conflicts()}
    still_open: set[tuple[int | None, str]] = set()
    rows = []
    for c in conflicts:
        if c.decision == "manual":
            still_open.add((c.link_id, c.field))
            if (c.link_id, c.field) in open_by_key and c.link_id is not None:
                continue  # already waiting for an admin
        rows.append(ConflictRow.of(c, run_id=run_id, status="open" if c.is_manual else "decided"))
    store.add_conflicts(rows)
    for (link_id, field_name), _row in open_by_key.items():
        if link_id is not None and link_id in examined and (link_id, field_name) not in still_open:
            store.close_conflicts(link_id, {field_name})
    # Connectors name the entity "customer" or "Customer"; both mean the same read.
    complete: set[tuple[str, str]] = set()
    for name in plan.complete_counts:
        entity, side = name.split(".")
        complete |= {(side, entity), (side, entity.capitalize())}
    new_quarantined = store.add_quarantined(
        [
            QuarantineRow(
                run_id=run_id,
                side=q.side,
                entity=q.entity,
                record_id=None if q.id is None else one_line(q.id, 120),
                reason=one_line(q.reason),
            )
            for q in plan.quarantined
        ],
        complete=complete,
    )
    # Parked records that got linked since: only the open ones' links are looked up.
    parked = store.open_parked()
    linked = {
        (side, rid)
        for link in store.links_by_ids(
            "customer",
            kleanapp_ids={p.record_id for p in parked if p.side == "kleanapp"},
            sevdesk_ids={p.record_id for p in parked if p.side == "sevdesk"},
        )
        for side, rid in (("kleanapp", link.kleanapp_id), ("sevdesk", link.sevdesk_id))
    }
    if linked:
        store.close_parked(linked)
    store.add_parked(
        [
            Parked(
                run_id=run_id,
                entity=p.entity,
                side=p.side,
                record_id=p.record_id,
                key=p.key,
                reason=p.reason,
                candidates=list(p.candidates),
            )
            for p in plan.parked
        ]
    )
    return new_quarantined


async def publish_report(
    config: Config,
    store: Store,
    run_id: str,
    result: RunResult | None,
    trigger: str,
    *,
    mail_once: str | None = None,
) -> Path | None:
    """Write the run's report files and e-mail them if an admin is needed.

    A full disk or a dead mail server must not turn a finished sync into a
    failed one: problems here are one warning line. ``mail_once`` names the
    standing alert this run failed on (``rejected_keys``): its report is
    mailed only if that alert was not mailed yet.
    """
    prune_run_results(store, keep=config.report.keep, keep_days=config.report.keep_days)

    tz = config.schedule.timezone
    try:
        if result is not None:
            data = result_data(result, trigger=trigger)
        else:
            stored = store.get_run(run_id)
            if stored is None:
                return None
            data = run_data(stored)
        files = write_report_files(
            data,
            Path(config.report.dir),
            tz=tz,
            max_rows=config.report.max_rows,
            max_bytes=config.report.max_kb * 1024,
            shown_rows=config.report.shown_rows,
        )
        prune_reports(
            Path(config.report.dir),
            keep=config.report.keep,
            keep_days=config.report.keep_days,
            current=files.html.stem,
        )
    except OSError as exc:
        logger.warning("could not write the report to {}: {}", config.report.dir, exc)
        return None
    if mail_once and rejected_keys.already_mailed(store, mail_once):
        logger.info("report not e-mailed: the same failure was e-mailed before ({})", mail_once)
        return files.html
    html = files.html.read_text("utf-8")
    mailed = await mail_report_async(data, config.report, html=html, tz=tz, store=store)
    if mailed and mail_once:
        rejected_keys.mark_mailed(store, mail_once)
    return files.html
