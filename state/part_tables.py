"""What the engine last saw of the parts of each record (sevDesk addresses and communication ways).

A sevDesk customer is a Contact plus ContactAddress and CommunicationWay
rows. Deleting such a part bumps no stamp anywhere (neither the contact's
``update`` nor a row that could be found by ``updateAfter``), so an
incremental run can only notice it by comparing the part ids it reads now
with the ones it read before. ``PartInventory`` keeps, per side and entity,
one JSON map of record id -> sorted part ids ("ContactAddress/7", ...), as
the connector last read them in a run that finished without errors. One
row, because the whole map is read and written once per run (1,000
customers are ~40 kB).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel, select

from state.tables import utcnow, when

if TYPE_CHECKING:
    from state.store import Store


class PartInventory(SQLModel, table=True):
    __tablename__ = "part_inventory"
    __table_args__ = (UniqueConstraint("side", "entity"),)
    id: int | None = Field(default=None, primary_key=True)
    side: str
    entity: str
    parts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    updated_at: dt.datetime = when(default_now=True)


def part_inventory(store: Store, side: str, entity: str) -> dict[str, tuple[str, ...]] | None:
    """The map saved by the last successful run; None if none was saved yet."""
    with store.session() as s:
        row = s.exec(
            select(PartInventory).where(PartInventory.side == side, PartInventory.entity == entity)
        ).first()
        if row is None:
            return None
        return {str(k): tuple(v) for k, v in (row.parts or {}).items()}


def save_part_inventory(
    store: Store, side: str, entity: str, parts: dict[str, tuple[str, ...]]
) -> None:
    with store.session() as s:
        row = s.exec(
            select(PartInventory).where(PartInventory.side == side, PartInventory.entity == entity)
        ).first()
        if row is None:
            row = PartInventory(side=side, entity=entity)
        row.parts = {k: list(v) for k, v in sorted(parts.items())}
        row.updated_at = utcnow()
        s.add(row)
