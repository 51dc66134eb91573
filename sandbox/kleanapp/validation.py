"""Input checks of the KleanApp emulator, in the contract's own terms.

Every rule here comes from ``../shared/kleanapp/openapi.yaml`` (maxLengths,
required-by-kind, email format, country pattern, paging bounds). Failures are
raised as :class:`ApiError` carrying ``fields`` ({name: message}) so a client
learns *which* field KleanApp rejected, as the real service would tell it.

The emulator is deliberately stricter than a lenient server in one respect:
unknown body fields are rejected (422) instead of ignored, so a connector that
misspells a field name fails loudly in tests rather than losing data.
Read-only fields a client may echo back (``id``, ``version``, ...) are ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

CENT = Decimal("0.01")
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
CUSTOMER_NUMBER_RE = re.compile(r"^K-(\d{5,})$")

#: Nullable string fields of CustomerInput and their maxLength.
CUSTOMER_STRINGS: dict[str, int] = {
    "customer_number": 32,
    "company_name": 200,
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "phone": 40,
    "mobile": 40,
    "street": 200,
    "postal_code": 16,
    "city": 100,
    "vat_id": 32,
    "note": 2000,
}
#: CustomerInput's fields in the contract's order (the order GET shows them in).
CUSTOMER_FIELDS = (
    "customer_number",
    "kind",
    *[k for k in CUSTOMER_STRINGS if k not in ("customer_number", "vat_id", "note")],
    "country",
    "vat_id",
    "note",
)
CUSTOMER_READ_ONLY = frozenset({"id", "archived", "version", "created_at", "updated_at"})
INVOICE_STATUSES = ("draft", "open", "paid", "cancelled")
WEBHOOK_EVENTS = ("invoice.saved", "customer.saved", "customer.archived", "unit.saved")


@dataclass
class ApiError(Exception):
    """An error answer in KleanApp's shape: {"error": {code, message, fields?, current?}}."""

    status: int
    code: str
    message: str
    fields: dict[str, str] | None = None
    current: dict[str, Any] | None = field(default=None)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        if self.current is not None:
            error["current"] = self.current
        return {"error": error}


def invalid(fields: dict[str, str], message: str = "validation failed") -> ApiError:
    return ApiError(422, "validation_failed", message, fields=fields)


# -- formatting --------------------------------------------------------------
def now() -> dt.datetime:
    """The current instant in UTC, cut to milliseconds (what the wire shows).

    Cutting here keeps ``updated_since=<a timestamp we returned>`` exact: the
    stored value equals the shown one. ``datetime.now(UTC)`` so freezegun works.
    """
    stamp = dt.datetime.now(dt.UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def iso(stamp: dt.datetime) -> str:
    """RFC 3339 in UTC with a trailing Z, e.g. 2026-03-01T09:30:00.000Z."""
    return stamp.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def num(value: Decimal) -> float | int:
    """A Decimal as a JSON number (int when integral, so 19 stays 19)."""
    return int(value) if value == value.to_integral_value() else float(value)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# -- query parameters -----------------------------------------------------------
def parse_int(query: Mapping[str, str], name: str, default: int, lo: int, hi: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid({name: "must be an integer"}) from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise invalid({name: f"must be {bound}"})
    return value


def parse_paging(query: Mapping[str, str]) -> tuple[int, int]:
    page = parse_int(query, "page", 1, 1, None)
    per_page = parse_int(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    return page, per_page


def parse_bool(query: Mapping[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid({name: "must be true or false"})


def parse_datetime(raw: Any, name: str) -> dt.datetime:
    """RFC 3339 with an offset (naive times are ambiguous and refused)."""
    if not isinstance(raw, str):
        raise invalid({name: "must be an RFC 3339 date-time"})
    try:
        stamp = dt.datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        raise invalid({name: "must be an RFC 3339 date-time"}) from None
    if stamp.tzinfo is None:
        raise invalid({name: "must carry a UTC offset, e.g. 2026-01-31T00:00:00Z"})
    return stamp.astimezone(dt.UTC)


def parse_date(raw: Any, name: str) -> dt.date:
    if not isinstance(raw, str):
        raise invalid({name: "must be a date YYYY-MM-DD"})
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise invalid({name: "must be a date YYYY-MM-DD"}) from None


def parse_if_match(raw: str | None) -> int | None:
    """``If-Match: 3`` (quoted or weak ETag forms are accepted too)."""
    if raw is None:
        return None
    cleaned = raw.strip().removeprefix("W/").strip('"')
    try:
        return int(cleaned)
    except ValueError:
        raise invalid({"If-Match": "must be the record's integer version"}) from None


# -- bodies ------------------------------------------------------------------------
def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid({"body": "must be a JSON object"})
    return body


def customer_changes(body: Any) -> dict[str, Any]:
    """The CustomerInput fields present in ``body``, type- and length-checked.

    Returns only what was given, so PATCH can apply "left out stays, null
    clears". Rules that need the whole record (kind -> required name) are in
    :func:`check_customer`.
    """
    body = require_object(body)
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in CUSTOMER_READ_ONLY:
            continue
        if key not in CUSTOMER_FIELDS:
            errors[key] = "unknown field"
        elif key == "kind":
            if value not in ("company", "person"):
                errors[key] = "must be company or person"
        elif key == "country":
            if not isinstance(value, str) or not COUNTRY_RE.match(value):
                errors[key] = "must be an ISO 3166-1 alpha-2 code like DE"
        elif value is not None and not isinstance(value, str):
            errors[key] = "must be a string or null"
        elif value is not None and len(value) > CUSTOMER_STRINGS[key]:
            errors[key] = f"must be at most {CUSTOMER_STRINGS[key]} characters"
        elif key == "email" and value is not None and not EMAIL_RE.match(value):
            errors[key] = "must be an e-mail address"
        elif key == "customer_number" and value is not None and not value.strip():
            errors[key] = "must not be empty"
        out[key] = value
    if errors:
        raise invalid(errors)
    return out


def check_customer(fields: Mapping[str, Any]) -> None:
    """Whole-record rules: a company needs company_name, a person last_name."""
    if fields.get("kind") == "company" and not (fields.get("company_name") or "").strip():
        raise invalid({"company_name": "required for a company"})
    if fields.get("kind") == "person" and not (fields.get("last_name") or "").strip():
        raise invalid({"last_name": "required for a person"})


def unit_name(body: Any) -> str:
    body = require_object(body)
    extra = [k for k in body if k not in ("name", "id", "version", "created_at", "updated_at")]
    if extra:
        raise invalid(dict.fromkeys(extra, "unknown field"))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid({"name": "required"})
    if len(name) > 50:
        raise invalid({"name": "must be at most 50 characters"})
    return name.strip()


#: ``ExportLink.accounting_status`` [contract]: the invoice's state in the accounting system.
ACCOUNTING_STATUSES = ("draft", "open", "partially_paid", "paid", "cancelled")
EXPORT_LINK_FIELDS = frozenset(
    {
        "system",
        "external_id",
        "exported_at",
        "document_number",
        "accounting_status",
        "paid_amount",
        "status_checked_at",
    }
)
#: The fields a repeated PUT of the same link may change (the rest stays as first linked).
EXPORT_STATUS_FIELDS = ("document_number", "accounting_status", "paid_amount", "status_checked_at")


def export_link(body: Any) -> dict[str, Any]:
    """A ``PUT /invoices/{id}/export`` body, checked whole (every wrong field named at once).

    The four status fields are optional and nullable; the ones given are
    returned, the ones left out are not (a repeated PUT keeps what it omits).
    """
    body = require_object(body)
    errors: dict[str, str] = dict.fromkeys(
        (k for k in body if k not in EXPORT_LINK_FIELDS), "unknown field"
    )
    if body.get("system") != "sevdesk":
        errors["system"] = "must be sevdesk"
    external_id = body.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip():
        errors["external_id"] = "required"
    link: dict[str, Any] = {"system": "sevdesk", "external_id": external_id}
    try:
        link["exported_at"] = parse_datetime(body.get("exported_at"), "exported_at")
    except ApiError as exc:
        errors.update(exc.fields or {})
    if "document_number" in body:
        number = body["document_number"]
        if number is not None and (not isinstance(number, str) or not number.strip()):
            errors["document_number"] = "must be a non-empty string or null"
        link["document_number"] = number
    if "accounting_status" in body:
        status = body["accounting_status"]
        if status is not None and status not in ACCOUNTING_STATUSES:
            errors["accounting_status"] = "must be one of " + ", ".join(ACCOUNTING_STATUSES)
        link["accounting_status"] = status
    if "paid_amount" in body:
        try:
            paid = None if body["paid_amount"] is None else decimal_of(body["paid_amount"], "")
        except ApiError:
            paid, errors["paid_amount"] = None, "must be a number or null"
        if paid is not None and (paid < 0 or paid != cents(paid) or paid >= 10**12):
            errors["paid_amount"] = "EUR, at least 0, with at most two decimals"
        link["paid_amount"] = paid
    if "status_checked_at" in body:
        try:
            raw = body["status_checked_at"]
            link["status_checked_at"] = (
                None if raw is None else parse_datetime(raw, "status_checked_at")
            )
        except ApiError as exc:
            errors.update(exc.fields or {})
    if errors:
        raise invalid(errors)
    return link


def webhook_input(body: Any) -> dict[str, Any]:
    body = require_object(body)
    errors: dict[str, str] = {}
    url = body.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
        errors["url"] = "must be an absolute http(s) URL"
    events = body.get("events")
    if not isinstance(events, list) or not events or any(e not in WEBHOOK_EVENTS for e in events):
        errors["events"] = "must be a non-empty list of: " + ", ".join(WEBHOOK_EVENTS)
    secret = body.get("secret")
    if not isinstance(secret, str) or len(secret) < 16:
        errors["secret"] = "must be a string of at least 16 characters"
    if errors:
        raise invalid(errors)
    return {"url": url, "events": list(dict.fromkeys(events)), "secret": secret}


def decimal_of(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid({name: "must be a number"})
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise invalid({name: "must be a number"}) from None
    if not result.is_finite():
        raise invalid({name: "must be a number"})
    return result
