"""``POST /_sandbox/bulk`` for the sevDesk emulator: many records in one call.

Benchmarks and tests load thousands of contacts this way instead of making
three or four API calls per customer. Body::

    {
      "contacts": [ <contact>, ... ],
      "units":    [ "lfm" | {"name": "lfm", "translationCode": ..., "uneceTradeUnitCode": ...} ]
    }

A ``<contact>`` is accepted in either of two shapes:

* canonical-ish (any key of ``reconciler.domain.models.Customer``): ``customer_number``,
  ``kind`` ("company"/"person"), ``company_name``, ``first_name``, ``last_name``,
  ``email``, ``phone``, ``mobile``, ``street``, ``postal_code``, ``city``,
  ``country`` (ISO alpha-2, default "DE"), ``vat_id``, ``note``. It becomes a
  customer (category 3) with one invoice address (category 47) if any address
  field is set, and EMAIL/PHONE/MOBILE communication ways (main = "1").
  ``archived`` is ignored: how archiving maps onto sevDesk is the connector's
  decision, not the emulator's.
* sevDesk-shaped: the body of ``POST /Contact`` (``name``, ``surename``,
  ``familyname``, ``customerNumber``, ``category`` defaulting to 3, ...), plus
  optional ``addresses`` (bodies of ``POST /ContactAddress`` without
  ``contact``; ``country`` may also be an ISO code, ``category`` defaults to 47)
  and ``communicationWays`` (bodies of ``POST /CommunicationWay`` without
  ``contact``).

Either shape may carry ``create``/``update`` (Unix seconds or ISO-8601) to
backdate the records, e.g. to test ``updateAfter``. Answer:
``{"contacts": [ids...], "units": [ids...]}`` in input order. Values are
validated like the API would; a bad record raises ``ValueError`` (HTTP 400)
after the records before it were loaded.
"""

from __future__ import annotations

from typing import Any

from .contact_records import (
    apply_address,
    apply_comm_way,
    apply_contact,
    new_address,
    new_comm_way,
    new_contact,
    settle_kind,
)
from .store import ADDRESS_CATEGORY, CUSTOMER_CATEGORY, GERMANY, Store, now_ts, ref
from .wire import ApiError, param_ts

CANONICAL_KEYS = frozenset(
    {
        "customer_number",
        "kind",
        "company_name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile",
        "street",
        "postal_code",
        "city",
        "vat_id",
        "note",
        "archived",
    }
)


def bulk_load(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    """Load ``data`` (format in the module docstring) into ``store``."""
    if not isinstance(data, dict):
        raise ValueError("body must be an object with 'contacts' and/or 'units'")
    try:
        return _load(store, data)
    finally:
        store.changed()  # loaded records (even a part before a bad one) are listed


def _load(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    unit_ids = []
    for item in data.get("units") or []:
        spec = {"name": item} if isinstance(item, str) else dict(item)
        unit = store.add_unit(
            str(spec["name"]),
            translation_code=spec.get("translationCode"),
            unece=spec.get("uneceTradeUnitCode"),
        )
        unit_ids.append(unit["id"])
    contact_ids = []
    for item in data.get("contacts") or []:
        try:
            sevdesk = _from_canonical(store, item) if CANONICAL_KEYS & item.keys() else dict(item)
            contact_ids.append(_load_contact(store, sevdesk))
        except ApiError as exc:
            raise ValueError(f"contact #{len(contact_ids)}: {exc.message}") from exc
    return {"contacts": contact_ids, "units": unit_ids}


def _from_canonical(store: Store, c: dict[str, Any]) -> dict[str, Any]:
    """A canonical ``Customer`` dict -> the sevDesk-shaped bulk form."""
    person = c.get("kind") == "person"
    out: dict[str, Any] = {
        "category": ref(CUSTOMER_CATEGORY, "Category"),
        "customerNumber": c.get("customer_number"),
        "vatNumber": c.get("vat_id"),
        "description": c.get("note"),
    }
    if person:
        out.update(surename=c.get("first_name"), familyname=c.get("last_name"))
    else:
        out["name"] = c.get("company_name") or "(no name)"
    for key in ("create", "update"):
        if key in c:
            out[key] = c[key]
    if any(c.get(k) for k in ("street", "postal_code", "city")):
        out["addresses"] = [
            {
                "street": c.get("street"),
                "zip": c.get("postal_code"),
                "city": c.get("city"),
                "country": c.get("country") or "DE",
            }
        ]
    ways = []
    kinds = (("email", "EMAIL", "2"), ("phone", "PHONE", "2"), ("mobile", "MOBILE", "4"))
    for key, kind, way_key in kinds:
        if c.get(key):
            ways.append({"type": kind, "value": c[key], "key": way_key, "main": "1"})
    out["communicationWays"] = ways
    return out


def _load_contact(store: Store, data: dict[str, Any]) -> str:
    created = param_ts(_text_ts(data.get("create"))) or now_ts()
    updated = param_ts(_text_ts(data.get("update"))) or created
    data.setdefault("category", ref(CUSTOMER_CATEGORY, "Category"))
    contact = new_contact(store.new_id("Contact"), created)
    fields = {k: v for k, v in data.items() if k not in ("addresses", "communicationWays")}
    apply_contact(store, contact, fields)
    settle_kind(contact)
    contact["_updated"] = updated
    store.contacts[contact["id"]] = contact
    cref = ref(contact["id"], "Contact")
    for raw in data.get("addresses") or []:
        spec = dict(raw)
        spec["contact"] = cref
        spec.setdefault("category", ref(ADDRESS_CATEGORY, "Category"))
        spec["country"] = _country_ref(store, spec.get("country"))
        address = new_address(store.new_id("ContactAddress"), created)
        apply_address(store, address, spec)
        address["_updated"] = updated
        store.addresses[address["id"]] = address
    for raw in data.get("communicationWays") or []:
        spec = dict(raw)
        spec["contact"] = cref
        way = new_comm_way(store.new_id("CommunicationWay"), created)
        apply_comm_way(store, way, spec)
        way["_updated"] = updated
        store.comm_ways[way["id"]] = way
    return contact["id"]


def _country_ref(store: Store, value: Any) -> Any:
    """Accept an ISO code ("DE") where the API wants a StaticCountry reference."""
    if value is None:
        return ref(GERMANY, "StaticCountry")
    if isinstance(value, str) and not value.isdigit():
        country = store.country_by_code(value)
        if country is None:
            raise ApiError(400, f"no StaticCountry with code {value!r} in the sandbox")
        return ref(country["id"], "StaticCountry")
    return value


def _text_ts(value: Any) -> str | None:
    return None if value is None else str(value)
