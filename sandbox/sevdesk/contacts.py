"""Contact, ContactAddress and CommunicationWay routes of the sevDesk emulator.

Behaviour follows API-NOTES.md sections 3 and 4: a contact is an organisation
iff ``name`` had a value when it was created (a person stays a person when
``name`` is set later, see ``is_person``), persons are listed only with
``depth=1``, PUT is a partial update, DELETE answers 409 while an invoice
references the contact, and addresses/communication ways are separate records
with their own ``update`` (editing them does not touch the contact's
``update``). A contact created without ``customerNumber`` gets the next one
(``next_customer_number``), as a real account numbers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .contact_records import (
    apply_address,
    apply_comm_way,
    apply_contact,
    is_person,
    new_address,
    new_comm_way,
    new_contact,
    next_customer_number,
    settle_kind,
)
from .store import Store, now_ts, render
from .wire import (
    ApiError,
    as_list,
    body,
    deleted,
    not_found,
    objects,
    one,
    page,
    require,
    time_filters,
)


def contact_routes(store: Store) -> list[Route]:
    """The Contact family's routes, bound to one store."""

    # -- Contact -------------------------------------------------------------
    def get_contact(contact_id: str) -> dict[str, Any]:
        contact = store.contacts.get(contact_id)
        if contact is None:
            raise not_found("Contact", contact_id)
        return contact

    async def list_contacts(request: Request) -> JSONResponse:
        rows = store.listed(("Contact", *_filters(request)), lambda: _contacts(request))
        return page(request, rows)

    def _contacts(request: Request) -> list[dict[str, Any]]:
        q = request.query_params
        keep = time_filters(request)
        rows = [c for c in store.contacts.values() if keep(c)]
        if q.get("depth") != "1":
            rows = [c for c in rows if not is_person(c)]
        if "customerNumber" in q:
            rows = [c for c in rows if c.get("customerNumber") == q["customerNumber"]]
        if q.get("name"):
            needle = q["name"].lower()
            names = ("name", "surename", "familyname")
            rows = [c for c in rows if any(needle in (c.get(k) or "").lower() for k in names)]
        if q.get("category[id]"):
            rows = [c for c in rows if (c.get("category") or {}).get("id") == q["category[id]"]]
        if q.get("parent[id]"):
            rows = [c for c in rows if (c.get("parent") or {}).get("id") == q["parent[id]"]]
        for param, field in (("city", "city"), ("zip", "zip"), ("country[id]", "country")):
            if q.get(param):
                rows = [c for c in rows if _has_address(store, c["id"], field, q[param])]
        order = q.get("orderByCustomerNumber", "").upper()
        if order in ("ASC", "DESC"):
            rows.sort(key=lambda c: c.get("customerNumber") or "", reverse=order == "DESC")
        return rows

    async def create_contact(request: Request) -> JSONResponse:
        data = await body(request)
        if not data.get("category"):
            raise ApiError(400, "category is required")
        contact = new_contact("0", now_ts())
        apply_contact(store, contact, data)  # validates everything before any id is taken
        settle_kind(contact)
        if not contact.get("customerNumber"):
            contact["customerNumber"] = next_customer_number(store)
        contact["id"] = store.new_id("Contact")
        store.contacts[contact["id"]] = contact
        return one(contact, 201)

    async def read_contact(request: Request) -> JSONResponse:
        return as_list(get_contact(request.path_params["contact_id"]))

    async def update_contact(request: Request) -> JSONResponse:
        contact = get_contact(request.path_params["contact_id"])
        data = await body(request)
        draft = dict(contact)
        apply_contact(store, draft, data)
        draft["_updated"] = now_ts()
        contact.update(draft)
        return one(contact)

    async def delete_contact(request: Request) -> JSONResponse:
        contact = get_contact(request.path_params["contact_id"])
        if store.contact_is_referenced(contact["id"]):
            raise ApiError(409, "Contact is still referenced by documents and cannot be deleted")
        store.delete_contact(contact["id"])
        return deleted()

    async def tabs_item_count(request: Request) -> JSONResponse:
        contact = get_contact(request.path_params["contact_id"])
        invoices = sum(1 for i in store.invoices.values() if i["contact"]["id"] == contact["id"])
        persons = sum(
            1 for c in store.contacts.values() if (c.get("parent") or {}).get("id") == contact["id"]
        )
        return JSONResponse(
            {
                "orders": 0,
                "invoices": invoices,
                "creditNotes": 0,
                "documents": 0,
                "persons": persons,
                "vouchers": 0,
                "letters": 0,
                "parts": "0",
                "invoicePos": 0,
            }
        )

    async def get_next_customer_number(request: Request) -> JSONResponse:
        return objects(next_customer_number(store))

    async def customer_number_available(request: Request) -> JSONResponse:
        wanted = request.query_params.get("customerNumber")
        if not wanted:
            raise ApiError(500, "customerNumber is missing")  # [obs] codecell runtime-quirks
        taken = any(c.get("customerNumber") == wanted for c in store.contacts.values())
        return objects(not taken)

    # -- ContactAddress ---------------------------------------------------
    def get_address(address_id: str) -> dict[str, Any]:
        address = store.addresses.get(address_id)
        if address is None:
            raise not_found("ContactAddress", address_id)
        return address

    async def list_addresses(request: Request) -> JSONResponse:
        wanted = request.query_params.get("contact[id]")

        def build() -> list[dict[str, Any]]:
            keep = _part_filter(store, request)
            rows = store.addresses.values()
            return [a for a in rows if (not wanted or a["contact"]["id"] == wanted) and keep(a)]

        return page(request, store.listed(("ContactAddress", *_filters(request)), build))

    async def create_address(request: Request) -> JSONResponse:
        data = await body(request)
        require(data, ("contact", "country", "category"))
        address = new_address("0", now_ts())
        apply_address(store, address, data)  # validates everything before any id is taken
        address["id"] = store.new_id("ContactAddress")
        store.addresses[address["id"]] = address
        # The create answer embeds the whole contact; reads give the reference [obs:
        # jernoxit/sevdesk-rs write_contact_address_create.json vs contact_address_list.json].
        answer = render(address) | {"contact": render(store.contacts[address["contact"]["id"]])}
        return objects(answer, 201)

    async def read_address(request: Request) -> JSONResponse:
        return as_list(get_address(request.path_params["address_id"]))

    async def update_address(request: Request) -> JSONResponse:
        address = get_address(request.path_params["address_id"])
        draft = dict(address)
        apply_address(store, draft, await body(request))
        draft["_updated"] = now_ts()
        address.update(draft)
        return one(address, 201)  # [spec] declares 201 for this PUT

    async def delete_address(request: Request) -> JSONResponse:
        address = get_address(request.path_params["address_id"])
        del store.addresses[address["id"]]
        return deleted()

    # -- CommunicationWay ---------------------------------------------------
    def get_comm_way(way_id: str) -> dict[str, Any]:
        way = store.comm_ways.get(way_id)
        if way is None:
            raise not_found("CommunicationWay", way_id)
        return way

    async def list_comm_ways(request: Request) -> JSONResponse:
        q = request.query_params

        def build() -> list[dict[str, Any]]:
            keep = _part_filter(store, request)
            rows = [w for w in store.comm_ways.values() if keep(w)]
            if q.get("contact[id]"):
                rows = [w for w in rows if w["contact"]["id"] == q["contact[id]"]]
            if q.get("type"):
                rows = [w for w in rows if w["type"] == q["type"].upper()]
            if q.get("main") in ("0", "1"):
                rows = [w for w in rows if w["main"] == q["main"]]
            return rows

        return page(request, store.listed(("CommunicationWay", *_filters(request)), build))

    async def create_comm_way(request: Request) -> JSONResponse:
        data = await body(request)
        require(data, ("type", "value", "key", "contact"))
        way = new_comm_way("0", now_ts())
        apply_comm_way(store, way, data)  # validates everything before any id is taken
        way["id"] = store.new_id("CommunicationWay")
        store.comm_ways[way["id"]] = way
        return one(way, 201)

    async def read_comm_way(request: Request) -> JSONResponse:
        return as_list(get_comm_way(request.path_params["way_id"]))

    async def update_comm_way(request: Request) -> JSONResponse:
        way = get_comm_way(request.path_params["way_id"])
        draft = dict(way)
        apply_comm_way(store, draft, await body(request))
        if not draft.get("value"):
            raise ApiError(400, "value must not be empty")
        draft["_updated"] = now_ts()
        way.update(draft)
        return one(way)

    async def delete_comm_way(request: Request) -> JSONResponse:
        way = get_comm_way(request.path_params["way_id"])
        del store.comm_ways[way["id"]]
        return deleted()

    return [
        Route("/Contact", list_contacts, methods=["GET"]),
        Route("/Contact", create_contact, methods=["POST"]),
        Route("/Contact/Factory/getNextCustomerNumber", get_next_customer_number, methods=["GET"]),
        Route(
            "/Contact/Mapper/checkCustomerNumberAvailability",
            customer_number_available,
            methods=["GET"],
        ),
        Route("/Contact/{contact_id}", read_contact, methods=["GET"]),
        Route("/Contact/{contact_id}", update_contact, methods=["PUT"]),
        Route("/Contact/{contact_id}", delete_contact, methods=["DELETE"]),
        Route("/Contact/{contact_id}/getTabsItemCount", tabs_item_count, methods=["GET"]),
        Route("/ContactAddress", list_addresses, methods=["GET"]),
        Route("/ContactAddress", create_address, methods=["POST"]),
        Route("/ContactAddress/{address_id}", read_address, methods=["GET"]),
        Route("/ContactAddress/{address_id}", update_address, methods=["PUT"]),
        Route("/ContactAddress/{address_id}", delete_address, methods=["DELETE"]),
        Route("/CommunicationWay", list_comm_ways, methods=["GET"]),
        Route("/CommunicationWay", create_comm_way, methods=["POST"]),
        Route("/CommunicationWay/{way_id}", read_comm_way, methods=["GET"]),
        Route("/CommunicationWay/{way_id}", update_comm_way, methods=["PUT"]),
        Route("/CommunicationWay/{way_id}", delete_comm_way, methods=["DELETE"]),
    ]


#: Query parameters that page a listing rather than filter it.
PAGING = frozenset({"limit", "offset", "countAll"})


def _filters(request: Request) -> tuple[tuple[str, str], ...]:
    """A listing's filters in request order: the key of its cached rows (``Store.listed``)."""
    return tuple(kv for kv in request.query_params.multi_items() if kv[0] not in PAGING)


def _part_filter(store: Store, request: Request) -> Callable[[dict[str, Any]], bool]:
    """The changed-since filters on a part listing: ignored (sevDesk's documented
    behaviour for unknown filters), unless the account honours them
    (``create_app(part_time_filters=True)``, docs/SEVDESK-DEVIATIONS.md)."""
    return time_filters(request) if store.part_time_filters else (lambda _row: True)


def _has_address(store: Store, contact_id: str, field: str, wanted: str) -> bool:
    for address in store.addresses_of(contact_id):
        value = address[field]["id"] if field == "country" else address.get(field)
        if value == wanted:
            return True
    return False
