"""Customers in sevDesk: a Contact (category 3) plus its address and communication ways.

Why this is more than CRUD (API-NOTES.md):

* A customer is several records written by separate calls (Contact, then
  ContactAddress, then CommunicationWays), so a failure can leave half a
  customer. ``create`` is therefore *resumable*: when an earlier attempt may
  have written something (crash recovery says so with ``resume``; a second
  create of a number in the same process counts too) it finds the contact
  by its exact customer number first, and only adds or fixes the parts that
  are missing or different. Calling it again after any failure finishes the
  job and never makes a second contact.
* Requests are the scarce resource (sevDesk may block a token that sends many;
  API-NOTES §8): a create sends only its writes, one per record, and builds
  the customer from sevDesk's answers to them; an update reads the customer
  once (the version check), writes only the parts that changed and builds the
  result from the answers too. Nothing is read back unless an answer was
  unclear.
* sevDesk may write and still answer 500, or answer 200 with an error inside.
  Such a write is read back before anything is sent again.
* Filters sevDesk does not know are silently ignored, so every row a filtered
  list returns is checked again here (category, customer number, ``update``,
  owning contact).
* Editing an address or communication way does not bump the contact's
  ``update``. Listing reads the parts in bulk pages (no N+1 per contact) and
  joins them here; an incremental listing counts a changed part as a changed
  customer, and reads only the changed parts when the tables' totals show
  none was deleted (``_read_parts``).
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
from reconciler.connectors.listing import paused_gc
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
    checked,
    contact_payload,
    customer_from_parts,
    group_by_contact,
    has_address,
    id_order,
    is_customer,
    main_address,
    quarantined,
    ref_id,
    text,
)
from reconciler.connectors.sevdesk.parts import SevdeskParts, answered_row, gather, part_ids
from reconciler.domain.errors import (
    ChangedMeanwhile,
    FatalError,
    NotFound,
    RemoteValidationError,
    TransientError,
)
from reconciler.domain.models import Customer, Listing, Remote

#: With ``since``, contacts changed only through a part are fetched one by one
#: up to this many; beyond that one full contact listing is cheaper.
SINGLE_FETCH_LIMIT = 25
#: The tables a customer's parts live in (``Listing.parts`` names ids "ContactAddress/7").
PART_TABLES = ("ContactAddress", "CommunicationWay")
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
        #: Customer numbers whose create began in this connector: a second create
        #: of one looks for what the first wrote (it may have got through unseen).
        self._begun: set[str] = set()
        #: contact id -> part ids, as last read: the latest listing, then every
        #: later read of one customer (after our own writes, too). The engine
        #: saves it after a good run and compares the next listing with it.
        self.parts_seen: dict[str, tuple[str, ...]] = {}
        #: The part inventory the last good run saved (``expect_parts``): with it an
        #: incremental listing reads only the parts that changed (``_read_parts``).
        self.known_parts: dict[str, tuple[str, ...]] | None = None

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

    def expect_parts(self, known: dict[str, tuple[str, ...]] | None) -> None:
        """The part inventory the engine saved after the last good run (see ``_read_parts``)."""
        self.known_parts = known

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
        known = self.known_parts if since is not None else None
        (contact_rows, contacts_at), (address_rows, way_rows, parts_at, whole) = await gather(
            self.api.listing("Contact", params), self._read_parts(since, known)
        )
        complete = all(whole.values())
        # The three lists are read side by side: the listing is as old as the
        # oldest of them. (The strict ``updateAfter`` above is the one second
        # of sevDesk's whole-second stamps; ``as_of`` already allows for the
        # ``Date`` header's own second.)
        listing: Listing[Customer] = Listing(as_of=min(contacts_at, parts_at))
        contacts: dict[str, dict] = {}
        for row in contact_rows:
            if not isinstance(row, dict) or ref_id(row) is None:
                listing.quarantined.append(quarantined(None, f"contact row without id: {row!r}"))
            elif is_customer(row) and (since is None or changed_since(row, since)):
                contacts[str(ref_id(row))] = row
        with paused_gc():  # tens of thousands of groups and part ids, no I/O
            parts = group_by_contact(address_rows, way_rows)
            if complete:
                listing.parts = {cid: ids for cid, p in parts.items() if (ids := part_ids(p))}
            else:  # only the changed parts of some table were read (``_read_parts``)
                listing.parts = _current_parts(known or {}, parts, whole)
        if since is not None:
            touched = {
                cid for cid, p in parts.items() if any(changed_since(r, since) for r in p.all())
            }
            for row in await self._contacts_by_id(sorted(touched - contacts.keys())):
                if is_customer(row):
                    contacts[str(ref_id(row))] = row
        if not complete and contacts:
            # The changed rows are not all of a changed customer's parts: read its parts.
            parts = await self._parts_of(sorted(contacts))
            for cid in contacts:
                listing.parts.pop(cid, None)
                if ids := part_ids(parts.get(cid, Parts())):
                    listing.parts[cid] = ids
        self.parts_seen = dict(listing.parts)
        if contacts:  # what building any customer needs (read, once, before the first)
            countries = await self.api.countries()
            category = await self.api.invoice_address_category()
            with paused_gc():
                _add_customers(listing, contacts, parts, countries, category)
        return listing

    async def _read_parts(
        self, since: dt.datetime | None, known: dict[str, tuple[str, ...]] | None
    ) -> tuple[list[dict], list[dict], dt.datetime, dict[str, bool]]:
        """Address and way rows: all of them, or (incremental) only the changed ones.

        Why: listing every part on every run made a quiet incremental run of
        100,000 customers read ~300 pages. sevDesk's spec has no change filter
        for parts (API-NOTES §2: ``updateAfter`` is "not confirmed" there),
        and a deleted part leaves no stamp, so an incremental run reads, per
        part table, its first page (with ``countAll``: the table's total) and
        the rows changed since ``since``. A table holding exactly the parts
        the last run saved (``known``) plus the changed ones that are new has
        lost none, and the changed rows are all this run needs; any other
        total (a part deleted, or the inventory is stale) reads the whole
        table, as before. A table that fits one page is read whole anyway (no
        extra request), and a service that ignores the filter answers the
        whole table to it, which is used as such. Last item: per table, whether
        its rows are all of it (False: the changed ones only).
        """
        if known is None or since is None:
            (addresses, a_at), (ways, w_at) = await gather(
                self.api.listing("ContactAddress"), self.api.listing("CommunicationWay")
            )
            return addresses, ways, min(a_at, w_at), dict.fromkeys(PART_TABLES, True)
        counts: dict[str, int] = {}
        for ids in known.values():
            for pid in ids:
                kind = pid.partition("/")[0]
                counts[kind] = counts.get(kind, 0) + 1
        (addresses, a_at, a_all), (ways, w_at, w_all) = await gather(
            self._changed_parts("ContactAddress", since, known, counts),
            self._changed_parts("CommunicationWay", since, known, counts),
        )
        whole = {"ContactAddress": a_all, "CommunicationWay": w_all}
        return addresses, ways, min(a_at, w_at), whole

    async def _changed_parts(
        self,
        kind: str,
        since: dt.datetime,
        known: dict[str, tuple[str, ...]],
        counts: dict[str, int],
    ) -> tuple[list[dict], dt.datetime, bool]:
        """One part table (``_read_parts``): (rows, as of, whether they are the whole table)."""
        changed: list[dict] = []
        whole = cut = False

        async def enough(total: int) -> bool:
            nonlocal whole, cut
            after = int(since.timestamp()) - 1  # strict, whole seconds (see list_changed)
            rows, _at = await self.api.listing(kind, {"updateAfter": after})
            changed[:] = rows
            if any(not changed_since(r, since) for r in rows):
                whole = cut = True  # the filter was ignored: these rows are the whole table
                return True
            new = sum(
                1
                for r in rows
                if f"{kind}/{ref_id(r)}" not in known.get(str(ref_id(r.get("contact"))), ())
            )
            cut = total == counts.get(kind, 0) + new
            return cut

        rows, at = await self.api.listing(kind, enough=enough)
        if not cut:  # one page held it all, or the total asked for every row
            return rows, at, True
        return changed, at, whole

    async def _parts_of(self, ids: list[str]) -> dict[str, Parts]:
        """The parts of these contacts: one by one, or one listing of every part."""
        if len(ids) > SINGLE_FETCH_LIMIT:
            addresses, ways = await gather(
                self.api.rows("ContactAddress"), self.api.rows("CommunicationWay")
            )
            return group_by_contact(addresses, ways)
        found = await gather(*(self.parts.read(cid) for cid in ids))
        return dict(zip(ids, found, strict=True))

    async def get(self, id: str) -> Remote[Customer]:
        contact, parts = await self._read(str(id))
        return await self._written(contact, parts)

    async def _read(self, contact_id: str) -> tuple[dict, Parts]:
        """The contact and its parts, read side by side (three requests)."""
        contact, parts = await gather(
            self.api.one(f"Contact/{contact_id}", f"contact {contact_id}"),
            self.parts.read(contact_id),
        )
        if not is_customer(contact):
            raise NotFound(f"sevDesk contact {contact_id} is not a customer (category 3)")
        return contact, parts

    async def _written(self, contact: dict, parts: Parts) -> Remote[Customer]:
        """The customer these rows (just read, or answered to our writes) make up."""
        contact_id = str(ref_id(contact))
        self.parts_seen.pop(contact_id, None)
        if ids := part_ids(parts):
            self.parts_seen[contact_id] = ids
        try:
            return await self._remote(contact, parts)
        except MappingError as exc:
            raise RemoteValidationError(
                f"sevDesk contact {contact_id} cannot be read as a customer: {exc}"
            ) from None

    async def _settled(
        self, cid: str, contact: dict | None, parts: Parts | None
    ) -> Remote[Customer]:
        """Build the result from the answers; read it back only if one was unclear."""
        if contact is None or parts is None or "update" not in contact:
            return await self.get(cid)
        return await self._written(contact, parts)

    async def _remote(self, contact: dict, parts: Parts) -> Remote[Customer]:
        countries = await self.api.countries()
        return _customer(contact, parts, countries, await self.api.invoice_address_category())

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
            key=lambda r: id_order(str(r.get("id"))),
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
        self, record: Customer, *, idempotency_key: str | None = None, resume: bool = False
    ) -> Remote[Customer]:
        """Only the writes; with ``resume`` (recovery) first find an earlier attempt by number.

        sevDesk has no idempotency keys; the engine always sends a number (KleanApp
        numbers every customer). A number this connector began to create before looks too.
        """
        customer = record
        number = record.customer_number or self._assigned_numbers.get(customer)
        if number is None:
            number = text(await self.api.call("GET", "Contact/Factory/getNextCustomerNumber"))
            if number is None:
                raise TransientError("sevDesk did not hand out a next customer number")
            self._assigned_numbers[customer] = number
        target = customer.model_copy(update={"customer_number": number})
        body = checked(contact_payload, target)
        if has_address(target):
            await self.api.country_id(target.country)  # refuse before writing anything
        found = await self._find_by_number(number) if resume or number in self._begun else None
        self._begun.add(number)
        parts: Parts | None = None
        contact: dict | None
        if found is None:
            contact, fresh = await self._post_contact(body, number)
            parts = Parts() if fresh else None  # a contact created just now has no parts
        else:  # an earlier attempt got this far (or the number was taken): resume
            contact = found
            differing = {k: v for k, v in body.items() if text(found.get(k)) != v}
            if differing:
                answer = await self.api.call("PUT", f"Contact/{ref_id(found)}", json=differing)
                contact = answered_row(answer)  # None: read back below
        contact_id = str(ref_id(found if contact is None else contact))
        written = await self.parts.ensure(contact_id, target, fields=None, prune=False, known=parts)
        self._assigned_numbers.pop(customer, None)
        return await self._settled(contact_id, contact, written)

    async def _post_contact(self, body: dict[str, Any], number: str) -> tuple[dict, bool]:
        """POST the contact: (its row, created just now); on an unknown outcome read back."""
        payload = {**body, "category": CUSTOMER_REF, "status": "1000"}
        try:
            created = answered_row(await self.api.call("POST", "Contact", json=payload))
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
            return found, False
        if created is None:
            found = await self._find_by_number(number)
            if found is None:
                raise TransientError(f"sevDesk created customer {number} but returned no id")
            return found, False
        return created, True

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
        contact, parts = await self._read(contact_id)
        current = await self._written(contact, parts)
        _check_version(current, expected_version)
        try:
            target = Customer(**{**current.record.model_dump(), **changes})
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise RemoteValidationError(f"invalid customer change: {reason}") from None
        changed = {f for f in changes if getattr(target, f) != getattr(current.record, f)}
        if not changed:
            return current
        after: dict | None = contact
        if changed & set(CONTACT_FIELDS):
            body = checked(contact_payload, target, changed)
            after = answered_row(await self.api.call("PUT", f"Contact/{contact_id}", json=body))
        written: Parts | None = parts
        part_fields = changed & (set(ADDRESS_FIELDS) | set(WAY_TYPES))
        if part_fields:
            written = await self.parts.ensure(
                contact_id, target, fields=part_fields, prune=True, known=parts
            )
        return await self._settled(contact_id, after, written)

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


def _add_customers(
    listing: Listing[Customer],
    contacts: dict[str, dict],
    parts: dict[str, Parts],
    countries: dict[str, str],
    category: str | None,
) -> None:
    """Every listed contact as a customer in ``listing``, oldest first, or quarantined.

    No I/O (what it needs was read before), so a listing builds its records in
    one stretch that ``paused_gc`` can cover.
    """
    first_with_number: dict[str, str] = {}
    for contact_id, contact in sorted(contacts.items(), key=lambda kv: id_order(kv[0])):
        number = text(contact.get("customerNumber"))
        if number is not None and number in first_with_number:
            # sevDesk does not enforce unique numbers; the engine matches by them.
            listing.quarantined.append(
                quarantined(
                    contact_id,
                    f"customer number {number} is also used by sevDesk contact "
                    f"{first_with_number[number]}",
                )
            )
            continue
        try:
            listing.records.append(
                _customer(contact, parts.get(contact_id, Parts()), countries, category)
            )
        except MappingError as exc:
            listing.quarantined.append(quarantined(contact_id, str(exc), label=number))
            continue
        if number is not None:
            first_with_number[number] = contact_id


def _customer(
    contact: dict, parts: Parts, countries: dict[str, str], category: str | None
) -> Remote[Customer]:
    """The customer a contact and its parts make up; ``MappingError`` if they make none."""
    address = main_address(parts.addresses, category)
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


def _current_parts(
    known: dict[str, tuple[str, ...]], read: dict[str, Parts], whole: dict[str, bool]
) -> dict[str, tuple[str, ...]]:
    """Every contact's part ids now, when some table was read only for its changes.

    Such a table lost no part (``_read_parts``): its ids are the saved ones plus
    the changed rows. A table read whole gives its ids exactly, so a part
    deleted from it is missing here and the engine sees it vanish.
    """
    if not any(whole.values()):  # the common, quiet case: only the changes are new
        current = dict(known)
        for cid, parts in read.items():
            if ids := part_ids(parts):
                current[cid] = tuple(sorted(set(current.get(cid, ())) | set(ids)))
        return current
    found: dict[str, set[str]] = {}
    for cid, ids in known.items():
        kept = {p for p in ids if not whole.get(p.partition("/")[0], False)}
        if kept:
            found[cid] = kept
    for cid, parts in read.items():
        found.setdefault(cid, set()).update(part_ids(parts))
    return {cid: tuple(sorted(ids)) for cid, ids in found.items() if ids}


def _check_version(current: Remote[Customer], expected: str | None) -> None:
    if expected is not None and current.version != expected:
        raise ChangedMeanwhile(
            f"sevDesk customer {current.id} changed since it was read", current=current
        )
