"""The KleanApp connector: canonical customers, units and invoices over KleanApp's REST API.

Every KleanApp name lives in this module or in ``kleanapp_wire`` and nowhere
else, so a change of KleanApp's contract touches these two files (see
``../shared/kleanapp/openapi.yaml``). This one has the HTTP side: paths, query
parameters, the ``{"data", "meta"}`` envelope, the ``{"error": {...}}`` shape,
``If-Match`` versions, retries and read-backs. ``kleanapp_wire`` has the pure
translation of rows and request bodies to and from canonical records.

Why the writes look the way they do:

* KleanApp versions every record; a write carries ``If-Match: <version>``
  and a stale one is answered 412 with the current record. We turn that into
  ``ChangedMeanwhile(current=...)`` so the engine re-plans instead of
  overwriting an edit it has not seen.
* A write that failed without a clear answer (5xx, dropped connection) may
  have happened anyway. We never repeat it blindly: a create carries the
  engine's ``Idempotency-Key`` (the journal entry's), so repeating it with the
  same key answers the first create if it got through; without a key, and for
  every other write, we read back first (by customer number, unit name or the
  record itself) and send it once more only if it evidently did not happen.
* KleanApp never erases customers: "delete" archives, and archiving is also
  how the engine notices a customer went away, so lists include archived ones.
* Money arrives as JSON numbers; we decode them straight to ``Decimal``
  (``parse_float=Decimal``) so no float ever touches an amount.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, NoReturn

import httpx
from loguru import logger

from reconciler.connectors.base import Connector
from reconciler.connectors.http import HttpClient
from reconciler.connectors.kleanapp.wire import (
    CUSTOMER_FIELDS,
    R,
    _customer_body,
    _customer_matches,
    _customer_record,
    _date_param,
    _export_body,
    _invoice_record,
    _parse_time,
    _since_param,
    _strict,
    _to_remote,
    _unit_body,
    _unit_record,
    _Unmappable,
)
from reconciler.connectors.listing import ATTEMPTS, PageCheck, local_now, started_at
from reconciler.domain.errors import (
    ChangedMeanwhile,
    FatalError,
    NotFound,
    RemoteValidationError,
    StillReferenced,
    TransientError,
)
from reconciler.domain.models import (
    Canonical,
    Customer,
    Invoice,
    Listing,
    Quarantined,
    Remote,
    Unit,
)
from reconciler.log import redact

SERVICE = "KleanApp"
#: The largest page KleanApp serves; fewer round trips under its rate limit.
PER_PAGE = 500
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


class UnitInUse(StillReferenced):
    """KleanApp keeps a unit while invoice positions use it."""


class InvoiceAlreadyLinked(RemoteValidationError):
    """The invoice is already linked to a different sevDesk invoice."""

    def __init__(self, message: str, linked_to: str | None) -> None:
        super().__init__(message, fields={"external_id": "already linked"})
        self.linked_to = linked_to


class KleanappConnector(Connector):
    """Customers and units both ways, invoices read-and-link, against KleanApp."""

    side = "kleanapp"
    label = SERVICE

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        requests_per_second: float = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = HttpClient(
            service=SERVICE,
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            requests_per_second=requests_per_second,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def check_auth(self) -> None:
        response = await self.http.request("GET", "units", params={"per_page": 1})
        if response.status_code >= 400:
            _raise_for(response, "the unit list")

    # -- Connector interface -------------------------------------------------
    async def list(
        self, entity: type[Canonical], *, since: dt.datetime | None = None
    ) -> Listing[Any]:
        if entity is Customer:
            params = {"include_archived": "true"}
            if since is not None:
                params["updated_since"] = _since_param(since)
            return await self._listing("customers", params, Customer, _customer_record)
        if entity is Unit:
            # /units has no updated_since; returning more than asked is allowed.
            return await self._listing("units", {}, Unit, _unit_record)
        if entity is Invoice:
            return await self.list_invoices(since=since)
        raise TypeError(f"KleanApp connector does not handle {entity.__name__}")

    async def get(self, entity: type[Canonical], id: str) -> Remote[Any]:
        if entity is Customer:
            return await self._get_customer(id)
        if entity is Unit:
            return await self._get_unit(id)
        if entity is Invoice:
            return await self.get_invoice(id)
        raise TypeError(f"KleanApp connector does not handle {entity.__name__}")

    async def create(
        self, entity: type[Canonical], record: Canonical, *, idempotency_key: str | None = None
    ) -> Remote[Any]:
        if entity is Customer and isinstance(record, Customer):
            return await self._create_customer(record, idempotency_key)
        if entity is Unit and isinstance(record, Unit):
            return await self._create_unit(record, idempotency_key)
        raise TypeError(f"KleanApp connector cannot create {type(record).__name__} as {entity}")

    async def update(
        self,
        entity: type[Canonical],
        id: str,
        changes: dict[str, Any],
        *,
        expected_version: str | None = None,
    ) -> Remote[Any]:
        if entity is Customer:
            return await self._update_customer(id, changes, expected_version)
        if entity is Unit:
            return await self._update_unit(id, changes, expected_version)
        raise TypeError(f"KleanApp connector cannot update {entity.__name__}")

    async def delete(
        self, entity: type[Canonical], id: str, *, expected_version: str | None = None
    ) -> None:
        if entity is Customer:
            await self._archive_customer(_path_id(id, "customer"), expected_version)
            return
        if entity is Unit:
            # KleanApp's DELETE /units/{id} takes no If-Match: a unit has only
            # its name, so there is no edit a delete could silently discard.
            await self._delete_unit(_path_id(id, "unit"))
            return
        raise TypeError(f"KleanApp connector cannot delete {entity.__name__}")

    # -- customers -----------------------------------------------------------
    async def _get_customer(self, id: str) -> Remote[Customer]:
        cid = _path_id(id, "customer")
        response = await self.http.request("GET", f"customers/{cid}")
        if response.status_code >= 400:
            _raise_for(response, f"customer {cid}")
        return _strict(_decode(response), _customer_record, f"customer {cid}")

    async def _create_customer(self, record: Customer, key: str | None) -> Remote[Customer]:
        body = _customer_body(record)
        number = body.get("customer_number")
        started = dt.datetime.now(dt.UTC)
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "POST", "customers", json=body, headers=_idempotency(key)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                if key is not None:
                    if attempt == 2:
                        raise
                    continue  # the same key: KleanApp answers the first attempt if it got through
                found = await self._find_written_customer(body, started)
                if found is not None:
                    return await self._finish_create(found, record)
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409 and number:
                existing = await self._find_customer_by_number(number)
                if existing is not None and _customer_matches(existing.record, body):
                    # An earlier attempt of ours got through after all.
                    return await self._finish_create(existing, record)
                raise CustomerNumberTaken(number, existing)
            if response.status_code >= 400:
                _raise_for(response, f"customer {record.display_name}")
            created = _strict(_decode(response), _customer_record, "new customer")
            return await self._finish_create(created, record)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _finish_create(self, remote: Remote[Customer], wanted: Customer) -> Remote[Customer]:
        """Archive a freshly created customer when the canonical one is archived.

        A replayed answer (``Idempotency-Key``) shows the customer as first
        created, maybe archived since by that earlier attempt: read it first.
        """
        if wanted.archived and not remote.record.archived:
            remote = await self._get_customer(remote.id)
            if not remote.record.archived:
                await self._archive_customer(remote.id, remote.version)
                return await self._get_customer(remote.id)
        return remote

    async def _find_customer_by_number(self, number: str) -> Remote[Customer] | None:
        # KleanApp has no filter by number: scan, archived included (numbers stay taken).
        for row in await self._rows("customers", {"include_archived": "true"}):
            if isinstance(row, dict) and row.get("customer_number") == number:
                return _strict(row, _customer_record, f"customer {number}")
        return None

    async def _find_written_customer(
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
            existing = await self._find_customer_by_number(number)
            if existing is None:
                return None
            if _customer_matches(existing.record, body):
                return existing
            raise CustomerNumberTaken(number, existing)
        newest: Remote[Customer] | None = None
        for row in await self._rows("customers", {"include_archived": "true"}):
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

    async def _update_customer(
        self, id: str, changes: dict[str, Any], expected_version: str | None
    ) -> Remote[Customer]:
        cid = _path_id(id, "customer")
        fields = dict(changes)
        archived = fields.pop("archived", None)
        unknown = set(fields) - set(CUSTOMER_FIELDS)
        if unknown:
            raise ValueError(f"not customer fields: {', '.join(sorted(unknown))}")
        if archived is not None and not isinstance(archived, bool):
            raise ValueError("archived must be true or false")
        if fields:
            remote = await self._patch(
                f"customers/{cid}",
                f"customer {cid}",
                fields,
                expected_version,
                _customer_record,
                lambda: self._get_customer(cid),
            )
        else:
            remote = await self._get_customer(cid)
            if archived is not None and _stale(remote, expected_version):
                raise ChangedMeanwhile(_changed_message(f"customer {cid}"), current=remote)
        if archived is True and not remote.record.archived:
            await self._archive_customer(cid, remote.version)
            remote = await self._get_customer(cid)
        elif archived is False and remote.record.archived:
            remote = await self._restore_customer(cid)
        return remote

    async def _archive_customer(self, cid: str, version: str | None) -> None:
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "DELETE", f"customers/{cid}", headers=_if_match(version)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await self._get_customer(cid)
                if current.record.archived:
                    return
                if _stale(current, version):
                    raise ChangedMeanwhile(
                        _changed_message(f"customer {cid}"), current=current
                    ) from None
                if attempt == 2:
                    raise
                continue
            if response.status_code >= 400:
                _raise_for(response, f"customer {cid}", _customer_record)
            return

    async def _restore_customer(self, cid: str) -> Remote[Customer]:
        for attempt in (1, 2):
            try:
                response = await self.http.request("POST", f"customers/{cid}/restore")
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await self._get_customer(cid)
                if not current.record.archived:
                    return current
                if attempt == 2:
                    raise
                continue
            if response.status_code >= 400:
                _raise_for(response, f"customer {cid}", _customer_record)
            return _strict(_decode(response), _customer_record, f"customer {cid}")
        raise AssertionError("unreachable")  # pragma: no cover

    # -- units ---------------------------------------------------------------
    async def _get_unit(self, id: str) -> Remote[Unit]:
        uid = _path_id(id, "unit")
        # KleanApp has no GET /units/{id}; units are few, the list is cheap.
        for row in await self._rows("units", {}):
            if isinstance(row, dict) and str(row.get("id")) == uid:
                return _strict(row, _unit_record, f"unit {uid}")
        raise NotFound(f"KleanApp has no unit {uid}")

    async def _find_unit(self, name: str) -> Remote[Unit] | None:
        wanted = name.strip().casefold()
        for row in await self._rows("units", {}):
            if isinstance(row, dict) and str(row.get("name", "")).strip().casefold() == wanted:
                return _strict(row, _unit_record, f"unit {name}")
        return None

    async def _create_unit(self, record: Unit, key: str | None) -> Remote[Unit]:
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "POST", "units", json=_unit_body(record), headers=_idempotency(key)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                if key is not None:
                    if attempt == 2:
                        raise
                    continue  # the same key: KleanApp answers the first attempt if it got through
                found = await self._find_unit(record.name)
                if found is not None:
                    return found
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409:
                # Names are unique case-insensitively: "std" already existing *is* "Std".
                found = await self._find_unit(record.name)
                if found is not None:
                    return found
            if response.status_code >= 400:
                _raise_for(response, f"unit {record.name!r}")
            return _strict(_decode(response), _unit_record, "new unit")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _update_unit(
        self, id: str, changes: dict[str, Any], expected_version: str | None
    ) -> Remote[Unit]:
        uid = _path_id(id, "unit")
        unknown = set(changes) - {"name"}
        if unknown:
            raise ValueError(f"not unit fields: {', '.join(sorted(unknown))}")
        if not changes:
            return await self._get_unit(uid)
        return await self._patch(
            f"units/{uid}",
            f"unit {uid}",
            {"name": changes["name"]},
            expected_version,
            _unit_record,
            lambda: self._get_unit(uid),
        )

    async def _delete_unit(self, uid: str) -> None:
        for attempt in (1, 2):
            try:
                response = await self.http.request("DELETE", f"units/{uid}")
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                try:
                    await self._get_unit(uid)
                except NotFound:
                    return
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409:
                code, message, _, _ = _error_parts(response)
                raise UnitInUse(
                    f"KleanApp keeps unit {uid}: invoice positions still use it ({message or code})"
                )
            if response.status_code >= 400:
                _raise_for(response, f"unit {uid}")
            return

    # -- invoices ------------------------------------------------------------
    async def list_invoices(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        statuses: Iterable[str] | None = None,
        exported: bool | None = None,
        since: dt.datetime | None = None,
    ) -> Listing[Invoice]:
        """Invoices as KleanApp's "Rechnungsexport" filters them (Von/Bis/Status/exportiert)."""
        params: dict[str, str] = {}
        if date_from is not None:
            params["from"] = _date_param(date_from)
        if date_to is not None:
            params["to"] = _date_param(date_to)
        if statuses is not None:
            params["status"] = ",".join(statuses)
        if exported is not None:
            params["exported"] = "true" if exported else "false"
        if since is not None:
            params["updated_since"] = _since_param(since)
        return await self._listing("invoices", params, Invoice, _invoice_record)

    async def get_invoice(self, id: str) -> Remote[Invoice]:
        iid = _path_id(id, "invoice")
        response = await self.http.request("GET", f"invoices/{iid}")
        if response.status_code >= 400:
            _raise_for(response, f"invoice {iid}")
        return _strict(_decode(response), _invoice_record, f"invoice {iid}")

    async def link_invoice(self, id: str, external_id: str) -> Remote[Invoice]:
        """Record the sevDesk invoice id on the KleanApp invoice, which locks it there.

        Linking again to the same id is a no-op success; to another id it is
        ``InvoiceAlreadyLinked`` (one KleanApp invoice, one sevDesk invoice).
        """
        iid = _path_id(id, "invoice")
        body = _export_body(external_id, dt.datetime.now(dt.UTC))
        for attempt in (1, 2):
            try:
                response = await self.http.request("PUT", f"invoices/{iid}/export", json=body)
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await self.get_invoice(iid)
                if current.record.exported_to == external_id:
                    return current
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409:
                current = await self.get_invoice(iid)
                if current.record.exported_to == external_id:
                    return current
                raise InvoiceAlreadyLinked(
                    f"KleanApp invoice {current.record.number} is already linked to sevDesk "
                    f"invoice {current.record.exported_to}, not {external_id}",
                    current.record.exported_to,
                )
            if response.status_code >= 400:
                _raise_for(response, f"invoice {iid}")
            return _strict(_decode(response), _invoice_record, f"invoice {iid}")
        raise AssertionError("unreachable")  # pragma: no cover

    # -- webhooks (added for `kleansync serve`, reconciler/service.py) ----------
    async def list_webhooks(self) -> list[dict[str, Any]]:
        """The registered receivers: ``{"id", "url", "events", "secret"?}`` each."""
        response = await self.http.request("GET", "webhooks")
        if response.status_code >= 400:
            _raise_for(response, "the webhook list")
        body = _decode(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise FatalError(f"{SERVICE} answered the webhook list without data")
        return [row for row in data if isinstance(row, dict)]

    async def register_webhook(self, url: str, events: list[str], secret: str) -> dict[str, Any]:
        """Register a receiver; KleanApp then signs every delivery with ``secret``.

        A duplicate registration only means duplicate deliveries, which the
        receiver drops by delivery id, so an unclear outcome is not read back.
        """
        body = {"url": url, "events": list(events), "secret": secret}
        response = await self.http.request("POST", "webhooks", json=body)
        if response.status_code >= 400:
            _raise_for(response, f"the webhook registration for {url}")
        created = _decode(response)
        return created if isinstance(created, dict) else {}

    async def delete_webhook(self, webhook_id: str) -> None:
        wid = _path_id(webhook_id, "webhook")
        response = await self.http.request("DELETE", f"webhooks/{wid}")
        if response.status_code >= 400 and response.status_code != 404:
            _raise_for(response, f"webhook {wid}")

    # -- end webhooks ------------------------------------------------------------

    # -- plumbing --------------------------------------------------------------
    async def _rows(self, path: str, params: dict[str, str]) -> list[Any]:
        """Every row of a paginated list (see ``_read_all``)."""
        return (await self._read_all(path, params))[0]

    async def _read_all(self, path: str, params: dict[str, str]) -> tuple[list[Any], dt.datetime]:
        """Every row of a paginated list, proven complete, and when KleanApp began answering.

        Complete means every page names the same ``meta.total`` and the rows
        add up to it (``connectors.listing``); a list that does not is read
        once more, then ``IncompleteListing``.
        """
        check = PageCheck()
        for _attempt in range(ATTEMPTS):
            check = PageCheck()
            rows: list[Any] = []
            sent = local_now()
            as_of: dt.datetime | None = None
            page = 1
            while True:
                response = await self.http.request(
                    "GET", path, params={**params, "page": page, "per_page": PER_PAGE}
                )
                if response.status_code >= 400:
                    _raise_for(response, f"the {path} list")
                if as_of is None:
                    as_of = started_at(response, sent)
                body = _decode(response)
                data = body.get("data") if isinstance(body, dict) else None
                meta = body.get("meta") if isinstance(body, dict) else None
                if not isinstance(data, list) or not isinstance(meta, dict):
                    raise FatalError(f"{SERVICE} answered the {path} list without data/meta")
                rows.extend(data)
                per_page = meta.get("per_page")
                per_page = per_page if isinstance(per_page, int) and per_page > 0 else PER_PAGE
                if check.page(len(data), meta.get("total"), per_page):
                    break
                page += 1
            if check.distinct(rows):
                return rows, as_of or sent
            logger.warning(
                "{} {} list did not add up ({}); reading it again", SERVICE, path, check.problem
            )
        raise check.fail(SERVICE, path)

    async def _listing(
        self,
        path: str,
        params: dict[str, str],
        entity: type[R],
        build: Callable[[dict[str, Any]], R],
    ) -> Listing[R]:
        rows, as_of = await self._read_all(path, params)
        listing: Listing[R] = Listing[entity](as_of=as_of)  # type: ignore[valid-type]
        for row in rows:
            try:
                listing.records.append(_to_remote(row, build))
            except _Unmappable as exc:
                rid = row.get("id") if isinstance(row, dict) else None
                listing.quarantined.append(
                    Quarantined(
                        side="kleanapp",
                        entity=entity.__name__,
                        id=None if rid is None else str(rid),
                        reason=str(exc),
                    )
                )
        return listing

    async def _patch(
        self,
        path: str,
        what: str,
        changes: dict[str, Any],
        expected_version: str | None,
        build: Callable[[dict[str, Any]], R],
        read_back: Callable[[], Awaitable[Remote[R]]],
    ) -> Remote[R]:
        """PATCH only ``changes``; on an unclear outcome read back before sending again."""
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "PATCH", path, json=changes, headers=_if_match(expected_version)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await read_back()
                if all(getattr(current.record, k) == v for k, v in changes.items()):
                    return current
                if _stale(current, expected_version):
                    raise ChangedMeanwhile(_changed_message(what), current=current) from None
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409 and changes.get("customer_number"):
                raise CustomerNumberTaken(changes["customer_number"])
            if response.status_code >= 400:
                _raise_for(response, what, build)
            return _strict(_decode(response), build, what)
        raise AssertionError("unreachable")  # pragma: no cover


# -- ids, versions and KleanApp's answers ------------------------------------------
def _path_id(id: str, what: str) -> str:
    """KleanApp ids are integers; anything else cannot exist there."""
    text = str(id).strip()
    if not text.isascii() or not text.isdigit():
        raise NotFound(f"KleanApp has no {what} {id!r} (its ids are numbers)")
    return text


def _if_match(version: str | None) -> dict[str, str] | None:
    return {"If-Match": str(version)} if version is not None else None


def _idempotency(key: str | None) -> dict[str, str] | None:
    """The contract's ``Idempotency-Key`` header: a repeat with it answers the first create."""
    return {"Idempotency-Key": key} if key else None


def _stale(remote: Remote[Any], expected_version: str | None) -> bool:
    return expected_version is not None and remote.version != str(expected_version)


def _changed_message(what: str) -> str:
    return f"KleanApp {what} changed since it was read; not overwriting it"


def _decode(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise FatalError(
            f"{SERVICE} answered HTTP {response.status_code} with a body that is not JSON"
        ) from None


def _error_parts(response: httpx.Response) -> tuple[str, str, dict[str, str], Any]:
    """KleanApp's ``{"error": {code, message, fields?, current?}}``, tolerant of anything else."""
    try:
        error = json.loads(response.content, parse_float=Decimal).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    fields = error.get("fields") if isinstance(error.get("fields"), dict) else {}
    return (
        str(error.get("code") or f"http_{response.status_code}"),
        redact(str(error.get("message") or "")),  # a server may quote our key back
        {str(k): str(v) for k, v in fields.items()},
        error.get("current"),
    )


def _raise_for(
    response: httpx.Response,
    what: str,
    build: Callable[[dict[str, Any]], Any] | None = None,
) -> NoReturn:
    """Turn a KleanApp error answer into the error the engine acts on.

    ``build`` maps the error's ``current`` record on a 412, so the engine gets
    the record as KleanApp has it now and can re-plan from it.
    """
    status = response.status_code
    code, message, fields, current = _error_parts(response)
    detail = message or code
    if status == 404:
        raise NotFound(f"KleanApp has no {what}")
    if status == 412:
        remote = None
        if build is not None:
            try:
                remote = _to_remote(current, build)
            except _Unmappable:
                remote = None
        raise ChangedMeanwhile(_changed_message(what), current=remote)
    if 400 <= status < 500:
        raise RemoteValidationError(f"KleanApp refused {what}: {detail}", fields=fields)
    raise FatalError(f"KleanApp answered HTTP {status} for {what}: {detail}")
