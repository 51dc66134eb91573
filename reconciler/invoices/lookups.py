"""What the invoice export looks up, once per run: sevDesk units, customers, contacts.

A quarter's export touches the same few customers and units hundreds of
times; each is read once per run and kept here. The contact of an invoice's
customer is the linked sevDesk contact, or else the one with the same
customer number; a customer in neither is an ``Unexportable`` with a task,
never a guess. Before the first invoice, the export has carried the unlinked
customers over (``reconciler.invoices.customers``); what that did is
``carried``: a parked customer holds its invoices with the decision that
unblocks them, and in a dry run a customer that would be created first lets
its invoice show as "would create".
"""

from __future__ import annotations

from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.errors import NotFound
from reconciler.domain.i18n import N_
from reconciler.domain.models import Customer, Invoice
from reconciler.invoices.customers import Carried
from reconciler.invoices.mapping import Unexportable
from state import Store

#: Stored English (``--json``, the ledger); the reports and the terminal say them
#: again from the catalogue (``reconciler.reporting.phrases``).
PARKED_REASON = N_(
    "customer %(customer)s looks like another customer and is parked for an admin's decision"
)
PARKED_TASK = N_(
    "settle parked customer %(customer)s with %(decision)s: "
    "its invoices follow with the next export"
)
#: The contact id a dry run shows for a customer it would create first.
NEW_CONTACT = "(new)"


class ExportLookups:
    """Read-through caches for one export run."""

    def __init__(
        self,
        *,
        kleanapp: KleanappConnector,
        sevdesk: SevdeskConnector,
        store: Store,
        carried: Carried | None = None,
    ) -> None:
        self.kleanapp = kleanapp
        self.carried = carried or Carried()
        self.sevdesk = sevdesk
        self.store = store
        self._units: dict[str, str] | None = None
        self._unit_codes: dict[str, str | None] | None = None
        self._payment_methods: dict[str, str] | None = None
        self._links: dict[str, str] | None = None
        self._customers: dict[str, Customer | None] = {}

    async def sevdesk_units(self) -> dict[str, str]:
        if self._units is None:
            listing = await self.sevdesk.units.list_changed()
            self._units = {}
            for remote in listing.records:
                self._units.setdefault(remote.record.name, remote.id)
        return self._units

    async def unit_codes(self) -> dict[str, str | None]:
        """sevDesk unit id → UNECE code (what an e-invoice needs of each unit)."""
        if self._unit_codes is None:
            self._unit_codes = await self.sevdesk.einvoices.unit_codes()
        return self._unit_codes

    async def payment_methods(self) -> dict[str, str]:
        """sevDesk payment method name → id."""
        if self._payment_methods is None:
            self._payment_methods = await self.sevdesk.einvoices.payment_methods()
        return self._payment_methods

    async def customer(self, customer_id: str) -> Customer | None:
        if customer_id not in self._customers:
            try:
                self._customers[customer_id] = (
                    await self.kleanapp.customers.get(customer_id)
                ).record
            except NotFound:
                self._customers[customer_id] = None
        return self._customers[customer_id]

    async def contact(self, inv: Invoice) -> tuple[str, Customer | None]:
        """The sevDesk contact of the invoice's customer: linked, or same customer number."""
        if self._links is None:
            self._links = {
                link.kleanapp_id: link.sevdesk_id for link in self.store.link_ids("customer")
            }
        customer = await self.customer(inv.customer_id)
        if inv.customer_id in self._links:
            return self._links[inv.customer_id], customer
        number = customer.customer_number if customer else None
        parked = self.carried.parked.get(inv.customer_id)
        if parked is not None:
            who = number or (customer.display_name if customer else inv.customer_id)
            raise Unexportable(
                PARKED_REASON % {"customer": who},
                PARKED_TASK % {"customer": who, "decision": parked.decision},
                kind="customer_parked",
            )
        if inv.customer_id in self.carried.would_create | self.carried.would_link:
            return NEW_CONTACT, customer
        if number:
            contact_id = await self.sevdesk.customer_contact_id(number)
            if contact_id:
                return contact_id, customer
        if customer is None:
            raise Unexportable(
                f"its customer (KleanApp id {inv.customer_id}) does not exist in KleanApp",
                f"fix the customer of KleanApp invoice {inv.number}",
                kind="customer",
            )
        if number:
            who = f"customer {number}"
        else:
            who = f"customer {customer.display_name} (KleanApp id {inv.customer_id})"
        problem = self.carried.problem.get(inv.customer_id)
        raise Unexportable(
            f"{who} is not in sevDesk yet; run kleansync sync"
            + (f" ({problem})" if problem else ""),
            f"run kleansync sync: {who} is not in sevDesk yet",
            kind="customer",
        )
