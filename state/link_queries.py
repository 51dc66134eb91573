"""Links looked up by what a run has in hand, not read all at once (issue 21).

Why: a quiet incremental run of 100,000 linked customers used to read every
link (and its base, as Python objects) several times: to find the partners
of the records that came back, to plan, for the brake and for the post-run
bookkeeping. An incremental run needs only the links of the records it read,
and the brake only their number. Here are the indexed queries it uses
instead: by record id (the ``(entity, kleanapp_id)`` and ``(entity,
sevdesk_id)`` unique constraints are the indexes), by key, and counts, each
in batches of :data:`BATCH` values so no statement exceeds a database's
parameter limit.

Bulk inserts of new links (:func:`insert_links`) are here too: an activation
links thousands of pairs with no write to either service, and one commit per
link was most of its time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from sqlalchemy import String, and_, bindparam, cast, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from state.tables import Link, utcnow

if TYPE_CHECKING:
    from state.store import Store

V = TypeVar("V", str, int)

#: Values per ``IN (...)``: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
BATCH = 500
#: Links per read of a walk over all of them (``StoredLinks``): a few MB at a time.
READ_BATCH = 2000


def _chunks(values: Iterable[V]) -> Iterator[list[V]]:
    """The distinct ``values``, sorted, in lists of at most :data:`BATCH` (one ``IN`` each)."""
    batch: list[V] = []
    for value in sorted(set(values)):
        batch.append(value)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def count_links(store: Store, entity: str) -> int:
    """How many links ``entity`` has (the brake's denominator), without reading them."""
    with store.session() as s:
        return s.exec(select(func.count()).select_from(Link).where(Link.entity == entity)).one()


class LinkIds(NamedTuple):
    """Which two records a link joins, without its base and fingerprints."""

    entity: str
    key: str
    kleanapp_id: str
    sevdesk_id: str


def link_ids(store: Store, entity: str) -> list[LinkIds]:
    """Every link of ``entity`` as its ids only, in link order.

    For those that need every link but not what was agreed (the stable-id
    backfill after a full run, an invoice export looking up its customer's
    contact): reading 100,000 links' bases and fingerprints for that cost
    seconds and most of a gigabyte; four short columns cost a fraction.
    """
    query = (
        select(Link.entity, Link.key, Link.kleanapp_id, Link.sevdesk_id)
        .where(Link.entity == entity)
        .order_by(col(Link.id))
    )
    with store.session() as s:
        return [LinkIds(*row) for row in s.exec(query)]


class LinkHead(NamedTuple):
    """A link as a walk hands over a pair already known to be quiet (``StoredLinks.walk``).

    Its ids, its two digests and the customer number its base holds: all the
    planner needs of a pair it does not plan, without decoding the base and
    the fingerprints (most of reading a link).
    """

    id: int
    kleanapp_id: str
    sevdesk_id: str
    kleanapp_digest: str | None
    sevdesk_digest: str | None
    #: ``base["customer_number"]``; None when the base has none.
    number: str | None


def _present(column: Any) -> Any:
    """SQL: the JSON column holds something (JSON ``null`` is stored as text, see below)."""
    return and_(col(column).is_not(None), cast(column, String).not_in(("null", "{}")))


class StoredLinks:
    """Every link of one entity, read from the store in batches while it is iterated.

    What a full run plans with (``reconciler.sync.snapshot``): 100,000 links
    held as objects with their bases and fingerprints were most of a
    gigabyte, and each is needed only while its pair is planned. Iterating
    reads :data:`READ_BATCH` links at a time in id order (keyset, so a batch
    costs an indexed range, not an ``OFFSET`` that rereads the ones before);
    only the current batch is held. Each pass reads the store again: use it
    for one walk, ask ``link_ids`` or the by-id queries for anything else.
    Nothing writes links while a run plans (the run lock), so the walk sees
    one state.

    ``walk(known_quiet)`` reads each batch's heads first (ids, digests, the
    base's number: short columns) and only the links ``known_quiet`` does not
    vouch for whole: a quiet full run decodes no base and no fingerprints of a
    pair its digests already tell (issue 21).
    """

    def __init__(self, store: Store, entity: str) -> None:
        self.store = store
        self.entity = entity

    def __iter__(self) -> Iterator[Link]:
        for link in self.walk(None):
            assert isinstance(link, Link)
            yield link

    def walk(self, known_quiet: Callable[[LinkHead], bool] | None) -> Iterator[Link | LinkHead]:
        """Every link in id order; a ``LinkHead`` where ``known_quiet`` says so."""
        after = 0
        while True:
            batch, last = self.batch(after, known_quiet)
            yield from batch
            if last is None:
                return
            after = last

    def batch(
        self, after: int, known_quiet: Callable[[LinkHead], bool] | None = None
    ) -> tuple[list[Link | LinkHead], int | None]:
        """The next :data:`READ_BATCH` links above id ``after``, and the last id (None: done)."""
        where = (col(Link.entity) == self.entity, col(Link.id) > after)
        with self.store.session() as s:
            if known_quiet is None:
                query = select(Link).where(*where).order_by(col(Link.id)).limit(READ_BATCH)
                links: list[Link | LinkHead] = [*s.exec(query)]
                last = links[-1].id if len(links) == READ_BATCH else None
                return links, last
            c = Link.__table__.c  # type: ignore[attr-defined]  # core columns: a 7-column select
            trusted = and_(
                col(Link.kleanapp_digest).is_not(None),
                _present(Link.base),
                or_(_present(Link.kleanapp_raw), _present(Link.sevdesk_raw)),
            )
            heads = (
                s.connection()
                .execute(
                    sa_select(
                        c.id,
                        c.kleanapp_id,
                        c.sevdesk_id,
                        c.kleanapp_digest,
                        c.sevdesk_digest,
                        Link.base["customer_number"].as_string(),  # type: ignore[index]
                        trusted,
                    )
                    .where(*where)
                    .order_by(col(Link.id))
                    .limit(READ_BATCH)
                )
                .all()
            )
            out: list[Link | LinkHead] = []
            whole: dict[int, int] = {}  # link id -> its place in ``out``
            for *fields, ok in heads:
                head = LinkHead(*fields)
                if not (ok and known_quiet(head)):
                    whole[head.id] = len(out)  # replaced by its whole link below
                out.append(head)
            for chunk in _chunks(whole):
                for link in s.exec(select(Link).where(col(Link.id).in_(chunk))):
                    out[whole[link.id or 0]] = link
        last = heads[-1][0] if len(heads) == READ_BATCH else None
        return out, last

    def __repr__(self) -> str:
        return f"StoredLinks({self.entity!r})"


def links_by_ids(
    store: Store,
    entity: str,
    *,
    kleanapp_ids: Iterable[str] = (),
    sevdesk_ids: Iterable[str] = (),
) -> list[Link]:
    """The links holding any of the given KleanApp or sevDesk record ids, each once."""
    found: dict[int | None, Link] = {}
    with store.session() as s:
        for column, values in (
            (Link.kleanapp_id, kleanapp_ids),
            (Link.sevdesk_id, sevdesk_ids),
        ):
            for batch in _chunks(values):
                query = select(Link).where(Link.entity == entity, col(column).in_(batch))
                for link in s.exec(query):
                    found.setdefault(link.id, link)
    return sorted(found.values(), key=lambda link: link.id or 0)


def links_by_keys(store: Store, entity: str, keys: Iterable[str]) -> list[Link]:
    """The links of ``entity`` with any of the given keys (customer numbers, unit keys)."""
    found: list[Link] = []
    with store.session() as s:
        for batch in _chunks(keys):
            # By key alone, the entity checked here (see ``link_ids_by_keys``).
            query = select(Link).where(col(Link.key).in_(batch))
            found.extend(link for link in s.exec(query) if link.entity == entity)
    found.sort(key=lambda link: link.id or 0)
    return found


def link_ids_by_keys(store: Store, entity: str, keys: Iterable[str]) -> dict[str, int]:
    """key -> link id for the links of ``entity`` with any of ``keys`` (only those two columns).

    The post-run bookkeeping names its conflicts by link id: after an
    activation that linked 100,000 pairs, reading those links whole (bases,
    fingerprints) only for their ids cost seconds.
    """
    found: dict[str, int] = {}
    with store.session() as s:
        for batch in _chunks(keys):
            # By key alone, the entity checked here: SQLite (no statistics) answers
            # ``entity = ? AND key IN (...)`` by the entity's index, which holds every
            # customer link, so each batch scanned them all (100,000 links: 10 s after
            # an activation). A key held twice names the newer link (larger id), as before.
            query = select(Link.key, Link.id, Link.entity).where(col(Link.key).in_(batch))
            for key, i, of in s.exec(query):
                if of == entity and i is not None and i > found.get(key, 0):
                    found[key] = i
    return found


def taken_numbers(store: Store, numbers: Iterable[str]) -> set[str]:
    """Which of ``numbers`` a linked customer's agreed base holds (matching's "taken").

    Bases are normalised (``rules.normalize``: customer numbers are only
    stripped), so comparing the stripped numbers is exact.
    """
    wanted = {n.strip() for n in numbers if n and n.strip()}
    number = Link.base["customer_number"].as_string()  # type: ignore[index]
    taken: set[str] = set()
    with store.session() as s:
        for batch in _chunks(wanted):
            query = select(number).where(Link.entity == "customer", number.in_(batch))
            taken.update(str(n) for n in s.exec(query) if n)
    return taken


def links_without_fingerprints(store: Store, entity: str = "customer") -> int:
    """Links from before schema 3 whose fingerprints are not filled yet, counted in SQL.

    JSON columns store None as JSON ``null`` (text), so both spellings of
    "nothing" are matched; a base of ``{}`` counts as none, as before.
    """
    raw = cast(Link.kleanapp_raw, String)
    base = cast(Link.base, String)
    with store.session() as s:
        query = (
            select(func.count())
            .select_from(Link)
            .where(
                Link.entity == entity,
                or_(col(Link.kleanapp_raw).is_(None), raw == "null"),
                col(Link.base).is_not(None),
                base.not_in(("null", "{}")),
            )
        )
        return s.exec(query).one()


def keep_digests(store: Store, quiet: dict[int, tuple[tuple[str, str], dt.datetime]]) -> int:
    """Store the digests of pairs a run found quiet; how many links took them.

    ``quiet``: link id -> ((KleanApp digest, sevDesk digest), the link's
    ``updated_at`` as the run read it). A link written since (by this run or
    another) has another ``updated_at`` and is left alone: its digests would
    describe a base it no longer holds. One ``executemany`` in one transaction;
    ``updated_at`` itself is not touched (nothing was agreed anew).
    """
    if not quiet:
        return 0
    table = Link.__table__  # type: ignore[attr-defined]
    statement = (
        table.update()
        .where(table.c.id == bindparam("link_id"), table.c.updated_at == bindparam("seen"))
        .values(kleanapp_digest=bindparam("k"), sevdesk_digest=bindparam("s"))
    )
    rows = [
        {"link_id": link_id, "seen": seen, "k": k, "s": s}
        for link_id, ((k, s), seen) in sorted(quiet.items())
    ]
    with store.session() as session:
        result = session.connection().execute(statement, rows)
        return max(result.rowcount, 0)


def insert_links(store: Store, rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """Insert new links in one transaction; each one's new id, or None where it clashed.

    ``rows`` are new links' column values (``Link``'s fields; an ``id`` is
    ignored, absent ones are ``None``, the times are set here). Plain rows, not
    ``Link`` objects: building a table model costs ~25 µs, which linking
    100,000 pairs at activation paid 100,000 times for rows written once
    (issue 21). One commit for the whole chunk instead of one per link, and
    one ``executemany`` (the driver's, or SQLAlchemy's multi-row ``VALUES``)
    instead of a statement per row: ``INSERT ... RETURNING`` in the rows'
    order is one statement per row on SQLite, so the new ids are read back
    instead, by record id (indexed) in the same transaction. A link that
    clashes with a stored one (``IntegrityError``: the planner never plans
    that, so it is rare) is retried alone after the chunk, so the others
    are stored and only it is reported.
    """
    if not rows:
        return []
    now = utcnow()
    table = Link.__table__  # type: ignore[attr-defined]
    blank = dict.fromkeys(c.name for c in table.columns if c.name != "id")
    full: list[dict[str, Any]] = []
    for row in rows:
        values = {**blank, **row, "created_at": row.get("created_at") or now, "updated_at": now}
        values.pop("id", None)  # the database's to give (PostgreSQL refuses a NULL id)
        full.append(values)
    try:
        with store.session() as s:
            s.connection().execute(table.insert(), full)
            ids: dict[tuple[str, str], int] = {}
            for entity in sorted({row["entity"] for row in full}):
                wanted = [row["kleanapp_id"] for row in full if row["entity"] == entity]
                for batch in _chunks(wanted):
                    query = select(Link.id, Link.kleanapp_id).where(
                        Link.entity == entity, col(Link.kleanapp_id).in_(batch)
                    )
                    ids.update(((entity, kid), i) for i, kid in s.exec(query) if i is not None)
        return [ids[row["entity"], row["kleanapp_id"]] for row in full]
    except IntegrityError:
        pass
    stored: list[int | None] = []
    for row in full:
        try:
            stored.append(store.save_link(Link(**row)).id)
        except IntegrityError:
            stored.append(None)
    return stored
