"""KleanApp's REST API as every collection uses it: envelope, paging, errors, versions.

Shared by ``customers``, ``units`` and ``invoices`` (mirroring
``connectors/sevdesk/api.py``): the ``{"data", "meta"}`` envelope and its
proof of completeness, the ``{"error": {...}}`` answer turned into the error
the engine acts on, ``If-Match`` versions and ``Idempotency-Key`` headers,
and the PATCH that reads back instead of repeating an unclear write. Money
arrives as JSON numbers; we decode them straight to ``Decimal``
(``parse_float=Decimal``) so no float ever touches an amount.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, NoReturn

import httpx
from loguru import logger

from reconciler.connectors.http import HttpClient
from reconciler.connectors.kleanapp.wire import R, _strict, _to_remote, _Unmappable
from reconciler.connectors.listing import ATTEMPTS, PageCheck, local_now, paused_gc, started_at
from reconciler.connectors.responses import without_nul
from reconciler.domain import json_text
from reconciler.domain.errors import (
    ChangedMeanwhile,
    ConfigError,
    FatalError,
    NotFound,
    RemoteValidationError,
    TransientError,
)
from reconciler.domain.i18n import _
from reconciler.domain.models import Listing, Quarantined, Remote
from reconciler.log import redact

SERVICE = "KleanApp"
#: The largest page KleanApp serves; fewer round trips under its rate limit.
PER_PAGE = 500


class KleanappApi:
    """Paged reads and read-back writes over one authenticated ``HttpClient``."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    async def rows(self, path: str, params: dict[str, str]) -> list[Any]:
        """Every row of a paginated list (see ``read_all``)."""
        return (await self.read_all(path, params))[0]

    async def read_all(
        self, path: str, params: dict[str, str], *, amounts: bool = True
    ) -> tuple[list[Any], dt.datetime]:
        """Every row of a paginated list, proven complete, and when KleanApp began answering.

        Complete means every page names the same ``meta.total`` and the rows
        add up to it (``connectors.listing``); a list that does not is read
        once more, then ``IncompleteListing``. ``amounts``: as in ``decode``.
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
                    raise_for(response, f"the {path} list")
                if as_of is None:
                    as_of = started_at(response, sent)
                body = decode(response, amounts=amounts)
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

    async def listing(
        self,
        path: str,
        params: dict[str, str],
        entity: type[R],
        build: Callable[[dict[str, Any]], R],
        *,
        amounts: bool = True,
    ) -> Listing[R]:
        """A whole list as canonical records; a row that cannot be one is quarantined."""
        rows, as_of = await self.read_all(path, params, amounts=amounts)
        listing: Listing[R] = Listing[entity](as_of=as_of)  # type: ignore[valid-type]
        with paused_gc():  # no I/O in here (see paused_gc)
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
                            label=_readable_number(row),
                        )
                    )
        return listing

    async def patch(
        self,
        path: str,
        what: str,
        changes: dict[str, Any],
        expected_version: str | None,
        build: Callable[[dict[str, Any]], R],
        read_back: Callable[[], Awaitable[Remote[R]]],
        *,
        on_conflict: Callable[[], Exception] | None = None,
    ) -> Remote[R]:
        """PATCH only ``changes``; on an unclear outcome read back before sending again.

        ``on_conflict``: the error for a 409 (a value another record holds).
        """
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    "PATCH", path, json=changes, headers=if_match(expected_version)
                )
            except TransientError as exc:
                if not exc.maybe_written:
                    raise
                current = await read_back()
                if all(getattr(current.record, k) == v for k, v in changes.items()):
                    return current
                if stale(current, expected_version):
                    raise ChangedMeanwhile(changed_message(what), current=current) from None
                if attempt == 2:
                    raise
                continue
            if response.status_code == 409 and on_conflict is not None:
                raise on_conflict()
            if response.status_code >= 400:
                raise_for(response, what, build)
            return _strict(decode(response), build, what)
        raise AssertionError("unreachable")  # pragma: no cover


# -- ids, versions and KleanApp's answers ------------------------------------------
def path_id(id: str, what: str) -> str:
    """KleanApp ids are integers; anything else cannot exist there."""
    text = str(id).strip()
    if not text.isascii() or not text.isdigit():
        raise NotFound(f"KleanApp has no {what} {id!r} (its ids are numbers)")
    return text


def if_match(version: str | None) -> dict[str, str] | None:
    return {"If-Match": str(version)} if version is not None else None


def idempotency(key: str | None) -> dict[str, str] | None:
    """The contract's ``Idempotency-Key`` header: a repeat with it answers the first create."""
    return {"Idempotency-Key": key} if key else None


def stale(remote: Remote[Any], expected_version: str | None) -> bool:
    return expected_version is not None and remote.version != str(expected_version)


def changed_message(what: str) -> str:
    return f"KleanApp {what} changed since it was read; not overwriting it"


def decode(response: httpx.Response, *, amounts: bool = True) -> Any:
    """The JSON body (amounts as ``Decimal``), without NUL characters (``without_nul``).

    ``amounts=False`` for an answer that carries none (a customer list): decoded by
    ``json_text.loads`` (orjson), several times as fast, a fraction as ``float``;
    the pages of a full run of 100,000 customers are most of its decoding (issue 21).
    """
    try:
        if amounts:
            data = json.loads(response.content, parse_float=Decimal)
        else:
            data = json_text.loads(response.content)
        return without_nul(data, response, SERVICE)
    except ValueError:
        raise FatalError(
            f"{SERVICE} answered HTTP {response.status_code} with a body that is not JSON"
        ) from None


def error_parts(response: httpx.Response) -> tuple[str, str, dict[str, str], Any]:
    """KleanApp's ``{"error": {code, message, fields?, current?}}``, tolerant of anything else."""
    try:
        body = json.loads(response.content, parse_float=Decimal)
        error = without_nul(body, response, SERVICE).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    fields = error.get("fields")
    if not isinstance(fields, dict):
        fields = {}
    return (
        str(error.get("code") or f"http_{response.status_code}"),
        redact(str(error.get("message") or "")),  # a server may quote our key back
        {str(k): str(v) for k, v in fields.items()},
        error.get("current"),
    )


def sevdesk_answered(response: httpx.Response) -> str | None:
    """ "sevDesk" if this refusal is in sevDesk's error envelope, not KleanApp's.

    sevDesk answers ``{"error": {"exceptionUUID", "message", …}, "objects": null}``
    (shared/sevdesk/API-NOTES.md §1); KleanApp's errors carry a ``code`` string
    and no ``objects``. Seen on a 401, it means sevDesk's URL is in [kleanapp].
    """
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if "objects" in body or (isinstance(error, dict) and "exceptionUUID" in error):
        return "sevDesk"
    return None


def wrong_base_url(response: httpx.Response) -> ConfigError:
    """A list KleanApp always has answered 404: the base URL points elsewhere.

    Named with the URL that was asked, and the usual cause: a base URL
    without its ``/api/v1`` path.
    """
    url = response.request.url.copy_with(query=None)
    if "/api/v1/" in url.path:
        return ConfigError(
            _("KleanApp answered 404 Not Found for %(url)s; check [kleanapp] base_url", url=url)
        )
    return ConfigError(
        _(
            "KleanApp answered 404 Not Found for %(url)s; check [kleanapp] base_url: the URL "
            "usually ends in /api/v1",
            url=url,
        )
    )


def raise_for(
    response: httpx.Response,
    what: str,
    build: Callable[[dict[str, Any]], Any] | None = None,
) -> NoReturn:
    """Turn a KleanApp error answer into the error the engine acts on.

    ``build`` maps the error's ``current`` record on a 412, so the engine gets
    the record as KleanApp has it now and can re-plan from it.
    """
    status = response.status_code
    code, message, fields, current = error_parts(response)
    detail = message or code
    if status == 404 and what.endswith(" list"):
        raise wrong_base_url(response)
    if status == 404:
        raise NotFound(f"KleanApp has no {what}")
    if status == 412:
        remote = None
        if build is not None:
            try:
                remote = _to_remote(current, build)
            except _Unmappable:
                remote = None
        raise ChangedMeanwhile(changed_message(what), current=remote)
    if 400 <= status < 500:
        raise RemoteValidationError(f"KleanApp refused {what}: {detail}", fields=fields)
    raise FatalError(f"KleanApp answered HTTP {status} for {what}: {detail}")


def _readable_number(row: Any) -> str | None:
    """The customer number of an unreadable row, when it has a readable one (for reports)."""
    number = row.get("customer_number") if isinstance(row, dict) else None
    return number.strip() or None if isinstance(number, str) else None
