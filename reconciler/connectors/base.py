"""The small interface every outside system implements: one collection per entity.

Like vdirsyncer's ``Storage`` (one collection of one item type) or httpx's
``BaseTransport``: a connector holds one ``Collection`` per synced entity,
``connector.customers`` and ``connector.units``, and each collection lists,
gets, creates, updates and archives-or-deletes *canonical* records of its
one type. The engine never learns which service (or emulator) is behind it,
and nothing asks "which entity is this?" at run time: the type of the
collection says what it holds (``Collection[Customer]`` gives
``Remote[Customer]``).

Contract, checked for every connector by ``tests/test_connector_contract.py``:

* ``list_changed`` reads every page; with ``since`` it returns at least every
  record changed at or after that instant (it may return more; never fewer).
  Records that cannot be translated are returned as ``quarantined``, never
  dropped silently and never fatal for the others.
* ``create`` is safe to call again after a failure: with the same
  ``idempotency_key`` where the service supports one (KleanApp), else by
  finding a record that a previous, failed attempt may have written (by
  customer number or unit name) instead of writing a second one.
* ``update`` writes only the given fields. With ``expected_version`` it
  refuses (``ChangedMeanwhile``) to overwrite a record that changed since.
* ``delete`` archives where the service archives (KleanApp) and deletes where
  it deletes (sevDesk); ``NotFound`` when the record is already gone.
* Writes are never retried blindly: a write whose outcome is unknown is read
  back before anything is sent again.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar, cast

from reconciler.domain.errors import FatalError
from reconciler.domain.models import Canonical, Customer, Listing, Remote, Side, Unit

T = TypeVar("T", bound=Canonical)


class Collection(ABC, Generic[T]):
    """Every record of one entity in one service, as canonical ``T`` records."""

    #: The canonical class this collection holds (``Customer``, ``Unit``).
    entity: type[T]

    @abstractmethod
    async def list_changed(self, since: dt.datetime | None = None) -> Listing[T]:
        """Every record (changed at or after ``since`` if given)."""

    @abstractmethod
    async def get(self, id: str) -> Remote[T]:
        """One record by this side's id; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def create(
        self, record: T, *, idempotency_key: str | None = None, resume: bool = False
    ) -> Remote[T]:
        """Create ``record``; idempotent across a failed earlier attempt.

        ``resume``: an earlier attempt of this very create may have written
        something whose outcome nobody saw (crash recovery of a ``pending``
        journal row). A service without idempotency keys looks for that write
        first; in the normal path it sends only the writes (requests are scarce).

        ``idempotency_key`` names this one intended create (the engine passes
        its journal entry's key, the same on every attempt, recovery included).
        A service that supports such keys gets it, so a repeat answers the
        first create instead of writing again, even when nothing in the record
        identifies it (KleanApp assigns customer numbers); a connector whose
        service has none ignores it and finds the earlier write by number/name.
        """

    @abstractmethod
    async def update(
        self, id: str, changes: dict[str, Any], *, expected_version: str | None = None
    ) -> Remote[T]:
        """Set the given canonical fields; ``ChangedMeanwhile`` on a stale version."""

    @abstractmethod
    async def delete(self, id: str, *, expected_version: str | None = None) -> None:
        """Archive (KleanApp) or delete (sevDesk) the record."""

    def unstorable_fields(self, record: T) -> frozenset[str]:
        """Canonical fields this side cannot keep for ``record`` (it drops them).

        The engine never treats such a field as changed on this side: it takes
        the other side's value instead of copying an absence back (sevDesk, for
        example, has no archive flag and keeps no contact-person names on an
        organisation). Default: every field is kept.
        """
        return frozenset()

    def part_inventory(self) -> dict[str, tuple[str, ...]] | None:
        """Part ids per record as last read (``Listing.parts``, then later reads), or None.

        Only for services whose record is several rows and whose parts can be
        deleted without a trace (sevDesk). The engine keeps it after a good
        run, so the next run can tell which parts were deleted meanwhile.
        """
        return None

    def expect_parts(self, known: dict[str, tuple[str, ...]] | None) -> None:
        """The inventory the last good run saved (``part_inventory``), before a listing.

        A connector whose parts can be listed by change uses it to read only
        the changed ones when it can prove none vanished; default: ignored.
        """


class Connector(ABC):
    """One service: its collections, plus the calls that belong to no entity."""

    side: Side
    #: Human name for messages ("sevDesk", "KleanApp").
    label: str
    customers: Collection[Customer]
    units: Collection[Unit]

    def collection(self, entity: type[T]) -> Collection[T]:
        """The collection holding ``entity`` records.

        For the engine's steps that treat every synced entity alike (apply,
        recovery), which know the entity only by its name in a plan or the
        journal (``SYNCED_ENTITIES``).
        """
        for candidate in (self.customers, self.units):
            if candidate.entity is entity:
                return cast("Collection[T]", candidate)
        raise FatalError(f"the {self.label} connector keeps no {entity.__name__} records")

    @abstractmethod
    async def check_auth(self) -> None:
        """One cheap authenticated call; ``AuthError``/``Unreachable`` if it fails."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the HTTP client."""

    async def __aenter__(self) -> Connector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
