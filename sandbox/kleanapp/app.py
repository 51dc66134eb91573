"""HTTP face of the KleanApp emulator: the contract's paths under /api/v1.

Routes only translate HTTP to :class:`KleanStore` calls and back (query and
header parsing, envelopes, status codes); rules live in the store. Auth is a
bearer token checked before routing, so every path answers 401 alike.

:class:`KleanappSandbox` adds the KleanApp-specific sandbox controls to the
shared ``SandboxControl`` (reset/faults/stats, and bulk: format in ``bulk.py``):

* ``POST /_sandbox/invoices``    save an invoice as KleanApp's UI does (create,
                                 or change one with ``id``); fires invoice.saved
* ``GET|POST /_sandbox/webhooks`` read / set delivery config:
                                 ``{"enabled": bool, "retry_delays": [s, ...], "timeout": s}``
* ``POST /_sandbox/webhooks/drain`` wait until pending deliveries are done
* ``GET /_sandbox/deliveries``   the delivery log
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.common import SandboxControl
from sandbox.kleanapp.bulk import bulk_load
from sandbox.kleanapp.invoices import InvoiceFilter
from sandbox.kleanapp.store import KleanStore
from sandbox.kleanapp.validation import (
    INVOICE_STATUSES,
    ApiError,
    export_link,
    invalid,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_if_match,
    parse_paging,
    require_object,
    webhook_input,
)
from sandbox.kleanapp.webhooks import DEFAULT_RETRY_DELAYS

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "version_mismatch",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": ERROR_CODES.get(status, "error"), "message": message}}


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


# -- helpers ---------------------------------------------------------------------
def _store(request: Request) -> KleanStore:
    return request.app.state.store


def _id(request: Request) -> int:
    return request.path_params["id"]


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise ApiError(422, "invalid_json", "the request body is not valid JSON") from None


def _page(items: list[Any], total: int, page: int, per_page: int) -> JSONResponse:
    return JSONResponse(
        {
            "data": [item.render() for item in items],
            "meta": {"page": page, "per_page": per_page, "total": total},
        }
    )


async def _idempotent(request: Request, create: Callable[[], Awaitable[Response]]) -> Response:
    """A create under the contract's ``Idempotency-Key`` rules (``idempotency.py``)."""
    token = bearer_token(request.scope) or ""
    return await _store(request).idempotency.handle(request, token, create)


def _since(request: Request) -> Any:
    raw = request.query_params.get("updated_since")
    return None if raw is None else parse_datetime(raw, "updated_since")


# -- customers ---------------------------------------------------------------------
async def list_customers(request: Request) -> Response:
    page, per_page = parse_paging(request.query_params)
    include = parse_bool(request.query_params, "include_archived") or False
    items, total = _store(request).list_customers(
        page, per_page, updated_since=_since(request), include_archived=include
    )
    return _page(items, total, page, per_page)


async def create_customer(request: Request) -> Response:
    async def create() -> Response:
        rec = _store(request).create_customer(await _body(request))
        return JSONResponse(rec.render(), status_code=201)

    return await _idempotent(request, create)


async def get_customer(request: Request) -> Response:
    return JSONResponse(_store(request).customer(_id(request)).render())


async def patch_customer(request: Request) -> Response:
    if_match = parse_if_match(request.headers.get("if-match"))
    body = await _body(request)
    return JSONResponse(_store(request).update_customer(_id(request), body, if_match).render())


async def delete_customer(request: Request) -> Response:
    if_match = parse_if_match(request.headers.get("if-match"))
    _store(request).archive_customer(_id(request), if_match)
    return Response(status_code=204)


async def restore_customer(request: Request) -> Response:
    return JSONResponse(_store(request).restore_customer(_id(request)).render())


# -- units -------------------------------------------------------------------------
async def list_units(request: Request) -> Response:
    page, per_page = parse_paging(request.query_params)
    items, total = _store(request).list_units(page, per_page)
    return _page(items, total, page, per_page)


async def create_unit(request: Request) -> Response:
    async def create() -> Response:
        rec = _store(request).create_unit(await _body(request))
        return JSONResponse(rec.render(), status_code=201)

    return await _idempotent(request, create)


async def patch_unit(request: Request) -> Response:
    if_match = parse_if_match(request.headers.get("if-match"))
    body = await _body(request)
    return JSONResponse(_store(request).rename_unit(_id(request), body, if_match).render())


async def delete_unit(request: Request) -> Response:
    _store(request).delete_unit(_id(request))
    return Response(status_code=204)


# -- invoices ----------------------------------------------------------------------
async def list_invoices(request: Request) -> Response:
    query = request.query_params
    page, per_page = parse_paging(query)
    keep = InvoiceFilter(updated_since=_since(request), exported=parse_bool(query, "exported"))
    if "from" in query:
        keep.date_from = parse_date(query["from"], "from")
    if "to" in query:
        keep.date_to = parse_date(query["to"], "to")
    if "status" in query:
        statuses = frozenset(s.strip() for s in query["status"].split(",") if s.strip())
        if not statuses or not statuses <= set(INVOICE_STATUSES):
            raise invalid({"status": "comma-separated of " + ", ".join(INVOICE_STATUSES)})
        keep.statuses = statuses
    items, total = _store(request).list_invoices(page, per_page, keep)
    return _page(items, total, page, per_page)


async def get_invoice(request: Request) -> Response:
    return JSONResponse(_store(request).invoice(_id(request)).render())


async def put_export(request: Request) -> Response:
    link = export_link(await _body(request))
    return JSONResponse(_store(request).link_export(_id(request), link).render())


async def invoice_pdf(request: Request) -> Response:
    inv = _store(request).unlocked(_id(request), "render")
    return Response(
        fake_pdf(inv.number),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{inv.number}.pdf"'},
    )


async def send_invoice(request: Request) -> Response:
    _store(request).unlocked(_id(request), "e-mail")
    return Response(status_code=202)


async def cancel_invoice(request: Request) -> Response:
    return JSONResponse(_store(request).cancel_invoice(_id(request)).render())


def fake_pdf(title: str) -> bytes:
    """A minimal one-page PDF; enough for "%PDF-" sniffing and a download."""
    text = f"BT /F1 18 Tf 72 720 Td (Rechnung {title}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>endobj\n"
        b"4 0 obj<</Length " + str(len(text)).encode() + b">>stream\n" + text + b"\nendstream "
        b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


# -- webhooks ----------------------------------------------------------------------
async def list_webhooks(request: Request) -> Response:
    subs = sorted(_store(request).subscriptions.values(), key=lambda s: s.id)
    return JSONResponse({"data": [vars(s) for s in subs]})


async def create_webhook(request: Request) -> Response:
    sub = _store(request).add_subscription(webhook_input(await _body(request)))
    return JSONResponse(vars(sub), status_code=201)


async def delete_webhook(request: Request) -> Response:
    _store(request).remove_subscription(_id(request))
    return Response(status_code=204)


# -- assembly ----------------------------------------------------------------------
async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(error_body(exc.status_code, exc.detail), status_code=exc.status_code)


def api_routes() -> list[Route]:
    return [
        Route("/customers", list_customers, methods=["GET"]),
        Route("/customers", create_customer, methods=["POST"]),
        Route("/customers/{id:int}", get_customer, methods=["GET"]),
        Route("/customers/{id:int}", patch_customer, methods=["PATCH"]),
        Route("/customers/{id:int}", delete_customer, methods=["DELETE"]),
        Route("/customers/{id:int}/restore", restore_customer, methods=["POST"]),
        Route("/units", list_units, methods=["GET"]),
        Route("/units", create_unit, methods=["POST"]),
        Route("/units/{id:int}", patch_unit, methods=["PATCH"]),
        Route("/units/{id:int}", delete_unit, methods=["DELETE"]),
        Route("/invoices", list_invoices, methods=["GET"]),
        Route("/invoices/{id:int}", get_invoice, methods=["GET"]),
        Route("/invoices/{id:int}/export", put_export, methods=["PUT"]),
        Route("/invoices/{id:int}/pdf", invoice_pdf, methods=["POST"]),
        Route("/invoices/{id:int}/send", send_invoice, methods=["POST"]),
        Route("/invoices/{id:int}/cancel", cancel_invoice, methods=["POST"]),
        Route("/webhooks", list_webhooks, methods=["GET"]),
        Route("/webhooks", create_webhook, methods=["POST"]),
        Route("/webhooks/{id:int}", delete_webhook, methods=["DELETE"]),
    ]


class BearerAuth:
    """Refuses every request without the tenant's token (401, KleanApp error body)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = bearer_token(scope) or ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                response = JSONResponse(
                    error_body(401, "missing or invalid bearer token"),
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="KleanApp"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class KleanappSandbox(SandboxControl):
    """The emulator as one ASGI app; ``.store`` is its state (``await .store.drain()``)."""

    def __init__(self, store: KleanStore, token: str, rate_limit_rps: float | None) -> None:
        self.store = store
        api = Starlette(
            routes=[Mount("/api/v1", routes=api_routes())],
            exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        )
        api.state.store = store
        super().__init__(
            BearerAuth(api, token),
            error_body=error_body,
            token_of=bearer_token,
            reset=store.reset,
            bulk=lambda data: bulk_load(store, data),
            rate_limit_rps=rate_limit_rps,
            empty_list=lambda: {"data": [], "meta": {"page": 1, "per_page": 100, "total": 0}},
            extra_routes=[
                Route("/_sandbox/invoices", self.save_invoice, methods=["POST"]),
                Route("/_sandbox/webhooks", self.webhook_config, methods=["GET", "POST"]),
                Route("/_sandbox/webhooks/drain", self.drain_endpoint, methods=["POST"]),
                Route("/_sandbox/deliveries", self.deliveries, methods=["GET"]),
            ],
        )

    async def drain(self) -> None:
        await self.store.drain()

    async def save_invoice(self, request: Request) -> Response:
        try:
            inv, created = self.store.save_invoice(await _body(request))
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(inv.render(), status_code=201 if created else 200)

    async def webhook_config(self, request: Request) -> Response:
        hooks = self.store.webhooks
        if request.method == "POST":
            try:
                body = require_object(await _body(request))
                if "enabled" in body:
                    if not isinstance(body["enabled"], bool):
                        raise invalid({"enabled": "must be true or false"})
                    hooks.enabled = body["enabled"]
                if "retry_delays" in body:
                    delays = body["retry_delays"]
                    if not isinstance(delays, list) or not all(
                        isinstance(d, int | float) and d >= 0 for d in delays
                    ):
                        raise invalid({"retry_delays": "must be a list of seconds >= 0"})
                    hooks.retry_delays = tuple(float(d) for d in delays)
                if "timeout" in body:
                    hooks.timeout = float(body["timeout"])
            except (ApiError, TypeError, ValueError) as exc:
                err = exc if isinstance(exc, ApiError) else invalid({"timeout": str(exc)})
                return JSONResponse(err.body(), status_code=err.status)
        return JSONResponse(
            {
                "enabled": hooks.enabled,
                "retry_delays": list(hooks.retry_delays),
                "timeout": hooks.timeout,
            }
        )

    async def drain_endpoint(self, request: Request) -> Response:
        await self.store.drain()
        return JSONResponse({"pending": 0, "deliveries": len(self.store.webhooks.deliveries)})

    async def deliveries(self, request: Request) -> Response:
        return JSONResponse({"data": self.store.webhooks.log()})


def create_app(
    token: str = "sandbox-kleanapp-token",
    *,
    rate_limit_rps: float | None = 10,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    webhook_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
) -> KleanappSandbox:
    """The KleanApp emulator: contract under /api/v1, controls under /_sandbox/.

    ``webhook_transport`` carries webhook deliveries (an ``httpx.ASGITransport``
    around a receiver app in tests; ``None`` = the network).
    ``webhook_retry_delays`` are the waits before each retry (tests pass zeros).
    """
    store = KleanStore(webhook_transport=webhook_transport, retry_delays=webhook_retry_delays)
    return KleanappSandbox(store, token, rate_limit_rps)
