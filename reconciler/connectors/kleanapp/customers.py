"""Customers in KleanApp: versioned records that are archived, never erased.

Why the writes look the way they do:

* KleanApp versions every record; a write carries ``If-Match: <version>``
  and a stale one is answered 412 with the current record. We turn that into
  ``ChangedMeanwhile(current=...)`` so the engine re-plans instead of
  overwriting an edit it has not seen.
* A write that failed without a clear answer (5xx, dropped connection) may
  have happened anyway. We never repeat it blindly: a create carries the
  engine's ``Idempotency-Key`` (the journal entry's), so repeating it with the
  same key answers the first create if it got through; without a key, and for
  every other write, we read back first (by customer number or the record
  itself) and send it once more only if it evidently did not happen.
* KleanApp never erases customers: "delete" archives, and archiving is also
  how the engine notices a customer went away, so lists include archived ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconciler.connectors.base import Collection
from reconciler.connectors.kleanapp.api import (
    KleanappApi,
    changed_message,
    decode,
    idempotency,
    if_match,
    path_id,
    raise_for,
    stale,
)
from reconciler.connectors.kleanapp.wire import (
    CUSTOMER_FIELDS,
    _customer_body,
    _customer_matches,
    _customer_record,
    _parse_time,
    _since_param,
    _strict,
    _to_remote,
    _Unmappable,
)
from reconciler.domain.errors import ChangedMeanwhile, RemoteValidationError, TransientError
from reconciler.domain.models import Customer, Listing, Remote

#: How far before our own attempt a read-back still trusts ``created_at`` (clock skew).
CREATED_SLACK = dt.timedelta(seconds=60)


class CustomerNumberTaken(RemoteValidationError):
    """KleanApp already has a *different* customer with this customer number."""

    def __init__(self, customer_number: str, existing: Remote[Customer] | None = None) -> None:
        where = f" (KleanApp customer {existing.id})" if existing else ""
        super().__init__(
            f"KleanApp customer number {customer_number} is already taken by another "
            f"customer{where}",
            fields={"customer_number": "already taken"},
        )
        self.customer_number = customer_number
        self.existing = existing


class KleanappCustomers(Collection[Customer]):
    """KleanApp's ``/customers``, archived ones included."""

    entity = Customer

    def __init__(self, api: KleanappApi) -> None:
        self.api = api
        self.http = api.http

    async def list_changed(self, since: dt.datetime | None = None) -> Listing[Customer]:
        params = {"include_archived": "true"}
        if since is not None:
            params["updated_since"] = _since_param(since)
        # A customer has no amounts: its pages are decoded the fast way (``decode``).
        return await self.api.listing(
            "customers", params, Customer, _customer_record, amounts=False
        )

    async def get(self, id: str) -> Remote[Customer]:
        cid = path_id(id, "customer")
        response = await self.http.request("GET", f"customers/{cid}")
        if response.status_code >= 400:
            raise_for(response, f"customer {cid}")
        return _strict(decode(response), _customer_record, f"customer {cid}")

    async def create(
        self, record: Customer, *, idempotency_key: str | None = None, resume: bool = False
    ) -> Remote[Customer]:
        key = idempotency_key
        body = _customer_body(record)
        number = body.get("customer_number")
        started = dt.datetime.now(dt.UTC)
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "POST", "customers", json=body, headers=idempotency(key)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                if key is not None:
                    if attempt == 2:
                        raise
                    continue  # the same key: KleanApp answers the first attempt if it got through
                found = await self._find_written(body, started)
                if found is not None:
                    return await self._finish_create(found, record)
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409 and number:
                existing = await self._find_by_number(number)
                if existing is not None and _customer_matches(existing.record, body):
                    # An earlier attempt of ours got through after all.
                    return await self._finish_create(existing, record)
                raise CustomerNumberTaken(number, existing)
            if response.status_code >= 400:
                raise_for(response, f"customer {record.display_name}")
            created = _strict(decode(response), _customer_record, "new customer")
            return await self._finish_create(created, record)
        raise AssertionError("unreachable")  # pragma: no cover

    async def update(
        self, id: str, changes: dict[str, Any], *, expected_version: str | None = None
    ) -> Remote[Customer]:
        cid = path_id(id, "customer")
        fields = dict(changes)
        archived = fields.pop("archived", None)
        unknown = set(fields) - set(CUSTOMER_FIELDS)
        if unknown:
            raise ValueError(f"not customer fields: {', '.join(sorted(unknown))}")
        if archived is not None and not isinstance(archived, bool):
            raise ValueError("archived must be true or false")
        if fields:
            number = fields.get("customer_number")
            remote = await self.api.patch(
                f"customers/{cid}",
                f"customer {cid}",
                fields,
                expected_version,
                _customer_record,
                lambda: self.get(cid),
                on_conflict=(lambda: CustomerNumberTaken(number)) if number else None,
            )
        else:
            remote = await self.get(cid)
            if archived is not None and stale(remote, expected_version):
                raise ChangedMeanwhile(changed_message(f"customer {cid}"), current=remote)
        if archived is True and not remote.record.archived:
            await self._archive(cid, remote.version)
            remote = await self.get(cid)
        elif archived is False and remote.record.archived:
            remote = await self._restore(cid)
        return remote

    async def delete(self, id: str, *, expected_version: str | None = None) -> None:
        """Archive: KleanApp keeps every customer it ever had."""
        await self._archive(path_id(id, "customer"), expected_version)

    # -- read-backs ----------------------------------------------------------
    async def _finish_create(self, remote: Remote[Customer], wanted: Customer) -> Remote[Customer]:
        """Archive a freshly created customer when the canonical one is archived.

        A replayed answer (``Idempotency-Key``) shows the customer as first
        created, maybe archived since by that earlier attempt: read it first.
        """
        if wanted.archived and not remote.record.archived:
            remote = await self.get(remote.id)
            if not remote.record.archived:
                await self._archive(remote.id, remote.version)
                return await self.get(remote.id)
        return remote

    async def _find_by_number(self, number: str) -> Remote[Customer] | None:
        # KleanApp has no filter by number: scan, archived included (numbers stay taken).
        for row in await self.api.rows("customers", {"include_archived": "true"}):
            if isinstance(row, dict) and row.get("customer_number") == number:
                return _strict(row, _customer_record, f"customer {number}")
        return None

    async def _find_written(
        self, body: dict[str, Any], started: dt.datetime
    ) -> Remote[Customer] | None:
        """After an unclear create: the customer that attempt wrote, if it did.

        With a customer number the number identifies it (a different customer
        under it is a conflict). Without one, KleanApp assigned a number we
        never saw: we take the newest customer created since our attempt whose
        every field is what we sent.
        """
        number = body.get("customer_number")
        if number:
            existing = await self._find_by_number(number)
            if existing is None:
                return None
            if _customer_matches(existing.record, body):
                return existing
            raise CustomerNumberTaken(number, existing)
        newest: Remote[Customer] | None = None
        for row in await self.api.rows("customers", {"include_archived": "true"}):
            try:
                created = _parse_time(row.get("created_at"), "created_at")
                remote = _to_remote(row, _customer_record)
            except (_Unmappable, AttributeError):
                continue
            if created >= started - CREATED_SLACK and _customer_matches(
                remote.record, body, ignore=("customer_number",)
            ):
                newest = remote
        return newest

    # -- archive and restore -------------------------------------------------
    async def _archive(self, cid: str, version: str | None) -> None:
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "DELETE", f"customers/{cid}", headers=if_match(version)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await self.get(cid)
                if current.record.archived:
                    return
                if stale(current, version):
                    raise ChangedMeanwhile(
                        changed_message(f"customer {cid}"), current=current
                    ) from None
                if attempt == 2:
                    raise
                continue
            if response.status_code >= 400:
                raise_for(response, f"customer {cid}", _customer_record)
            return

    async def _restore(self, cid: str) -> Remote[Customer]:
        for attempt in (1, 2):
            try:
                response = await self.http.request("POST", f"customers/{cid}/restore")
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await self.get(cid)
                if not current.record.archived:
                    return current
                if attempt == 2:
                    raise
                continue
            if response.status_code >= 400:
                raise_for(response, f"customer {cid}", _customer_record)
            return _strict(decode(response), _customer_record, f"customer {cid}")
        raise AssertionError("unreachable")  # pragma: no cover
