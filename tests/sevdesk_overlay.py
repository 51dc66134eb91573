"""The one overlay that reconciles sevDesk's vendored OpenAPI file with the real API.

``../shared/sevdesk/openapi.yaml`` is never edited. ``apply`` edits a copy of
the loaded dict (see ``spec_check.SpecChecker(overlay=apply)``). Each fix is a
small function whose docstring names its source; docs/SEVDESK-DEVIATIONS.md
lists the same fixes for humans. Source labels as in API-NOTES.md: [spec],
[docs], [obs], [legacy], [inferred].

Fixes to models apply to schemas reachable from *success* responses only
(request schemas are not validated here), and "model" fixes (string
booleans, nullable fields) only inside component schemas, never to the
inline envelopes (``{"objects": true}`` of checkCustomerNumberAvailability is
a real boolean).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

ERROR_REF = "#/components/schemas/Overlay_ErrorBody"
DIGITS = "^-?[0-9]+$"
NUMBER = "^-?[0-9]+(\\.[0-9]+)?$"
WRITE_METHODS = ("post", "put")

Schema = dict[str, Any]
PropFix = Callable[[str, Schema, bool], None]


# -- walking the spec --------------------------------------------------------
def _operations(spec: Schema) -> Iterator[tuple[str, str, Schema]]:
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete") and isinstance(op, dict):
                yield path, method, op


def _json_media(response: Schema) -> Schema | None:
    return response.get("content", {}).get("application/json")


def _resolve(spec: Schema, ref: str) -> Schema:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _walk(spec: Schema, schema: Schema, fix: PropFix, in_model: bool, seen: set[int]) -> None:
    """Call ``fix(name, property_schema, in_model)`` for every property below ``schema``."""
    if "$ref" in schema:
        target = _resolve(spec, schema["$ref"])
        if id(target) not in seen:
            seen.add(id(target))
            _walk(spec, target, fix, True, seen)
        return
    for name, prop in list(schema.get("properties", {}).items()):
        if isinstance(prop, dict):
            fix(name, prop, in_model)
            _walk(spec, prop, fix, in_model, seen)
    if isinstance(schema.get("items"), dict):
        _walk(spec, schema["items"], fix, in_model, seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            _walk(spec, sub, fix, in_model, seen)


def _for_success_schemas(spec: Schema, fix: PropFix) -> None:
    seen: set[int] = set()
    for _path, _method, op in _operations(spec):
        for status, response in op.get("responses", {}).items():
            media = _json_media(response) if str(status).startswith("2") else None
            if media and isinstance(media.get("schema"), dict):
                _walk(spec, media["schema"], fix, False, seen)


# -- the fixes ---------------------------------------------------------------
def invoice_pos_quantity_is_numeric(spec: Schema) -> None:
    """[spec bug] Model_InvoicePosResponse.quantity is typed boolean; in a listing
    it is a number sent as a string like every number ("2", "1.5") [obs: API-NOTES
    §1 Types]. (The saveInvoice answer is different: ``saved_positions_are_numbers``.)"""
    prop = spec["components"]["schemas"]["Model_InvoicePosResponse"]["properties"]["quantity"]
    prop.update(type="string", pattern=NUMBER)


def saved_positions_are_numbers(spec: Schema) -> None:
    """[obs: jernoxit/sevdesk-rs tests/fixtures/write_invoice_save.json, live test
    account 2026-10-01] the positions in a ``saveInvoice`` answer carry JSON numbers
    (``"price": 10``, ``"sumGross": 35.7``, ``"positionNumber": 1000``), a quantity of
    exactly 1 as ``true`` and any other as a number, ``taxRate`` as ``"19.00"``, and
    ``create``/``update`` null; they embed the whole invoice and unit."""
    number: Schema = {"type": "number"}
    nullable_text: Schema = {"type": "string", "nullable": True}
    position: Schema = {
        "type": "object",
        "required": ["id", "objectName", "quantity", "price", "taxRate", "unity"],
        "properties": {
            "id": {"type": "string", "pattern": DIGITS},
            "objectName": {"type": "string", "enum": ["InvoicePos"]},
            "create": nullable_text,
            "update": nullable_text,
            "invoice": {"type": "object"},
            "quantity": {"anyOf": [number, {"type": "boolean", "enum": [True]}]},
            "positionNumber": {"type": "integer"},
            "priority": {"type": "integer"},
            "taxRate": {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$"},
            "unity": {"type": "object", "required": ["id", "objectName"]},
            "name": nullable_text,
            "text": nullable_text,
            **{
                key: number
                for key in (
                    "price",
                    "discount",
                    "sumNet",
                    "sumGross",
                    "sumTax",
                    "sumDiscount",
                    "sumNetAccounting",
                    "sumTaxAccounting",
                    "sumGrossAccounting",
                    "priceNet",
                    "priceGross",
                    "priceTax",
                )
            },
        },
    }
    answer = spec["components"]["schemas"]["saveInvoiceResponse"]["properties"]
    answer["invoicePos"] = {"type": "array", "items": position}


def custom_field_setting_post_answers_one(spec: Schema) -> None:
    """[obs: RumBugen/sevdesk-api-kotlin ContactFieldRequests.createContactFieldSetting
    decodes ``objects`` as one object, exercised against the live API by its
    TestContactFieldRequests] ``POST /ContactCustomFieldSetting`` answers
    ``{"objects": {...}}``; the spec shows an array."""
    media = spec["paths"]["/ContactCustomFieldSetting"]["post"]["responses"]["200"]["content"]
    objects = media["application/json"]["schema"]["properties"]["objects"]
    media["application/json"]["schema"]["properties"]["objects"] = objects["items"]


def integer_ids_are_digit_strings(spec: Schema) -> None:
    """[obs, API-NOTES "Validating responses"] ``id`` fields typed integer
    (ContactAddress.id, sevClient.id, contact/country/category.id on
    ContactAddress, Model_Email.id, ...) come as digit strings like all ids."""

    def fix(name: str, prop: Schema, in_model: bool) -> None:
        if name == "id" and prop.get("type") == "integer":
            prop.pop("format", None)
            prop.update(type="string", pattern=DIGITS)

    _for_success_schemas(spec, fix)


def booleans_are_zero_one_strings(spec: Schema) -> None:
    """[obs, API-NOTES §1 Types] model booleans (Invoice.showNet,
    Invoice.smallSettlement, ...) are sent as "0"/"1"."""

    def fix(name: str, prop: Schema, in_model: bool) -> None:
        if in_model and prop.get("type") == "boolean":
            prop.update(type="string", enum=["0", "1"])

    _for_success_schemas(spec, fix)


def unset_fields_are_null(spec: Schema) -> None:
    """[obs: a real GET /Contact response pasted in TomDixon63/OrderManager2
    front/src/app/model/contact.ts] unset model fields are present with
    ``null`` ("surename": null, "birthday": null, ...); the spec marks only a
    few of them nullable."""

    def fix(name: str, prop: Schema, in_model: bool) -> None:
        if in_model and "$ref" not in prop:
            prop["nullable"] = True
            if "enum" in prop and None not in prop["enum"]:
                prop["enum"] = [*prop["enum"], None]

    _for_success_schemas(spec, fix)


def default_null_means_nullable(spec: Schema) -> None:
    """[spec] a response property declared with ``default: null`` but not
    ``nullable`` (bookAmount's ``InvoiceLog.additionalInformation``, an inline
    schema the model fix above does not reach) is sent as ``null``."""

    def fix(name: str, prop: Schema, in_model: bool) -> None:
        if "default" in prop and prop["default"] is None:
            prop["nullable"] = True

    _for_success_schemas(spec, fix)


def write_responses_are_wrapped(spec: Schema) -> None:
    """[obs, API-NOTES §1 Envelope] POST/PUT answers are ``{"objects": {...}}``
    although the spec shows the bare model (POST /Contact, PUT /Contact/{id},
    saveInvoice, sendBy, cancelInvoice, bookAmount's InvoiceLog, ...)."""
    for _path, method, op in _operations(spec):
        if method not in WRITE_METHODS:
            continue
        for status, response in op.get("responses", {}).items():
            media = _json_media(response) if str(status).startswith("2") else None
            if not media or "schema" not in media:
                continue
            schema = media["schema"]
            shown = _resolve(spec, schema["$ref"]) if "$ref" in schema else schema
            if "objects" not in shown.get("properties", {}):
                media["schema"] = {
                    "type": "object",
                    "required": ["objects"],
                    "properties": {"objects": schema},
                }


def errors_have_a_body(spec: Schema) -> None:
    """[obs, API-NOTES §1 Error body; §1 Status codes; §8 rate limits] every
    error answer carries ``{"error": {...}, "objects": null}``; the spec
    declares most error statuses without content and never 404/409/422/429
    on many operations, so they are added as ``default``."""
    spec["components"]["schemas"]["Overlay_ErrorBody"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "exceptionUUID": {"type": "string", "nullable": True},
                    "message": {"type": "string"},
                    "errorCode": {"nullable": True},
                    "code": {"type": "integer", "nullable": True},
                    "data": {"nullable": True},
                    "responseCode": {"type": "integer", "nullable": True},
                },
            },
            "objects": {"nullable": True, "enum": [None]},
        },
    }
    error_content = {"application/json": {"schema": {"$ref": ERROR_REF}}}
    for _path, _method, op in _operations(spec):
        responses = op.setdefault("responses", {})
        for status, response in responses.items():
            if str(status)[0] in "45":
                response["content"] = dict(error_content)
        responses.setdefault("default", {"description": "error", "content": error_content})


def errors_inside_200(spec: Schema) -> None:
    """[obs, API-NOTES §1 and §7 Cancel] some failures arrive as HTTP 200 with
    the error body (e.g. code 421 "already cancelled" from cancelInvoice)."""
    for _path, _method, op in _operations(spec):
        response = op.get("responses", {}).get("200")
        media = _json_media(response) if response else None
        if media and "schema" in media:
            media["schema"] = {"anyOf": [media["schema"], {"$ref": ERROR_REF}]}


def _model(object_name: str, **props: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["id", "objectName"],
        "properties": {
            "id": {"type": "string", "pattern": DIGITS},
            "objectName": {"type": "string", "enum": [object_name]},
            **props,
        },
    }


def _list_of(model: Schema) -> Schema:
    return {
        "description": "ok",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["objects"],
                    "properties": {
                        "objects": {"type": "array", "items": model},
                        "total": {"type": "string", "pattern": DIGITS},
                    },
                }
            }
        },
    }


def _wrapped(model: Schema) -> Schema:
    body = {"type": "object", "required": ["objects"], "properties": {"objects": model}}
    return {"description": "ok", "content": {"application/json": {"schema": body}}}


def undocumented_endpoints(spec: Schema) -> None:
    """Endpoints sevDesk serves that the v2 spec lacks, with minimal schemas:
    ``/Unity`` [legacy Swagger 2.0; fields from a 2026 client fixture, obs],
    ``GET /Category`` [API-NOTES §3: not in spec], ``GET /StaticCountry``
    [inferred: referenced everywhere as StaticCountry], ``GET /SevUser``
    [obs: pypi sevdesk], ``DELETE /Invoice/{invoiceId}`` [obs: drafts only],
    ``GET /PaymentMethod`` [obs: rs ``tests/fixtures/payment_method_list.json``]."""
    text = {"type": "string", "nullable": True}
    unity = _model(
        "Unity",
        name={"type": "string"},
        translationCode=text,
        uneceTradeUnitCode=text,
        unitySystem=text,
        # the units sevDesk ships have create null [obs: see store.DEFAULT_UNITS]
        create={"type": "string", "format": "date-time", "nullable": True},
        update={"type": "string", "format": "date-time"},
    )
    category = _model("Category", name={"type": "string"}, objectType={"type": "string"})
    country = _model("StaticCountry", code={"type": "string"}, name={"type": "string"})
    user = _model("SevUser", fullname=text, email=text)
    # [obs] rs: tests/fixtures/payment_method_list.json (e-invoices name one, issue 19)
    method = _model(
        "PaymentMethod",
        name={"type": "string"},
        text=text,
        electronicInvoiceId=text,
        translationCode=text,
        create={"type": "string", "format": "date-time"},
        update={"type": "string", "format": "date-time"},
    )
    deleted = _list_of({"nullable": True, "enum": [None]})
    id_param = {"name": "unityId", "in": "path", "required": True, "schema": {"type": "string"}}
    paths = spec["paths"]
    paths["/Unity"] = {
        "get": {"responses": {"200": _list_of(unity)}},
        "post": {"responses": {"201": _wrapped(unity)}},
    }
    paths["/Unity/{unityId}"] = {
        "parameters": [id_param],
        "get": {"responses": {"200": _list_of(unity)}},
        "put": {"responses": {"200": _wrapped(unity)}},
        "delete": {"responses": {"200": deleted}},
    }
    paths["/Category"] = {"get": {"responses": {"200": _list_of(category)}}}
    paths["/StaticCountry"] = {"get": {"responses": {"200": _list_of(country)}}}
    paths["/SevUser"] = {"get": {"responses": {"200": _list_of(user)}}}
    paths["/PaymentMethod"] = {"get": {"responses": {"200": _list_of(method)}}}
    paths["/Invoice/{invoiceId}"]["delete"] = {"responses": {"200": deleted}}
    errors_have_a_body({"components": spec["components"], "paths": _only(paths)})


def _only(paths: Schema) -> Schema:
    """The overlay-added operations, so their error answers get the error body too."""
    added = (
        "/Unity",
        "/Unity/{unityId}",
        "/Category",
        "/StaticCountry",
        "/SevUser",
        "/PaymentMethod",
    )
    out = {path: paths[path] for path in added}
    out["/Invoice/{invoiceId}"] = {"delete": paths["/Invoice/{invoiceId}"]["delete"]}
    return out


#: In order: type fixes first, then envelope fixes, then the added endpoints.
FIXES = (
    invoice_pos_quantity_is_numeric,
    custom_field_setting_post_answers_one,
    integer_ids_are_digit_strings,
    booleans_are_zero_one_strings,
    unset_fields_are_null,
    default_null_means_nullable,
    saved_positions_are_numbers,
    write_responses_are_wrapped,
    errors_have_a_body,
    errors_inside_200,
    undocumented_endpoints,
)


def apply(spec: Schema) -> None:
    """The sevDesk overlay: run every fix in ``FIXES`` on ``spec`` (in place)."""
    for fix in FIXES:
        fix(spec)
