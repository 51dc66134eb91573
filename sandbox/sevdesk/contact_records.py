"""Contact, ContactAddress and CommunicationWay records: their shape and validation.

Kept apart from the routes (``sandbox.sevdesk.contacts``) because the bulk
loader builds the same records. Every ``apply_*`` validates the whole body and
writes only to the record it is given (a draft), never to the store, so a
refused request leaves the account unchanged. Numbers a contact keeps
(``defaultDiscountAmount``, ...) must be numbers in range: ``1e30`` is refused
with 400 instead of crashing the emulator.
"""

from __future__ import annotations

import re
from typing import Any

from .store import SEV_CLIENT, Store, ref
from .wire import ApiError, decimal, existing_ref, flag, ref_in, text

CONTACT_TEXT = (
    "name",
    "status",
    "customerNumber",
    "surename",
    "familyname",
    "titel",
    "description",
    "academicTitle",
    "gender",
    "name2",
    "birthday",
    "vatNumber",
    "bankAccount",
    "bankNumber",
    "defaultCashbackTime",
    "defaultCashbackPercent",
    "defaultTimeToPay",
    "taxNumber",
    "taxOffice",
    "defaultDiscountAmount",
    "buyerReference",
    "taxType",
)
CONTACT_FLAGS = ("exemptVat", "defaultDiscountPercentage", "governmentAgency", "defaultShowVat")
#: Contact fields sevDesk keeps as numbers (sent back as strings): a value that is
#: not a number in range is refused with 400 before anything is stored [spec types].
CONTACT_NUMBERS = (
    "defaultCashbackTime",
    "defaultCashbackPercent",
    "defaultTimeToPay",
    "defaultDiscountAmount",
)
ADDRESS_TEXT = ("street", "zip", "city", "name", "name2", "name3", "name4")
COMM_WAY_TYPES = ("EMAIL", "PHONE", "WEB", "MOBILE")


def is_person(contact: dict[str, Any]) -> bool:
    """Is the contact a person (not an organisation)?

    sevDesk takes the kind from ``name`` at creation (a value = organisation
    [spec Model_Contact.name]); setting ``name`` on a person later does not make
    it an organisation, so that is kept in the private ``_person`` key. An
    organisation whose ``name`` is cleared has no name to be listed by and counts
    as a person [inferred both ways, see docs/SEVDESK-DEVIATIONS.md].
    """
    return bool(contact.get("_person")) or not contact.get("name")


def settle_kind(contact: dict[str, Any]) -> None:
    """Fix a new contact's kind from its ``name`` (call once, at creation)."""
    contact["_person"] = not contact.get("name")


def next_customer_number(store: Store) -> str:
    """Highest all-digit customer number + 1, at least "1001" (getNextCustomerNumber)."""
    numbers = [
        int(c["customerNumber"])
        for c in store.contacts.values()
        if c.get("customerNumber") and str(c["customerNumber"]).isdigit()
    ]
    return str(max(numbers, default=1000) + 1)


def new_contact(id_: str, ts: int) -> dict[str, Any]:
    """A contact with every field sevDesk sends, unset ones as null.

    As recorded (jernoxit/sevdesk-rs tests/fixtures/write_contact_create.json and
    contact.json): ``mandateReference`` null, and ``defaultDiscountPercentage`` "1"
    although the body did not send it.
    """
    contact: dict[str, Any] = {"id": id_, "objectName": "Contact", "additionalInformation": None}
    contact.update({"_created": ts, "_updated": ts})
    contact.update(dict.fromkeys(CONTACT_TEXT))
    contact.update(
        {
            "status": "1000",
            "category": None,
            "sevClient": dict(SEV_CLIENT),
            "mandateReference": None,
            "exemptVat": "0",
            "defaultDiscountPercentage": "1",
            "governmentAgency": "0",
            "defaultShowVat": "1",
        }
    )
    return contact


def new_address(id_: str, ts: int) -> dict[str, Any]:
    """An address as a real account answers it (``additionalInformation`` null [obs:
    jernoxit/sevdesk-rs tests/fixtures/contact_address_list.json])."""
    address: dict[str, Any] = {
        "id": id_,
        "objectName": "ContactAddress",
        "additionalInformation": None,
    }
    address.update({"_created": ts, "_updated": ts, "contact": None, "country": None})
    address.update(dict.fromkeys(ADDRESS_TEXT))
    address.update({"category": None, "sevClient": dict(SEV_CLIENT)})
    return address


def new_comm_way(id_: str, ts: int) -> dict[str, Any]:
    """A communication way as a real account answers it (``additionalInformation`` null
    [obs: jernoxit/sevdesk-rs tests/fixtures/communication_way_list.json])."""
    return {
        "id": id_,
        "objectName": "CommunicationWay",
        "additionalInformation": None,
        "_created": ts,
        "_updated": ts,
        "contact": None,
        "type": None,
        "value": None,
        "key": ref("2", "CommunicationWayKey"),
        "main": "0",
        "sevClient": dict(SEV_CLIENT),
    }


def apply_contact(store: Store, contact: dict[str, Any], data: dict[str, Any]) -> None:
    """Copy the writable fields of a POST/PUT body onto ``contact`` (validating refs)."""
    for key in CONTACT_TEXT:
        if key in data:
            if key in CONTACT_NUMBERS and data[key] not in (None, ""):
                decimal(data[key], key)
            value = text(data[key], key)
            contact[key] = value if value != "" else None
    for key in CONTACT_FLAGS:
        if key in data:
            contact[key] = flag(data[key])
    if "category" in data:
        category = existing_ref(
            data["category"], "Category", "category", lambda id_: store.category(id_, "Contact")
        )
        contact["category"] = category
    if data.get("parent") is not None:
        parent = ref_in(data["parent"], "Contact", "parent")
        target = store.contacts.get(parent["id"])
        if target is None or is_person(target):
            raise ApiError(400, "parent must be an existing organisation")
        contact["parent"] = parent
    birthday = contact.get("birthday")
    if birthday and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", birthday):
        raise ApiError(400, "birthday must be a date (YYYY-MM-DD)")


def apply_address(store: Store, address: dict[str, Any], data: dict[str, Any]) -> None:
    """Copy the writable fields of a POST/PUT body onto ``address``."""
    for key in ADDRESS_TEXT:
        if key in data:
            address[key] = text(data[key], key)
    if "contact" in data:
        contact = existing_ref(data["contact"], "Contact", "contact", store.contacts.get)
        address["contact"] = contact
    if "country" in data:
        country = existing_ref(data["country"], "StaticCountry", "country", store.country)
        address["country"] = country
    if "category" in data:
        category = existing_ref(
            data["category"],
            "Category",
            "category",
            lambda id_: store.category(id_, "ContactAddress"),
        )
        address["category"] = category


def apply_comm_way(store: Store, way: dict[str, Any], data: dict[str, Any]) -> None:
    """Copy the writable fields of a POST/PUT body onto ``way``."""
    if "type" in data:
        kind = str(data["type"]).upper()
        if kind not in COMM_WAY_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(COMM_WAY_TYPES)}")
        way["type"] = kind
    if "value" in data:
        way["value"] = text(data["value"], "value")
    if "main" in data:
        way["main"] = flag(data["main"])
    if "contact" in data:
        contact = existing_ref(data["contact"], "Contact", "contact", store.contacts.get)
        way["contact"] = contact
    if "key" in data:
        key = existing_ref(data["key"], "CommunicationWayKey", "key", store.comm_way_key)
        way["key"] = key
