"""sevDesk's wire conventions on top of ``HttpClient``: envelope, errors, paging.

sevDesk wraps everything in ``{"objects": ...}``, reports some failures
*inside* HTTP 200 (``{"error": {...}, "objects": null}``), says "not found"
with 400 as often as with 404, and ignores query filters it does not know.
This module turns all of that into plain values or one of the typed errors
of ``reconciler.domain.errors``, so the connector above it reads like the API docs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from loguru import logger

from reconciler.connectors.http import SAFE_METHODS, HttpClient
from reconciler.connectors.listing import ATTEMPTS, PageCheck, local_now, started_at
from reconciler.connectors.responses import json_body, without_nul
from reconciler.domain.errors import (
    FatalError,
    KleansyncError,
    NotFound,
    RemoteValidationError,
    StillReferenced,
    TransientError,
)
from reconciler.domain.nul import NUL

LABEL = "sevDesk"
#: sevDesk's own error code for "object not found" (API-NOTES §1).
NOT_FOUND_CODES = frozenset({"151"})
#: Largest page sevDesk accepts (API-NOTES §2); fewer pages = faster full reads.
MAX_PAGE = 1000
#: Extra attempts for a read that failed inside HTTP 200.
GET_ERROR_RETRIES = 2
#: sevDesk's id of the ContactAddress category "Rechnungsanschrift" (invoice address) on
#: real accounts, if /Category is silent.
DEFAULT_ADDRESS_CATEGORY = "47"


class ReferencedByDocuments(StillReferenced):
    """sevDesk refused a delete (409): documents such as invoices still refer to the record."""


class ErrorInsideOk(TransientError):
    """sevDesk answered HTTP 200 with an error object instead of data.

    For a write the outcome is unknown (``maybe_written``): read back first.
    """


class NotSupportedBySevdesk(RemoteValidationError):
    """The operation is one sevDesk (or this configuration) does not offer over the API."""


class SevdeskApi:
    """Typed calls against one sevDesk account; never lets the token into a message."""

    def __init__(self, http: HttpClient, token: str) -> None:
        self.http = http
        self._token = token
        self._country_code: dict[str, str] | None = None  # StaticCountry id -> "DE"
        self._country_id: dict[str, str] = {}  # "DE" -> StaticCountry id
        self._address_category: str | None = None
        self._contact_person: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        single: bool = False,
    ) -> Any:
        """Send one request and return its ``objects``; raise a typed error otherwise.

        ``single`` marks a request for one record by id, where sevDesk's 400
        means "not found" (spec: "Bad request. Contact was not found").
        """
        body, _response = await self._request(method, path, params, json, single)
        return body.get("objects")

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        single: bool,
    ) -> tuple[dict, httpx.Response]:
        """``call`` with the whole envelope and the HTTP response (for ``total`` and ``Date``)."""
        method = method.upper()
        for attempt in range(1, GET_ERROR_RETRIES + 2):
            try:
                return await self._call_once(method, path, params, json, single)
            except ErrorInsideOk:
                # (The HTTP layer already retried 5xx.) An error inside HTTP 200
                # is worth another try when it is only a read.
                if method not in SAFE_METHODS or attempt > GET_ERROR_RETRIES:
                    raise
                await self.http.sleep(self.http._backoff(attempt))
        raise AssertionError("unreachable")

    async def _call_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        single: bool,
    ) -> tuple[dict, httpx.Response]:
        try:
            response = await self.http.request(
                method, path, params=dict(params) if params else None, json=json
            )
        except KleansyncError as exc:
            # The HTTP layer quotes response bodies; a server echoing the
            # token back must not put it into our message.
            if self._token and self._token in exc.message:
                exc.message = self.scrub(exc.message)
                exc.args = (exc.message,)
            raise
        if response.status_code >= 400:
            try:
                body = without_nul(response.json(), response, LABEL)
            except ValueError:
                body = None
        else:
            body = json_body(response, LABEL) if response.content else {}
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code >= 400 or error:
            self._raise(method, path, response, error, single)
        if not isinstance(body, dict):
            raise FatalError(f"{LABEL} {method} /{path} answered without an 'objects' envelope")
        return body, response

    async def rows(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        """Every row of a list endpoint, proven complete (see ``listing``)."""
        return (await self.listing(path, params))[0]

    async def listing(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        enough: Callable[[int], Awaitable[bool]] | None = None,
    ) -> tuple[list[dict], dt.datetime]:
        """Every row of a list endpoint, and when sevDesk began answering it.

        ``enough(total)``, asked once after a first page that is not the whole
        list: True stops there (the rows are only that page; the caller knows
        why it needed no more, e.g. the total proves nothing was deleted).

        sevDesk silently truncates at ~100 rows without ``limit`` and has no
        cursor, so we always send ``limit`` and page by ``offset``, with
        ``countAll=true``: every page must name the same ``total`` and the
        rows must add up to it (``connectors.listing``). Otherwise rows were
        added or deleted meanwhile (offsets shift) or a page came back short:
        the list is read once more, then ``IncompleteListing``.
        """
        check = PageCheck()
        for _attempt in range(ATTEMPTS):
            check = PageCheck()
            found: list[dict] = []
            sent = local_now()
            as_of: dt.datetime | None = None
            while True:
                body, response = await self._request(
                    "GET",
                    path,
                    {
                        **(params or {}),
                        "limit": MAX_PAGE,
                        "offset": check.seen,
                        "countAll": "true",
                    },
                    None,
                    False,
                )
                if as_of is None:
                    as_of = started_at(response, sent)
                page = body.get("objects")
                if page is None:
                    page = []
                if not isinstance(page, list):
                    raise FatalError(
                        f"{LABEL} GET /{path} returned {type(page).__name__}, not a list"
                    )
                found.extend(page)
                if check.page(len(page), body.get("total"), MAX_PAGE):
                    break
                first = check.pages == 1 and check.total is not None
                if enough is not None and first and await enough(check.total or 0):
                    return found, as_of or sent
            if check.distinct(found):
                return found, as_of or sent
            logger.warning(
                "{} /{} list did not add up ({}); reading it again", LABEL, path, check.problem
            )
        raise check.fail(LABEL, f"/{path}")

    async def one(self, path: str, what: str) -> dict:
        """``GET /X/{id}``, which sevDesk answers with a one-element array."""
        objects = await self.call("GET", path, single=True)
        if isinstance(objects, dict):
            return objects
        if isinstance(objects, list) and objects and isinstance(objects[0], dict):
            return objects[0]
        raise NotFound(f"{LABEL} has no {what}")

    # -- account-wide lists, read once ------------------------------------------------
    async def countries(self) -> dict[str, str]:
        """StaticCountry id -> ISO-2 code (upper case), read once per connector."""
        if self._country_code is None:
            codes: dict[str, str] = {}
            for row in await self.rows("StaticCountry"):
                code = _text(row.get("code")) if isinstance(row, dict) else None
                id_ = _text(row.get("id")) if isinstance(row, dict) else None
                if id_ and code and len(code) == 2:
                    codes[id_] = code.upper()
            # The first row with a code wins the code -> id direction.
            for id_, code in reversed(list(codes.items())):
                self._country_id[code] = id_
            self._country_code = codes
        return self._country_code

    async def country_id(self, code: str | None) -> str:
        """StaticCountry id of an ISO-2 code; a missing code means Germany.

        sevDesk requires a country on every address, and ``Customer`` defaults
        to "DE" anyway.
        """
        await self.countries()
        code = (code or "DE").upper()
        if code not in self._country_id:
            raise RemoteValidationError(
                f"sevDesk does not know the country {code!r}", fields={"country": code}
            )
        return self._country_id[code]

    async def invoice_address_category(self) -> str:
        """Id of the ContactAddress category "Rechnungsanschrift" (invoice address)."""
        if self._address_category is None:
            found = DEFAULT_ADDRESS_CATEGORY
            try:
                rows = await self.rows("Category", {"objectType": "ContactAddress"})
            except (NotFound, RemoteValidationError):
                rows = []
            for row in rows:
                if not isinstance(row, dict) or row.get("objectType") != "ContactAddress":
                    continue  # sevDesk ignores filters it does not know: check every row
                names = (row.get("translationCode"), row.get("name"))
                if {"CATEGORY_INVOICE_ADDRESS", "Rechnungsanschrift", "Rechnungsadresse"} & set(
                    names
                ):
                    found = _text(row.get("id")) or found
                    break
            self._address_category = found
        return self._address_category

    async def contact_person_id(self) -> str:
        """The SevUser an invoice names as contact person: the account's first user."""
        if self._contact_person is None:
            users = await self.call("GET", "SevUser", params={"limit": 1})
            first = users[0] if isinstance(users, list) and users else None
            user_id = _text(first.get("id")) if isinstance(first, dict) else None
            if user_id is None:
                raise FatalError("sevDesk returned no user (GET /SevUser) to act as contact person")
            self._contact_person = user_id
        return self._contact_person

    # -- errors --------------------------------------------------------------------
    def _raise(
        self,
        method: str,
        path: str,
        response: httpx.Response,
        error: Any,
        single: bool,
    ) -> None:
        status = response.status_code
        message, code, declared = _error_parts(error, response)
        message = self.scrub(message)
        where = f"{LABEL} {method} /{path}"
        effective = declared if status == 200 and declared and declared >= 400 else status
        not_found = (
            effective == 404
            or code in NOT_FOUND_CODES
            or (effective == 400 and single)
            or ((single or method == "DELETE") and "not found" in message.lower())
        )
        if not_found:
            raise NotFound(f"{where}: not found ({message})")
        if effective == 409:
            if method == "DELETE":
                raise ReferencedByDocuments(
                    f"sevDesk refuses to delete /{path}: it is still referenced by documents "
                    f"(invoices, orders, vouchers …); delete or reassign those first ({message})"
                )
            raise RemoteValidationError(f"{where} conflict: {message}")
        if 400 <= effective < 500:
            # What sevDesk names as missing (an e-invoice's refusal lists it in ``data``).
            data = error.get("data") if isinstance(error, dict) else None
            listed = [str(d) for d in data if isinstance(d, str)] if isinstance(data, list) else []
            raise RemoteValidationError(
                f"{where} refused (HTTP {effective}): {message}",
                fields=dict.fromkeys(listed, "missing"),
            )
        # An error without a client-error code: the outcome of a write is unknown.
        if status < 400:
            raise ErrorInsideOk(
                f"{where} failed inside HTTP {status}: {message}",
                maybe_written=method not in SAFE_METHODS,
            )
        raise TransientError(
            f"{where} failed with HTTP {status}: {message}",
            maybe_written=method not in SAFE_METHODS,
        )

    def scrub(self, message: str) -> str:
        """Belt and braces: an error text never carries the API token."""
        return message.replace(self._token, "***") if self._token else message


def _error_parts(error: Any, response: httpx.Response) -> tuple[str, str | None, int | None]:
    """(message, sevDesk error code, declared HTTP code) of an error body."""
    if isinstance(error, dict):
        message = str(error.get("message") or "no message")
        code = error.get("code", error.get("errorCode"))
        declared = error.get("responseCode")
        try:
            declared_int = int(declared) if declared is not None else None
        except (TypeError, ValueError):
            declared_int = None
        return message, None if code is None else str(code), declared_int
    if isinstance(error, str) and error:
        return error, None, None
    text = response.text.strip().replace("\n", " ").replace(NUL, "")
    return (text[:200] or f"HTTP {response.status_code}"), None, None


def _text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()
