"""Customers in sevDesk: a Contact (category 3) plus its address and communication ways.

Why this is more than CRUD (API-NOTES.md):

* A customer is several records written by separate calls (Contact, then
  ContactAddress, then CommunicationWays), so a failure can leave half a
  customer. ``create`` is therefore *resumable*: it finds the contact by its
  exact customer number before writing one, and only adds or fixes the parts
  that are missing or different. Calling it again after any failure finishes
  the job and never makes a second contact.
* sevDesk may write and still answer 500, or answer 200 with an error inside.
  Such a write is read back before anything is sent again.
* Filters sevDesk does not know are silently ignored, so every row a filtered
  list returns is checked again here (category, customer number, ``update``,
  owning contact).
* Editing an address or communication way does not bump the contact's
  ``update``. Listing reads all parts in bulk pages (no N+1 per contact) and
  joins them here; an incremental listing counts a changed part as a changed
  customer.
* There are no conditional writes: ``expected_version`` is checked by reading
  the customer just before writing. This is best-effort: a change landing
  between that read and our write is not detected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from loguru import logger
from pydantic import ValidationError

from reconciler.connectors.base import Collection
from reconciler.connectors.sevdesk.api import NotSupportedBySevdesk, SevdeskApi
from reconciler.connectors.sevdesk.mapping import (
    ADDRESS_FIELDS,
    CONTACT_FIELDS,
    CUSTOMER_CATEGORY,
    CUSTOMER_FIELDS,
    WAY_TYPES,
    MappingError,
    Parts,
    as_utc,
    change_stamp,
    changed_since,
    contact_payload,
    customer_from_parts,
    group_by_contact,
    has_address,
    is_customer,
    main_address,
    ref_id,
    text,
)
from reconciler.connectors.sevdesk.parts import SevdeskParts, gather, part_ids
from reconciler.domain.errors import (
    ChangedMeanwhile,
    FatalError,
    NotFound,
    RemoteValidationError,
    TransientError,
)
from reconciler.domain.models import Customer, Listing, Quarantined, Remote

#: With ``since``, contacts changed only through a part are fetched one by one
#: up to this many; beyond that one full contact listing is cheaper.
SINGLE_FETCH_LIMIT = 25
CUSTOMER_REF = {"id": CUSTOMER_CATEGORY, "objectName": "Category"}


class SevdeskCustomers(Collection[Customer]):
    """List, get, create, update and delete canonical customers in one account."""

    entity = Customer

    def __init__(self, api: SevdeskApi) -> None:
        self.api = api
        self.parts = SevdeskParts(api)
        #: Numbers from getNextCustomerNumber per record, so a repeated create of
        #: the same number-less record resumes instead of taking a new number.
        self._assigned_numbers: dict[Customer, str] = {}
        #: contact id -> part ids, as last read: the latest listing, then every
        #: later read of one customer (after our own writes, too). The engine
        #: saves it after a good run and compares the next listing with it.
        self.parts_seen: dict[str, tuple[str, ...]] = {}

    def unstorable_fields(self, record: Customer) -> frozenset[str]:
        """What a sevDesk contact cannot hold, so never reads as a change.

        No archive flag; an organisation (``name`` set) has no first/last name,
        a person has no company name; the country lives on the address, so a
        contact without one has none. An address holding only a country (as a
        create from a KleanApp customer without street, postal code and city
        makes) does hold it: a country changed in KleanApp must reach it, or a
        postal code typed later into that address in sevDesk revives the old
        country over KleanApp's newer one.
        """
        fields = {"archived"}
        fields |= {"first_name", "last_name"} if record.kind == "company" else {"company_name"}
        if record.country is None and not (record.street or record.postal_code or record.city):
            fields.add("country")
        return frozenset(fields)

    def part_inventory(self) -> dict[str, tuple[str, ...]] | None:
        """Each customer's address and communication-way ids as last read."""
        return dict(self.parts_seen)

    # -- reading --------------------------------------------------------------------
    async def list_changed(self, since: dt.datetime | None = None) -> Listing[Customer]:
        params: dict[str, Any] = {
            "depth": 1,  # without it sevDesk leaves out persons
            "category[id]": CUSTOMER_CATEGORY,
            "category[objectName]": "Category",
        }
        if since is not None:
            # sevDesk stamps whole seconds (an edit at 10.7 s is stamped 10 s):
            # compare from the start of the cursor's second, and since
            # updateAfter is strict, ask from one second before that.
            since = as_utc(since).replace(microsecond=0)
            params["updateAfter"] = int(since.timestamp()) - 1
        (
            (contact_rows, contacts_at),
            (address_rows, addresses_at),
            (way_rows, ways_at),
        ) = await gather(
            self.api.listing("Contact", params),
            self.api.listing("ContactAddress"),
            self.api.listing("CommunicationWay"),
        )
        # The three lists are read side by side: the listing is as old as the
        # oldest of them. (The strict ``updateAfter`` above is the one second
        # of sevDesk's whole-second stamps; ``as_of`` already allows for the
        # ``Date`` header's own second.)
        listing: Listing[Customer] = Listing(as_of=min(contacts_at, addresses_at, ways_at))
        contacts: dict[str, dict] = {}
        for row in contact_rows:
            if not isinstance(row, dict) or ref_id(row) is None:
                listing.quarantined.append(_quarantine(None, f"contact row without id: {row!r}"))
            elif is_customer(row) and (since is None or changed_since(row, since)):
                contacts[str(ref_id(row))] = row
        parts = group_by_contact(address_rows, way_rows)
        listing.parts = {cid: ids for cid, p in parts.items() if (ids := part_ids(p))}
        self.parts_seen = dict(listing.parts)
        if since is not None:
            touched = {
                cid for cid, p in parts.items() if any(changed_since(r, since) for r in p.all())
            }
            for row in await self._contacts_by_id(sorted(touched - contacts.keys())):
                if is_customer(row):
                    contacts[str(ref_id(row))] = row
        first_with_number: dict[str, str] = {}
        for contact_id, contact in sorted(contacts.items(), key=lambda kv: _id_order(kv[0])):
            number = text(contact.get("customerNumber"))
            if number is not None and number in first_with_number:
                # sevDesk does not enforce unique numbers; the engine matches by them.
                listing.quarantined.append(
                    _quarantine(
                        contact_id,
                        f"customer number {number} is also used by sevDesk contact "
                        f"{first_with_number[number]}",
                    )
                )
                continue
            try:
                listing.records.append(await self._remote(contact, parts.get(contact_id, Parts())))
            except MappingError as exc:
                listing.quarantined.append(_quarantine(contact_id, str(exc), label=number))
                continue
            if number is not None:
                first_with_number[number] = contact_id
        return listing

    async def get(self, id: str) -> Remote[Customer]:
        contact_id = str(id)
        contact = await self.api.one(f"Contact/{contact_id}", f"contact {contact_id}")
        if not is_customer(contact):
            raise NotFound(f"sevDesk contact {contact_id} is not a customer (category 3)")
        parts = await self.parts.read(contact_id)
        self.parts_seen.pop(contact_id, None)
        if ids := part_ids(parts):
            self.parts_seen[contact_id] = ids
        try:
            return await self._remote(contact, parts)
        except MappingError as exc:
            raise RemoteValidationError(
                f"sevDesk contact {contact_id} cannot be read as a customer: {exc}"
            ) from None

    async def _remote(self, contact: dict, parts: Parts) -> Remote[Customer]:
        countries = await self.api.countries()
        address = main_address(parts.addresses, await self.api.invoice_address_category())
        record = customer_from_parts(contact, address, parts.ways, countries)
        updated_at, stamp = change_stamp(contact, parts.all())
        # sevDesk stamps whole seconds: two edits within one second leave every
        # `update` as it was, so the content is part of the version too.
        version = hashlib.sha256(f"{stamp}|{record.model_dump_json()}".encode()).hexdigest()[:16]
        return Remote(
            side="sevdesk",
            id=str(contact["id"]),
            version=version,
            updated_at=updated_at,
            record=record,
        )

    async def _contacts_by_id(self, ids: list[str]) -> list[dict]:
        """Contacts that changed parts point at: one by one, or one full listing."""
        if not ids:
            return []
        if len(ids) > SINGLE_FETCH_LIMIT:
            wanted = set(ids)
            rows = await self.api.rows("Contact", {"depth": 1})
            return [r for r in rows if isinstance(r, dict) and ref_id(r) in wanted]
        found = []
        for id_ in ids:
            try:
                found.append(await self.api.one(f"Contact/{id_}", f"contact {id_}"))
            except NotFound:
                continue  # an orphaned part: there is no customer to report
        return found

    async def _find_by_number(self, number: str) -> dict | None:
        """The customer with exactly this number (sevDesk's filter, verified here)."""
        rows = await self.api.rows("Contact", {"customerNumber": number, "depth": 1})
        exact = sorted(
            (r for r in rows if isinstance(r, dict) and text(r.get("customerNumber")) == number),
            key=lambda r: _id_order(str(r.get("id"))),
        )
        if not exact:
            return None
        customers = [r for r in exact if is_customer(r)]
        if not customers:
            raise RemoteValidationError(
                f"customer number {number} already belongs to sevDesk contact "
                f"{ref_id(exact[0])}, which is not a customer",
                fields={"customer_number": number},
            )
        if len(customers) > 1:
            logger.warning("sevDesk has {} customers numbered {}", len(customers), number)
        return customers[0]

    # -- writing --------------------------------------------------------------------
    async def create(
        self, record: Customer, *, idempotency_key: str | None = None
    ) -> Remote[Customer]:
        # sevDesk has no idempotency keys: this create finds an earlier attempt's
        # contact by customer number (always set: KleanApp numbers every customer).
        customer = record
        number = customer.customer_number or self._assigned_numbers.get(customer)
        if number is None:
            number = text(await self.api.call("GET", "Contact/Factory/getNextCustomerNumber"))
            if number is None:
                raise TransientError("sevDesk did not hand out a next customer number")
            self._assigned_numbers[customer] = number
        target = customer.model_copy(update={"customer_number": number})
        body = _checked(contact_payload, target)
        if has_address(target):
            await self.api.country_id(target.country)  # refuse before writing anything
        contact = await self._find_by_number(number)
        fresh = contact is None
        if contact is None:
            contact_id = await self._post_contact(body, number)
        else:  # an earlier attempt got this far (or the number was taken): resume
            contact_id = str(contact["id"])
            differing = {k: v for k, v in body.items() if text(contact.get(k)) != v}
            if differing:
                await self.api.call("PUT", f"Contact/{contact_id}", json=differing)
        await self.parts.ensure(contact_id, target, fields=None, prune=False, fresh=fresh)
        self._assigned_numbers.pop(customer, None)
        return await self.get(contact_id)

    async def _post_contact(self, body: dict[str, Any], number: str) -> str:
        """POST the contact; on an unknown outcome read back instead of resending."""
        payload = {**body, "category": CUSTOMER_REF, "status": "1000"}
        try:
            created = await self.api.call("POST", "Contact", json=payload)
        except TransientError as exc:
            if not exc.maybe_written:
                raise
            found = await self._find_by_number(number)
            if found is None:
                raise TransientError(
                    f"creating sevDesk customer {number} failed and it was not written "
                    f"({exc}); it is safe to try again",
                    maybe_written=False,
                ) from None
            logger.info("sevDesk wrote customer {} despite the error; resuming", number)
            return str(found["id"])
        if ref_id(created) is None:
            found = await self._find_by_number(number)
            if found is None:
                raise TransientError(f"sevDesk created customer {number} but returned no id")
            return str(found["id"])
        return str(ref_id(created))

    async def update(
        self, id: str, changes: dict[str, Any], *, expected_version: str | None = None
    ) -> Remote[Customer]:
        contact_id = str(id)
        unknown = set(changes) - CUSTOMER_FIELDS
        if unknown:
            raise FatalError(f"not customer fields: {', '.join(sorted(unknown))}")
        if changes.get("archived"):
            raise NotSupportedBySevdesk(
                "sevDesk has no archive flag for contacts; delete the contact instead"
            )
        current = await self.get(contact_id)
        _check_version(current, expected_version)
        try:
            target = Customer(**{**current.record.model_dump(), **changes})
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise RemoteValidationError(f"invalid customer change: {reason}") from None
        changed = {f for f in changes if getattr(target, f) != getattr(current.record, f)}
        if changed & set(CONTACT_FIELDS):
            body = _checked(contact_payload, target, changed)
            await self.api.call("PUT", f"Contact/{contact_id}", json=body)
        part_fields = changed & (set(ADDRESS_FIELDS) | set(WAY_TYPES))
        if part_fields:
            await self.parts.ensure(contact_id, target, fields=part_fields, prune=True)
        return await self.get(contact_id)

    async def delete(self, id: str, *, expected_version: str | None = None) -> None:
        """DELETE the contact (sevDesk takes its parts with it); 409 = used by documents."""
        contact_id = str(id)
        if expected_version is not None:
            _check_version(await self.get(contact_id), expected_version)
        self.parts_seen.pop(contact_id, None)  # sevDesk deletes them with the contact
        try:
            await self.api.call("DELETE", f"Contact/{contact_id}", single=True)
        except TransientError as exc:
            if not exc.maybe_written:
                raise
            try:  # read back: a contact that is gone was deleted
                await self.api.one(f"Contact/{contact_id}", f"contact {contact_id}")
            except NotFound:
                return
            raise


def _quarantine(contact_id: str | None, reason: str, label: str | None = None) -> Quarantined:
    return Quarantined(side="sevdesk", entity="Customer", id=contact_id, reason=reason, label=label)


def _id_order(contact_id: str) -> tuple[int, str]:
    """Oldest first: numeric ids by value, anything else after them."""
    return (len(contact_id), contact_id) if contact_id.isdigit() else (10**6, contact_id)


def _check_version(current: Remote[Customer], expected: str | None) -> None:
    if expected is not None and current.version != expected:
        raise ChangedMeanwhile(
            f"sevDesk customer {current.id} changed since it was read", current=current
        )


def _checked(build: Any, *args: Any) -> Any:
    """Run a payload builder, turning a mapping refusal into a per-record error."""
    try:
        return build(*args)
    except MappingError as exc:
        raise RemoteValidationError(str(exc)) from None
