"""Pure translation between KleanApp's wire shapes and the canonical records.

Kept apart from the HTTP side (``api``, ``customers``, ``units``,
``invoices``: paths, query parameters, envelopes, error answers, retries and
read-backs) because none of this does I/O: every function takes a row or a
record and gives back the other, so the rules can be read, and tested,
without an emulator. KleanApp's record field names live here; the HTTP side
only knows its paths, the webhook body and the few row fields its read-backs
match on (``id``, ``name``, ``customer_number``, ``created_at``). See
``../shared/kleanapp/openapi.yaml``.

A row that cannot become a canonical record raises ``_Unmappable`` with the
reason: a listing quarantines that row, a single record asked for
(``_strict``) becomes ``RemoteValidationError``. Amounts are ``Decimal``
throughout, times aware UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from reconciler.domain.errors import RemoteValidationError
from reconciler.domain.models import Canonical, Customer, Invoice, InvoicePosition, Remote, Unit

#: Customer fields KleanApp accepts on create/PATCH (its names happen to be ours).
CUSTOMER_FIELDS = (
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
    "country",
    "vat_id",
    "note",
)
#: Fields KleanApp fills in when a create leaves them out, so "absent" is not "empty".
SERVER_DEFAULTED = frozenset({"customer_number", "country"})

R = TypeVar("R", bound=Canonical)


class _Unmappable(ValueError):
    """A KleanApp row that cannot become a canonical record; the reason says why."""


# -- rows -> canonical records ---------------------------------------------------
def _customer_record(row: dict[str, Any]) -> Customer:
    if row.get("kind") not in ("company", "person"):
        raise _Unmappable(f"kind is {row.get('kind')!r}, not company or person")
    if not isinstance(row.get("archived"), bool):
        raise _Unmappable("archived is missing or not true/false")
    return Customer(
        **{f: row.get(f) for f in CUSTOMER_FIELDS if f in row}, archived=row["archived"]
    )


def _unit_record(row: dict[str, Any]) -> Unit:
    return Unit(name=row.get("name"))


def _invoice_record(row: dict[str, Any]) -> Invoice:
    positions = row.get("positions")
    if not isinstance(positions, list):
        raise _Unmappable("positions is missing or not a list")
    export = row.get("export")
    customer_id = row.get("customer_id")
    if customer_id is None or isinstance(customer_id, bool):
        raise _Unmappable("customer_id is missing")
    return Invoice(
        number=row.get("number"),
        customer_id=str(customer_id),
        invoice_date=row.get("invoice_date"),
        delivery_date=row.get("delivery_date"),
        status=row.get("status"),
        currency=row.get("currency") or "EUR",
        header_text=row.get("header_text"),
        footer_text=row.get("footer_text"),
        positions=tuple(_position(p, i) for i, p in enumerate(positions, 1)),
        total_net=_money(row.get("total_net"), "total_net", optional=True),
        total_gross=_money(row.get("total_gross"), "total_gross", optional=True),
        locked=row.get("locked"),
        exported_to=export.get("external_id") if isinstance(export, dict) else None,
        accounting_status=export.get("accounting_status") if isinstance(export, dict) else None,
        paid_amount=(
            _money(export.get("paid_amount"), "export.paid_amount", optional=True)
            if isinstance(export, dict)
            else None
        ),
    )


def _position(row: Any, number: int) -> InvoicePosition:
    if not isinstance(row, dict):
        raise _Unmappable(f"position {number} is not an object")
    return InvoicePosition(
        name=row.get("product_name"),
        description=row.get("description"),
        quantity=_money(row.get("quantity"), f"position {number} quantity"),
        unit=row.get("unit_name"),
        unit_price_net=_money(row.get("unit_price_net"), f"position {number} unit_price_net"),
        tax_rate=_money(row.get("tax_rate"), f"position {number} tax_rate"),
    )


def _money(value: Any, name: str, *, optional: bool = False) -> Decimal | None:
    """A JSON number as an exact Decimal.

    ``api.decode`` already parsed floats as Decimal.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _Unmappable(f"{name} is not a number")
    try:
        # str() so that a float, should one slip through, keeps its short repr.
        return Decimal(str(value))
    except InvalidOperation:
        raise _Unmappable(f"{name} is not a number") from None


# -- canonical records -> request bodies ------------------------------------------
def _customer_body(record: Customer) -> dict[str, Any]:
    """The create body: every set field; unset ones left for KleanApp's defaults."""
    return {f: getattr(record, f) for f in CUSTOMER_FIELDS if getattr(record, f) is not None}


def _unit_body(record: Unit) -> dict[str, Any]:
    """The create body of a unit: it has nothing but its name."""
    return {"name": record.name}


def _export_body(
    external_id: str, exported_at: dt.datetime, status: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The body that links a KleanApp invoice to the sevDesk invoice ``external_id``.

    ``status`` (``document_number``, ``accounting_status``, ``paid_amount`` as
    Decimal, ``status_checked_at`` as datetime) is what sevDesk says of it;
    the same link PUT again updates those fields in KleanApp.
    """
    body: dict[str, Any] = {
        "system": "sevdesk",
        "external_id": external_id,
        "exported_at": _format_time(exported_at),
    }
    for name, value in (status or {}).items():
        if isinstance(value, dt.datetime):
            value = _format_time(value)
        elif isinstance(value, Decimal):
            value = float(value)  # a JSON number; two decimals survive the round trip
        body[name] = value
    return body


# -- comparing, wrapping, times ----------------------------------------------------
def _customer_matches(
    existing: Customer, body: dict[str, Any], ignore: tuple[str, ...] = ()
) -> bool:
    """Is ``existing`` what creating ``body`` would have produced? (``archived`` aside)."""
    for name in CUSTOMER_FIELDS:
        if name in ignore:
            continue
        if name in body:
            if getattr(existing, name) != body[name]:
                return False
        elif name not in SERVER_DEFAULTED and getattr(existing, name) is not None:
            return False
    return True


def _to_remote(row: Any, build: Callable[[dict[str, Any]], R]) -> Remote[R]:
    """One KleanApp row as a ``Remote``; ``_Unmappable`` with a reason if it cannot be."""
    if not isinstance(row, dict):
        raise _Unmappable("not a JSON object")
    rid, version = row.get("id"), row.get("version")
    if rid is None or isinstance(rid, bool) or str(rid) == "":
        raise _Unmappable("id is missing")
    if version is None or isinstance(version, bool):
        raise _Unmappable("version is missing")
    updated_at = _parse_time(row.get("updated_at"), "updated_at")
    try:
        record = build(row)
    except ValidationError as exc:
        raise _Unmappable(_summary(exc)) from None
    return _remote_of(type(record))(
        side="kleanapp", id=str(rid), version=str(version), updated_at=updated_at, record=record
    )


def _remote_of(kind: type[R]) -> type[Remote[R]]:
    """``Remote`` parametrised by the record's own class, as the engine's other records are.

    Looked up once per class: pydantic's ``Remote[kind]`` returns the same cached class
    every time, but finding it in that cache took a third of the time of building a
    listed record (cProfile, 20,000 customers: 1.3 of 3.6 s).
    """
    remote = _REMOTE_OF.get(kind)
    if remote is None:
        remote = _REMOTE_OF[kind] = cast(Any, Remote)[kind]
    return remote


#: Record class -> ``Remote[that class]`` (``_remote_of``).
_REMOTE_OF: dict[type, Any] = {}


def _strict(row: Any, build: Callable[[dict[str, Any]], R], what: str) -> Remote[R]:
    """A single record the caller asked for: unmappable means this record cannot be synced."""
    try:
        return _to_remote(row, build)
    except _Unmappable as exc:
        raise RemoteValidationError(f"cannot read KleanApp {what}: {exc}") from None


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _parse_time(value: Any, name: str) -> dt.datetime:
    """RFC 3339 to an aware UTC datetime (a missing offset is read as UTC, as documented)."""
    if not isinstance(value, str):
        raise _Unmappable(f"{name} is missing")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Unmappable(f"{name} {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _format_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a trailing Z, to the millisecond (KleanApp's own precision).

    Cut down, never rounded up: as ``updated_since`` a later instant could
    skip a record changed within the same millisecond.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _since_param(since: dt.datetime) -> str:
    return _format_time(since)


def _date_param(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat()
