"""One sync run, end to end: snapshot → diff/plan → apply → report.

This module only orchestrates; each step lives in its own module
(``snapshot``, ``plan`` with ``rules``, ``apply``, ``report``). It also
keeps the run history and decides when a run must read everything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from reconciler.config import Config
from reconciler.connectors.base import Connector
from reconciler.domain.bounds import bounded_result, one_line
from reconciler.domain.errors import ConfigError, KleansyncError, MassDeleteBrake, StateStoreError
from reconciler.domain.models import Quarantined, Side
from reconciler.sync.apply import Applier
from reconciler.sync.brake import mass_delete_brake, removal_budget
from reconciler.sync.fence import Fence, Heartbeat, ensure_fence, fenced, in_memory
from reconciler.sync.plan import build_plan
from reconciler.sync.plan_model import Plan, Task
from reconciler.sync.report import RunResult
from reconciler.sync.snapshot import Snapshot, remember_parts, take_snapshot
from reconciler.sync.stable_ids import refuse_duplicating
from state import Store
from state.db_errors import describe_db_error
from state.tables import ConflictRow, Parked, QuarantineRow, Run


@dataclass
class SyncOptions:
    dry_run: bool = False
    full: bool = False
    trigger: str = "manual"
    plan_out: Path | None = None
    apply_plan: Path | None = None
    allow_mass_delete: bool = False
    #: An empty (0-byte) state store file may be started over (``--new-store``).
    new_store: bool = False


def needs_full(store: Store, config: Config, requested: bool) -> bool:
    """Read everything when asked, on the first run, and every N-th regular run.

    Also while records are parked (matching needs every unlinked record of
    both sides, or a new record could be created as a duplicate of a parked
    one) and while admin answers wait (the records they name may not have
    changed, so an incremental read would not bring them). And once after an
    upgrade to per-side fingerprints, so every link gets them in one run.
    """
    if (
        requested
        or store.links_without_fingerprints()
        or store.open_parked()
        or store.resolved_conflicts()
        or store.parked_resolutions(applied=False)
    ):
        return True
    # Runs a webhook triggered (seconds apart, any number a day) do not count:
    # "every N-th run" means the regular ones.
    done = store.count_runs(dry_run=False, exclude_trigger="webhook")
    every = config.sync.full_every
    return done == 0 or bool(every and (done + 1) % every == 0)


def load_plan(path: Path) -> Plan:
    try:
        return Plan.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such plan file") from None
    except ValidationError as exc:
        raise ConfigError(f"{path}: not a kleansync plan ({exc.errors()[0]['msg']})") from None


async def run_sync(
    config: Config,
    options: SyncOptions,
    *,
    connectors: dict[Side, Connector],
    store: Store,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
) -> RunResult:
    """Run one sync; ``progress(total, …)`` may return a per-action tick callback.

    Only one run at a time, across processes: the run lock in the state store
    is taken before anything else, so a second run touches nothing.
    """
    async with run_lock(store, config) as fence:
        return await _locked_run(config, options, connectors, store, progress, fence)


@contextlib.asynccontextmanager
async def run_lock(store: Store, config: Config, name: str = "sync") -> AsyncIterator[Fence]:
    """Hold the store's run lock for the duration of the block, fenced.

    The heartbeat beats from its own thread (``reconciler.sync.fence``), so a
    busy event loop never makes this run look dead; every write inside the
    block is checked against the lock's fencing token first, so a run whose
    lock was taken over stops before its next write. On the way out the lock
    is released only if it is still this run's.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    timeout = config.state.lock_timeout_seconds
    grant = store.acquire_lock(name, holder, os.getpid(), dt.timedelta(seconds=timeout))
    fence = Fence(store, name, holder, grant.token, grant)
    beat = None if in_memory(store.url) else Heartbeat(store, fence, timeout / 4)
    if beat is not None:
        beat.start()
    try:
        with fenced(fence):
            yield fence
    finally:
        if beat is not None:
            beat.stop()
        if not store.release_lock(name, holder, grant.token):
            logger.debug("the run lock {} was no longer ours; left to its holder", name)


async def _locked_run(
    config: Config,
    options: SyncOptions,
    connectors: dict[Side, Connector],
    store: Store,
    progress: Callable[[int, int], Callable[[int], None]] | None,
    fence: Fence,
) -> RunResult:
    # We hold the lock, so a run still marked running was killed mid-way,
    # unless its process is still there (paused, then taken over): that run
    # stops before its next write and records its own end.
    grant = fence.grant
    store.mark_interrupted_runs(
        except_pid=grant.taken_from.pid if grant and grant.previous_alive else None
    )
    run = store.start_run(
        Run(
            id=uuid.uuid4().hex[:12],
            trigger=options.trigger,
            dry_run=options.dry_run,
            full=options.full,
            pid=os.getpid(),
            options={
                "plan_out": str(options.plan_out) if options.plan_out else None,
                "apply_plan": str(options.apply_plan) if options.apply_plan else None,
            },
        )
    )
    try:
        result = await _run(config, options, run, connectors, store, progress)
    except KleansyncError as exc:
        store.finish_run(run.id, outcome="failed", error=str(exc))
        await publish_report(config, store, run.id, None, options.trigger)
        raise
    except SQLAlchemyError as exc:
        message = describe_db_error(exc)
        with contextlib.suppress(SQLAlchemyError):
            store.finish_run(run.id, outcome="failed", error=message)
        raise StateStoreError(message) from None
    except BaseException as exc:
        store.finish_run(run.id, outcome="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    result.started_at = run.started_at
    result.finished_at = dt.datetime.now(dt.UTC)
    store.finish_run(
        run.id,
        outcome=result.outcome,
        counts=result.counts,
        full=result.full,
        result=bounded_result(result.as_dict()),
    )
    result.report = await publish_report(config, store, run.id, result, options.trigger)
    return result


async def publish_report(
    config: Config, store: Store, run_id: str, result: RunResult | None, trigger: str
) -> Path | None:
    """Write the run's report files and e-mail them if an admin is needed.

    A full disk or a dead mail server must not turn a finished sync into a
    failed one: problems here are one warning line.
    """
    from reconciler.reporting.files import write_report_files
    from reconciler.reporting.mail import mail_report_async
    from reconciler.reporting.retention import prune_reports, prune_run_results
    from reconciler.reporting.view import result_data, run_data

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
    await mail_report_async(data, config.report, html=files.html.read_text("utf-8"), tz=tz)
    return files.html


async def _run(
    config: Config,
    options: SyncOptions,
    run: Run,
    connectors: dict[Side, Connector],
    store: Store,
    progress: Callable[[int, int], Callable[[int], None]] | None,
) -> RunResult:
    applier = Applier(connectors, store, run.id)
    if not options.dry_run:
        await applier.recover()
    snapshot: Snapshot | None = None
    if options.apply_plan:
        plan = load_plan(options.apply_plan)
        logger.info(
            "applying the saved plan {} ({} actions)", options.apply_plan, len(plan.actions)
        )
    else:
        full = needs_full(store, config, options.full)
        entities = tuple(
            entity
            for entity, direction in (
                ("customer", config.sync.customers),
                ("unit", config.sync.units),
            )
            if direction != "off"
        )
        snapshot = await take_snapshot(
            connectors,
            store,
            full=full,
            entities=entities,
            removal_budget=removal_budget(store, config, options.allow_mass_delete),
        )
        links = {"customer": store.links("customer"), "unit": store.links("unit")}
        if "customer" in entities and not links["customer"]:
            await refuse_duplicating(connectors, snapshot)  # a lost store: resync, not sync
        plan = build_plan(
            config,
            snapshot,
            links,
            resolved=store.resolved_conflicts(),
            parked_resolutions=store.parked_resolutions(applied=False),
        )
    if options.plan_out:
        options.plan_out.write_text(plan.model_dump_json(indent=2), encoding="utf-8")
        logger.info("plan written to {}", options.plan_out)

    brake = mass_delete_brake(
        plan, store, config, frozenset(snapshot.dropped) if snapshot else frozenset()
    )
    if brake and options.dry_run:
        plan = plan.model_copy(
            update={
                "tasks": (
                    *plan.tasks,
                    Task(
                        kind="brake",
                        entity="customer",
                        key="*",
                        message=f"a real run would stop: {brake}",
                    ),
                )
            }
        )
    elif brake and not options.allow_mass_delete:
        raise MassDeleteBrake(
            f"stopped before writing anything: {brake} "
            "(run once with --allow-mass-delete if this is intended)"
        )

    if options.dry_run:
        return RunResult(
            run_id=run.id, dry_run=True, full=plan.full, counts=plan.counts(), plan=plan
        )

    if progress is not None:
        applier.progress = progress(len(plan.actions), 0)
    outcome = await applier.apply(plan)
    if (
        plan.full
        and not outcome.skipped
        and not options.apply_plan
        and config.sync.customers != "off"
    ):
        await applier.stable_ids.backfill(store.links("customer"))  # heals missing stable ids
    ensure_fence()  # cursors and admin queues are the lock holder's to write
    # A refused record is parked (waiting for a fix) and read again when its
    # source changes: it must not hold every other record's cursor back.
    blocking = [e for e in outcome.errors if not e.get("waiting_for_fix")]
    if not blocking and not outcome.skipped and not options.apply_plan:
        for name, stamp in plan.cursors.items():
            entity, side = name.split(".")
            store.set_cursor(side, entity, stamp)
    if snapshot is not None and not options.apply_plan:
        remember_parts(connectors, store, snapshot, outcome.errors, outcome.skipped)
    if snapshot is not None:
        seen = {
            f"{side}:{rid}" for (_e, side), read in snapshot.reads.items() for rid in read.records
        }
        applier.refusals.settle({a.id for a in plan.actions}, seen, full=plan.full)
    applier.refusals.prune()
    new_quarantined = _remember_for_admins(store, run.id, plan)
    return RunResult(
        run_id=run.id,
        dry_run=False,
        full=plan.full,
        counts=dict(sorted(outcome.counts.items())),
        plan=plan,
        errors=outcome.errors,
        skipped=outcome.skipped,
        recovered=outcome.recovered,
        waiting_for_fix=applier.refusals.count_open()
        - len([e for e in outcome.errors if e.get("waiting_for_fix")]),
        quarantined=[
            Quarantined(side=q.side, entity=q.entity, id=q.record_id, reason=q.reason)
            for q in new_quarantined
        ],
        known_quarantined=len(plan.quarantined) - len(new_quarantined),
        not_sent=outcome.not_sent,
    )


def _remember_for_admins(store: Store, run_id: str, plan: Plan) -> list[QuarantineRow]:
    """Keep conflicts, parked and quarantined records beyond the run.

    Returns the records quarantined for the first time (the report lists
    only those; the others were reported before and are only counted).
    """
    link_ids = {
        (link.entity, link.key): link.id for e in ("customer", "unit") for link in store.links(e)
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
        if link_id in examined and (link_id, field_name) not in still_open:
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
    linked = {
        (side, rid)
        for link in store.links("customer")
        for side, rid in (("kleanapp", link.kleanapp_id), ("sevdesk", link.sevdesk_id))
    }
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


async def sync_from_config(
    config: Config,
    options: SyncOptions,
    *,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    transports: dict[str, object] | None = None,
) -> RunResult:
    """Open the store and both connectors from ``config``, run once, close them."""
    from reconciler.connectors import from_config

    store = Store(config.state.url, new_store=options.new_store)
    kleanapp, sevdesk = from_config(
        config,
        kleanapp_transport=(transports or {}).get("kleanapp"),  # type: ignore[arg-type]
        sevdesk_transport=(transports or {}).get("sevdesk"),  # type: ignore[arg-type]
    )
    try:
        async with kleanapp, sevdesk:
            return await run_sync(
                config,
                options,
                connectors={"kleanapp": kleanapp, "sevdesk": sevdesk},
                store=store,
                progress=progress,
            )
    finally:
        store.close()
