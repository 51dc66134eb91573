"""What an admin may type as a conflict's answer (``conflicts resolve --value``).

A typed value is checked and normalised with the same normalisers the diff
uses, so the stored answer is exactly what the next run compares with;
anything that could not be a value of the field is refused here, with one
line saying why, before it reaches either system.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from reconciler.domain.errors import KleansyncError
from reconciler.domain.i18n import _
from reconciler.domain.labels import field_label
from reconciler.domain.models import Customer
from rules.normalize import (
    normalize_country,
    normalize_customer_number,
    normalize_email,
    normalize_multiline,
    normalize_phone,
    normalize_text,
    normalize_vat_id,
)

__all__ = ["InvalidValue", "validate_value"]


class InvalidValue(KleansyncError):
    """``--value`` is not a valid value for the field; exit code 2 like any bad input."""

    exit_code = 2


_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}", re.UNICODE
)
_VAT = re.compile(r"[A-Z]{2}[0-9A-Z+*.]{2,13}")
_REQUIRED = {"customer_number", "kind", "name"}


def _check_email(raw: str) -> str | None:
    value = normalize_email(raw)
    if value is None:
        return None
    local = value.split("@", 1)[0]
    if (
        not _EMAIL.fullmatch(value)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in value
        or len(value) > 254
    ):
        raise InvalidValue(
            _(
                "%(raw)r is not a valid e-mail address (expected something like name@example.de)",
                raw=raw,
            )
        )
    return value


def _check_country(raw: str) -> str | None:
    value = normalize_country(raw)
    if value is not None and not re.fullmatch(r"[A-Z]{2}", value):
        raise InvalidValue(
            _(
                "%(raw)r is not a country kleansync knows; use the ISO code (DE, AT, CH, ...)",
                raw=raw,
            )
        )
    return value


def _check_vat(raw: str) -> str | None:
    value = normalize_vat_id(raw)
    if value is not None and not _VAT.fullmatch(value):
        raise InvalidValue(_("%(raw)r is not a VAT id (expected like DE123456789)", raw=raw))
    return value


def _check_kind(raw: str) -> str:
    value = (normalize_text(raw) or "").lower()
    if value not in ("company", "person"):
        raise InvalidValue(_("%(raw)r is not a customer kind (company or person)", raw=raw))
    return value


def _check_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise InvalidValue(_("%(raw)r is not true or false", raw=raw))


#: field -> its check: the normalised value, or ``InvalidValue``.
_VALIDATORS: dict[str, Callable[[str], Any]] = {
    "customer_number": normalize_customer_number,
    "kind": _check_kind,
    "company_name": normalize_text,
    "first_name": normalize_text,
    "last_name": normalize_text,
    "email": _check_email,
    "phone": normalize_phone,
    "mobile": normalize_phone,
    "street": normalize_text,
    "postal_code": normalize_text,
    "city": normalize_text,
    "country": _check_country,
    "vat_id": _check_vat,
    "note": normalize_multiline,
    "archived": _check_bool,
    "name": normalize_text,  # units
}


def validate_value(field: str, raw: str) -> Any:
    """``raw`` as the field's normalised value, or ``InvalidValue`` saying why not.

    The same normalisers the diff uses, so the stored value is exactly what
    the next run compares with; an empty value clears an optional field.
    """
    check = _VALIDATORS.get(field)
    if check is None:
        raise InvalidValue(
            _(
                "kleansync cannot take a typed value for the field %(field)s",
                field=field_label(field),
            )
        )
    value = check(raw)
    if value is None and field in _REQUIRED:
        raise InvalidValue(_("%(field)s cannot be empty", field=field_label(field)))
    if field in Customer.model_fields:
        try:
            Customer(**{field: value})
        except ValueError as exc:
            raise InvalidValue(
                _(
                    "%(raw)r is not a valid %(field)s: %(error)s",
                    raw=raw,
                    field=field_label(field),
                    error=exc,
                )
            ) from None
    return value
