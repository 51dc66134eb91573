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

Units are few, so they are always read in full.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from reconciler.connectors.base import Connector
from reconciler.errors import NotFound
from reconciler.models import SIDES, SYNCED_ENTITIES, Quarantined, Remote, Side
from rules.normalize import normalize_record
from state import Store


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
    #: Per side: the fields it cannot keep for a record (``Connector.unstorable_fields``).
    unstorable: dict[Side, Callable[[Any], frozenset[str]]] = field(
        default_factory=lambda: {side: _keeps_everything for side in SIDES}
    )

    def read(self, entity: str, side: Side) -> SideRead:
        return self.reads[(entity, side)]

    @property
    def quarantined(self) -> list[Quarantined]:
        return [q for r in self.reads.values() for q in r.quarantined]


async def take_snapshot(
    connectors: dict[Side, Connector],
    store: Store,
    *,
    full: bool,
    entities: tuple[str, ...] = ("customer", "unit"),
) -> Snapshot:
    """Read both sides (see module docstring); nothing is written anywhere."""
    snapshot = Snapshot(
        full=full, unstorable={side: connectors[side].unstorable_fields for side in SIDES}
    )
    for entity in entities:
        model = SYNCED_ENTITIES[entity]
        for side in SIDES:
            since = None if full or entity == "unit" else store.cursor(side, entity)
            listing = await connectors[side].list(model, since=since)
            snapshot.reads[(entity, side)] = SideRead(
                side=side,
                entity=entity,
                records={r.id: r for r in listing.records},
                quarantined=list(listing.quarantined),
                complete=since is None,
                as_of=listing.as_of,
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
            await _fetch_counterparts(connectors, store, snapshot, entity)
    return snapshot


OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


def _keeps_everything(record: Any) -> frozenset[str]:
    return frozenset()


def _agrees_with_base(record: Any, base: dict[str, Any] | None, skip: frozenset[str]) -> bool:
    """Does the record still hold the agreed base (on the fields its side can keep)?"""
    if base is None:
        return False
    have = normalize_record(record).model_dump(exclude=set(skip))
    return have == {k: v for k, v in base.items() if k not in skip}


async def _fetch_counterparts(
    connectors: dict[Side, Connector], store: Store, snapshot: Snapshot, entity: str
) -> None:
    """For linked records read on one side only, fetch the other side by id."""
    model = SYNCED_ENTITIES[entity]
    bad_ids = {
        (q.side, q.id) for side in SIDES for q in snapshot.read(entity, side).quarantined if q.id
    }
    for link in store.links(entity):
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
            read.records[ids[missing]] = await connectors[missing].get(model, ids[missing])
            read.fetched.add(ids[missing])
        except NotFound:
            read.gone.add(ids[missing])
