"""Step 2 and 3 of a run: compare the snapshot with the base, decide, plan.

The result is plain frozen data (``reconciler.sync.plan_model``): every action
names the entity, the side it writes to, the operation, the values, and the
version it expects to find. Everything is decided here; applying a plan
never decides anything new. Beside it: ``plan_direction``, ``plan_removals``
(links that end), ``plan_writes`` (what a write carries, creates too), ``plan_units``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from reconciler.config import Config
from reconciler.domain.conflicts import Conflict
from reconciler.domain.models import OTHER, SIDE_LABEL, SIDES, Customer, Quarantined, Remote, Side
from reconciler.reporting.evidence import candidate_dict, record_facts
from reconciler.sync.number_swaps import order_number_renames, unswapped
from reconciler.sync.plan_direction import rules_for, writable
from reconciler.sync.plan_model import (
    Action,
    PairPlan,
    ParkedItem,
    Plan,
    Task,
)
from reconciler.sync.plan_removals import kleanapp_archived, sevdesk_deleted
from reconciler.sync.plan_units import UnitPlanner
from reconciler.sync.plan_writes import (
    aligned,
    create_pair,
    held_quarantine,
    keep_fingerprint,
    pair_digests,
    quiet_against,
    reformat_actions,
    seen_of,
    still_quiet,
    unchanged_pair,
)
from reconciler.sync.snapshot import Snapshot
from rules.diff import merge
from rules.fingerprints import Seen, fingerprint
from rules.matching import match_customers
from rules.normalize import normalize_record
from state.link_queries import LinkHead, StoredLinks
from state.tables import Link

#: The address fields that make sevDesk keep an address (and with it a country).
ADDRESS_PARTS = ("street", "postal_code", "city")


def _name(record: Customer) -> str | None:
    """A customer's name for people (a conflict's ``label``), None when it has none."""
    if record.kind == "company":
        return record.company_name or None
    return " ".join(p for p in (record.first_name, record.last_name) if p) or None


class Planner:
    """Builds a ``Plan`` from a snapshot and the stored links (no I/O besides the store)."""

    #: Decide a linked pair that did not change before any model is built
    #: (``unchanged_pair``). False: every linked pair takes the full path, which
    #: plans the same; the property test compares the two.
    quiet_shortcut = True

    def __init__(
        self,
        config: Config,
        snapshot: Snapshot,
        links: Mapping[str, Iterable[Link]],
        resolved: Sequence[Any] = (),
        parked_resolutions: Sequence[Any] = (),
        taken_numbers: Callable[[Iterable[str]], set[str]] | None = None,
    ) -> None:
        self.config = config
        #: Which of some customer numbers linked customers hold, when ``links`` are not
        #: all of them (an incremental run's; see ``snapshot``); None: ``links`` are all.
        self.taken_numbers = taken_numbers
        self.snapshot = snapshot
        self.links = links
        #: link id -> field -> (value an admin chose, conflict id, the answer's revision)
        self.forced: dict[int, dict[str, tuple[Any, int, int]]] = {}
        for row in resolved:
            if row.link_id is not None and isinstance(row.resolution, dict):
                self.forced.setdefault(row.link_id, {})[row.field] = (
                    row.resolution.get("value"),
                    row.id,
                    row.revision,
                )
        self.parked_resolutions = list(parked_resolutions)
        #: link id -> (both sides' digests, the link's ``updated_at``): the linked pairs
        #: found quiet whose link does not hold these digests yet (``still_quiet``); the
        #: engine stores them after the run, so the next run knows them by two hashes.
        self.quiet: dict[int, tuple[tuple[str, str], dt.datetime]] = {}
        self.customer_rules = rules_for(config, "customer")
        self.pairs: list[PairPlan] = []
        self.conflicts: list[Conflict] = []
        self.tasks: list[Task] = []
        self.parked: list[ParkedItem] = []
        self.quarantined: list[Quarantined] = []
        #: KleanApp record id -> the number it holds now (for ordering renames).
        self.kleanapp_numbers: dict[str, str | None] = {}
        #: The customer numbers the links' bases hold (taken, for matching).
        self.linked_numbers: set[str] = set()

    def build(self) -> Plan:
        if self.config.sync.customers != "off":
            self._customers()
            self.pairs = order_number_renames(self.pairs, self.kleanapp_numbers)
        if self.config.sync.units != "off":
            self._units()
        cursors = {}
        complete_counts = {}
        for (entity, side), read in self.snapshot.reads.items():
            cursor = read.cursor()
            if cursor is not None:
                cursors[f"{entity}.{side}"] = cursor
            if read.complete:
                complete_counts[f"{entity}.{side}"] = len(read.records) + len(read.quarantined)
        return Plan(
            created_at=dt.datetime.now(dt.UTC),
            full=self.snapshot.full,
            pairs=tuple(self.pairs),
            conflicts=tuple(self.conflicts),
            tasks=tuple(self.tasks),
            parked=tuple(self.parked),
            quarantined=(*self.snapshot.quarantined, *self.quarantined),
            cursors=cursors,
            complete_counts=complete_counts,
        )

    # -- customers ---------------------------------------------------------
    def _customers(self) -> None:
        reads = {side: self.snapshot.read("customer", side) for side in SIDES}
        # A record the connector could not read is missing from a complete listing, but
        # it is not gone: the pair is left alone (the record is reported as quarantined).
        bad = {(side, q.id) for side in SIDES for q in reads[side].quarantined}
        linked: dict[Side, set[str]] = {"kleanapp": set(), "sevdesk": set()}
        # Bound once, not per link: a full run walks every link (issue 21).
        k_linked, s_linked = linked["kleanapp"], linked["sevdesk"]
        k_records, s_records = reads["kleanapp"].records, reads["sevdesk"].records
        s_read = reads["sevdesk"]
        # The links are walked once (a full run's are read in batches as they come, see
        # ``snapshot``): the customer numbers they hold are noted on the way, for matching.
        numbers = self.linked_numbers
        links: Iterable[Link | LinkHead] = self.links.get("customer", [])
        if isinstance(links, StoredLinks):  # a full run: heads only for pairs known quiet
            links = links.walk(self._known_quiet)
        for link in links:
            kid, sid = link.kleanapp_id, link.sevdesk_id
            k_linked.add(kid)
            s_linked.add(sid)
            if type(link) is LinkHead:  # both records have the digests it keeps
                if link.number:
                    numbers.add(link.number)
                self.kleanapp_numbers[kid] = k_records[kid].record.customer_number
                continue
            assert isinstance(link, Link)
            if link.base and (number := link.base.get("customer_number")):
                numbers.add(number)
            k = k_records.get(kid)
            s = s_records.get(sid)
            s_gone = sid in s_read.gone or (
                s_read.complete and s is None and ("sevdesk", sid) not in bad
            )
            if s_gone:
                self._add(sevdesk_deleted(self.config, link, k))
            elif k is not None and s is not None:
                self._linked_pair(link, k, s)

        unlinked = {
            side: [r for rid, r in reads[side].records.items() if rid not in linked[side]]
            for side in SIDES
        }
        self._match_and_create(unlinked)

    def _known_quiet(self, head: LinkHead) -> bool:
        """Whether a full run's walk may hand this link over as its head (``StoredLinks``).

        The pair's two records are in hand and have the digests the link keeps
        (``still_quiet``, whose other conditions the walk checked in SQL), and no
        answer of an admin waits for it: the pair is quiet, there is nothing to
        plan, so its base and fingerprints need not be read.
        """
        if head.kleanapp_digest is None or not self.quiet_shortcut or head.id in self.forced:
            return False
        reads = self.snapshot.reads
        k = reads["customer", "kleanapp"].records.get(head.kleanapp_id)
        s = reads["customer", "sevdesk"].records.get(head.sevdesk_id)
        if k is None or s is None:
            return False
        digests = pair_digests(k.record, s.record)
        return head.kleanapp_digest == digests[0] and head.sevdesk_digest == digests[1]

    def _linked_pair(self, link: Link, k: Remote[Customer], s: Remote[Customer]) -> None:
        self.kleanapp_numbers[k.id] = k.record.customer_number
        if self.quiet_shortcut and link.id not in self.forced:  # an answer waits
            # The common case of a full run: decided by two hashes when an earlier run
            # found this very pair quiet, else on plain values (and then remembered).
            digests = pair_digests(k.record, s.record)
            if still_quiet(link, digests):
                return
            if unchanged_pair(self.snapshot.unstorable, link, k.record, s.record):
                if link.id is not None:
                    self.quiet[link.id] = (digests, link.updated_at)
                return
        base = Customer.model_validate(link.base) if link.base else None
        seen = seen_of(link)
        read = (k.record, s.record)
        k, mid_swap = unswapped(k, link.base)
        k, s = aligned(self.snapshot.unstorable, k, s)
        if base is not None:
            base = base.model_copy(update={"archived": k.record.archived})
        was_archived = bool((link.base or {}).get("archived"))
        newly_archived = bool(link.base) and k.record.archived and not was_archived
        if newly_archived:
            outcome = kleanapp_archived(self.config, link, s)
            self._add(outcome)
            if isinstance(outcome, PairPlan):
                return
        elif (
            base is not None
            and seen is not None
            and not mid_swap
            and link.id not in self.forced  # an answer waits (it may differ from both)
            and normalize_record(k.record) == base == normalize_record(s.record)
        ):
            return
        self._pair_from_merge(
            link.key, link.id, k, s, base, seen=seen, link=link, mid_swap=mid_swap, read=read
        )

    def _pair_from_merge(
        self,
        key: str,
        link_id: int | None,
        k: Remote[Customer],
        s: Remote[Customer],
        base: Customer | None,
        *,
        parked_resolution_ids: tuple[int, ...] = (),
        seen: Seen | None = None,
        link: Link | None = None,
        mid_swap: bool = False,
        read: tuple[Customer, Customer] | None = None,
    ) -> None:
        rules = self.customer_rules
        result = merge(base, k, s, rules, key=key, entity="customer", seen=seen)
        forced = self.forced.get(link_id, {}) if link_id is not None else {}
        conflicts = [c for c in result.conflicts if c.field not in forced]
        label = _name(k.record) or _name(s.record)
        self.conflicts.extend(
            c.model_copy(update={"link_id": link_id, "label": label}) for c in conflicts
        )
        merged = result.merged.model_dump() if result.merged is not None else None
        after: Seen = {side: dict(v) for side, v in (result.seen_after or {}).items()}
        writes_to = {side: dict(result.writes_for(side)) for side in SIDES}
        remotes: dict[Side, Remote[Customer]] = {"kleanapp": k, "sevdesk": s}
        self.quarantined += held_quarantine(result, key, remotes)
        if mid_swap and merged is not None and "customer_number" not in writes_to["kleanapp"]:
            # A swap a crash left half done: KleanApp still holds our temporary number.
            writes_to["kleanapp"]["customer_number"] = merged["customer_number"]
            after["kleanapp"]["customer_number"] = fingerprint(merged["customer_number"])
        if forced:
            # An admin's answer beats every rule: that value goes to both sides.
            current = {
                "kleanapp": normalize_record(k.record).model_dump(),
                "sevdesk": normalize_record(s.record).model_dump(),
            }
            for name, (value, _cid, _revision) in forced.items():
                for side in SIDES:
                    if current[side].get(name) != value:
                        writes_to[side][name] = value
                        after.setdefault(side, {})[name] = fingerprint(value)
                    else:
                        writes_to[side].pop(name, None)
                        raw = getattr(remotes[side].record, name, None)
                        after.setdefault(side, {})[name] = fingerprint(raw)
                if merged is not None:
                    merged[name] = value
            if merged is None and not any(c.is_manual for c in conflicts):
                merged = {**current["kleanapp"], **writes_to["kleanapp"]}
        to_sevdesk = writes_to["sevdesk"]
        if any(to_sevdesk.get(f) for f in ADDRESS_PARTS) and "country" not in to_sevdesk:
            # sevDesk keeps the country on the address: the write that may create
            # the address carries the agreed country, or sevDesk's default would be
            # read back as a change next run and pushed over KleanApp's.
            agreed = (merged or normalize_record(k.record).model_dump()).get("country")
            if agreed:
                to_sevdesk["country"] = agreed
        actions: list[Action] = []
        for side, remote in (("kleanapp", k), ("sevdesk", s)):
            writes = writes_to[side]
            writes.pop("archived", None)
            if not writes:
                continue
            if not writable(self.config, "customer", side):
                # Never write against the direction; keep the base so the change
                # is neither lost nor pushed back, and the source's old
                # fingerprint so it is still a change if the direction opens.
                for name in writes:
                    if merged is not None:
                        merged[name] = (
                            base.model_dump()[name] if base else remote.record.model_dump()[name]
                        )
                    keep_fingerprint(after, seen, OTHER[side], name)
                    after.setdefault(side, {})[name] = fingerprint(
                        getattr(remote.record, name, None)
                    )
                continue
            actions.append(
                Action(
                    entity="customer",
                    side=side,
                    op="update",
                    key=key,
                    target_id=remote.id,
                    fields=writes,
                    expected_version=remote.version,
                    reason=f"changed in {SIDE_LABEL[OTHER[side]]}",
                )
            )
        may_write = {side: writable(self.config, "customer", side) for side in SIDES}
        actions += reformat_actions(result, key, remotes, writes_to, may_write)
        if (
            link is not None
            and not actions
            and merged == link.base
            and after == {"kleanapp": link.kleanapp_raw, "sevdesk": link.sevdesk_raw}
        ):
            return  # nothing to write and nothing new to remember
        quiet = None
        if read is not None and not actions and merged is not None and not forced:
            # Nothing to write, so the records stay as read: if the pair is quiet
            # against its new base, its link knows it by their digests from the start.
            fingerprinted = bool(after.get("kleanapp") or after.get("sevdesk"))
            if fingerprinted and quiet_against(self.snapshot.unstorable, merged, *read):
                quiet = pair_digests(*read)
        self.pairs.append(
            PairPlan(
                entity="customer",
                key=key,
                link_id=link_id,
                kleanapp_id=k.id,
                sevdesk_id=s.id,
                actions=tuple(actions),
                base_after=merged,
                seen_after=after if merged is not None else None,
                conflict_ids=tuple(cid for _value, cid, _revision in forced.values()),
                conflict_revisions=tuple(rev for _value, _cid, rev in forced.values()),
                parked_resolution_ids=parked_resolution_ids,
                digests_after=quiet,
            )
        )

    def _match_and_create(self, unlinked: dict[Side, list[Remote[Customer]]]) -> None:
        """Link unlinked records that are the same customer; create the rest.

        ``rules.matching`` scores the evidence of every field (``[matching]``
        config); a new link is diffed three-way with no base, so differing
        fields become conflicts under the configured rule, not overwrites.
        Anything in the grey zone is parked with its evidence: neither created
        nor changed anywhere.
        """
        unlinked = self._apply_parked_resolutions(unlinked)
        taken: dict[Side, set[str]] = {"kleanapp": set(), "sevdesk": set()}
        if self.taken_numbers is not None:
            # Only the links of the records read are at hand: ask the store about the
            # numbers the unlinked records hold (those are all matching looks up).
            wanted = {r.record.customer_number or "" for side in SIDES for r in unlinked[side]}
            held = self.taken_numbers(wanted - {""}) if wanted - {""} else set()
            taken = {"kleanapp": set(held), "sevdesk": set(held)}
        taken["kleanapp"] |= self.linked_numbers
        taken["sevdesk"] |= self.linked_numbers
        result = match_customers(
            unlinked["kleanapp"],
            unlinked["sevdesk"],
            taken_numbers=taken,
            settings=self.config.matching.settings(),
        )
        for match in result.matches:
            k, s = match.kleanapp, match.sevdesk
            read = (k.record, s.record)
            k, s = aligned(self.snapshot.unstorable, k, s)
            key = normalize_record(k.record).customer_number or f"kleanapp:{k.id}"
            self._pair_from_merge(key, None, k, s, None, read=read)
        for parked in result.parked:
            record = normalize_record(parked.record.record)
            self.parked.append(
                ParkedItem(
                    entity="customer",
                    side=parked.side,
                    record_id=parked.record.id,
                    key=record.customer_number or record.display_name,
                    reason=parked.reason,
                    candidates=tuple(f"{c.side}:{c.id}" for c in parked.candidates),
                    details=record_facts(parked.record),
                    evidence=tuple(candidate_dict(c) for c in parked.evidence),
                )
            )
        for side in SIDES:
            target: Side = OTHER[side]
            if not writable(self.config, "customer", target):
                continue
            for remote in result.creatable(side):
                near = result.near_miss(side, remote.id)
                note = ""
                if near is not None:  # why this look-alike is not that customer
                    other = near.other
                    note = (
                        f"; not {SIDE_LABEL[other.side]} customer {other.id} "
                        f"({other.record.display_name}): {near.summary}"
                    )
                self._create(remote, target, note=note)

    def _apply_parked_resolutions(
        self, unlinked: dict[Side, list[Remote[Customer]]]
    ) -> dict[Side, list[Remote[Customer]]]:
        """Carry out admins' answers to parked matches; return what is left to match."""
        by_id = {(r.side, r.id): r for side in SIDES for r in unlinked[side]}
        taken: set[tuple[str, str]] = set()
        for res in self.parked_resolutions:
            record = by_id.get((res.side, res.record_id))
            if record is None or (record.side, record.id) in taken:
                continue
            if res.action == "link" and res.with_id:
                other_side, other_id = res.with_id.split(":", 1)
                other = by_id.get((other_side, other_id))
                if other is None or (other_side, other_id) in taken:
                    continue
                k, s = (record, other) if record.side == "kleanapp" else (other, record)
                k, s = aligned(self.snapshot.unstorable, k, s)
                key = normalize_record(k.record).customer_number or f"kleanapp:{k.id}"
                self._pair_from_merge(key, None, k, s, None, parked_resolution_ids=(res.id,))
                taken |= {(k.side, k.id), (s.side, s.id)}
            elif res.action == "create-new":
                taken.add((record.side, record.id))
                if writable(self.config, "customer", OTHER[record.side]):
                    self._create(record, OTHER[record.side], resolution_id=res.id)
        return {side: [r for r in unlinked[side] if (side, r.id) not in taken] for side in SIDES}

    def _create(
        self,
        remote: Remote[Customer],
        target: Side,
        *,
        resolution_id: int | None = None,
        note: str = "",
    ) -> None:
        number_back = writable(self.config, "customer", remote.side)
        made = create_pair(
            remote, target, number_back=number_back, resolution_id=resolution_id, note=note
        )
        if isinstance(made, PairPlan):
            self.pairs.append(made)
        else:
            self.quarantined += made

    def _add(self, outcome: PairPlan | Task) -> None:
        """A removal's outcome: a pair to apply, or a task for an admin."""
        if isinstance(outcome, PairPlan):
            self.pairs.append(outcome)
        else:
            self.tasks.append(outcome)

    # -- units ---------------------------------------------------------------
    def _units(self) -> None:
        pairs, tasks = UnitPlanner(
            self.config,
            {side: self.snapshot.read("unit", side) for side in SIDES},
            list(self.links.get("unit", [])),  # few, and walked twice
            lambda side: writable(self.config, "unit", side),
        ).plan()
        self.pairs.extend(pairs)
        self.tasks.extend(tasks)


def build_plan(
    config: Config,
    snapshot: Snapshot,
    links: Mapping[str, Iterable[Link]],
    *,
    resolved: Sequence[Any] = (),
    parked_resolutions: Sequence[Any] = (),
    taken_numbers: Callable[[Iterable[str]], set[str]] | None = None,
    quiet: dict[int, tuple[tuple[str, str], dt.datetime]] | None = None,
) -> Plan:
    """Decide everything for one run (pure but for ``taken_numbers``, a read-only look-up).

    ``links``: every link, or (incremental) those of the records read, with
    ``taken_numbers`` answering which customer numbers the others hold.
    ``quiet``, if given, receives the quiet pairs' new digests (``Planner.quiet``):
    not part of the plan, which says what to write to the services.
    """
    planner = Planner(config, snapshot, links, resolved, parked_resolutions, taken_numbers)
    plan = planner.build()
    if quiet is not None:
        quiet.update(planner.quiet)
    return plan
