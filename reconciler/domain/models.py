"""Canonical records: the only shapes the engine ever sees.

Connectors translate between these and their service's wire format, so no
sevDesk or KleanApp field name appears outside ``reconciler/connectors``.
Money and quantities are ``Decimal`` because invoice totals must agree with
KleanApp's to the cent; a float would not.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Side = Literal["kleanapp", "sevdesk"]
SIDES: tuple[Side, Side] = ("kleanapp", "sevdesk")
SIDE_LABEL: dict[str, str] = {"kleanapp": "KleanApp", "sevdesk": "sevDesk"}
#: The other side of each side.
OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


class Canonical(BaseModel):
    """Base of every canonical record: immutable, compared by value."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Customer(Canonical):
    """A customer as both systems know it (a sevDesk Contact of category 3)."""

    customer_number: str | None = None
    kind: Literal["company", "person"] = "company"
    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = Field(default="DE", description="ISO 3166-1 alpha-2")
    vat_id: str | None = None
    note: str | None = None
    archived: bool = False

    @property
    def display_name(self) -> str:
        """What an admin would call this customer in a report."""
        if self.kind == "company":
            return self.company_name or "(no name)"
        return " ".join(p for p in (self.first_name, self.last_name) if p) or "(no name)"


class Unit(Canonical):
    """A unit of measure ("Std", "m²", "pauschal")."""

    name: str


class InvoicePosition(Canonical):
    """One line of an invoice; prices are net, in EUR."""

    name: str
    description: str | None = None
    quantity: Decimal
    unit: str
    unit_price_net: Decimal
    tax_rate: Decimal

    @property
    def total_net(self) -> Decimal:
        return (self.quantity * self.unit_price_net).quantize(Decimal("0.01"))


class Invoice(Canonical):
    """An invoice as KleanApp saved it; exported one way, to sevDesk."""

    number: str
    customer_id: str
    invoice_date: dt.date
    delivery_date: dt.date | None = None
    status: Literal["draft", "open", "paid", "cancelled"]
    currency: str = "EUR"
    header_text: str | None = None
    footer_text: str | None = None
    positions: tuple[InvoicePosition, ...] = ()
    total_net: Decimal | None = None
    total_gross: Decimal | None = None
    locked: bool = False
    exported_to: str | None = Field(default=None, description="sevDesk invoice id once linked")
    #: What KleanApp shows of the invoice in sevDesk (``export`` of the contract), as
    #: kleansync last reported it: draft, open, partially_paid, paid or cancelled.
    accounting_status: str | None = None
    paid_amount: Decimal | None = None


RecordT = TypeVar("RecordT", bound=Canonical)


class Remote(BaseModel, Generic[RecordT]):
    """A canonical record as one side holds it right now.

    ``id`` is that side's own identifier (always a string, whatever the wire
    type). ``version`` is the opaque token a write must present to prove it
    saw the latest state (KleanApp's integer ``version``, sevDesk's ``update``
    timestamp). ``updated_at`` is the side's own modification time in UTC,
    which last-write-wins compares.
    """

    model_config = ConfigDict(frozen=True)

    side: Side
    id: str
    version: str | None = None
    updated_at: dt.datetime | None = None
    record: RecordT


class Quarantined(BaseModel):
    """A record a side returned that could not be turned into a canonical one."""

    model_config = ConfigDict(frozen=True)

    side: Side
    entity: str
    id: str | None
    reason: str
    #: What a person finds the record by, when that much was readable (its customer
    #: number): reports name it so, never by the internal ``id``.
    label: str | None = None


class Listing(BaseModel, Generic[RecordT]):
    """What a list call yields: the good records and the ones set aside."""

    records: list[Remote[RecordT]] = Field(default_factory=list)
    quarantined: list[Quarantined] = Field(default_factory=list)
    #: The service's time, at or before the moment it started answering this
    #: listing. A record changed after that may or may not be in it (a paged
    #: listing reads page 1 before page 2), so the next incremental read must
    #: start here, not at the newest stamp seen. None: the connector cannot tell.
    as_of: dt.datetime | None = None
    #: For services whose record is several rows (a sevDesk contact with its
    #: addresses and communication ways): the part ids of *every* record, as
    #: read by this listing, however few records it returned. Comparing it
    #: with the last run's shows parts that were deleted (a deletion leaves
    #: no stamp to find it by). None: the records have no parts.
    parts: dict[str, tuple[str, ...]] | None = None


#: The entities the sync engine reconciles, by the name plans and the journal use.
SYNCED_ENTITIES: dict[str, type[Canonical]] = {"customer": Customer, "unit": Unit}
