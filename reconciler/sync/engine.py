"""One sync run, end to end: recover → snapshot → diff/plan → brake → apply → bookkeeping.

This module only orchestrates; each step lives in its own module: the run
lock (``fence``), crash recovery (``recovery``), ``snapshot``, ``plan`` with
``rules``, the mass-delete ``brake``, ``apply``, what is left for the admins
(``bookkeeping``) and the result (``report``). It also keeps the run history
and decides when a run must read everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from sqlalchemy.exc import SQLAlchemyError

from reconciler.config import Config
from reconciler.connectors import from_config
from reconciler.connectors.base import Connector
from reconciler.domain.bounds import bounded_result
from reconciler.domain.errors import KleansyncError, MassDeleteBrake, StateStoreError
from reconciler.domain.i18n import _
from reconciler.domain.models import Quarantined, Side
from reconciler.sync import rejected_keys
from reconciler.sync.apply import Applier
from reconciler.sync.bookkeeping import publish_report, remember_for_admins
from reconciler.sync.brake import mass_delete_brake, removal_budget
from reconciler.sync.decisions import carried_out
from reconciler.sync.fence import Fence, ensure_fence, run_lock
from reconciler.sync.plan import build_plan
from reconciler.sync.plan_file import check_plan, claim_plan, load_plan, save_plan
from reconciler.sync.plan_model import Plan, Task
from reconciler.sync.plan_scope import INVOICE_TRIGGER, scoped
from reconciler.sync.recovery import recover_writes, settle_interrupted_runs
from reconciler.sync.report import RunResult
from reconciler.sync.snapshot import Snapshot, remember_parts, take_snapshot
from reconciler.sync.stable_ids import refuse_duplicating
from state import Store
from state.db_errors import describe_db_error
from state.tables import Run


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
    #: Only these KleanApp customers (ids): the invoice export carrying an invoice's
    #: customer over (``plan_scope``). Such a run reads everything and moves no cursor.
    only_customers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # A saved plan is for review: making one never writes (``sync --plan-out``).
        if self.plan_out is not None:
            self.dry_run = True


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
    done = store.count_runs(dry_run=False, exclude_trigger=("webhook", INVOICE_TRIGGER))
    every = config.sync.full_every
    return done == 0 or bool(every and (done + 1) % every == 0)


@dataclass
class _Applying:
    """How far a run got, for the run history of one that is interrupted."""

    applier: Applier
    #: Actions of the plan being applied; None while nothing is being written yet.
    planned: int | None = None

    @property
    def done(self) -> int:
        return sum(self.applier.outcome.counts.values())

    def interrupted(self) -> str:
        """The one line a Ctrl-C (or a cancelled service run) leaves, printed and stored."""
        if self.planned is None:
            return _("interrupted before anything was written; the next run starts afresh")
        return _(
            "interrupted after %(done)s of %(planned)s changes; the next run continues",
            done=self.done,
            planned=self.planned,
        )


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


async def _locked_run(
    config: Config,
    options: SyncOptions,
    connectors: dict[Side, Connector],
    store: Store,
    progress: Callable[[int, int], Callable[[int], None]] | None,
    fence: Fence,
) -> RunResult:
    saved: Plan | None = None
    if options.apply_plan:  # refused in one line before anything is written
        saved = load_plan(options.apply_plan)
        check_plan(saved, options.apply_plan, store, config)
    settle_interrupted_runs(store, fence)
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
    applying = _Applying(Applier(connectors, store, run.id))
    try:
        result = await _run(config, options, run, saved, applying, store, progress)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C (or the service cancelled the run): what was written stays written
        # (journaled), the cursors stay put, and the next run carries on from there.
        with contextlib.suppress(SQLAlchemyError):
            store.finish_run(
                run.id,
                outcome="interrupted",
                counts=dict(sorted(applying.applier.outcome.counts.items())),
                error=applying.interrupted(),
            )
        raise
    except KleansyncError as exc:
        store.finish_run(run.id, outcome="failed", error=str(exc))
        alert = rejected_keys.note_failure(store, exc)  # mailed once, not every run
        await publish_report(config, store, run.id, None, options.trigger, mail_once=alert)
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
    rejected_keys.note_completed(store)
    result.report = await publish_report(config, store, run.id, result, options.trigger)
    return result


async def _run(
    config: Config,
    options: SyncOptions,
    run: Run,
    saved: Plan | None,
    applying: _Applying,
    store: Store,
    progress: Callable[[int, int], Callable[[int], None]] | None,
) -> RunResult:
    applier = applying.applier
    connectors = applier.connectors
    previous = store.last_run(with_result=True)  # this run has no result yet
    if not options.dry_run:
        await recover_writes(applier)
    snapshot: Snapshot | None = None
    #: Pairs found quiet whose links learn their digests after the run (``Planner.quiet``).
    quiet: dict[int, tuple[tuple[str, str], dt.datetime]] = {}
    if options.apply_plan and saved is not None:
        plan = saved
        logger.info(
            "applying the saved plan {} ({} actions)", options.apply_plan, len(plan.actions)
        )
    else:
        full = needs_full(store, config, options.full or bool(options.only_customers))
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
        # A full read works with every link, an incremental one only with those of
        # the records it read (``snapshot.links``): a quiet run costs what changed.
        links = {e: snapshot.links.get(e) or [] for e in ("customer", "unit")}
        if "customer" in entities and not store.count_links("customer"):
            await refuse_duplicating(connectors, snapshot)  # a lost store: resync, not sync
        plan = build_plan(
            config,
            snapshot,
            links,
            resolved=store.resolved_conflicts(),
            parked_resolutions=store.parked_resolutions(applied=False),
            taken_numbers=None if snapshot.full else store.taken_numbers,
            quiet=quiet,
        )
        if options.only_customers:
            plan = scoped(plan, options.only_customers)
    if options.plan_out:
        plan = save_plan(plan, options.plan_out, run_id=run.id, store=store)
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
            run_id=run.id,
            dry_run=True,
            full=plan.full,
            counts=plan.counts(),
            plan=plan,
            decisions=carried_out(store, plan, previous),
        )

    if options.apply_plan:
        claim_plan(plan, options.apply_plan, store, run.id)
    if progress is not None:
        applier.progress = progress(len(plan.actions), 0)
    applying.planned = len(plan.actions)
    outcome = await applier.apply(plan)
    if (
        plan.full
        and not outcome.skipped
        and not options.apply_plan
        and not options.only_customers
        and config.sync.customers != "off"
        and applier.stable_ids.remote is not None  # else there is nothing to heal
    ):
        await applier.stable_ids.backfill(store.link_ids("customer"))  # heals missing stable ids
    ensure_fence()  # cursors, links and admin queues are the lock holder's to write
    store.keep_digests(quiet)  # the next run knows these quiet pairs by two hashes
    # A refused record is parked (waiting for a fix) and read again when its
    # source changes: it must not hold every other record's cursor back.
    blocking = [e for e in outcome.errors if not e.get("waiting_for_fix")]
    scoped_run = bool(options.only_customers)
    if not blocking and not outcome.skipped and not options.apply_plan:
        for name, stamp in plan.cursors.items():
            entity, side = name.split(".")
            store.set_cursor(side, entity, stamp)
    # A run cut down to a few customers (plan_scope) read everything but planned
    # little: it must not remember the others' parts or settle their refusals.
    if snapshot is not None and not options.apply_plan and not scoped_run:
        remember_parts(connectors, store, snapshot, outcome.errors, outcome.skipped)
    if snapshot is not None and not scoped_run:
        seen: dict[str, set[str]] = {}
        for (entity, side), read in snapshot.reads.items():
            seen.setdefault(entity, set()).update(f"{side}:{rid}" for rid in read.records)
        applier.refusals.settle({a.id for a in plan.actions}, seen, full=plan.full)
    applier.refusals.prune()
    new_quarantined = remember_for_admins(store, run.id, plan)
    labels: dict[tuple[str, str | None], str | None] = {
        (q.side, q.id): q.label for q in plan.quarantined if q.label
    }
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
            Quarantined(
                side=q.side,
                entity=q.entity,
                id=q.record_id,
                reason=q.reason,
                label=labels.get((q.side, q.record_id)),
            )
            for q in new_quarantined
        ],
        # Every record still set aside, not only those this run read again: an incremental
        # run that did not list the record (unchanged since) must not say it is fixed.
        known_quarantined=store.count_quarantined() - len(new_quarantined),
        not_sent=outcome.not_sent,
        decisions=carried_out(
            store,
            plan,
            previous,
            conflict_ids=outcome.decided,
            resolution_ids=set(outcome.settled),
        ),
    )


async def sync_from_config(
    config: Config,
    options: SyncOptions,
    *,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    transports: dict[str, object] | None = None,
) -> RunResult:
    """Open the store and both connectors from ``config``, run once, close them."""
    store = Store(config.state.url, new_store=options.new_store, pool=config.state.pool)
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
