"""Seed data for the KleanApp sandbox: ``POST /_sandbox/bulk``.

Demos and connector tests need hundreds of records (paging, ``updated_since``
over old data, archived customers) without hundreds of API calls, and
without firing a webhook storm. Items are checked exactly as the API and
``/_sandbox/invoices`` check them, so seed data is always data KleanApp could
hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.kleanapp.validation import ApiError, invalid, parse_datetime

if TYPE_CHECKING:
    from sandbox.kleanapp.store import KleanStore

#: Customer keys a bulk item may carry beyond CustomerInput (not settable via the API).
BULK_META = ("archived", "created_at", "updated_at")


def bulk_load(store: KleanStore, data: Any) -> dict[str, Any]:
    """Load seed data in one go (``POST /_sandbox/bulk``); all or nothing.

    Format: ``{"customers": [CustomerInput + optional "archived",
    "created_at", "updated_at"], "units": [{"name": ...}], "invoices":
    [a /_sandbox/invoices body, without id], "webhooks": false}``. Items are
    checked like the API checks them; the first bad one rejects the whole
    load (ValueError naming it). Seed data fires no webhooks unless
    ``"webhooks": true``. Returns the new ids per kind.
    """
    if not isinstance(data, dict):
        raise ValueError("body must be an object with customers/units/invoices lists")
    unknown = set(data) - {"customers", "units", "invoices", "webhooks"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    saved = store.snapshot()
    created: dict[str, list[int]] = {"customers": [], "units": [], "invoices": []}
    store.notify = bool(data.get("webhooks", False))
    where = ""
    try:
        for i, item in enumerate(data.get("units") or []):
            where = f"units[{i}]"
            created["units"].append(store.create_unit(item).id)
        taken = {c.fields["customer_number"] for c in store.customers.values()}
        for i, item in enumerate(data.get("customers") or []):
            where = f"customers[{i}]"
            body = dict(item)
            meta = {k: body.pop(k) for k in ("archived", "created_at", "updated_at") if k in body}
            for key in ("created_at", "updated_at"):
                if key in meta:
                    meta[key] = parse_datetime(meta[key], key)
            created["customers"].append(store.create_customer(body, taken=taken, **meta).id)
        for i, item in enumerate(data.get("invoices") or []):
            where = f"invoices[{i}]"
            if isinstance(item, dict) and "id" in item:
                raise invalid({"id": "bulk loads only create invoices"})
            created["invoices"].append(store.save_invoice(item)[0].id)
    except (ApiError, TypeError, ValueError) as exc:
        store.rollback(saved)
        detail = exc.body()["error"] if isinstance(exc, ApiError) else str(exc)
        raise ValueError(f"{where}: {detail}; nothing was loaded") from None
    finally:
        store.notify = True
    return created
