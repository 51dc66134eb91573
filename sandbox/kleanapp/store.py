"""The KleanApp emulator's in-memory state and every change to it.

All mutations go through :class:`KleanStore` so the invariants of the
contract hold in one place: ``version`` grows by one on every change,
``updated_at`` moves with it, customer numbers are unique (archived
included), unit names are unique case-insensitively, a locked invoice stays
locked, and every change fires its webhook event with the record exactly as
GET returns it. HTTP parsing stays in ``app.py``; the records themselves
(and how GET renders them) are in ``records.py`` and ``invoices.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from sandbox.kleanapp.idempotency import IdempotencyKeys
from sandbox.kleanapp.invoices import InvoiceFilter, InvoiceRec, parse_invoice_input
from sandbox.kleanapp.records import CustomerRec, UnitRec, check_version, paged
from sandbox.kleanapp.validation import (
    CUSTOMER_FIELDS,
    CUSTOMER_NUMBER_RE,
    EXPORT_STATUS_FIELDS,
    ApiError,
    check_customer,
    customer_changes,
    invalid,
    iso,
    now,
    unit_name,
)
from sandbox.kleanapp.webhooks import DEFAULT_RETRY_DELAYS, Subscription, WebhookDispatcher

SEED_UNITS = ("Std", "m²", "pauschal", "Stk")


@dataclass
class KleanStore:
    """Customers, units, invoices and webhook subscriptions of one KleanApp tenant."""

    webhook_transport: httpx.AsyncBaseTransport | None = None
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
    customers: dict[int, CustomerRec] = field(default_factory=dict)
    units: dict[int, UnitRec] = field(default_factory=dict)
    invoices: dict[int, InvoiceRec] = field(default_factory=dict)
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    #: False while loading bulk seed data that should not fire webhooks.
    notify: bool = True
    #: Answers remembered under ``Idempotency-Key`` (creates; see ``idempotency.py``).
    idempotency: IdempotencyKeys = field(default_factory=IdempotencyKeys)

    def __post_init__(self) -> None:
        self.webhooks = WebhookDispatcher(
            self.subscribers, transport=self.webhook_transport, retry_delays=self.retry_delays
        )
        self.reset()

    def reset(self) -> None:
        """Empty tenant with the units KleanApp ships (Std, m², pauschal, Stk)."""
        self.customers.clear()
        self.units.clear()
        self.invoices.clear()
        self.subscriptions.clear()
        self.webhooks.reset()
        self.idempotency.reset()
        self._last_id: dict[str, int] = dict.fromkeys(("customer", "unit", "invoice", "webhook"), 0)
        self._invoice_seq: dict[int, int] = {}
        self.changed()
        self.notify = False
        for name in SEED_UNITS:
            self.create_unit({"name": name})
        self.notify = True

    def _new_id(self, kind: str) -> int:
        self._last_id[kind] += 1
        return self._last_id[kind]

    def snapshot(self) -> Any:
        """A deep copy of the records and counters (bulk loads roll back to it)."""
        return copy.deepcopy(
            (self.customers, self.units, self.invoices, self._last_id, self._invoice_seq)
        )

    def rollback(self, saved: Any) -> None:
        self.customers, self.units, self.invoices, self._last_id, self._invoice_seq = saved
        self.changed()

    def changed(self) -> None:
        """Forget the cached customer listing: called by every change to a customer."""
        self._generation = getattr(self, "_generation", 0) + 1
        self._listing: tuple[Any, int, list[CustomerRec]] | None = None

    # -- webhooks ------------------------------------------------------------
    def subscribers(self, event: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if event in s.events]

    def _emit(self, event: str, record_id: int, data: dict[str, Any], at: dt.datetime) -> None:
        if self.notify:
            self.webhooks.emit(event, record_id, data, iso(at))

    async def drain(self) -> None:
        """Await every pending webhook delivery (tests call this before asserting)."""
        await self.webhooks.drain()

    def add_subscription(self, data: dict[str, Any]) -> Subscription:
        sub = Subscription(id=self._new_id("webhook"), **data)
        self.subscriptions[sub.id] = sub
        return sub

    def remove_subscription(self, sub_id: int) -> None:
        if self.subscriptions.pop(sub_id, None) is None:
            raise ApiError(404, "not_found", f"webhook {sub_id} does not exist")

    # -- customers -----------------------------------------------------------
    def list_customers(
        self,
        page: int,
        per_page: int,
        *,
        updated_since: dt.datetime | None = None,
        include_archived: bool = False,
    ) -> tuple[list[CustomerRec], int]:
        """One page of the customers in id order, filtered once per change (not per page).

        Why: a client reads 100,000 customers in 200 pages; sorting and filtering
        every customer again for each page made that listing quadratic.
        """
        key = (updated_since, include_archived)
        if self._listing is None or self._listing[:2] != (key, self._generation):
            items = [
                c
                for c in sorted(self.customers.values(), key=lambda c: c.id)
                if (include_archived or not c.archived)
                and (updated_since is None or c.updated_at >= updated_since)
            ]
            self._listing = (key, self._generation, items)
        return paged(self._listing[2], page, per_page)

    def customer(self, customer_id: int) -> CustomerRec:
        try:
            return self.customers[customer_id]
        except KeyError:
            raise ApiError(404, "not_found", f"customer {customer_id} does not exist") from None

    def _number_taken(self, number: str, but: int | None = None) -> None:
        for other in self.customers.values():
            if other.id != but and other.fields["customer_number"] == number:
                raise ApiError(
                    409,
                    "customer_number_taken",
                    f"customer number {number} belongs to customer {other.id}"
                    + (" (archived)" if other.archived else ""),
                    fields={"customer_number": "already taken"},
                )

    def next_customer_number(self) -> str:
        """ "K-" + 5 digits, one past the highest K-number in use (archived too)."""
        used = {c.fields["customer_number"] for c in self.customers.values()}
        highest = max(
            (int(m.group(1)) for n in used if n and (m := CUSTOMER_NUMBER_RE.match(n))),
            default=0,
        )
        return f"K-{highest + 1:05d}"

    def create_customer(
        self, body: Any, *, taken: set[str] | None = None, **meta: Any
    ) -> CustomerRec:
        """Create from a CustomerInput body; ``meta`` (bulk only) may preset
        ``archived``, ``created_at`` and ``updated_at``.

        ``taken`` (bulk only): the numbers in use, kept up to date here, so a
        load of 100,000 customers does not scan every customer per customer.
        """
        given = customer_changes(body)
        fields: dict[str, Any] = dict.fromkeys(CUSTOMER_FIELDS)
        fields.update({"kind": "company", "country": "DE", **given})
        check_customer(fields)
        if fields["customer_number"] is None:
            fields["customer_number"] = self.next_customer_number()
        if taken is None or fields["customer_number"] in taken:
            self._number_taken(fields["customer_number"])  # raises the API's 409
        if taken is not None:
            taken.add(fields["customer_number"])
        stamp = now()
        rec = CustomerRec(
            id=self._new_id("customer"),
            fields=fields,
            version=1,
            created_at=meta.get("created_at") or stamp,
            updated_at=meta.get("updated_at") or meta.get("created_at") or stamp,
            archived=bool(meta.get("archived", False)),
        )
        self.customers[rec.id] = rec
        self.changed()
        self._emit("customer.saved", rec.id, rec.render(), rec.updated_at)
        return rec

    def _touch(self, rec: CustomerRec | UnitRec | InvoiceRec) -> None:
        rec.version += 1
        rec.updated_at = now()
        self.changed()

    def update_customer(self, customer_id: int, body: Any, if_match: int | None) -> CustomerRec:
        rec = self.customer(customer_id)
        check_version(rec.version, if_match, rec.render())
        changes = customer_changes(body)
        if "customer_number" in changes and changes["customer_number"] is None:
            raise invalid({"customer_number": "cannot be cleared"})
        merged = {**rec.fields, **changes}
        check_customer(merged)
        if merged["customer_number"] != rec.fields["customer_number"]:
            self._number_taken(merged["customer_number"], but=rec.id)
        if merged != rec.fields:
            rec.fields = merged
            self._touch(rec)
            self._emit("customer.saved", rec.id, rec.render(), rec.updated_at)
        return rec

    def archive_customer(self, customer_id: int, if_match: int | None) -> None:
        rec = self.customer(customer_id)
        check_version(rec.version, if_match, rec.render())
        if not rec.archived:
            rec.archived = True
            self._touch(rec)
            self._emit("customer.archived", rec.id, rec.render(), rec.updated_at)

    def restore_customer(self, customer_id: int) -> CustomerRec:
        rec = self.customer(customer_id)
        if rec.archived:
            rec.archived = False
            self._touch(rec)
            self._emit("customer.saved", rec.id, rec.render(), rec.updated_at)
        return rec

    # -- units ---------------------------------------------------------------
    def list_units(self, page: int, per_page: int) -> tuple[list[UnitRec], int]:
        return paged(sorted(self.units.values(), key=lambda u: u.id), page, per_page)

    def unit(self, unit_id: int) -> UnitRec:
        try:
            return self.units[unit_id]
        except KeyError:
            raise ApiError(404, "not_found", f"unit {unit_id} does not exist") from None

    def unit_named(self, name: str) -> UnitRec | None:
        wanted = name.strip().casefold()
        return next((u for u in self.units.values() if u.name.casefold() == wanted), None)

    def _name_taken(self, name: str, but: int | None = None) -> None:
        other = self.unit_named(name)
        if other is not None and other.id != but:
            raise ApiError(
                409,
                "unit_name_taken",
                f"unit {other.id} is already called {other.name!r}",
                fields={"name": "already taken (names are compared case-insensitively)"},
            )

    def create_unit(self, body: Any) -> UnitRec:
        name = unit_name(body)
        self._name_taken(name)
        stamp = now()
        rec = UnitRec(self._new_id("unit"), name, 1, stamp, stamp)
        self.units[rec.id] = rec
        self._emit("unit.saved", rec.id, rec.render(), rec.updated_at)
        return rec

    def rename_unit(self, unit_id: int, body: Any, if_match: int | None) -> UnitRec:
        rec = self.unit(unit_id)
        check_version(rec.version, if_match, rec.render())
        name = unit_name(body)
        self._name_taken(name, but=rec.id)
        if name != rec.name:
            rec.name = name
            self._touch(rec)
            self._emit("unit.saved", rec.id, rec.render(), rec.updated_at)
        return rec

    def delete_unit(self, unit_id: int) -> None:
        rec = self.unit(unit_id)
        users = [
            i.number
            for i in self.invoices.values()
            if any(p["unit_id"] == unit_id for p in i.positions)
        ]
        if users:
            raise ApiError(
                409,
                "unit_in_use",
                f"unit {rec.name!r} is used by invoice(s) {', '.join(sorted(users)[:5])}",
            )
        del self.units[unit_id]

    def _unit_of(self, unit_id: Any, name: Any) -> tuple[int, str] | None:
        if isinstance(unit_id, int) and not isinstance(unit_id, bool) and unit_id in self.units:
            return unit_id, self.units[unit_id].name
        if unit_id is None and isinstance(name, str) and (rec := self.unit_named(name)):
            return rec.id, rec.name
        return None

    # -- invoices ------------------------------------------------------------
    def list_invoices(
        self, page: int, per_page: int, keep: InvoiceFilter
    ) -> tuple[list[InvoiceRec], int]:
        items = [i for i in sorted(self.invoices.values(), key=lambda i: i.id) if keep(i)]
        return paged(items, page, per_page)

    def invoice(self, invoice_id: int) -> InvoiceRec:
        try:
            return self.invoices[invoice_id]
        except KeyError:
            raise ApiError(404, "not_found", f"invoice {invoice_id} does not exist") from None

    def unlocked(self, invoice_id: int, action: str) -> InvoiceRec:
        """The invoice, unless the accounting integration owns it now (409)."""
        inv = self.invoice(invoice_id)
        if inv.locked:
            raise ApiError(
                409,
                "locked_by_accounting_integration",
                f"invoice {inv.number} is linked to sevDesk; {action} it there",
            )
        return inv

    def link_export(self, invoice_id: int, link: dict[str, Any]) -> InvoiceRec:
        """Link (and lock) once; the same link again updates only its status fields.

        A repeated PUT with the same ``external_id`` changes ``document_number``,
        ``accounting_status``, ``paid_amount`` and ``status_checked_at`` as
        given (omitted ones stay); ``exported_at`` stays the first export's. It
        counts as a save (version, ``updated_at``, ``invoice.saved``) only when
        something changed, so a retried PUT is a no-op.
        """
        inv = self.invoice(invoice_id)
        if inv.export is not None:
            if inv.export["external_id"] != link["external_id"]:
                raise ApiError(
                    409,
                    "already_exported",
                    f"invoice {inv.number} is already linked to {inv.export['external_id']}",
                    current=inv.render(),
                )
            changes = {
                k: link[k]
                for k in EXPORT_STATUS_FIELDS
                if k in link and link[k] != inv.export.get(k)
            }
            if not changes:
                return inv  # the same link again: idempotent, nothing changes
            inv.export = {**inv.export, **changes}
        else:
            inv.export = {**dict.fromkeys(EXPORT_STATUS_FIELDS), **link}
        self._touch(inv)
        self._emit("invoice.saved", inv.id, inv.render(), inv.updated_at)
        return inv

    def cancel_invoice(self, invoice_id: int) -> InvoiceRec:
        inv = self.unlocked(invoice_id, "cancel")
        if inv.status != "cancelled":
            inv.status = "cancelled"
            self._touch(inv)
            self._emit("invoice.saved", inv.id, inv.render(), inv.updated_at)
        return inv

    def save_invoice(self, body: Any) -> tuple[InvoiceRec, bool]:
        """Create or (with ``id``) change an invoice as KleanApp's UI would.

        Returns (invoice, created). A change to an exported invoice is allowed,
        as in KleanApp; it stays linked and locked.
        """
        invoice_id = body.get("id") if isinstance(body, dict) else None
        creating = invoice_id is None
        data = parse_invoice_input(body, creating=creating, unit_of=self._unit_of)
        if "customer_id" in data and data["customer_id"] not in self.customers:
            raise invalid({"customer_id": f"customer {data['customer_id']} does not exist"})
        if "number" in data and any(
            i.number == data["number"] and i.id != invoice_id for i in self.invoices.values()
        ):
            raise invalid({"number": "already used by another invoice"})
        if creating:
            return self._new_invoice(data), True
        if not isinstance(invoice_id, int) or invoice_id not in self.invoices:
            raise ApiError(404, "not_found", f"invoice {invoice_id} does not exist")
        inv = self.invoices[invoice_id]
        before = inv.render()
        for key, value in data.items():
            setattr(inv, key, value)
        after = inv.render()
        if {**after, "version": 0} != {**before, "version": 0}:
            self._touch(inv)
            self._emit("invoice.saved", inv.id, inv.render(), inv.updated_at)
        return inv, False

    def _new_invoice(self, data: dict[str, Any]) -> InvoiceRec:
        year = data["invoice_date"].year
        number = data.get("number")
        taken = {i.number for i in self.invoices.values()}
        while number is None or number in taken:
            self._invoice_seq[year] = self._invoice_seq.get(year, 0) + 1
            number = f"RE-{year}-{self._invoice_seq[year]:05d}"
        inv = InvoiceRec(
            id=self._new_id("invoice"),
            number=number,
            customer_id=data["customer_id"],
            invoice_date=data["invoice_date"],
            delivery_date=data.get("delivery_date"),
            status=data.get("status", "open"),
            currency=data.get("currency", "EUR"),
            header_text=data.get("header_text"),
            footer_text=data.get("footer_text"),
            positions=data["positions"],
            version=1,
            updated_at=now(),
        )
        self.invoices[inv.id] = inv
        self._emit("invoice.saved", inv.id, inv.render(), inv.updated_at)
        return inv
