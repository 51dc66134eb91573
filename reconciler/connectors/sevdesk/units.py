"""Units of measure in sevDesk (``/Unity``): read-only unless explicitly allowed.

``/Unity`` is not in sevDesk's v2 spec at all; it is known only from the
legacy API (API-NOTES §5), and sevDesk's own advice is to manage units in the
web UI. So by default kleansync only reads them, and a create/update/delete
raises ``NotSupportedBySevdesk`` telling the admin where to do it. With
``create_units`` a missing unit is created through the legacy ``POST /Unity``,
looked up by name first so a repeated call never makes a second one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconciler.connectors.base import Collection
from reconciler.connectors.sevdesk.api import NotSupportedBySevdesk, SevdeskApi
from reconciler.connectors.sevdesk.mapping import MappingError, as_utc, parse_timestamp, text
from reconciler.domain.errors import NotFound, TransientError
from reconciler.domain.models import Listing, Quarantined, Remote, Unit

UNITS_IN_UI = (
    "sevDesk units are managed in sevDesk's web UI (Einstellungen → System → Einheiten); "
    "kleansync does not {action} them"
)


class SevdeskUnits(Collection[Unit]):
    """sevDesk's ``/Unity``: read, and created only when ``create_units`` allows it."""

    entity = Unit

    def __init__(self, api: SevdeskApi, *, create_units: bool) -> None:
        self.api = api
        self.create_units = create_units

    async def list_changed(self, since: dt.datetime | None = None) -> Listing[Unit]:
        listing: Listing[Unit] = Listing()
        for row in await self.api.rows("Unity"):
            unit_id = text(row.get("id")) if isinstance(row, dict) else None
            name = text(row.get("name")) if isinstance(row, dict) else None
            try:
                if unit_id is None or name is None:
                    raise MappingError(f"unit without id or name: {row!r}")
                updated = parse_timestamp(row["update"]) if row.get("update") else None
            except MappingError as exc:
                listing.quarantined.append(
                    Quarantined(side="sevdesk", entity="Unit", id=unit_id, reason=str(exc))
                )
                continue
            if since is not None and updated is not None and updated < as_utc(since):
                continue
            listing.records.append(
                Remote(
                    side="sevdesk",
                    id=unit_id,
                    version=row.get("update"),
                    updated_at=updated,
                    record=Unit(name=name),
                )
            )
        return listing

    async def get(self, id: str) -> Remote[Unit]:
        unit_id = str(id)
        # No documented GET /Unity/{id}: the list is short, search it.
        for remote in (await self.list_changed()).records:
            if remote.id == str(unit_id):
                return remote
        raise NotFound(f"sevDesk has no unit {unit_id}")

    async def create(
        self, record: Unit, *, idempotency_key: str | None = None, resume: bool = False
    ) -> Remote[Unit]:
        # No idempotency keys in sevDesk: an earlier attempt's unit is found by name.
        unit = record
        if not self.create_units:
            raise NotSupportedBySevdesk(UNITS_IN_UI.format(action="create"))
        existing = await self._named(unit.name)
        if existing is not None:
            return existing
        try:
            # JSON: sevDesk takes JSON or form bodies alike (API-NOTES §1).
            await self.api.call("POST", "Unity", json={"name": unit.name})
        except NotFound:
            raise NotSupportedBySevdesk(
                "this sevDesk account no longer offers POST /Unity; "
                + UNITS_IN_UI.format(action="create")
            ) from None
        except TransientError as exc:
            # Unknown outcome: it counts as done only if the read-back finds it.
            if not exc.maybe_written or await self._named(unit.name) is None:
                raise
        found = await self._named(unit.name)
        if found is None:
            raise TransientError(f"sevDesk accepted unit {unit.name!r} but does not list it")
        return found

    async def update(
        self, id: str, changes: dict[str, Any], *, expected_version: str | None = None
    ) -> Remote[Unit]:
        raise self.refuse("change")

    async def delete(self, id: str, *, expected_version: str | None = None) -> None:
        raise self.refuse("delete")

    @staticmethod
    def refuse(action: str) -> NotSupportedBySevdesk:
        return NotSupportedBySevdesk(UNITS_IN_UI.format(action=action))

    async def _named(self, name: str) -> Remote[Unit] | None:
        wanted = name.strip().casefold()
        for remote in (await self.list_changed()).records:
            if remote.record.name.casefold() == wanted:
                return remote
        return None
