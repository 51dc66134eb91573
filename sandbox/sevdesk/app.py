"""The sevDesk API v1 emulator: a Starlette app under ``/api/v1``.

It behaves like the real service as ``../shared/sevdesk/API-NOTES.md`` and the
vendored OpenAPI file describe it, including the awkward parts a sync engine
must survive (string-typed everything, the ``objects`` envelope, persons hidden
without ``depth=1``, silently ignored unknown filters, strict ``limit``).
Where the notes leave a gap, the choice made here is listed in
``docs/SEVDESK-DEVIATIONS.md``.

Route modules: ``contacts`` (Contact, ContactAddress, CommunicationWay),
``custom_fields`` (ContactCustomField, ContactCustomFieldSetting),
``invoices`` (Invoice, InvoicePos, bookAmount); the small read-only lists
(``CheckAccount`` among them: the accounts bookAmount books on), ``Unity`` and
the sandbox-only extras are here.

Sandbox-only routes (added to ``SandboxControl``'s ``/_sandbox/`` API):

* ``POST /_sandbox/unity`` ``{"name": "lfm", "translationCode"?, "uneceTradeUnitCode"?}``
  creates a unit as if an admin added it in sevDesk's settings page -> 201 ``{"unit": {...}}``
* ``DELETE /_sandbox/unity/{id}`` removes one (409 while an invoice position uses it) -> 204
* ``GET /_sandbox/emails`` -> ``{"emails_sent": [...], "send_log": [...]}``: e-mails sevDesk
  would have sent to customers (only ``sendViaEmail`` sends any) and every ``sendBy`` call
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.common import SandboxControl

from .bulk import bulk_load
from .contacts import contact_routes
from .custom_fields import custom_field_routes
from .einvoice import einvoice_routes
from .guard import CrashGuard
from .invoice_states import invoice_state_routes
from .invoices import invoice_routes
from .store import Store, render
from .tools import tools_routes
from .wire import ApiError, as_list, body, deleted, error_body, not_found, one, page

API_PREFIX = "/api/v1"
DEFAULT_TOKEN = "sandbox-sevdesk-token"


def token_of(scope: Scope) -> str | None:
    """The raw ``Authorization`` header value (sevDesk uses no "Bearer" prefix)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return value.decode("latin-1")
    return None


class _RequireToken:
    """401 with sevDesk's error body unless ``Authorization`` is exactly the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = (token_of(scope) or "").encode("latin-1")
            if not hmac.compare_digest(given, self.token):
                body_ = error_body(401, "Authentication required")
                await JSONResponse(body_, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _static_routes(store: Store, legacy_unity_write: bool) -> list[Route]:
    """Category, StaticCountry, SevUser, CommunicationWayKey, CheckAccount and Unity."""

    async def categories(request: Request) -> JSONResponse:
        kind = request.query_params.get("objectType")
        return page(request, [c for c in store.categories if not kind or c["objectType"] == kind])

    async def countries(request: Request) -> JSONResponse:
        return page(request, store.countries)

    async def sev_users(request: Request) -> JSONResponse:
        return page(request, store.sev_users)

    async def comm_way_keys(request: Request) -> JSONResponse:
        return page(request, store.comm_way_keys)

    async def check_accounts(request: Request) -> JSONResponse:
        return page(request, store.check_accounts)

    async def units(request: Request) -> JSONResponse:
        return page(request, store.units.values())

    def get_unit(unit_id: str) -> dict[str, Any]:
        unit = store.units.get(unit_id)
        if unit is None:
            raise not_found("Unity", unit_id)
        return unit

    async def read_unit(request: Request) -> JSONResponse:
        return as_list(get_unit(request.path_params["unit_id"]))

    async def create_unit(request: Request) -> JSONResponse:
        data = await body(request)
        if not str(data.get("name") or "").strip():
            raise ApiError(400, "name is required")
        return one(store.add_unit(str(data["name"]).strip()), 201)

    async def update_unit(request: Request) -> JSONResponse:
        unit = get_unit(request.path_params["unit_id"])
        data = await body(request)
        if str(data.get("name") or "").strip():
            unit["name"] = str(data["name"]).strip()
        return one(unit)

    async def delete_unit(request: Request) -> JSONResponse:
        unit = get_unit(request.path_params["unit_id"])
        if store.unit_in_use(unit["id"]):
            raise ApiError(409, "Can't delete unities which are used somewhere")
        del store.units[unit["id"]]
        return deleted()

    routes = [
        Route("/Category", categories, methods=["GET"]),
        Route("/StaticCountry", countries, methods=["GET"]),
        Route("/SevUser", sev_users, methods=["GET"]),
        Route("/CommunicationWayKey", comm_way_keys, methods=["GET"]),
        Route("/CheckAccount", check_accounts, methods=["GET"]),
        Route("/Unity", units, methods=["GET"]),
        Route("/Unity/{unit_id}", read_unit, methods=["GET"]),
    ]
    if legacy_unity_write:  # [legacy] Swagger 2.0 only; absent from the v2 spec
        routes += [
            Route("/Unity", create_unit, methods=["POST"]),
            Route("/Unity/{unit_id}", update_unit, methods=["PUT"]),
            Route("/Unity/{unit_id}", delete_unit, methods=["DELETE"]),
        ]
    return routes


def _sandbox_routes(store: Store) -> list[Route]:
    async def add_unit(request: Request) -> Response:
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        name = str(data.get("name") or "").strip()
        if not name:
            return JSONResponse({"error": "name is required"}, status_code=400)
        unit = store.add_unit(
            name,
            translation_code=data.get("translationCode"),
            unece=data.get("uneceTradeUnitCode"),
        )
        return JSONResponse({"unit": render(unit)}, status_code=201)

    async def remove_unit(request: Request) -> Response:
        unit_id = request.path_params["unit_id"]
        if unit_id not in store.units:
            return JSONResponse({"error": f"no unit {unit_id}"}, status_code=404)
        if store.unit_in_use(unit_id):
            return JSONResponse({"error": "unit is used by an invoice position"}, status_code=409)
        del store.units[unit_id]
        return Response(status_code=204)

    async def emails(request: Request) -> Response:
        return JSONResponse({"emails_sent": store.emails_sent, "send_log": store.send_log})

    async def company(request: Request) -> Response:
        """The company data e-invoices need: PATCH sets fields (null blanks one)."""
        if request.method == "PATCH":
            try:
                data = await request.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
            store.company.update(data)
        return JSONResponse({"company": store.company})

    return [
        Route("/_sandbox/unity", add_unit, methods=["POST"]),
        Route("/_sandbox/unity/{unit_id}", remove_unit, methods=["DELETE"]),
        Route("/_sandbox/emails", emails, methods=["GET"]),
        Route("/_sandbox/company", company, methods=["GET", "PATCH"]),
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.status, exc.message, exc.code, exc.data), status_code=exc.status
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown path or method: sevDesk's error body, always 404 [inferred]."""
    assert isinstance(exc, HTTPException)
    status = 404 if exc.status_code in (404, 405) else exc.status_code
    message = "Endpoint not found" if status == 404 else str(exc.detail)
    return JSONResponse(error_body(status, message), status_code=status)


def create_app(
    token: str = DEFAULT_TOKEN,
    *,
    legacy_unity_write: bool = False,
    rate_limit_rps: float | None = None,
    bookkeeping_version: str = "2.0",
    tax_per_position: bool = False,
    part_time_filters: bool = False,
) -> SandboxControl:
    """A fresh emulated sevDesk account wrapped in the sandbox control API.

    ``legacy_unity_write`` enables the old ``POST/PUT/DELETE /Unity`` endpoints;
    without it they answer 404 like any endpoint sevDesk does not serve.
    ``rate_limit_rps`` imposes a per-token limit (429 + Retry-After); sevDesk
    publishes none, so the default is no limit. ``bookkeeping_version`` is what
    ``GET /Tools/bookkeepingSystemVersion`` answers ("2.0", or "1.0" for an old
    account; see ``tools``). ``tax_per_position`` makes invoice sums add up the
    positions' rounded taxes instead of rounding the tax once per rate
    (``invoice_records.invoice_sums``): sums kleansync did not predict.
    ``part_time_filters`` makes ``/ContactAddress`` and ``/CommunicationWay``
    honour ``updateAfter`` and its kin, which the notes could not confirm for
    a real account (by default they are ignored like any unknown filter).
    """
    store = Store()
    store.tax_per_position = tax_per_position
    store.part_time_filters = part_time_filters
    api = Starlette(
        routes=[
            Mount(
                API_PREFIX,
                routes=[
                    *custom_field_routes(store),
                    *contact_routes(store),
                    *invoice_routes(store),
                    *invoice_state_routes(store),
                    *einvoice_routes(store),
                    *_static_routes(store, legacy_unity_write),
                    *tools_routes(bookkeeping_version),
                ],
            )
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        # Anything else: JSON 500 and the store as before the request (guard.py).
        middleware=[Middleware(CrashGuard, store=store)],
    )
    control = SandboxControl(
        _RequireToken(api, token),
        error_body=lambda status, message: error_body(status, message),
        token_of=token_of,
        reset=store.reset,
        bulk=lambda data: bulk_load(store, data),
        rate_limit_rps=rate_limit_rps,
        extra_routes=_sandbox_routes(store),
        empty_list=lambda: {"objects": []},
    )
    control.store = store  # type: ignore[attr-defined]  # for in-process inspection
    return control
