"""An invoice's customer comes along: carried over to sevDesk before the invoice.

Why here and how: a backfill of a month (or the invoice a new customer got
on the day they signed) used to be held with "run kleansync sync" for every
customer new since the last sync. The export now runs that sync itself,
before the first invoice is looked at: one run of the sync engine
(``reconciler.sync.engine.run_sync``) with ``only_customers``, so the very
same matching, parking, conflict rules, journal and crash recovery decide,
and the plan is cut down to those customers (``reconciler.sync.plan_scope``).
One run for all the invoices of an export, never one per invoice.

What comes out per customer:

* linked now (created in sevDesk or matched with its contact): its invoices go out;
* parked by the matcher (it looks like another customer): its invoices are
  held, and the task names the parked record and the decision that unblocks
  them (``kleansync conflicts link P… --with … | --create-new``); a customer
  parked before and not decided since is held without a sync run;
* anything else (the sync could not run, sevDesk refused the customer): the
  invoice is held with the old "not in sevDesk yet" reason, and tried again.

A dry run asks the engine for a dry run too, so the preview says which
customers would be created first; it writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from loguru import logger

from reconciler.config import Config
from reconciler.connectors.base import Connector
from reconciler.domain.errors import AuthError, KleansyncError, LockLost, Unreachable
from reconciler.domain.models import Invoice, Remote
from reconciler.sync.engine import SyncOptions, run_sync
from reconciler.sync.plan_scope import INVOICE_TRIGGER
from state import Store
from state.tables import Parked


@dataclass(frozen=True)
class ParkedCustomer:
    """A customer the matcher parked: which parked record, and what settles it."""

    parked_id: int
    side: str
    record_id: str
    candidates: tuple[str, ...]

    @property
    def decision(self) -> str:
        """The admin command that unblocks the customer's invoices."""
        other = next(iter(self.candidates), None)
        target = f"--with {other}" if other else "--with <record>"
        return f"kleansync conflicts link P{self.parked_id} {target} (or --create-new)"


@dataclass
class Carried:
    """What carrying the customers over did, per KleanApp customer id."""

    #: Would be created in sevDesk first (dry run).
    would_create: set[str] = field(default_factory=set)
    #: Would be linked with an existing sevDesk contact (dry run).
    would_link: set[str] = field(default_factory=set)
    #: Parked by the matcher: their invoices wait for this decision.
    parked: dict[str, ParkedCustomer] = field(default_factory=dict)
    #: Why the carry-over did not run or did not bring the customer (English, stored).
    problem: dict[str, str] = field(default_factory=dict)
    #: The sync run that carried them (its id is in the run history and ``status``).
    run_id: str | None = None
    #: How a person knows each customer (its customer number, else its KleanApp id).
    keys: dict[str, str] = field(default_factory=dict)

    def items(self, linked: set[str], dry_run: bool) -> list[dict[str, str]]:
        """Per customer what happened, for ``invoices export --json`` (``customers``)."""
        out = []
        for cid in sorted(set(self.keys) | set(self.parked) | set(self.problem)):
            if cid in self.parked:
                outcome = "parked"
            elif dry_run and cid in self.would_create:
                outcome = "would create"
            elif dry_run and cid in self.would_link:
                outcome = "would link"
            elif cid in linked:
                outcome = "created" if cid in self.would_create else "linked"
            else:
                outcome = "not carried over"
            item = {"kleanapp_id": cid, "key": self.keys.get(cid, cid), "outcome": outcome}
            if cid in self.parked:
                item["parked"] = f"P{self.parked[cid].parked_id}"
            if cid in self.problem:
                item["problem"] = self.problem[cid]
            out.append(item)
        return out


def customers_to_carry(invoices: Iterable[Remote[Invoice]], store: Store) -> list[str]:
    """KleanApp ids of the invoices' customers that are not linked to a sevDesk contact."""
    linked = {link.kleanapp_id for link in store.link_ids("customer")}
    return sorted(
        {
            r.record.customer_id
            for r in invoices
            if not r.record.exported_to and r.record.customer_id not in linked
        }
    )


async def carry_customers(
    config: Config,
    connectors: Mapping[str, Connector],
    store: Store,
    invoices: Iterable[Remote[Invoice]],
    *,
    dry_run: bool,
) -> Carried:
    """One sync run limited to the invoices' unlinked customers; see the module docstring."""
    carried = Carried()
    wanted = customers_to_carry(invoices, store)
    if not wanted or config.sync.customers == "off":
        return carried
    # Parked before and not decided since: no sync can change that (and the service's
    # poll retries held invoices every few minutes), so hold without reading everything.
    own = {
        p.record_id: p
        for p in store.open_parked()
        if p.entity == "customer" and p.side == "kleanapp"
    }
    decided = {
        ref
        for r in store.parked_resolutions(applied=False)
        for ref in (f"{r.side}:{r.record_id}", r.with_id)
        if ref
    }
    waiting = []
    for cid in wanted:
        row = own.get(cid)
        if row is not None and f"kleanapp:{cid}" not in decided:
            carried.parked[cid] = _parked_customer(row, cid)
            carried.keys[cid] = row.key
        else:
            waiting.append(cid)
    wanted = waiting
    if not wanted:
        return carried
    options = SyncOptions(
        dry_run=dry_run, trigger=INVOICE_TRIGGER, only_customers=frozenset(wanted)
    )
    try:
        result = await run_sync(
            config,
            options,
            connectors={"kleanapp": connectors["kleanapp"], "sevdesk": connectors["sevdesk"]},
            store=store,
        )
    except (AuthError, Unreachable, LockLost):
        raise
    except KleansyncError as exc:  # e.g. a sync of another process is running
        logger.info("customers of the invoices not carried over: {}", exc)
        carried.problem = dict.fromkeys(wanted, str(exc))
        return carried
    carried.run_id = result.run_id
    plan = result.plan
    for pair in plan.pairs:
        kid = pair.kleanapp_id or ""
        carried.keys[kid] = pair.key
        if any(a.op == "create" and a.side == "sevdesk" for a in pair.actions):
            carried.would_create.add(kid)
        elif pair.sevdesk_id:
            carried.would_link.add(kid)
    parked_rows = store.open_parked() if not dry_run else []
    for cid in wanted:
        row = _parked_row(parked_rows, cid)
        if row is None and dry_run:
            item = next(
                (
                    p
                    for p in plan.parked
                    if (p.side == "kleanapp" and p.record_id == cid)
                    or f"kleanapp:{cid}" in p.candidates
                ),
                None,
            )
            if item is not None:
                row = Parked(
                    id=0,
                    run_id=result.run_id,
                    entity="customer",
                    side=item.side,
                    record_id=item.record_id,
                    key=item.key,
                    reason=item.reason,
                    candidates=list(item.candidates),
                )
        if row is not None:
            carried.parked[cid] = _parked_customer(row, cid)
            carried.keys.setdefault(cid, row.key if row.side == "kleanapp" else cid)
    owner = {p.key: p.kleanapp_id or "" for p in plan.pairs if p.kleanapp_id}
    for error in result.errors:
        kid = owner.get(str(error.get("key") or ""), "")
        if kid and kid not in carried.parked:
            carried.problem.setdefault(kid, str(error.get("error") or "refused"))
    return carried


def _parked_row(rows: list[Parked], cid: str) -> Parked | None:
    for row in rows:
        if row.entity == "customer" and row.side == "kleanapp" and row.record_id == cid:
            return row
    for row in rows:
        if row.entity == "customer" and f"kleanapp:{cid}" in (row.candidates or []):
            return row
    return None


def _parked_customer(row: Parked, cid: str) -> ParkedCustomer:
    if row.side == "kleanapp" and row.record_id == cid:
        candidates = tuple(str(c) for c in row.candidates or [])
    else:  # the sevDesk record is parked with our customer as its candidate
        candidates = (f"{row.side}:{row.record_id}",)
    return ParkedCustomer(
        parked_id=row.id or 0,
        side="kleanapp",
        record_id=cid,
        candidates=candidates,
    )
