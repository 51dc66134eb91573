"""A sevDesk customer's parts: its address and communication ways, read and written.

Kept apart from ``customers.py`` (the contact itself, listing, create/update/delete)
because the parts are where sevDesk differs most from one record: each part is its
own resource, written by its own call, so a failure can leave half a customer.
``ensure`` starts from the parts the caller already holds (a contact just created
has none; an update has just read them) or reads them, writes only what differs,
and hands back the parts as sevDesk's answers to those writes show them, so
nobody reads the customer again after writing it. After an unclear answer it
reads the parts once before anything is sent again; that is what makes a
repeated ``create`` finish the job instead of adding a second address or e-mail.
The bookkeeper's second e-mail or phone (a way not marked main) is never written
over: a new value becomes a main way of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from loguru import logger

from reconciler.connectors.sevdesk.api import SevdeskApi
from reconciler.connectors.sevdesk.mapping import (
    ADDRESS_FIELDS,
    CUSTOMER_FIELDS,
    WAY_KEYS,
    WAY_TYPES,
    Parts,
    address_differs,
    address_payload,
    group_by_contact,
    has_address,
    is_main,
    main_address,
    main_way,
    ref_id,
    text,
)
from reconciler.domain.errors import TransientError
from reconciler.domain.models import Customer


class SevdeskParts:
    """Addresses and communication ways of sevDesk contacts."""

    def __init__(self, api: SevdeskApi) -> None:
        self.api = api

    async def read(self, contact_id: str) -> Parts:
        """The contact's addresses and communication ways, read side by side."""
        params = {"contact[id]": contact_id, "contact[objectName]": "Contact"}
        addresses, ways = await gather(
            self.api.rows("ContactAddress", params), self.api.rows("CommunicationWay", params)
        )
        return group_by_contact(addresses, ways).get(contact_id, Parts())

    async def ensure(
        self,
        contact_id: str,
        target: Customer,
        *,
        fields: Iterable[str] | None,
        prune: bool,
        known: Parts | None = None,
    ) -> Parts | None:
        """Make the address and communication ways match ``target`` with minimal writes.

        ``known``: the contact's parts as the caller just saw them (``Parts()``
        for a contact created a moment ago); None reads them first. Only what
        is missing or different is written. If a write's outcome is unknown the
        parts are read again (once) before anything is sent again; that is what
        lets a repeated ``create`` finish the job. ``prune`` deletes a part whose
        field became empty (update, never create).

        Returns the parts after the writes, built from sevDesk's answers, or
        None when an answer did not show the written row (read them back then).
        """
        for attempt in (1, 2):
            parts = known if known is not None and attempt == 1 else await self.read(contact_id)
            after = Parts()
            after.addresses, after.ways = list(parts.addresses), list(parts.ways)
            try:
                complete = await self._apply(contact_id, target, after, fields, prune)
            except TransientError as exc:
                if not exc.maybe_written or attempt == 2:
                    raise
                logger.info("sevDesk part write for contact {} unclear; reading back", contact_id)
                continue
            return after if complete else None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _apply(
        self,
        contact_id: str,
        target: Customer,
        parts: Parts,
        fields: Iterable[str] | None,
        prune: bool,
    ) -> bool:
        """Write what differs; ``parts`` is changed to what the answers show.

        False: an answer did not carry the written row (the caller reads back).
        """
        wanted = set(CUSTOMER_FIELDS if fields is None else fields)
        complete = True

        def settle(rows: list[dict], old: Mapping[str, Any] | None, answer: Any) -> None:
            nonlocal complete
            if old is not None:
                rows[:] = [r for r in rows if r is not old]
            row = answered_row(answer)
            if row is None:
                complete = False
            else:
                rows.append(row)

        contact_ref = {"id": int(contact_id), "objectName": "Contact"}
        if wanted & set(ADDRESS_FIELDS):
            category = await self.api.invoice_address_category()
            current = main_address(parts.addresses, category)
            if has_address(target):
                country_id = await self.api.country_id(target.country)
                body = address_payload(target, country_id)
                if current is None:
                    body["contact"] = contact_ref
                    body["category"] = {"id": int(category), "objectName": "Category"}
                    answer = await self.api.call("POST", "ContactAddress", json=body)
                    settle(parts.addresses, None, answer)
                elif address_differs(current, target, country_id):
                    path = f"ContactAddress/{current['id']}"
                    settle(parts.addresses, current, await self.api.call("PUT", path, json=body))
            elif current is not None and prune:
                await self.api.call("DELETE", f"ContactAddress/{current['id']}")
                parts.addresses[:] = [r for r in parts.addresses if r is not current]
        for field, way_type in WAY_TYPES.items():
            if field not in wanted:
                continue
            value = getattr(target, field)
            way = main_way(parts.ways, way_type)
            if value is not None and way is not None and not is_main(way):
                if text(way.get("value")) == value:
                    continue
                # A way not marked main stands for the field only while none is: it may
                # be the bookkeeper's second number, left when the sync cleared the main
                # one. A new value becomes a main way of its own; that one stays.
                way = None
            if value is not None and way is None:
                body = {
                    "contact": contact_ref,
                    "type": way_type,
                    "value": value,
                    "key": {"id": WAY_KEYS[way_type], "objectName": "CommunicationWayKey"},
                    "main": True,
                }
                settle(parts.ways, None, await self.api.call("POST", "CommunicationWay", json=body))
            elif value is not None and way is not None and text(way.get("value")) != value:
                path = f"CommunicationWay/{way['id']}"
                settle(parts.ways, way, await self.api.call("PUT", path, json={"value": value}))
            elif value is None and way is not None and prune:
                # Only the way that stood for the field goes; other ones stay.
                await self.api.call("DELETE", f"CommunicationWay/{way['id']}")
                parts.ways[:] = [r for r in parts.ways if r is not way]
        return complete


def answered_row(answer: Any) -> dict | None:
    """The row a POST/PUT answered with (``{"objects": {...}}``; the spec shows a list too).

    None when the answer does not show a row with an id: the caller reads back.
    """
    if isinstance(answer, list):
        answer = answer[0] if len(answer) == 1 else None
    return answer if isinstance(answer, dict) and ref_id(answer) is not None else None


def part_ids(parts: Parts) -> tuple[str, ...]:
    """A contact's parts as ``Listing.parts`` names them ("ContactAddress/7", ...)."""
    return tuple(
        sorted(
            [f"ContactAddress/{ref_id(r)}" for r in parts.addresses]
            + [f"CommunicationWay/{ref_id(r)}" for r in parts.ways]
        )
    )


async def gather(*reads: Awaitable[Any]) -> list[Any]:
    """Run independent reads side by side (the HTTP layer still paces them).

    Unlike a bare ``asyncio.gather`` it lets every read finish before
    raising, so no request is left running behind a typed error.
    """
    results = await asyncio.gather(*reads, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
