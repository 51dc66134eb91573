"""``kleansync resync``: rebuild links and bases from both sides after a lost state store.

Anchor: rclone bisync's ``--resync``, which rebuilds its listings from both
paths when its state is gone instead of guessing from nothing. Here the
state is the links (which KleanApp customer is which sevDesk contact) and
their bases (the last version both agreed on). Without them a sync would
take every customer for new and create it again on the other side; a
``sync`` that notices this refuses and points here (``stable_ids``).

Order of evidence, strongest first:

1. **stable ids**: the KleanApp id kept on the sevDesk contact
   (``connectors.sevdesk_stable_ids``). One contact per id links; two
   contacts claiming one KleanApp customer are parked (a copied contact);
2. **customer numbers**: one record per side holding the same number;
3. **the matcher**: whatever ``rules.matching`` decides for the rest, run
   through the ordinary planner, so resync links exactly what a first sync
   would have linked and parks what it would have parked.

A rebuilt link whose two records agree gets them as its base, so the next
sync plans nothing for it. A link whose records differ gets no base: the
next sync diffs it as on a first link (differences become conflicts under
the configured rules, never blind overwrites). Links that still exist in
the store are kept as they are. Units are paired by name as every sync does.

Resync writes nothing to either side except the missing stable ids (journaled
like every write) and, in the state store, the links and parked records.
Records found on one side only are reported, not created: the next sync
creates them. ``--dry-run`` writes nothing at all.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from loguru import logger

from reconciler.config import Config
from reconciler.connectors import from_config
from reconciler.connectors.base import Connector
from reconciler.domain.errors import KleansyncError
from reconciler.domain.models import SIDES, Customer, Remote, Side
from reconciler.sync.fence import ensure_fence, run_lock
from reconciler.sync.plan import build_plan
from reconciler.sync.plan_model import PairPlan, ParkedItem
from reconciler.sync.resync_result import ResyncResult
from reconciler.sync.snapshot import Snapshot, take_snapshot
from reconciler.sync.stable_ids import ENTITY as STABLE_ID
from reconciler.sync.stable_ids import StableIds, readable, remote_of
from rules.normalize import normalize_customer_number, normalize_record
from state import Store
from state.tables import Link, Parked


class UnsettledWrites(KleansyncError):
    """A killed run left writes whose outcome is unknown; a sync settles them first."""


def _key(k: Remote[Customer]) -> str:
    """The link key a first sync gives a pair (``Planner._match_and_create``)."""
    return normalize_record(k.record).customer_number or f"kleanapp:{k.id}"


def _one_sided(remote: Remote[Customer]) -> dict[str, Any]:
    record = normalize_record(remote.record)
    return {
        "id": remote.id,
        "key": record.customer_number or f"{remote.side}:{remote.id}",
        "name": record.display_name,
    }


class Resync:
    """One resync over a full snapshot (see the module docstring)."""

    def __init__(
        self, config: Config, connectors: dict[Side, Connector], store: Store, run_id: str
    ) -> None:
        self.config = config
        self.connectors = connectors
        self.store = store
        self.result = ResyncResult(run_id=run_id, dry_run=True)
        self.parked: list[ParkedItem] = []
        self.unit_ids: set[str] = set()

    async def run(self, *, dry_run: bool) -> ResyncResult:
        self.result.dry_run = dry_run
        pending = [j for j in self.store.pending_journal() if j.entity != STABLE_ID]
        if pending:
            raise UnsettledWrites(
                f"{len(pending)} writes of an interrupted run are unsettled; run `kleansync "
                "sync` once to finish them, then resync"
            )
        ids = StableIds(self.connectors, self.store, self.result.run_id, errors=self.result.errors)
        if not dry_run:
            await ids.recover()
        entities = tuple(
            e
            for e, d in (("customer", self.config.sync.customers), ("unit", self.config.sync.units))
            if d != "off"
        )
        snapshot = await take_snapshot(self.connectors, self.store, full=True, entities=entities)
        self.result.quarantined = len(snapshot.quarantined)
        existing = {e: self.store.links(e) for e in ("customer", "unit")}
        self.result.kept = len(existing["customer"])
        stable = await readable(remote) if (remote := remote_of(self.connectors)) else {}
        customers = "customer" in entities
        pairs = self._evidence(snapshot, existing["customer"], stable) if customers else []
        for p in self.parked:  # parked here: kept out of the planner's matching and creates
            snapshot.read("customer", p.side).records.pop(p.record_id, None)
        new_links = [
            Link(entity="customer", key=_key(k), kleanapp_id=k.id, sevdesk_id=s.id)
            for k, s, _by in pairs
        ]
        plan = build_plan(
            self.config,
            snapshot,
            {"customer": [*existing["customer"], *new_links], "unit": existing["unit"]},
        )
        how = {(k.id, s.id): by for k, s, by in pairs}
        self.unit_ids = {i for u in existing["unit"] for i in (u.kleanapp_id, u.sevdesk_id)}
        links = self._links_from(plan.pairs, plan.conflicts, how, snapshot)
        self.parked += list(plan.parked)
        self.result.parked = [p.model_dump() for p in self.parked]
        wanted = {
            link.sevdesk_id: link.kleanapp_id
            for link in [*existing["customer"], *links]
            if link.entity == "customer"
        }
        missing = {c: k for c, k in wanted.items() if stable.get(c) != k}
        self.result.stable_ids_missing = len(missing)
        if dry_run:
            return self.result
        ensure_fence()  # links are the lock holder's to write
        with self.store.session() as session:  # one transaction, not one per link
            session.add_all(links)
        self._remember_parked()
        keys = {link.sevdesk_id: link.key for link in [*existing["customer"], *links]}
        for contact_id, kleanapp_id in sorted(missing.items()):
            await ids.record(
                keys.get(contact_id, f"kleanapp:{kleanapp_id}"), kleanapp_id, contact_id
            )
        self.result.stable_ids_written = ids.written
        logger.info("resync: {}", self.result.summary_lines()[0])
        return self.result

    # -- steps 1 and 2: stable ids, then customer numbers --------------------------
    def _evidence(
        self, snapshot: Snapshot, links: list[Link], stable: dict[str, str]
    ) -> list[tuple[Remote[Customer], Remote[Customer], str]]:
        k_all = snapshot.read("customer", "kleanapp").records
        s_all = snapshot.read("customer", "sevdesk").records
        free: dict[Side, dict[str, Remote[Customer]]] = {
            "kleanapp": {i: r for i, r in k_all.items() if i not in {x.kleanapp_id for x in links}},
            "sevdesk": {i: r for i, r in s_all.items() if i not in {x.sevdesk_id for x in links}},
        }
        pairs: list[tuple[Remote[Customer], Remote[Customer], str]] = []
        claims: dict[str, list[str]] = defaultdict(list)
        for contact_id, kleanapp_id in sorted(stable.items()):
            if contact_id not in free["sevdesk"]:
                continue
            if kleanapp_id in free["kleanapp"]:
                claims[kleanapp_id].append(contact_id)
            else:
                why = "is linked to another contact" if kleanapp_id in k_all else "does not exist"
                self.result.stale_ids.append(
                    {
                        "sevdesk_id": contact_id,
                        "kleanapp_id": kleanapp_id,
                        "reason": f"sevDesk contact {contact_id} names KleanApp customer "
                        f"{kleanapp_id}, which {why}",
                    }
                )
        for kleanapp_id, contacts in claims.items():
            k = free["kleanapp"].pop(kleanapp_id)
            if len(contacts) == 1:
                pairs.append((k, free["sevdesk"].pop(contacts[0]), "stable id"))
                continue
            reason = (
                f"sevDesk contacts {', '.join(contacts)} all carry the KleanApp id {kleanapp_id} "
                "(a copied contact?)"
            )
            self._park(k, reason, [f"sevdesk:{c}" for c in contacts])
            for c in contacts:
                self._park(free["sevdesk"].pop(c), reason, [f"kleanapp:{kleanapp_id}"])
        numbers: dict[Side, dict[str, list[Remote[Customer]]]] = {
            s: defaultdict(list) for s in SIDES
        }
        for side in SIDES:
            for remote in free[side].values():
                number = normalize_customer_number(remote.record.customer_number)
                if number:
                    numbers[side][number].append(remote)
        for number, ks in numbers["kleanapp"].items():
            ss = numbers["sevdesk"].get(number, [])
            if len(ks) == 1 and len(ss) == 1:
                pairs.append((ks[0], ss[0], "customer number"))
        return pairs

    def _park(self, remote: Remote[Customer], reason: str, candidates: list[str]) -> None:
        record = normalize_record(remote.record)
        self.parked.append(
            ParkedItem(
                entity="customer",
                side=remote.side,
                record_id=remote.id,
                key=record.customer_number or record.display_name,
                reason=reason,
                candidates=tuple(candidates),
            )
        )

    # -- step 3: the planner's matching, and the bases --------------------------------
    def _links_from(
        self,
        plans: tuple[PairPlan, ...],
        conflicts: tuple[Any, ...],
        how: dict[tuple[str, str], str],
        snapshot: Snapshot,
    ) -> list[Link]:
        """Links for every new pair the plan holds; a base only where both sides agree."""
        disputed = {(c.entity, c.key) for c in conflicts if c.link_id is None}
        records = {side: snapshot.read("customer", side).records for side in SIDES}
        links: list[Link] = []
        for pair in plans:
            if pair.link_id is not None or pair.unlink:
                continue  # an existing link: kept as it is
            if pair.kleanapp_id is None or pair.sevdesk_id is None:
                if pair.entity == "customer":
                    side: Side = "kleanapp" if pair.kleanapp_id else "sevdesk"
                    remote = records[side][pair.kleanapp_id or pair.sevdesk_id or ""]
                    getattr(self.result, f"only_{side}").append(_one_sided(remote))
                continue
            agreed = (
                not pair.actions
                and pair.base_after is not None
                and (pair.entity, pair.key) not in disputed
            )
            base = pair.base_after if agreed else None
            if pair.entity == "unit":
                if {pair.kleanapp_id, pair.sevdesk_id} & self.unit_ids:
                    continue  # one of the two is linked to another unit already
                self.result.units_linked += 1
                links.append(
                    Link(
                        entity="unit",
                        key=pair.key,
                        kleanapp_id=pair.kleanapp_id,
                        sevdesk_id=pair.sevdesk_id,
                        base=pair.base_after,
                    )
                )
                continue
            k = records["kleanapp"][pair.kleanapp_id]
            s = records["sevdesk"][pair.sevdesk_id]
            links.append(
                Link(
                    entity="customer",
                    key=pair.key,
                    kleanapp_id=k.id,
                    sevdesk_id=s.id,
                    base=base,
                    kleanapp_version=k.version,
                    sevdesk_version=s.version,
                )
            )
            self.result.linked.append(
                {
                    "key": pair.key,
                    "kleanapp_id": k.id,
                    "sevdesk_id": s.id,
                    "name": normalize_record(k.record).display_name,
                    "by": how.get((k.id, s.id), "matcher"),
                    "agreed": agreed,
                }
            )
        return links

    def _remember_parked(self) -> None:
        self.store.add_parked(
            [
                Parked(
                    run_id=self.result.run_id,
                    entity=p.entity,
                    side=p.side,
                    record_id=p.record_id,
                    key=p.key,
                    reason=p.reason,
                    candidates=list(p.candidates),
                )
                for p in self.parked
            ]
        )


async def run_resync(
    config: Config, *, connectors: dict[Side, Connector], store: Store, dry_run: bool
) -> ResyncResult:
    """Resync under the run lock (no sync may run meanwhile)."""
    async with run_lock(store, config):
        return await Resync(config, connectors, store, uuid.uuid4().hex[:12]).run(dry_run=dry_run)


async def resync_from_config(
    config: Config, *, dry_run: bool, transports: dict[str, Any] | None = None
) -> ResyncResult:
    """Open the store and both connectors from ``config``, resync once, close them."""
    store = Store(config.state.url, pool=config.state.pool)
    kleanapp, sevdesk = from_config(
        config,
        kleanapp_transport=(transports or {}).get("kleanapp"),
        sevdesk_transport=(transports or {}).get("sevdesk"),
    )
    try:
        async with kleanapp, sevdesk:
            return await run_resync(
                config,
                connectors={"kleanapp": kleanapp, "sevdesk": sevdesk},
                store=store,
                dry_run=dry_run,
            )
    finally:
        store.close()
