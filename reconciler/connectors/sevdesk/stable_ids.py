"""The KleanApp id of each customer, kept on its sevDesk contact (a contact custom field).

Why: the links between KleanApp customers and sevDesk contacts live in the
state store. If that store is lost, the customer number is the only other
key, and it can be missing, changed or typed differently. With the KleanApp
id written on the sevDesk contact, the pairs can be rebuilt exactly
(``kleansync resync``), and a plain ``sync`` can see that the two systems
are already linked instead of creating every customer a second time.

sevDesk offers "contact fields" for this: one ``ContactCustomFieldSetting``
(named :data:`FIELD_NAME`, created once per account) and one
``ContactCustomField`` per contact holding the value. The contact itself
cannot carry a custom field in its ``POST /Contact`` body (``Model_Contact``
has none), so recording the id of a newly created contact costs **one extra
request** (``POST /ContactCustomField``), sent right after the create. The
fields already present are read once per connector (one paged
``GET /ContactCustomField``, since that list knows no filter), so a run that
makes many links sends one write per link and no per-link reads.

sevDesk refuses neither a second setting of the same name nor a second
field of one setting on a contact, so this module always looks before it
writes and, when it finds several, uses the oldest (lowest id).

Only the calls live here; the engine journals every write before sending it
(``reconciler.sync.stable_ids``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from reconciler.connectors.sevdesk.api import SevdeskApi
from reconciler.connectors.sevdesk.mapping import ref_id, text
from reconciler.domain.errors import TransientError

#: The contact field's name as admins see it in sevDesk (Einstellungen → Kontaktfelder).
FIELD_NAME = "KleanApp-ID"
FIELD_DESCRIPTION = (
    "Set by kleansync: this customer's id in KleanApp. Do not change it or copy it to "
    "another contact."
)
SETTING_REF = "ContactCustomFieldSetting"


def _order(row: dict[str, Any]) -> tuple[int, str]:
    id_ = str(row.get("id"))
    return (len(id_), id_) if id_.isdigit() else (10**6, id_)


class SevdeskStableIds:
    """Read and write the :data:`FIELD_NAME` contact field of one sevDesk account."""

    def __init__(self, api: SevdeskApi) -> None:
        self.api = api
        self._setting: str | None = None
        self._absent = False  # read, and the account has no setting yet
        #: contact id -> (field id, value); None until read. A field id of None
        #: means "written, id unknown" (an unclear answer that read back fine).
        self._index: dict[str, tuple[str | None, str]] | None = None
        #: The engine writes the fields of several customers at once: one of them
        #: creates the setting or reads the field list, the others wait for it.
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """Drop what was read: every run starts from what sevDesk holds now.

        A long-lived connector (``kleansync serve``) would otherwise trust a
        list another process (``resync``) has since added to, and write twice.
        """
        self._setting = None
        self._absent = False
        self._index = None

    # -- reading --------------------------------------------------------------
    async def setting_id(self) -> str | None:
        """Id of the :data:`FIELD_NAME` setting, or None if the account has none yet."""
        if self._setting is None and not self._absent:
            rows = await self.api.rows(SETTING_REF)
            mine = [
                r
                for r in rows
                if isinstance(r, dict) and text(r.get("name")) == FIELD_NAME and ref_id(r)
            ]
            if mine:
                self._setting = str(ref_id(min(mine, key=_order)))
            # None: read once, not again right before creating it (the run holds the lock).
            self._absent = self._setting is None
        return self._setting

    async def _fields(self) -> dict[str, tuple[str | None, str]]:
        async with self._lock:
            return await self._read_fields()

    async def _read_fields(self) -> dict[str, tuple[str | None, str]]:
        if self._index is None:
            setting = await self.setting_id()
            index: dict[str, tuple[str | None, str]] = {}
            if setting is not None:
                rows = await self.api.rows("ContactCustomField")
                for row in sorted((r for r in rows if isinstance(r, dict)), key=_order):
                    owner = row.get("contact") or {}
                    kind = row.get("contactCustomFieldSetting") or {}
                    contact_id = text(owner.get("id")) if isinstance(owner, dict) else None
                    of_setting = isinstance(kind, dict) and text(kind.get("id")) == setting
                    value = text(row.get("value"))
                    if contact_id and of_setting and value and contact_id not in index:
                        index[contact_id] = (text(row.get("id")), value)
            self._index = index
        return self._index

    async def all(self) -> dict[str, str]:
        """sevDesk contact id -> the KleanApp id written on it (every contact that has one)."""
        return {contact: value for contact, (_field, value) in (await self._fields()).items()}

    async def contacts_with(self, kleanapp_id: str) -> list[str]:
        """Ids of the contacts whose field holds exactly ``kleanapp_id`` (one request)."""
        setting = await self.setting_id()
        if setting is None:
            return []
        rows = await self.api.call(
            "GET",
            "Contact/Factory/findContactsByCustomFieldValue",
            params={
                "value": kleanapp_id,
                "customFieldSetting[id]": setting,
                "customFieldSetting[objectName]": SETTING_REF,
                "customFieldName": FIELD_NAME,
            },
        )
        return [str(ref_id(r)) for r in rows or [] if isinstance(r, dict) and ref_id(r)]

    # -- writing --------------------------------------------------------------
    async def create_setting(self) -> str:
        """Create the setting unless it exists (reads first; reads back after an unclear answer)."""
        async with self._lock:
            return await self._create_setting()

    async def _create_setting(self) -> str:
        existing = await self.setting_id()
        if existing is not None:
            return existing
        body = {"name": FIELD_NAME, "description": FIELD_DESCRIPTION, "objectName": SETTING_REF}
        try:
            created = await self.api.call("POST", SETTING_REF, json=body)
        except TransientError as exc:
            if not exc.maybe_written:
                raise
            created = None
        if isinstance(created, list):  # the spec shows an array; sevDesk sends one object
            created = created[0] if created else None
        new_id = ref_id(created) if isinstance(created, dict) else None
        if new_id is None:
            self._absent = False  # it may be there after all: read
            found = await self.setting_id()
            if found is None:
                raise TransientError(
                    f"creating the sevDesk contact field {FIELD_NAME!r} failed and it was not "
                    "written; it is safe to try again",
                    maybe_written=False,
                )
            return found
        self._setting = str(new_id)
        self._index = {}  # a brand-new setting has no fields: nothing to read
        return self._setting

    async def write(self, contact_id: str, kleanapp_id: str) -> str:
        """Make the contact's field hold ``kleanapp_id``: "created", "updated" or "unchanged".

        Needs the setting (``create_setting``). A repeated call after any
        failure finishes the job without a second field: the fields are read
        before writing, and an unclear answer is read back by value.
        """
        setting = await self.setting_id()
        if setting is None:
            raise TransientError(f"the sevDesk contact field {FIELD_NAME!r} does not exist yet")
        index = await self._fields()
        current = index.get(contact_id)
        if current is not None and current[0] is None:  # written earlier, id unknown: look
            self._index = None
            index = await self._fields()
            current = index.get(contact_id)
        if current is not None and current[1] == kleanapp_id:
            return "unchanged"
        try:
            if current is not None and current[0] is not None:
                await self.api.call(
                    "PUT", f"ContactCustomField/{current[0]}", json={"value": kleanapp_id}
                )
                outcome = "updated"
                index[contact_id] = (current[0], kleanapp_id)
            else:
                created = await self.api.call(
                    "POST",
                    "ContactCustomField",
                    json={
                        "contact": {"id": int(contact_id), "objectName": "Contact"},
                        "contactCustomFieldSetting": {
                            "id": int(setting),
                            "objectName": SETTING_REF,
                        },
                        "value": kleanapp_id,
                        "objectName": "ContactCustomField",
                    },
                )
                outcome = "created"
                field_id = ref_id(created) if isinstance(created, dict) else None
                index[contact_id] = (None if field_id is None else str(field_id), kleanapp_id)
        except TransientError as exc:
            if not exc.maybe_written or contact_id not in await self.contacts_with(kleanapp_id):
                raise
            self._index = None  # it was written; read the field ids afresh when needed
            return "created" if current is None else "updated"
        return outcome
