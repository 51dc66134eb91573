"""Contact custom fields ("Kontaktfelder") of the sevDesk emulator.

sevDesk lets an account define its own contact fields: a
``ContactCustomFieldSetting`` names the field (e.g. "KleanApp-ID"), and one
``ContactCustomField`` per contact holds its value. kleansync keeps each
KleanApp customer's id there, so links between the two systems can be
rebuilt when the state store is lost (``kleansync resync``), and
``GET /Contact/Factory/findContactsByCustomFieldValue`` finds a contact by
that value.

Shapes follow the vendored spec (``Model_ContactCustomField*``); where the
spec and the real API differ, or the spec is silent, the choice is listed in
``docs/SEVDESK-DEVIATIONS.md`` (section "Contact custom fields"):

* ``POST /ContactCustomFieldSetting`` answers ``{"objects": {...}}`` with one
  object, not the array the spec shows [obs].
* A field answer embeds its whole setting under ``contactCustomFieldSetting``
  [spec]; the setting is rendered as it is now (a renamed setting shows its
  new name).
* Neither settings nor fields are unique: sevDesk is not known to refuse a
  second setting of the same name or a second field of one setting on one
  contact, so the emulator accepts both [inferred]. A client must not rely on
  a refusal.
* ``GET /ContactCustomField`` knows no filters [spec: no parameters]; like
  every unknown filter, ``contact[id]`` is ignored.
* Writing a field does not bump the contact's ``update`` (it is a record of
  its own, like an address) [inferred]. Deleting a contact deletes its fields
  [inferred]; a setting still used by fields cannot be deleted (409, the
  status the spec declares) [inferred].
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .store import SEV_CLIENT, Store, now_ts, ref, render
from .wire import (
    ApiError,
    as_list,
    body,
    deleted,
    existing_ref,
    not_found,
    objects,
    page,
    require,
    text,
)


def custom_field_routes(store: Store) -> list[Route]:
    """The ContactCustomField(Setting) routes and findContactsByCustomFieldValue."""

    # -- settings ------------------------------------------------------------
    def get_setting(setting_id: str) -> dict[str, Any]:
        setting = store.custom_field_settings.get(setting_id)
        if setting is None:
            raise not_found("ContactCustomFieldSetting", setting_id)
        return setting

    async def list_settings(request: Request) -> JSONResponse:
        return page(request, store.custom_field_settings.values())

    async def create_setting(request: Request) -> JSONResponse:
        data = await body(request)
        require(data, ("name",))
        ts = now_ts()
        setting_id = store.new_id("ContactCustomFieldSetting")
        setting = {
            "id": setting_id,
            "objectName": "ContactCustomFieldSetting",
            "_created": ts,
            "_updated": ts,
            "sevClient": dict(SEV_CLIENT),
            "name": None,
            "identifier": f"CONTACT_CUSTOM_FIELD_{setting_id}",
            "description": None,
        }
        _apply_setting(setting, data)
        store.custom_field_settings[setting_id] = setting
        return objects(render(setting))  # [obs] one object, not the spec's array

    async def read_setting(request: Request) -> JSONResponse:
        return as_list(get_setting(request.path_params["setting_id"]))

    async def update_setting(request: Request) -> JSONResponse:
        setting = get_setting(request.path_params["setting_id"])
        draft = dict(setting)
        _apply_setting(draft, await body(request))
        if not draft.get("name"):
            raise ApiError(400, "name must not be empty")
        draft["_updated"] = now_ts()
        setting.update(draft)
        return objects(render(setting))

    async def delete_setting(request: Request) -> JSONResponse:
        setting = get_setting(request.path_params["setting_id"])
        if _uses(store, setting["id"]):
            raise ApiError(409, "ContactCustomFieldSetting is still used by contact fields")
        del store.custom_field_settings[setting["id"]]
        return deleted()

    async def reference_count(request: Request) -> JSONResponse:
        setting = get_setting(request.path_params["setting_id"])
        return objects(_uses(store, setting["id"]))

    # -- fields ------------------------------------------------------------------
    def get_field(field_id: str) -> dict[str, Any]:
        field = store.custom_fields.get(field_id)
        if field is None:
            raise not_found("ContactCustomField", field_id)
        return field

    def show(field: dict[str, Any]) -> dict[str, Any]:
        out = render(field)
        setting = store.custom_field_settings.get(field["contactCustomFieldSetting"]["id"])
        out["contactCustomFieldSetting"] = render(setting) if setting else None
        return out

    async def list_fields(request: Request) -> JSONResponse:
        return page(request, [show(f) for f in store.custom_fields.values()])

    async def create_field(request: Request) -> JSONResponse:
        data = await body(request)
        require(data, ("contact", "contactCustomFieldSetting", "value", "objectName"))
        ts = now_ts()
        field: dict[str, Any] = {
            "id": store.new_id("ContactCustomField"),
            "objectName": "ContactCustomField",
            "_created": ts,
            "_updated": ts,
            "sevClient": dict(SEV_CLIENT),
            "contact": None,
            "contactCustomFieldSetting": None,
            "value": None,
        }
        _apply_field(store, field, data)
        store.custom_fields[field["id"]] = field
        return objects(show(field))

    async def read_field(request: Request) -> JSONResponse:
        return objects([show(get_field(request.path_params["field_id"]))])

    async def update_field(request: Request) -> JSONResponse:
        field = get_field(request.path_params["field_id"])
        draft = dict(field)
        _apply_field(store, draft, await body(request))
        if not draft.get("value"):
            raise ApiError(400, "value must not be empty")
        draft["_updated"] = now_ts()
        field.update(draft)
        return objects(show(field))

    async def delete_field(request: Request) -> JSONResponse:
        field = get_field(request.path_params["field_id"])
        del store.custom_fields[field["id"]]
        return deleted()

    # -- finding contacts by a field's value --------------------------------------
    async def find_contacts(request: Request) -> JSONResponse:
        q = request.query_params
        value = q.get("value")
        if not value:
            raise ApiError(400, "value is required")
        setting_id = q.get("customFieldSetting[id]")
        name = q.get("customFieldName")
        if setting_id:
            wanted = {setting_id}
        elif name:
            wanted = {s["id"] for s in store.custom_field_settings.values() if s["name"] == name}
        else:
            raise ApiError(400, "customFieldName or customFieldSetting is required")
        ids = [
            f["contact"]["id"]
            for f in store.custom_fields.values()
            if f["contactCustomFieldSetting"]["id"] in wanted and f["value"] == value
        ]
        contacts = [store.contacts[i] for i in dict.fromkeys(ids) if i in store.contacts]
        return page(request, contacts)

    setting_path = "/ContactCustomFieldSetting/{setting_id}"
    return [
        Route("/Contact/Factory/findContactsByCustomFieldValue", find_contacts, methods=["GET"]),
        Route("/ContactCustomFieldSetting", list_settings, methods=["GET"]),
        Route("/ContactCustomFieldSetting", create_setting, methods=["POST"]),
        Route(setting_path, read_setting, methods=["GET"]),
        Route(setting_path, update_setting, methods=["PUT"]),
        Route(setting_path, delete_setting, methods=["DELETE"]),
        Route(f"{setting_path}/getReferenceCount", reference_count, methods=["GET"]),
        Route("/ContactCustomField", list_fields, methods=["GET"]),
        Route("/ContactCustomField", create_field, methods=["POST"]),
        Route("/ContactCustomField/{field_id}", read_field, methods=["GET"]),
        Route("/ContactCustomField/{field_id}", update_field, methods=["PUT"]),
        Route("/ContactCustomField/{field_id}", delete_field, methods=["DELETE"]),
    ]


def _uses(store: Store, setting_id: str) -> int:
    return sum(
        1
        for f in store.custom_fields.values()
        if f["contactCustomFieldSetting"]["id"] == setting_id
    )


def _apply_setting(setting: dict[str, Any], data: dict[str, Any]) -> None:
    for key in ("name", "description"):
        if key in data:
            value = text(data[key])
            setting[key] = value.strip() if value and value.strip() else None


def _apply_field(store: Store, field: dict[str, Any], data: dict[str, Any]) -> None:
    """Copy a POST/PUT body onto ``field``, checking both references exist."""
    if "contact" in data:
        contact = existing_ref(data["contact"], "Contact", "contact", store.contacts.get)
        field["contact"] = contact
    if "contactCustomFieldSetting" in data:
        setting = existing_ref(
            data["contactCustomFieldSetting"],
            "ContactCustomFieldSetting",
            "setting",
            store.custom_field_settings.get,
        )
        field["contactCustomFieldSetting"] = ref(setting["id"], "ContactCustomFieldSetting")
    if "value" in data:
        field["value"] = text(data["value"])
