"""A KleanApp customer and unit as the emulator keeps them, and as GET returns them.

Every record carries ``version`` (one more on every change) and
``updated_at``; ``If-Match`` names the version a write expects, and a stale
one is answered 412 with the record as it is now, as KleanApp does. Lists
are paged the same way for every kind of record. Invoices (and their
filter) are in ``sandbox.kleanapp.invoices``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sandbox.kleanapp.validation import ApiError, iso


@dataclass
class CustomerRec:
    id: int
    fields: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    archived: bool = False

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.fields,
            "archived": self.archived,
            "version": self.version,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class UnitRec:
    id: int
    name: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def check_version(version: int, if_match: int | None, current: dict[str, Any]) -> None:
    """412 with the current record when ``If-Match`` names another version."""
    if if_match is not None and if_match != version:
        raise ApiError(
            412,
            "version_mismatch",
            f"the record is at version {version}, not {if_match}",
            current=current,
        )


def paged(items: list[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    """One page of ``items`` (pages count from 1) and how many there are in all."""
    start = (page - 1) * per_page
    return items[start : start + per_page], len(items)
