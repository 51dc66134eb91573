"""Units of measure in KleanApp: a name, unique regardless of case.

KleanApp has no ``GET /units/{id}`` and no ``updated_since`` on ``/units``;
units are few, so a read of one unit, and every incremental listing, reads
the whole list (returning more than asked is allowed). Names are unique
case-insensitively, so a create answered 409 has found the unit ("std"
already existing *is* "Std"). A unit still used by invoice positions is
kept by KleanApp (``UnitInUse``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconciler.connectors.base import Collection
from reconciler.connectors.kleanapp.api import (
    KleanappApi,
    decode,
    error_parts,
    idempotency,
    path_id,
    raise_for,
)
from reconciler.connectors.kleanapp.wire import _strict, _unit_body, _unit_record
from reconciler.domain.errors import NotFound, StillReferenced, TransientError
from reconciler.domain.models import Listing, Remote, Unit


class UnitInUse(StillReferenced):
    """KleanApp keeps a unit while invoice positions use it."""


class KleanappUnits(Collection[Unit]):
    """KleanApp's ``/units``."""

    entity = Unit

    def __init__(self, api: KleanappApi) -> None:
        self.api = api
        self.http = api.http

    async def list_changed(self, since: dt.datetime | None = None) -> Listing[Unit]:
        # /units has no updated_since; returning more than asked is allowed.
        return await self.api.listing("units", {}, Unit, _unit_record)

    async def get(self, id: str) -> Remote[Unit]:
        uid = path_id(id, "unit")
        # KleanApp has no GET /units/{id}; units are few, the list is cheap.
        for row in await self.api.rows("units", {}):
            if isinstance(row, dict) and str(row.get("id")) == uid:
                return _strict(row, _unit_record, f"unit {uid}")
        raise NotFound(f"KleanApp has no unit {uid}")

    async def create(
        self, record: Unit, *, idempotency_key: str | None = None, resume: bool = False
    ) -> Remote[Unit]:
        key = idempotency_key
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "POST", "units", json=_unit_body(record), headers=idempotency(key)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                if key is not None:
                    if attempt == 2:
                        raise
                    continue  # the same key: KleanApp answers the first attempt if it got through
                found = await self._find(record.name)
                if found is not None:
                    return found
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409:
                # Names are unique case-insensitively: "std" already existing *is* "Std".
                found = await self._find(record.name)
                if found is not None:
                    return found
            if response.status_code >= 400:
                raise_for(response, f"unit {record.name!r}")
            return _strict(decode(response), _unit_record, "new unit")
        raise AssertionError("unreachable")  # pragma: no cover

    async def update(
        self, id: str, changes: dict[str, Any], *, expected_version: str | None = None
    ) -> Remote[Unit]:
        uid = path_id(id, "unit")
        unknown = set(changes) - {"name"}
        if unknown:
            raise ValueError(f"not unit fields: {', '.join(sorted(unknown))}")
        if not changes:
            return await self.get(uid)
        return await self.api.patch(
            f"units/{uid}",
            f"unit {uid}",
            {"name": changes["name"]},
            expected_version,
            _unit_record,
            lambda: self.get(uid),
        )

    async def delete(self, id: str, *, expected_version: str | None = None) -> None:
        # KleanApp's DELETE /units/{id} takes no If-Match: a unit has only
        # its name, so there is no edit a delete could silently discard.
        uid = path_id(id, "unit")
        for attempt in (1, 2):
            try:
                response = await self.http.request("DELETE", f"units/{uid}")
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                try:
                    await self.get(uid)
                except NotFound:
                    return
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409:
                code, message, _, _ = error_parts(response)
                raise UnitInUse(
                    f"KleanApp keeps unit {uid}: invoice positions still use it ({message or code})"
                )
            if response.status_code >= 400:
                raise_for(response, f"unit {uid}")
            return

    async def _find(self, name: str) -> Remote[Unit] | None:
        wanted = name.strip().casefold()
        for row in await self.api.rows("units", {}):
            if isinstance(row, dict) and str(row.get("name", "")).strip().casefold() == wanted:
                return _strict(row, _unit_record, f"unit {name}")
        return None
