"""The sevDesk emulator's in-memory state, kept in sevDesk's own wire shape.

Records are stored as the dicts sevDesk would send (ids, numbers and flags as
strings, references as ``{"id", "objectName"}``), plus private keys starting
with ``_`` that never leave the process (``_created``/``_updated`` as Unix
seconds for the ``createAfter``/``updateAfter`` filters). Rendering a record is
therefore just dropping the private keys and formatting the two timestamps.

Every entity type gets its own id range (contacts from 100 000, addresses from
200 000, ...) so that a client mixing up a contact id with an address id gets
a "not found" instead of silently touching another record.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from .company import COMPANY

BERLIN = ZoneInfo("Europe/Berlin")
SEV_CLIENT = {"id": "692471", "objectName": "SevClient"}
CUSTOMER_CATEGORY = "3"
GERMANY = "1"

#: Where each entity's ids start (see module docstring).
ID_BASE = {
    "Contact": 100_000,
    "ContactAddress": 200_000,
    "CommunicationWay": 300_000,
    "Invoice": 400_000,
    "InvoicePos": 500_000,
    "CheckAccount": 600_000,
    "ContactCustomFieldSetting": 700_000,
    "ContactCustomField": 710_000,
    "InvoiceLog": 800_000,
    "Unity": 0,
}

# (id, name, objectType, translationCode) -- ids 2/3/4/28 are [spec]. The
# ContactAddress ids 43 "Arbeit" and 47 "Rechnungsanschrift" (the invoice address)
# are [obs] on a real account (jernoxit/sevdesk-rs src/ids.rs AddressCategoryId;
# tests/fixtures/contact_address.json answers 43, contact_address_list.json 47);
# 48-50 and every translationCode are [inferred].
CATEGORIES = [
    ("2", "Lieferant", "Contact", "CATEGORY_SUPPLIER"),
    ("3", "Kunde", "Contact", "CATEGORY_CUSTOMER"),
    ("4", "Partner", "Contact", "CATEGORY_PARTNER"),
    ("28", "Interessent", "Contact", "CATEGORY_PROSPECT_CUSTOMER"),
    ("43", "Arbeit", "ContactAddress", "CATEGORY_WORK"),
    ("47", "Rechnungsanschrift", "ContactAddress", "CATEGORY_INVOICE_ADDRESS"),
    ("48", "Lieferanschrift", "ContactAddress", "CATEGORY_DELIVERY_ADDRESS"),
    ("49", "Abholanschrift", "ContactAddress", "CATEGORY_PICKUP_ADDRESS"),
    ("50", "Privat", "ContactAddress", "CATEGORY_PRIVATE"),
]
#: The invoice address ("Rechnungsanschrift") [obs, see CATEGORIES].
ADDRESS_CATEGORY = "47"

# (id, code, German name, English name). id 1 = Germany is [inferred] in the
# notes from a real fixture; the other ids are ours.
COUNTRIES = [
    ("1", "de", "Deutschland", "Germany"),
    ("2", "at", "Österreich", "Austria"),
    ("3", "ch", "Schweiz", "Switzerland"),
    ("4", "fr", "Frankreich", "France"),
    ("5", "nl", "Niederlande", "Netherlands"),
    ("6", "be", "Belgien", "Belgium"),
    ("7", "lu", "Luxemburg", "Luxembourg"),
    ("8", "it", "Italien", "Italy"),
    ("9", "pl", "Polen", "Poland"),
    ("10", "dk", "Dänemark", "Denmark"),
]

# [spec] GET /CommunicationWayKey description.
COMM_WAY_KEYS = [
    ("1", "Privat", "COMM_WAY_KEY_PRIVAT"),
    ("2", "Arbeit", "COMM_WAY_KEY_WORK"),
    ("3", "Fax", "COMM_WAY_KEY_FAX"),
    ("4", "Mobil", "COMM_WAY_KEY_MOBILE"),
    ("5", " ", "COMM_WAY_KEY_EMPTY"),
    ("6", "Autobox", "COMM_WAY_KEY_AUTOBOX"),
    ("7", "Newsletter", "COMM_WAY_KEY_NEWSLETTER"),
    ("8", "Rechnungsadresse", "COMM_WAY_KEY_INVOICING"),
]

# The units a fresh account lists: (name, translationCode, unitySystem, UN/ECE code),
# ids 1.. in this order. Id 1 is [obs] exactly as a real account answers it
# (jernoxit/sevdesk-rs tests/fixtures/write_invoice_save.json, the embedded unity:
# "Stk", UNITY_PIECE, unitySystem "general", C62, create null, update
# 1970-01-01T01:00:01+01:00, no sevClient). The other names, codes and ids are
# [inferred] from sevDesk's settings page; their unitySystem is "metric" for SI
# measures and "general" otherwise [inferred].
DEFAULT_UNITS = [
    ("Stk", "UNITY_PIECE", "general", "C62"),
    ("m²", "UNITY_SQUARE_METER", "metric", "MTK"),
    ("m", "UNITY_METER", "metric", "MTR"),
    ("kg", "UNITY_KILOGRAM", "metric", "KGM"),
    ("t", "UNITY_TON", "metric", "TNE"),
    ("lfm", "UNITY_LINEAR_METER", "metric", "LM"),
    ("pauschal", "UNITY_FLAT_RATE", "general", "LS"),
    ("m³", "UNITY_CUBIC_METER", "metric", "MTQ"),
    ("Std", "UNITY_HOUR", "general", "HUR"),
]
#: ``update`` of the system units: Unix second 1, as recorded (see DEFAULT_UNITS).
SYSTEM_UNIT_UPDATE = 1

# The payment accounts a fresh account has [inferred from the spec's "How to book
# an invoice": a standard account provided by sevDesk and a register (cash) account,
# both booked without a transaction]: (name, type, accountingNumber SKR04, default).
CHECK_ACCOUNTS = [
    ("Standardkonto", "offline", "1800", True),
    ("Kasse", "register", "1600", False),
]

#: The process start, used as `create`/`update` of the static lists.
_SEED_TIME = int(dt.datetime(2024, 1, 2, 9, 0, tzinfo=BERLIN).timestamp())


def now_ts() -> int:
    """Current time in whole Unix seconds (sevDesk has second resolution).

    Uses ``datetime.now`` rather than ``time.time`` so freezegun controls it.
    """
    return int(dt.datetime.now(BERLIN).timestamp())


@functools.lru_cache(maxsize=1 << 16)
def iso(ts: int) -> str:
    """Unix seconds -> ISO-8601 with the Berlin offset, as sevDesk renders it.

    Cached: a listing page renders thousands of stamps, most of them alike.
    """
    return dt.datetime.fromtimestamp(ts, BERLIN).isoformat(timespec="seconds")


def ref(id_: str | int, object_name: str) -> dict[str, str]:
    return {"id": str(id_), "objectName": object_name}


def render(record: dict[str, Any]) -> dict[str, Any]:
    """The wire form of a stored record: private keys dropped, times formatted."""
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    if "_created" in record:
        out["create"] = iso(record["_created"])
    if "_updated" in record:
        out["update"] = iso(record["_updated"])
    return out


class Store:
    """All records of one emulated sevDesk account."""

    def __init__(self) -> None:
        #: An account that adds up its positions' taxes (``create_app``); kept over resets.
        self.tax_per_position = False
        #: An account whose part listings honour the changed-since filters (``create_app``).
        self.part_time_filters = False
        #: Grows with every change to the account (``changed``); a cached listing
        #: (``listed``) is only used while it has not grown.
        self.generation = 0
        self._listings: dict[Any, tuple[int, list[dict[str, Any]]]] = {}
        self.reset()

    def reset(self) -> None:
        self.changed()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.addresses: dict[str, dict[str, Any]] = {}
        self.comm_ways: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, dict[str, Any]] = {}
        self.units: dict[str, dict[str, Any]] = {}
        #: Contact custom fields ("Kontaktfelder", see ``custom_fields``).
        self.custom_field_settings: dict[str, dict[str, Any]] = {}
        self.custom_fields: dict[str, dict[str, Any]] = {}
        #: E-mails the emulator would have sent to customers (sendViaEmail).
        self.emails_sent: list[dict[str, Any]] = []
        #: Every sendBy call: which invoice, how, and that nothing was e-mailed.
        self.send_log: list[dict[str, Any]] = []
        #: Every booking (bookAmount) as the InvoiceLog it answered, plus the request.
        self.bookings: list[dict[str, Any]] = []
        self.invoice_numbers: dict[str, int] = {"RE": 1000}
        #: The company's own data (``sevClient``; ``company.py``), what e-invoices need.
        self.company: dict[str, Any] = dict(COMPANY)
        self._next = dict(ID_BASE)
        self.categories = [_category(*row) for row in CATEGORIES]
        self.countries = [_country(*row) for row in COUNTRIES]
        self.comm_way_keys = [_comm_way_key(*row) for row in COMM_WAY_KEYS]
        self.sev_users = [_sev_user()]
        self.check_accounts = [
            _check_account(self.new_id("CheckAccount"), *row, priority=len(CHECK_ACCOUNTS) - n)
            for n, row in enumerate(CHECK_ACCOUNTS)
        ]
        for name, code, system, unece in DEFAULT_UNITS:
            unit = _system_unit(self.new_id("Unity"), name, code, system, unece)
            self.units[unit["id"]] = unit

    # -- all or nothing ----------------------------------------------------
    #: The tables a request may add to or remove from.
    _TABLES = (
        "contacts",
        "addresses",
        "comm_ways",
        "invoices",
        "positions",
        "units",
        "custom_field_settings",
        "custom_fields",
        "emails_sent",
        "send_log",
        "bookings",
        "invoice_numbers",
        "_next",
    )

    def snapshot(self) -> dict[str, Any]:
        """Which records exist now (shallow copies), for ``restore`` after a crash.

        Routes change a record only after validating (draft, then ``update``),
        so undoing additions and removals is what "never store half" needs;
        a shallow copy keeps this cheap with thousands of records.
        """
        return {name: copy.copy(getattr(self, name)) for name in self._TABLES}

    def restore(self, snapshot: dict[str, Any]) -> None:
        for name, table in snapshot.items():
            setattr(self, name, table)
        self.changed()

    # -- listings, filtered once per change -------------------------------
    #: How many filtered listings are kept (a listing pages contacts, addresses
    #: and communication ways side by side; a few more for other filters).
    _KEPT_LISTINGS = 8

    def changed(self) -> None:
        """Forget the cached listings: called by every write (the guard, bulk, reset)."""
        self.generation += 1
        self._listings.clear()

    def listed(self, key: Any, build: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The filtered rows of a listing, built once per change of the account.

        Why: a client pages through offset pages (1,000 rows each); filtering
        every record again for every page made a listing of 100,000 contacts
        quadratic (each page cost the whole account). The rows are the stored
        dicts in store order, as ``build`` makes them; a page renders its slice.
        """
        hit = self._listings.get(key)
        if hit is not None and hit[0] == self.generation:
            return hit[1]
        rows = build()
        if len(self._listings) >= self._KEPT_LISTINGS:
            self._listings.pop(next(iter(self._listings)))
        self._listings[key] = (self.generation, rows)
        return rows

    # -- ids and lookups ---------------------------------------------------
    def new_id(self, object_name: str) -> str:
        self._next[object_name] += 1
        return str(self._next[object_name])

    def category(self, id_: str, object_type: str) -> dict[str, Any] | None:
        return next(
            (c for c in self.categories if c["id"] == id_ and c["objectType"] == object_type),
            None,
        )

    def country(self, id_: str) -> dict[str, Any] | None:
        return next((c for c in self.countries if c["id"] == id_), None)

    def country_by_code(self, code: str) -> dict[str, Any] | None:
        return next((c for c in self.countries if c["code"] == code.lower()), None)

    def comm_way_key(self, id_: str) -> dict[str, Any] | None:
        return next((k for k in self.comm_way_keys if k["id"] == id_), None)

    def sev_user(self, id_: str) -> dict[str, Any] | None:
        return next((u for u in self.sev_users if u["id"] == id_), None)

    def check_account(self, id_: str) -> dict[str, Any] | None:
        return next((a for a in self.check_accounts if a["id"] == id_), None)

    # -- units -------------------------------------------------------------
    def add_unit(
        self,
        name: str,
        *,
        translation_code: str | None = None,
        unece: str | None = None,
        ts: int | None = None,
    ) -> dict[str, Any]:
        """Create a unit as sevDesk's settings page (or legacy POST /Unity) would."""
        ts = now_ts() if ts is None else ts
        id_ = self.new_id("Unity")
        unit = {
            "id": id_,
            "objectName": "Unity",
            "_created": ts,
            "_updated": ts,
            "name": name,
            "sevClient": dict(SEV_CLIENT),
            "translationCode": translation_code or f"UNITY_CUSTOM_{id_}",
            "unitySystem": "metric",
            "uneceTradeUnitCode": unece,
        }
        self.units[id_] = unit
        return unit

    def unit_in_use(self, unit_id: str) -> bool:
        return any(p["unity"]["id"] == unit_id for p in self.positions.values())

    # -- contacts and their parts -----------------------------------------
    def contact_is_referenced(self, contact_id: str) -> bool:
        """True while a document (invoice) points at the contact: DELETE -> 409."""
        return any(inv["contact"]["id"] == contact_id for inv in self.invoices.values())

    def delete_contact(self, contact_id: str) -> None:
        """Remove a contact with its addresses, communication ways and custom fields."""
        self.contacts.pop(contact_id, None)
        for table in (self.addresses, self.comm_ways, self.custom_fields):
            for key in [k for k, v in table.items() if v["contact"]["id"] == contact_id]:
                del table[key]

    def addresses_of(self, contact_id: str) -> Iterable[dict[str, Any]]:
        return (a for a in self.addresses.values() if a["contact"]["id"] == contact_id)


def _system_unit(id_: str, name: str, code: str, system: str, unece: str) -> dict[str, Any]:
    """A unit sevDesk ships (no sevClient, ``create`` null), as a real account lists it."""
    return {
        "id": id_,
        "objectName": "Unity",
        "additionalInformation": None,
        "create": None,
        "_updated": SYSTEM_UNIT_UPDATE,
        "name": name,
        "translationCode": code,
        "unitySystem": system,
        "uneceTradeUnitCode": unece,
    }


def _category(id_: str, name: str, object_type: str, code: str) -> dict[str, Any]:
    return {
        "id": id_,
        "objectName": "Category",
        "_created": _SEED_TIME,
        "_updated": _SEED_TIME,
        "name": name,
        "objectType": object_type,
        "priority": "0",
        "code": None,
        "color": "#cccccc",
        "postingAccount": None,
        "type": None,
        "translationCode": code,
    }


def _country(id_: str, code: str, name: str, name_en: str) -> dict[str, Any]:
    return {
        "id": id_,
        "objectName": "StaticCountry",
        "code": code,
        "name": name,
        "nameEn": name_en,
        "translationCode": f"COUNTRY_{code.upper()}",
        "locale": f"{code}_{code.upper()}",
        "priority": id_,
    }


def _comm_way_key(id_: str, name: str, code: str) -> dict[str, Any]:
    return {
        "id": id_,
        "objectName": "CommunicationWayKey",
        "_created": _SEED_TIME,
        "_updated": _SEED_TIME,
        "name": name,
        "translationCode": code,
    }


def _check_account(
    id_: str, name: str, kind: str, accounting_number: str, default: bool, *, priority: int
) -> dict[str, Any]:
    return {
        "id": id_,
        "objectName": "CheckAccount",
        "_created": _SEED_TIME,
        "_updated": _SEED_TIME,
        "sevClient": dict(SEV_CLIENT),
        "name": name,
        "iban": None,
        "type": kind,
        "importType": None,
        "currency": "EUR",
        "defaultAccount": "1" if default else "0",
        "baseAccount": "1" if default else "0",
        "priority": str(priority),
        "status": "100",
        "balance": None,
        "bankServer": None,
        "autoMapTransactions": None,
        "autoSyncTransactions": "0",
        "lastSync": None,
        "accountingNumber": accounting_number,
    }


def _sev_user() -> dict[str, Any]:
    return {
        "id": "900001",
        "objectName": "SevUser",
        "_created": _SEED_TIME,
        "_updated": _SEED_TIME,
        "fullname": "Erika Mustermann",
        "firstName": "Erika",
        "lastName": "Mustermann",
        "username": "erika@kleanapp-demo.de",
        "status": "100",
        "email": "erika@kleanapp-demo.de",
        "gender": "w",
        "role": "admin",
        "sevClient": dict(SEV_CLIENT),
    }
