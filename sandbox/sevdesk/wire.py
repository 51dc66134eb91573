"""sevDesk's wire conventions, shared by every route of the emulator.

The envelope (``{"objects": ...}``), the error body, paging with its strict
``limit`` check, the "changed since" filters in Unix seconds, and coercion of
request values into sevDesk's string-typed fields all live here so the route
modules read like the API description rather than like plumbing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from .store import BERLIN, ref, render

DEFAULT_LIMIT = 100  # [legacy] "Default is 100"
MAX_LIMIT = 1000  # [docs 2025_03_11]
NOT_FOUND_CODE = 151  # [obs] code 151 = not found
#: Largest magnitude an amount or quantity may have. sevDesk keeps money in fixed-point
#: columns; a larger value cannot be stored and is refused with 400 [inferred].
MAX_AMOUNT = Decimal("1e12")


class ApiError(Exception):
    """Raised by a route; turned into sevDesk's error body by the app."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        #: The error body's ``data`` (what an e-invoice lacks, ``einvoice``); else empty.
        self.data: list[Any] = []


def error_body(
    status: int, message: str, code: int | None = None, data: list[Any] | None = None
) -> dict[str, Any]:
    """sevDesk's recorded error shape: ``{"error": {...}, "objects": null}``.

    As in jernoxit/sevdesk-rs tests/fixtures/error_404_code_151.json and
    error_422_offline_account.json (live test account, 2026): a dashed UUID,
    ``errorCode`` 0, ``code`` null or a number, ``data`` an empty list.
    """
    return {
        "error": {
            "exceptionUUID": str(uuid.uuid4()),
            "message": message,
            "errorCode": 0,
            "code": code,
            "data": list(data or []),
            "responseCode": status,
        },
        "objects": None,
    }


def require(data: dict[str, Any], fields: Iterable[str], what: str = "") -> None:
    """400 naming every required field that is missing or empty, as sevDesk answers."""
    missing = [k for k in fields if data.get(k) in (None, "", [], {})]
    if missing:
        prefix = f"{what} is missing" if what else "Missing"
        raise ApiError(400, f"{prefix} required field(s): {', '.join(missing)}")


def not_found(object_name: str, id_: str) -> ApiError:
    return ApiError(404, f"{object_name} with id {id_} not found", NOT_FOUND_CODE)


def objects(payload: Any, status: int = 200, total: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {}
    if total is not None:
        body["total"] = str(total)
    body["objects"] = payload
    return JSONResponse(body, status_code=status)


def one(record: dict[str, Any], status: int = 200) -> JSONResponse:
    """A write's answer: the record wrapped as ``{"objects": {...}}`` [obs]."""
    return objects(render(record), status)


def as_list(record: dict[str, Any]) -> JSONResponse:
    """A single GET: sevDesk answers with a one-element array [spec]."""
    return objects([render(record)])


def deleted() -> JSONResponse:
    return objects([None])


# -- query parameters ------------------------------------------------------
def page(request: Request, items: Iterable[dict[str, Any]]) -> JSONResponse:
    """Apply limit/offset/countAll to an already filtered list and answer it."""
    q = request.query_params
    limit = DEFAULT_LIMIT
    if "limit" in q:
        raw = q["limit"]
        if not re.fullmatch(r"\d+", raw) or not 1 <= int(raw) <= MAX_LIMIT:
            raise ApiError(
                400,
                "Invalid 'limit' parameter. "
                f"The limit must be an integer between 1 and {MAX_LIMIT}.",
            )
        limit = int(raw)
    raw_offset = q.get("offset", "0")
    offset = int(raw_offset) if re.fullmatch(r"\d+", raw_offset) else 0
    rows = items if isinstance(items, list) else list(items)  # a cached listing: no copy
    total = len(rows) if q.get("countAll", "").lower() in ("true", "1") else None
    return objects([render(r) for r in rows[offset : offset + limit]], total=total)


def param_ts(value: str | None) -> int | None:
    """A "changed since" value: Unix seconds [obs]; ISO-8601 also tolerated."""
    if value is None or value == "":
        return None
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None  # sevDesk ignores what it cannot use; so do we
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BERLIN)
    return int(parsed.timestamp())


def time_filters(request: Request) -> Callable[[dict[str, Any]], bool]:
    """createAfter/createBefore/updateAfter/updateBefore, all strict (> and <)."""
    q = request.query_params
    bounds = {k: param_ts(q.get(k)) for k in ("createAfter", "createBefore", "updateAfter")}
    bounds["updateBefore"] = param_ts(q.get("updateBefore"))

    def keep(r: dict[str, Any]) -> bool:
        checks = (
            (bounds["createAfter"], lambda b: r["_created"] > b),
            (bounds["createBefore"], lambda b: r["_created"] < b),
            (bounds["updateAfter"], lambda b: r["_updated"] > b),
            (bounds["updateBefore"], lambda b: r["_updated"] < b),
        )
        return all(bound is None or test(bound) for bound, test in checks)

    return keep


# -- request bodies --------------------------------------------------------
async def body(request: Request) -> dict[str, Any]:
    """JSON or form-urlencoded body (sevDesk accepts both [spec])."""
    raw = await request.body()
    if not raw.strip():
        return {}
    ctype = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in ctype:
        try:
            form = raw.decode()
        except UnicodeDecodeError as exc:
            raise ApiError(400, "Request body is not valid UTF-8") from exc
        return _nest(parse_qsl(form, keep_blank_values=True))
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "Request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be an object")
    return data


def _no_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (Python accepts them, sevDesk's parser does not)."""
    raise ValueError(f"{name} is not a JSON value")


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``contact[id]=1`` -> ``{"contact": {"id": "1"}}`` (PHP-style form keys)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # "contact=1&contact[id]=2"
                raise ApiError(400, f"form field {key!r} clashes with {part!r}")
        if parts:
            node[parts[-1]] = value
    return out


def text(value: Any, field: str = "value") -> str | None:
    """Any scalar -> sevDesk's string form (numbers unpadded, flags "0"/"1").

    A JSON number beyond ``MAX_AMOUNT`` (``1e30``) is refused with 400 naming
    ``field`` [inferred: no column of sevDesk's takes it], never stored.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return number(decimal(value, field))
    if isinstance(value, dict | list):
        raise ApiError(400, f"'{field}' must be a scalar value")
    return str(value)


def flag(value: Any) -> str:
    """Truthy input -> "1", else "0"."""
    if isinstance(value, str):
        return "1" if value.strip().lower() in ("1", "true", "yes") else "0"
    return "1" if value else "0"


def decimal(value: Any, field: str) -> Decimal:
    """A request number (JSON number or numeric string) within ``MAX_AMOUNT``, else 400."""
    if isinstance(value, bool | dict | list):
        raise ApiError(400, f"'{field}' must be a number")
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ApiError(400, f"'{field}' must be a number") from exc
    if not d.is_finite() or abs(d) >= MAX_AMOUNT:
        raise ApiError(400, f"'{field}' is out of range")
    return d


def integer(value: Any, field: str) -> int:
    """A request integer (``2``, ``"2"``, ``2.0``), else 400 naming ``field``."""
    d = decimal(value, field)
    if d != d.to_integral_value():
        raise ApiError(400, f"'{field}' must be an integer")
    return int(d)


def number(value: Any) -> str:
    """sevDesk renders amounts without trailing zeros: "119", "-18.4".

    Any finite size renders (``1e30`` -> thirty-one digits); ``quantize`` is not
    used because it fails beyond the decimal context's precision.
    """
    d = Decimal(str(value))
    if not d.is_finite():
        raise ApiError(400, "Expected a finite number")
    if d == d.to_integral_value():
        return format(d.to_integral_value(), "f")
    return format(d.normalize(), "f")


def json_number(value: Any) -> int | float:
    """A stored amount as the JSON number sevDesk puts in a saveInvoice answer (30, 35.7)."""
    d = Decimal(str(value))
    return int(d) if d == d.to_integral_value() else float(d)


def ref_in(value: Any, object_name: str, field: str) -> dict[str, str]:
    """A reference from a request: ``{"id", "objectName"}`` or a bare id."""
    id_ = value.get("id") if isinstance(value, dict) else value
    if id_ is None or str(id_).strip() == "":
        raise ApiError(400, f"'{field}' must reference a {object_name} by id")
    return ref(str(id_), object_name)


def existing_ref(
    value: Any, object_name: str, field: str, lookup: Callable[[str], Any]
) -> dict[str, str]:
    """A reference from a request that must name a record the account has.

    ``lookup(id)`` is None when there is none; sevDesk then answers
    400 "<objectName> with id <id> not found", as it does for every reference.
    """
    target = ref_in(value, object_name, field)
    if lookup(target["id"]) is None:
        raise ApiError(400, f"{object_name} with id {target['id']} not found")
    return target
