"""Pure translation between sevDesk's wire shapes and the canonical ``Customer``.

Kept apart from the HTTP code so it can be read (and tested) as a table of
rules. A sevDesk customer is not one record but three kinds: the ``Contact``
itself, its ``ContactAddress`` rows and its ``CommunicationWay`` rows; each
carries its own ``update`` timestamp and none of them bumps the others
(API-NOTES §2), so "when did this customer change" is the latest of them all.

Rules, in sevDesk's own terms:

* organisation vs person is decided by sevDesk alone: a contact *is* an
  organisation when ``name`` has a value, otherwise a person whose first and
  last names live in ``surename`` (sic) and ``familyname``;
* the main address is the one of the *invoice address* category when there is
  one, else the oldest (lowest id): addresses have no "main" flag;
* per type (EMAIL, PHONE, MOBILE) the communication way with ``main`` = "1"
  wins, else the oldest. Writing, the sync changes only a way marked main
  (or adds one): a way not marked main may be a second number the
  bookkeeper keeps, which stands for the field only while no main one is
  there (after the sync cleared it, say), and is never written over;
* sevDesk has no archive flag, so ``archived`` is always False here.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from reconciler.domain.errors import RemoteValidationError
from reconciler.domain.models import Customer, Quarantined

BERLIN = ZoneInfo("Europe/Berlin")
CUSTOMER_CATEGORY = 3
#: Canonical field -> CommunicationWay type.
WAY_TYPES: dict[str, str] = {"email": "EMAIL", "phone": "PHONE", "mobile": "MOBILE"}
#: CommunicationWayKey ids (API-NOTES §4): 2 = Work, 4 = Mobile.
WAY_KEYS: dict[str, int] = {"EMAIL": 2, "PHONE": 2, "MOBILE": 4}
CONTACT_FIELDS: tuple[str, ...] = (
    "customer_number",
    "kind",
    "company_name",
    "first_name",
    "last_name",
    "vat_id",
    "note",
)
ADDRESS_FIELDS = ("street", "postal_code", "city", "country")
CUSTOMER_FIELDS = frozenset(Customer.model_fields)


class MappingError(ValueError):
    """A sevDesk row that cannot become a canonical record (goes to quarantine)."""


# -- small wire helpers ------------------------------------------------------------


def ref_id(value: Any) -> str | None:
    """The id of a ``{"id": .., "objectName": ..}`` reference, as a string."""
    if type(value) is dict or isinstance(value, Mapping):  # (a plain dict, checked cheaply)
        value = value.get("id")
    if value is None or value == "":
        return None
    return value if type(value) is str else str(value)


def text(value: Any) -> str | None:
    """A string field as canonical text: empty and whitespace-only become None."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def parse_timestamp(value: Any) -> dt.datetime:
    """sevDesk's ``create``/``update`` (ISO-8601, Berlin offset) as an aware UTC datetime.

    A value without offset is read as Berlin time, which is how sevDesk cuts
    dates (API-NOTES pitfall 7).
    """
    if not isinstance(value, str) or not value:
        raise MappingError(f"missing or invalid 'update' timestamp: {value!r}")
    if type(value) is str:
        return _parsed_stamp(value)
    return _parse_stamp(value)


@functools.lru_cache(maxsize=4096)
def _parsed_stamp(value: str) -> dt.datetime:
    """``_parse_stamp``, remembered per text: a listing reads several stamps per customer
    (contact, addresses, ways) and sevDesk's whole-second stamps repeat across rows
    written together, so this is cheaper than parsing each again. (A datetime is
    immutable, so handing out the same one twice is safe; a refusal is not cached.)"""
    return _parse_stamp(value)


def _parse_stamp(value: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"unreadable 'update' timestamp: {value!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=BERLIN)
    return stamp.astimezone(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# -- choosing the parts that represent a customer ----------------------------------


class Parts:
    """One contact's addresses and communication ways, as sevDesk returned them."""

    __slots__ = ("addresses", "ways")

    def __init__(self) -> None:
        self.addresses: list[dict] = []
        self.ways: list[dict] = []

    def all(self) -> list[dict]:
        return self.addresses + self.ways


def group_by_contact(addresses: Iterable[Any], ways: Iterable[Any]) -> dict[str, Parts]:
    """Join part rows to their contact client-side (also re-checks a ``contact[id]`` filter)."""
    grouped: dict[str, Parts] = defaultdict(Parts)
    for row in addresses:
        if isinstance(row, dict) and (owner := ref_id(row.get("contact"))) is not None:
            grouped[owner].addresses.append(row)
    for row in ways:
        if isinstance(row, dict) and (owner := ref_id(row.get("contact"))) is not None:
            grouped[owner].ways.append(row)
    return grouped


def changed_since(row: Mapping[str, Any], since: dt.datetime) -> bool:
    """Whether a row's ``update`` is at or after ``since``; unreadable counts as changed."""
    try:
        return parse_timestamp(row.get("update") or row.get("create")) >= since
    except MappingError:
        return True


def _id_key(row: Mapping[str, Any]) -> tuple[int, str]:
    raw = str(row.get("id", ""))
    return (int(raw), raw) if raw.isdigit() else (2**63, raw)


def main_address(
    addresses: Iterable[Mapping[str, Any]], preferred_category: str | None = None
) -> Mapping[str, Any] | None:
    """The address that stands for the customer (see module docstring)."""
    rows = sorted(addresses, key=_id_key)
    if preferred_category is not None:
        for row in rows:
            if ref_id(row.get("category")) == preferred_category:
                return row
    return rows[0] if rows else None


def is_main(way: Mapping[str, Any]) -> bool:
    """Is the communication way marked main ("1"; a request body may say true)?"""
    return str(way.get("main", "0")) in ("1", "true", "True")


def main_way(ways: Iterable[Mapping[str, Any]], way_type: str) -> Mapping[str, Any] | None:
    """The communication way of ``way_type`` that stands for the customer."""
    rows = sorted((w for w in ways if str(w.get("type", "")).upper() == way_type), key=_id_key)
    for row in rows:
        if is_main(row):
            return row
    return rows[0] if rows else None


def main_ways(ways: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``main_way`` for every type of ``WAY_TYPES`` at once: way type -> its way.

    One pass instead of one filter-and-sort per type (a listing asks this of
    every customer). The same choice: the lowest ``(not main, id)`` wins, the
    earlier row on a tie, as the stable sort in ``main_way`` picks it.
    """
    best: dict[str, tuple[tuple[bool, tuple[int, str]], Mapping[str, Any]]] = {}
    for way in ways:
        way_type = str(way.get("type", "")).upper()
        if way_type not in _WANTED_WAY_TYPES:
            continue
        key = (not is_main(way), _id_key(way))
        held = best.get(way_type)
        if held is None or key < held[0]:
            best[way_type] = (key, way)
    return {way_type: way for way_type, (_key, way) in best.items()}


_WANTED_WAY_TYPES = frozenset(WAY_TYPES.values())


# -- sevDesk -> canonical ------------------------------------------------------------


def is_customer(contact: Mapping[str, Any]) -> bool:
    """Category 3 only; checked per row because sevDesk ignores filters it does not know."""
    return ref_id(contact.get("category")) == str(CUSTOMER_CATEGORY)


def customer_from_parts(
    contact: Mapping[str, Any],
    address: Mapping[str, Any] | None,
    ways: Iterable[Mapping[str, Any]],
    country_code_of: Mapping[str, str],
) -> Customer:
    """Build the canonical customer; ``MappingError`` says why a row cannot be one."""
    ways = list(ways)
    name = text(contact.get("name"))
    fields: dict[str, Any] = {
        "customer_number": text(contact.get("customerNumber")),
        "vat_id": text(contact.get("vatNumber")),
        "note": text(contact.get("description")),
        "archived": False,
    }
    if name is not None:
        fields.update(kind="company", company_name=name)
    else:
        fields.update(
            kind="person",
            first_name=text(contact.get("surename")),
            last_name=text(contact.get("familyname")),
        )
        if fields["first_name"] is None and fields["last_name"] is None:
            # Nobody could tell whom an invoice for it is addressed to.
            raise MappingError("contact has no name (neither name nor surename/familyname)")
    if address is None:
        fields.update(street=None, postal_code=None, city=None, country=None)
    else:
        country_id = ref_id(address.get("country"))
        if country_id is None:
            code = None
        elif country_id in country_code_of:
            code = country_code_of[country_id]
        else:
            raise MappingError(f"address {address.get('id')} has unknown country id {country_id}")
        fields.update(
            street=text(address.get("street")),
            postal_code=text(address.get("zip")),
            city=text(address.get("city")),
            country=code,
        )
    chosen = main_ways(ways)
    for field, way_type in WAY_TYPES.items():
        way = chosen.get(way_type)
        fields[field] = text(way.get("value")) if way else None
    try:
        return Customer(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MappingError(problems) from None


def change_stamp(
    contact: Mapping[str, Any], parts: Iterable[Mapping[str, Any]]
) -> tuple[dt.datetime, str]:
    """(``updated_at``, ``version``) of a customer made of ``contact`` and its ``parts``.

    ``updated_at`` is the latest ``update`` of the contact and its parts, in
    UTC. ``version`` is an opaque digest of the contact's and every part's
    (id, ``update``): sevDesk does not bump a contact when its address or a
    communication way changes, appears or goes, and a version built from the
    contact alone would let an update overwrite such an edit unnoticed.
    """
    parts = list(parts)
    latest = parse_timestamp(contact.get("update"))
    items = [f"Contact:{contact.get('id')}:{contact.get('update')}"]
    for part in parts:
        stamp = parse_timestamp(part.get("update") or part.get("create"))
        latest = max(latest, stamp)
        items.append(f"{part.get('objectName', '?')}:{part.get('id')}:{part.get('update')}")
    digest = hashlib.sha256("|".join(sorted(items)).encode()).hexdigest()[:16]
    return latest, digest


# -- canonical -> sevDesk ------------------------------------------------------------


def contact_payload(customer: Customer, only: Iterable[str] | None = None) -> dict[str, Any]:
    """The ``Contact`` body for ``customer`` (all contact fields, or those in ``only``).

    A kind change rewrites all three name fields, because ``name`` alone
    decides organisation vs person in sevDesk.
    """
    wanted = set(CONTACT_FIELDS if only is None else only) & set(CONTACT_FIELDS)
    body: dict[str, Any] = {}
    if wanted & {"kind", "company_name", "first_name", "last_name"}:
        if customer.kind == "company":
            if not customer.company_name:
                raise MappingError("a company customer needs a company name")
            body.update(name=customer.company_name, surename=None, familyname=None)
        else:
            if not (customer.first_name or customer.last_name):
                raise MappingError("a person customer needs a first or last name")
            body.update(name=None, surename=customer.first_name, familyname=customer.last_name)
    if "customer_number" in wanted:
        body["customerNumber"] = customer.customer_number
    if "vat_id" in wanted:
        body["vatNumber"] = customer.vat_id
    if "note" in wanted:
        body["description"] = customer.note
    return body


def has_address(customer: Customer) -> bool:
    """Whether the customer needs a ContactAddress at all (any address field set)."""
    return any(getattr(customer, f) is not None for f in ADDRESS_FIELDS)


def address_payload(customer: Customer, country_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "street": customer.street,
        "zip": customer.postal_code,
        "city": customer.city,
    }
    if country_id is not None:
        body["country"] = {"id": int(country_id), "objectName": "StaticCountry"}
    return body


def address_differs(row: Mapping[str, Any], customer: Customer, country_id: str | None) -> bool:
    return (
        text(row.get("street")) != customer.street
        or text(row.get("zip")) != customer.postal_code
        or text(row.get("city")) != customer.city
        or (country_id is not None and ref_id(row.get("country")) != country_id)
    )


def checked(build: Any, *args: Any) -> Any:
    """Run a payload builder, turning a mapping refusal into a per-record error."""
    try:
        return build(*args)
    except MappingError as exc:
        raise RemoteValidationError(str(exc)) from None


def quarantined(contact_id: str | None, reason: str, label: str | None = None) -> Quarantined:
    """A contact the listing cannot hand over as a customer, and why."""
    return Quarantined(side="sevdesk", entity="Customer", id=contact_id, reason=reason, label=label)


def id_order(contact_id: str) -> tuple[int, str]:
    """Oldest first: numeric ids by value, anything else after them."""
    return (len(contact_id), contact_id) if contact_id.isdigit() else (10**6, contact_id)
