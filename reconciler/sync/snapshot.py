"""Step 1 of a run: read what each side holds now.

Incremental by default: each side is asked only for records changed since
its cursor. The cursor is where the last run's listing *started*, in the
service's own clock (``Listing.as_of``), not the newest stamp it saw: pages
are read one after another, and a record on page 1 edited while page 3 was
read carries a stamp older than what page 3 shows. Starting at the listing's
start re-reads what changed during the last run (its own writes included);
such a record agrees with the base, so the re-read costs no counterpart
fetch and no write. In requests: nothing extra, unless more records changed
during the last run than fit one page (500 KleanApp, 1,000 sevDesk).

A linked record that changed on one side only is then fetched by id from
the other side, because the three-way diff needs both. A ``full``
snapshot reads everything; only a full read can show that a record has been
deleted, since an incremental read cannot tell "unchanged" from "gone".

Absent, so deleted, only when two reads agree. A linked record missing
from a listing proven complete (``connectors.listing``: the pages add up to
the service's total) is read again by id before the plan may archive its
partner; and a linked sevDesk customer whose addresses or communication
ways vanished since the last good run (``Listing.parts`` against the saved
``PartInventory``: a deleted part leaves no stamp, so an incremental read
finds it only this way) is read again by id, its parts by its own contact
filter, and only that record may clear fields. Costs: one request per
missing record, three per customer with vanished parts (contact, addresses,
communication ways), none otherwise. The saved inventory is handed to the
connector before its listing (``Collection.expect_parts``): sevDesk then
reads only the changed parts of a table whose total shows none vanished.
More suspects than the mass-delete brake allows are not read again (the
brake stops that run) and count towards it.

Units are few, so they are always read in full.

Which links a run works with (``Snapshot.links``): on a full run all of
them, read in batches while the plan walks them (``StoredLinks``: never all
held at once; the removal checks above ask for ids only, and read whole only
the links of the records they read again); on an incremental run only those
of the records that came back and of the records whose parts vanished,
looked up by id in batches (``state.link_queries``), never every link: a
quiet run costs what changed, not what exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from reconciler.connectors.base import Connector
from reconciler.domain import progress
from reconciler.domain.errors import NotFound
from reconciler.domain.i18n import N_, _
from reconciler.domain.models import SIDES, SYNCED_ENTITIES, Customer, Quarantined, Remote, Side
from rules.normalize import normalize_record
from state import Store
from state.link_queries import LinkIds
from state.part_tables import part_inventory, save_part_inventory
from state.tables import Link


@dataclass
class SideRead:
    """What one side returned for one entity."""

    side: Side
    entity: str
    records: dict[str, Remote[Any]] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    #: True when every record of the side was read (absence means deleted).
    complete: bool = False
    #: Records that a by-id fetch found gone (deleted on that side).
    gone: set[str] = field(default_factory=set)
    #: Records added by a by-id fetch after the listing (linked counterparts).
    fetched: set[str] = field(default_factory=set)
    #: The service's time when the listing started (``Listing.as_of``).
    as_of: dt.datetime | None = None
    #: Part ids per record as listed (``Listing.parts``); None: records have no parts.
    parts: dict[str, tuple[str, ...]] | None = None

    def cursor(self) -> dt.datetime | None:
        """Where the next incremental read of this side starts.

        The listing's start (see the module docstring). Only a connector that
        cannot tell when its listing started falls back to the newest stamp
        the listing returned, which can skip an edit made while paging.
        """
        return self.as_of if self.as_of is not None else self.newest()

    def newest(self) -> dt.datetime | None:
        """The latest modification time the *listing* returned.

        Records fetched by id afterwards do not count: one changed after the
        listing would move the cursor past changes to other records made
        between the listing and that fetch, and the next run would skip them.
        """
        stamps = [
            r.updated_at
            for rid, r in self.records.items()
            if r.updated_at and rid not in self.fetched
        ]
        return max(stamps) if stamps else None


@dataclass
class Snapshot:
    full: bool
    reads: dict[tuple[str, Side], SideRead] = field(default_factory=dict)
    #: Per side: the fields it cannot keep for a customer (``Collection.unstorable_fields``).
    unstorable: dict[Side, Callable[[Customer], frozenset[str]]] = field(
        default_factory=lambda: {side: _keeps_everything for side in SIDES}
    )

    #: Link keys of customers whose parts vanished and whose fields would be
    #: cleared (confirmed by a second read, or too many to confirm): the
    #: mass-delete brake counts them like deletions.
    dropped: set[str] = field(default_factory=set)

    #: Per entity read: the links this run works with (all of them after a full
    #: read, walked in batches, else those of the records read; module docstring).
    links: dict[str, Iterable[Link]] = field(default_factory=dict)

    #: Per side: the customer part inventory as the last good run saved it, read
    #: once before the listings (``remember_parts`` compares with it, no second read).
    inventories: dict[Side, dict[str, tuple[str, ...]] | None] = field(default_factory=dict)

    def read(self, entity: str, side: Side) -> SideRead:
        return self.reads[(entity, side)]

    @property
    def quarantined(self) -> list[Quarantined]:
        return [q for r in self.reads.values() for q in r.quarantined]


#: The read phases as the progress display names them (German first, see ``domain.progress``).
READING = {"customer": N_("reading customers"), "unit": N_("reading units")}


async def take_snapshot(
    connectors: dict[Side, Connector],
    store: Store,
    *,
    full: bool,
    entities: tuple[str, ...] = ("customer", "unit"),
    removal_budget: int | None = None,
) -> Snapshot:
    """Read both sides (see module docstring); nothing is written anywhere.

    ``removal_budget``: how many suspected removals to confirm by a second
    read (None: all); more than that stops the run at the brake anyway.
    """
    snapshot = Snapshot(
        full=full,
        unstorable={side: connectors[side].customers.unstorable_fields for side in SIDES},
    )
    for entity in entities:
        model = SYNCED_ENTITIES[entity]
        saved: dict[Side, dict[str, tuple[str, ...]] | None] = {}
        for side in SIDES:
            since = None if full or entity == "unit" else store.cursor(side, entity)
            collection = connectors[side].collection(model)
            if entity == "customer":
                # The parts the last good run saw: an incremental listing reads only
                # the changed parts when none vanished (``SevdeskCustomers._read_parts``).
                saved[side] = snapshot.inventories[side] = part_inventory(store, side, entity)
                collection.expect_parts(saved[side] if since is not None else None)
            with progress.phase(connectors[side].label + ": " + _(READING[entity])):
                listing = await collection.list_changed(since)
            snapshot.reads[(entity, side)] = SideRead(
                side=side,
                entity=entity,
                records={r.id: r for r in listing.records},
                quarantined=list(listing.quarantined),
                complete=since is None,
                as_of=listing.as_of,
                parts=listing.parts,
            )
            logger.info(
                "{}: {} {} {} read{}",
                connectors[side].label,
                len(listing.records),
                entity,
                "records" if since is None else "changes",
                f", {len(listing.quarantined)} quarantined" if listing.quarantined else "",
            )
        if entity == "customer":
            known: dict[Side, dict[str, tuple[str, ...]] | None] = {
                side: saved[side] if snapshot.read(entity, side).parts is not None else None
                for side in SIDES
            }
            snapshot.links[entity] = _links_of(store, snapshot, entity, known)
            await _confirm_removals(connectors, store, snapshot, removal_budget, known)
            await _fetch_counterparts(connectors, snapshot, entity)
        else:
            snapshot.links[entity] = store.links(entity)
    return snapshot


def _vanished(
    known: dict[str, tuple[str, ...]] | None, current: dict[str, tuple[str, ...]] | None
) -> list[str]:
    """Records (linked or not) holding fewer of their parts than the last good run saw."""
    if not known or current is None:
        return []
    # The same tuple (an incremental listing keeps the saved ones) lost nothing.
    return [
        rid
        for rid, old in known.items()
        if old != current.get(rid) and set(old) - set(current.get(rid, ()))
    ]


def _links_of(
    store: Store,
    snapshot: Snapshot,
    entity: str,
    known: dict[Side, dict[str, tuple[str, ...]] | None],
) -> Iterable[Link]:
    """The links this run works with: all after a full read, else by id (module docstring).

    Looked up once, right after the listings: every record fetched later
    (a counterpart, a confirmed removal's partner) is found through one of
    these links, so the set does not grow.
    """
    if snapshot.full:
        return store.stored_links(entity)
    ids: dict[Side, set[str]] = {}
    for side in SIDES:
        read = snapshot.read(entity, side)
        ids[side] = set(read.records) | set(_vanished(known[side], read.parts))
    if not ids["kleanapp"] and not ids["sevdesk"]:
        return []
    return store.links_by_ids(entity, kleanapp_ids=ids["kleanapp"], sevdesk_ids=ids["sevdesk"])


OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


def _keeps_everything(record: Customer) -> frozenset[str]:
    return frozenset()


def _agrees_with_base(record: Any, base: dict[str, Any] | None, skip: frozenset[str]) -> bool:
    """Does the record still hold the agreed base (on the fields its side can keep)?"""
    if base is None:
        return False
    have = normalize_record(record).model_dump(exclude=set(skip))
    return have == {k: v for k, v in base.items() if k not in skip}


async def _fetch_counterparts(
    connectors: dict[Side, Connector], snapshot: Snapshot, entity: str
) -> None:
    """For linked records read on one side only, fetch the other side by id."""
    if all(snapshot.read(entity, side).complete for side in SIDES):
        return  # a full read: every record is in hand, there is nothing to fetch
    model = SYNCED_ENTITIES[entity]
    bad_ids = {
        (q.side, q.id) for side in SIDES for q in snapshot.read(entity, side).quarantined if q.id
    }
    for link in snapshot.links[entity]:
        ids = {"kleanapp": link.kleanapp_id, "sevdesk": link.sevdesk_id}
        present = {side: ids[side] in snapshot.read(entity, side).records for side in SIDES}
        if all(present.values()) or not any(present.values()):
            continue
        missing: Side = "sevdesk" if present["kleanapp"] else "kleanapp"
        changed = snapshot.read(entity, OTHER[missing]).records[ids[OTHER[missing]]]
        skip = snapshot.unstorable[OTHER[missing]](changed.record)
        if _agrees_with_base(changed.record, link.base, skip):
            continue  # our own write coming back, or a change that changed nothing
        read = snapshot.read(entity, missing)
        if read.complete or (missing, ids[missing]) in bad_ids:
            continue
        try:
            read.records[ids[missing]] = (
                await connectors[missing].collection(model).get(ids[missing])
            )
            read.fetched.add(ids[missing])
        except NotFound:
            read.gone.add(ids[missing])


async def _confirm_removals(
    connectors: dict[Side, Connector],
    store: Store,
    snapshot: Snapshot,
    budget: int | None,
    inventories: dict[Side, dict[str, tuple[str, ...]] | None],
) -> None:
    """Read again, by id, every linked customer a listing suggests is gone or lost parts.

    What the second read finds replaces what the listing said: a record that
    is there after all is kept (the listing was wrong), one that is not is
    ``gone``, and one whose parts are really gone becomes the record that
    clears fields (its parts read through its own contact filter).
    """
    links = snapshot.links["customer"]
    # A full run's links are walked once, by the plan: here only their ids are needed.
    index: list[Link] | list[LinkIds] = (
        links if isinstance(links, list) else store.link_ids("customer")
    )
    bad = {(q.side, q.id) for q in snapshot.quarantined if q.id}
    for side in SIDES:
        read = snapshot.read("customer", side)
        linked: dict[str, Link | LinkIds] = {
            (lk.kleanapp_id if side == "kleanapp" else lk.sevdesk_id): lk for lk in index
        }
        missing = [
            rid
            for rid in linked
            if read.complete and rid not in read.records and (side, rid) not in bad
        ]
        dropped = []
        known = inventories[side] if read.parts is not None else None
        if known and read.parts is not None:
            current = read.parts
            dropped = [
                rid
                for rid in linked
                if rid not in missing
                and (side, rid) not in bad
                and set(known.get(rid, ())) - set(current.get(rid, ()))
            ]
        if not missing and not dropped:
            continue
        label = connectors[side].label
        if budget is not None and len(missing) + len(dropped) > budget:
            logger.warning(
                "{}: {} linked customers missing and {} with vanished parts, more than the "
                "mass-delete brake allows; not reading them again",
                label,
                len(missing),
                len(dropped),
            )
            snapshot.dropped |= {linked[rid].key for rid in dropped}
            continue
        skip_of = snapshot.unstorable[side]
        whole = _whole_links(store, side, linked, [*missing, *dropped])
        for rid in [*missing, *dropped]:
            try:
                remote = await connectors[side].customers.get(rid)
            except NotFound:
                read.records.pop(rid, None)
                read.gone.add(rid)
                await _fetch_partner(connectors, snapshot, side, whole[rid])
                continue
            if rid in missing:
                logger.warning(
                    "{} listed no customer {} but has it when asked: not deleted", label, rid
                )
            elif _clears(remote.record, whole[rid].base, skip_of(remote.record)):
                snapshot.dropped.add(linked[rid].key)
            read.records[rid] = remote
            read.fetched.add(rid)


def _whole_links(
    store: Store, side: Side, linked: dict[str, Link | LinkIds], rids: list[str]
) -> dict[str, Link]:
    """The links (with their bases) of the records ``_confirm_removals`` reads again."""
    have = {rid: lk for rid in rids if isinstance(lk := linked[rid], Link)}
    wanted = [rid for rid in rids if rid not in have]
    if wanted:
        found = store.links_by_ids(
            "customer", **{"kleanapp_ids" if side == "kleanapp" else "sevdesk_ids": wanted}
        )
        have |= {(lk.kleanapp_id if side == "kleanapp" else lk.sevdesk_id): lk for lk in found}
    return have


async def _fetch_partner(
    connectors: dict[Side, Connector], snapshot: Snapshot, side: Side, link: Any
) -> None:
    """The other side of a link whose ``side`` is gone, so the plan can archive it."""
    other = OTHER[side]
    read = snapshot.read("customer", other)
    rid = link.kleanapp_id if other == "kleanapp" else link.sevdesk_id
    if rid in read.records or read.complete:
        return
    try:
        read.records[rid] = await connectors[other].customers.get(rid)
        read.fetched.add(rid)
    except NotFound:
        read.gone.add(rid)


def _clears(record: Any, base: dict[str, Any] | None, skip: frozenset[str]) -> bool:
    """Does ``record`` lack a value the agreed base has (a field its side would clear)?"""
    if not base:
        return False
    have = normalize_record(record).model_dump()
    return any(
        value not in (None, "") and have.get(name) in (None, "")
        for name, value in base.items()
        if name not in skip
    )


def remember_parts(
    connectors: dict[Side, Connector],
    store: Store,
    snapshot: Snapshot,
    errors: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
) -> None:
    """Save each side's part inventory after a run, for the next run to compare with.

    The inventory is the connector's latest knowledge (the listing, then
    every later read, including the read-back after our own writes, so our
    own deletions of parts are not taken for someone else's next time).
    A customer whose writes failed or were skipped keeps its old entry: a
    vanished part whose clear did not get through is found again.
    """
    if ("customer", "sevdesk") not in snapshot.reads:
        return
    troubled = {str(e.get("key")) for e in errors if e.get("entity") == "customer"}
    for item in skipped:
        entity, _, rest = str(item.get("action", "")).partition(":")
        if entity == "customer":
            troubled.add(rest.rsplit(":", 2)[0])
    links = {link.key: link for link in store.links_by_keys("customer", troubled)}
    for side in SIDES:
        parts = connectors[side].customers.part_inventory()
        if parts is None:
            continue
        old = (
            snapshot.inventories[side]
            if side in snapshot.inventories
            else part_inventory(store, side, "customer")
        ) or {}
        for key in troubled:
            link = links.get(key)
            rid = None if link is None else (link.kleanapp_id, link.sevdesk_id)[side == "sevdesk"]
            if rid is not None:
                parts.pop(rid, None)
                if rid in old:
                    parts[rid] = old[rid]
        if {k: tuple(v) for k, v in parts.items()} != old:  # unchanged: no write (issue 21)
            save_part_inventory(store, side, "customer", parts)
