"""Tables of the admin resolution queue (``kleansync conflicts link``).

A parked match (one customer number used by several records) is settled by
an admin: link the record with one particular record of the other side, or
create a new counterpart for it. ``Parked`` has no column for that answer,
and the answer must outlive the process (it is applied by the *next* run,
which may be hours later in the nightly service), so it gets a table of its
own. The engine reads the rows with ``applied`` false, carries them out and
marks them applied; the row stays as the record of who decided what.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from state.tables import when


class ParkedResolution(SQLModel, table=True):
    __tablename__ = "parked_resolution"
    id: int | None = Field(default=None, primary_key=True)
    #: The ``Parked`` row the admin answered (one answer per parked row).
    parked_id: int = Field(index=True, unique=True)
    entity: str
    #: The parked record itself, copied so the engine needs no join.
    side: str
    record_id: str
    action: str  # link | create-new
    #: For "link": the record of the other side, as "side:id" (e.g. "sevdesk:100002").
    with_id: str | None = None
    #: For "link": the other record's own ``Parked`` row, settled by the same answer.
    with_parked_id: int | None = None
    by: str
    at: dt.datetime = when(default_now=True)
    applied: bool = Field(default=False, index=True)
    applied_at: dt.datetime | None = when()
    applied_run_id: str | None = None
