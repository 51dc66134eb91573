"""The one small interface every outside system implements.

Like httpx's ``BaseTransport`` or vdirsyncer's ``Storage``: the engine asks a
connector to list, get, create, update and archive-or-delete *canonical*
records, and never learns which service (or emulator) is behind it. The
entity is named by its canonical class (``Customer``, ``Unit``).

Contract, checked for every connector by ``tests/test_connector_contract.py``:

* ``list`` reads every page; with ``since`` it returns at least every record
  changed at or after that instant (it may return more; never fewer).
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
from typing import Any

from reconciler.domain.models import Canonical, Listing, Remote, Side


class Connector(ABC):
    """Canonical records in, canonical records out, for one service."""

    side: Side
    #: Human name for messages ("sevDesk", "KleanApp").
    label: str

    @abstractmethod
    async def list(
        self, entity: type[Canonical], *, since: dt.datetime | None = None
    ) -> Listing[Any]:
        """Every record of ``entity`` (changed at or after ``since`` if given)."""

    @abstractmethod
    async def get(self, entity: type[Canonical], id: str) -> Remote[Any]:
        """One record by this side's id; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def create(
        self, entity: type[Canonical], record: Canonical, *, idempotency_key: str | None = None
    ) -> Remote[Any]:
        """Create ``record``; idempotent across a failed earlier attempt.

        ``idempotency_key`` names this one intended create (the engine passes
        its journal entry's key, the same on every attempt, recovery included).
        A service that supports such keys gets it, so a repeat answers the
        first create instead of writing again, even when nothing in the record
        identifies it (KleanApp assigns customer numbers); a connector whose
        service has none ignores it and finds the earlier write by number/name.
        """

    @abstractmethod
    async def update(
        self,
        entity: type[Canonical],
        id: str,
        changes: dict[str, Any],
        *,
        expected_version: str | None = None,
    ) -> Remote[Any]:
        """Set the given canonical fields; ``ChangedMeanwhile`` on a stale version."""

    @abstractmethod
    async def delete(
        self, entity: type[Canonical], id: str, *, expected_version: str | None = None
    ) -> None:
        """Archive (KleanApp) or delete (sevDesk) the record."""

    def unstorable_fields(self, record: Canonical) -> frozenset[str]:
        """Canonical fields this side cannot keep for ``record`` (it drops them).

        The engine never treats such a field as changed on this side: it takes
        the other side's value instead of copying an absence back (sevDesk, for
        example, has no archive flag and keeps no contact-person names on an
        organisation). Default: every field is kept.
        """
        return frozenset()

    def part_inventory(self, entity: type[Canonical]) -> dict[str, tuple[str, ...]] | None:
        """Part ids per record as last read (``Listing.parts``, then later reads), or None.

        Only for services whose record is several rows and whose parts can be
        deleted without a trace (sevDesk). The engine keeps it after a good
        run, so the next run can tell which parts were deleted meanwhile.
        """
        return None

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
