"""An independent referee for sync tests: count both sides, find duplicates and lost edits.

Why independent: a test that asks kleansync's own connectors "did it work?"
inherits their blind spots (a mapping that drops a field reads the same wrong
value on every run). This module talks to each service's *public API* with
plain ``httpx`` and its own small normalisation (``phonenumbers`` for numbers,
nothing from ``rules/`` or ``reconciler/``), so a defect in the engine cannot
hide itself from the check.

Use, against served emulators (processes, ``tests/conftest.py`` ``sandbox_server``)::

    from tests.adversarial.audit import audit

    report = audit(
        server.sevdesk_url, server.sevdesk_token, server.kleanapp_url, server.kleanapp_token,
        expected={"K-00001": {"email": "neu@example.de", "city": "Potsdam"},
                  "K-00002": None},          # None: must not be an active customer anywhere
    )
    report.assert_clean()                   # AssertionError listing every finding
    report.counts   # {"kleanapp": 300, "kleanapp_archived": 2, "sevdesk": 300, ...}

In-process (``httpx.ASGITransport``) or from an ``async def`` test, use
``await audit_async(..., sevdesk_transport=..., kleanapp_transport=...)``.

What it reports (``AuditReport``), every item one line naming the customer:

* ``duplicates``: one customer number twice on a side; two active customers
  with the same kind, name and e-mail on a side (a create repeated under a new
  number); a sevDesk contact holding the same communication way or address twice.
* ``lost``: against ``expected`` (customer number -> {field: value}); a field
  either side holds differently from the expected value, a customer missing
  on a side, or one expected gone (``None``) that is still active.
* ``disagreements``: customers both sides hold (KleanApp active) whose
  comparable fields differ, and active customers only one side has
  (a KleanApp customer archived there may keep its sevDesk contact).
* ``unexpected``: active customers ``expected`` does not name (reported only,
  ``ok`` ignores them unless ``strict=True``).

"Comparable" leaves out what one side cannot keep: contact-person names on a
company, a company name on a person, a country without any address field,
KleanApp's archive flag. Name ``expected`` fields both sides can keep.
Clear the emulators' faults before auditing: a listing that is inconsistent
with its own ``total``/``countAll`` raises ``AuditError`` rather than
counting a partial answer.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import phonenumbers

FIELDS = (
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
MULTILINE = frozenset({"street", "note"})
#: Expected model: customer number -> {field: value}, or None for "gone".
Expected = Mapping[str, Mapping[str, Any] | None]


class AuditError(RuntimeError):
    """The services could not be counted (an error answer or an inconsistent listing)."""


# -- normalisation (deliberately not kleansync's) -------------------------------------
def _text(value: Any, *, multiline: bool = False) -> str | None:
    if value is None:
        return None
    raw = unicodedata.normalize("NFC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in raw.split("\n")] if multiline else [raw]
    out = "\n".join(line for line in lines if line) if multiline else " ".join(raw.split())
    return out or None


def _phone(value: Any, country: str | None) -> str | None:
    typed = _text(value)
    if typed is None:
        return None
    try:
        number = phonenumbers.parse(typed, (country or "DE").upper())
    except phonenumbers.NumberParseException:
        return typed
    if not phonenumbers.is_valid_number(number):
        return typed
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """One customer in comparable form; ``record`` uses kleansync's canonical field names."""
    country = (_text(record.get("country")) or "").upper() or None
    out: dict[str, Any] = {f: _text(record.get(f), multiline=f in MULTILINE) for f in FIELDS}
    out["country"] = country
    out["kind"] = out["kind"] or "company"
    out["email"] = out["email"].lower() if out["email"] else None
    out["vat_id"] = out["vat_id"].replace(" ", "").upper() if out["vat_id"] else None
    for f in ("phone", "mobile"):
        out[f] = _phone(record.get(f), country)
        out[f"_typed_{f}"] = _text(record.get(f))
    return out


def in_country(customer: Mapping[str, Any], country: str | None) -> dict[str, Any]:
    """``customer`` (normalised) with its phone numbers read in ``country``.

    A sevDesk contact without an address has no country of its own (at most
    one on an otherwise empty address); its numbers mean what they mean in
    the country its KleanApp counterpart is in.
    """
    out = dict(customer)
    for f in ("phone", "mobile"):
        out[f] = _phone(customer.get(f"_typed_{f}"), country)
    return out


def has_address(customer: Mapping[str, Any]) -> bool:
    """Street, postal code or city: a country alone is no address (sevDesk keeps it on one)."""
    return any(customer.get(f) for f in ("street", "postal_code", "city"))


def comparable(customer: Mapping[str, Any]) -> dict[str, Any]:
    """``customer`` without the fields one side cannot keep (see module docstring)."""
    out = {f: v for f, v in customer.items() if not f.startswith("_")}
    drop = ("first_name", "last_name") if out["kind"] == "company" else ("company_name",)
    if not any(out[f] for f in ("street", "postal_code", "city")):
        drop += ("country",)
    for f in drop:
        out.pop(f, None)
    return out


def _name(c: Mapping[str, Any]) -> str:
    if c["kind"] == "company":
        return (c["company_name"] or "").casefold()
    return f"{c['first_name'] or ''} {c['last_name'] or ''}".strip().casefold()


# -- reading each side ---------------------------------------------------------------
@dataclass
class SideView:
    """One side's customers as its API shows them (normalised)."""

    label: str
    active: list[dict[str, Any]] = field(default_factory=list)
    archived: list[dict[str, Any]] = field(default_factory=list)
    #: Duplicates within this side's own records (parts of one sevDesk contact).
    part_duplicates: list[str] = field(default_factory=list)

    def by_number(self) -> dict[str, dict[str, Any]]:
        """Active customers by number; of a duplicated number the oldest (reported apart)."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.active:
            if c["customer_number"]:
                out.setdefault(c["customer_number"], c)
        return out


async def _get(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> Any:
    response = await client.get(path, params=params)
    if response.status_code != 200:
        raise AuditError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    return response.json()


async def read_kleanapp(client: httpx.AsyncClient) -> SideView:
    """Every KleanApp customer, page by page until ``meta.total`` rows are in."""
    rows: dict[Any, dict[str, Any]] = {}
    page, total = 1, None
    while total is None or len(rows) < total:
        body = await _get(
            client, "customers", {"include_archived": "true", "page": page, "per_page": 500}
        )
        total = body["meta"]["total"]
        if not body["data"]:
            break
        rows.update({row["id"]: row for row in body["data"]})
        page += 1
    if len(rows) != total:
        raise AuditError(f"KleanApp listed {len(rows)} customers but says total = {total}")
    view = SideView("KleanApp")
    for row in rows.values():
        (view.archived if row.get("archived") else view.active).append(normalise(row))
    return view


async def _sevdesk_rows(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict]:
    found: dict[str, dict] = {}
    offset = 0
    while True:
        body = await _get(
            client, path, {**params, "limit": 1000, "offset": offset, "countAll": "true"}
        )
        page = body.get("objects") or []
        found.update({str(row["id"]): row for row in page})
        total = int(body.get("total", len(found)))
        if not page or len(found) >= total:
            break
        offset += len(page)
    if len(found) != total:
        raise AuditError(f"sevDesk listed {len(found)} {path} rows but says countAll = {total}")
    return list(found.values())


def _ref(value: Any) -> str | None:
    return str(value["id"]) if isinstance(value, dict) and value.get("id") is not None else None


def _main(rows: list[dict], kind: str) -> dict | None:
    """sevDesk's rule: the way marked main, else the oldest (API-NOTES §4)."""
    of_kind = sorted((r for r in rows if r.get("type") == kind), key=lambda r: int(r["id"]))
    marked = [r for r in of_kind if str(r.get("main")) == "1"]
    return (marked or of_kind or [None])[0]


async def read_sevdesk(client: httpx.AsyncClient) -> SideView:
    """Every sevDesk customer (Contact of category 3) joined with its parts, client-side."""
    contacts = await _sevdesk_rows(client, "Contact", depth=1)
    addresses = await _sevdesk_rows(client, "ContactAddress")
    ways = await _sevdesk_rows(client, "CommunicationWay")
    codes = {str(c["id"]): c["code"] for c in await _sevdesk_rows(client, "StaticCountry")}
    invoice_category = {
        str(c["id"])
        for c in await _sevdesk_rows(client, "Category", objectType="ContactAddress")
        if c.get("name") == "Rechnungsanschrift"
    }
    view = SideView("sevDesk")
    for contact in contacts:
        if _ref(contact.get("category")) != "3":
            continue
        cid = str(contact["id"])
        mine = sorted(
            (a for a in addresses if _ref(a.get("contact")) == cid), key=lambda a: int(a["id"])
        )
        my_ways = [w for w in ways if _ref(w.get("contact")) == cid]
        number = _text(contact.get("customerNumber")) or f"(sevDesk contact {cid})"
        for what, keys, rows in (
            ("communication way", ("type", "value"), my_ways),
            ("address", ("street", "zip", "city", "country"), mine),
        ):
            seen = Counter(
                tuple(str(_text(r.get(k)) or _ref(r.get(k))) for k in keys) for r in rows
            )
            view.part_duplicates += [
                f"{number}: sevDesk holds the {what} {'/'.join(k)} {n} times"
                for k, n in seen.items()
                if n > 1
            ]
        address = next((a for a in mine if _ref(a.get("category")) in invoice_category), None)
        address = address or (mine[0] if mine else None)
        record: dict[str, Any] = {
            "customer_number": contact.get("customerNumber"),
            "kind": "company" if _text(contact.get("name")) else "person",
            "company_name": contact.get("name"),
            "first_name": contact.get("surename"),
            "last_name": contact.get("familyname"),
            "vat_id": contact.get("vatNumber"),
            "note": contact.get("description"),
        }
        if address is not None:
            record.update(
                street=address.get("street"),
                postal_code=address.get("zip"),
                city=address.get("city"),
                country=codes.get(_ref(address.get("country")) or ""),
            )
        unmarked = {}
        for fname, kind in (("email", "EMAIL"), ("phone", "PHONE"), ("mobile", "MOBILE")):
            way = _main(my_ways, kind)
            record[fname] = way.get("value") if way else None
            # Stands for the field though not marked main (no way of its type is).
            unmarked[f"_unmarked_{fname}"] = way is not None and str(way.get("main")) != "1"
        view.active.append({**normalise(record), **unmarked})
    return view


# -- the report ---------------------------------------------------------------------
@dataclass
class AuditReport:
    kleanapp: SideView
    sevdesk: SideView
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return {
            "kleanapp": len(self.kleanapp.active),
            "kleanapp_archived": len(self.kleanapp.archived),
            "sevdesk": len(self.sevdesk.active),
            "duplicates": len(self.duplicates),
            "lost": len(self.lost),
        }

    @property
    def ok(self) -> bool:
        findings = self.duplicates + self.lost + self.disagreements
        return not findings and not (self.strict and self.unexpected)

    def summary(self) -> str:
        lines = [f"counts: {self.counts}"]
        for title in ("duplicates", "lost", "disagreements", "unexpected"):
            items = getattr(self, title)
            lines += [f"{title} ({len(items)}):", *(f"  {i}" for i in items[:50])] if items else []
        return "\n".join(lines)

    def assert_clean(self) -> None:
        assert self.ok, self.summary()


def _duplicates(view: SideView) -> list[str]:
    out = [
        f"customer number {n} is {k} active customers in {view.label}"
        for n, k in Counter(
            c["customer_number"] for c in view.active if c["customer_number"]
        ).items()
        if k > 1
    ]
    identities = Counter((c["kind"], _name(c), c["email"]) for c in view.active if _name(c))
    out += [
        f"{view.label} has {k} active {kind} customers named {name!r} with e-mail {email}"
        for (kind, name, email), k in identities.items()
        if k > 1
    ]
    return out + view.part_duplicates


def judge(
    kleanapp: SideView, sevdesk: SideView, expected: Expected | None = None, *, strict: bool = False
) -> AuditReport:
    """Compare two side views with each other and with ``expected`` (pure; no I/O)."""
    report = AuditReport(kleanapp, sevdesk, strict=strict)
    report.duplicates = _duplicates(kleanapp) + _duplicates(sevdesk)
    k, s = kleanapp.by_number(), sevdesk.by_number()
    archived_k = {c["customer_number"] for c in kleanapp.archived}
    for number in sorted(k.keys() | s.keys()):
        if number not in s:
            report.disagreements.append(f"{number}: active in KleanApp, missing in sevDesk")
        elif number not in k:
            if number not in archived_k:
                report.disagreements.append(f"{number}: in sevDesk, missing in KleanApp")
        else:
            s_here = s[number]
            if not has_address(s_here):
                s_here = in_country(s_here, k[number]["country"])
            kc, sc = comparable(k[number]), comparable(s_here)
            for f in sorted(kc.keys() | sc.keys()):
                if kc.get(f) != sc.get(f):
                    report.disagreements.append(
                        f"{number}.{f}: KleanApp {kc.get(f)!r} != sevDesk {sc.get(f)!r}"
                    )
    for number, fields in (expected or {}).items():
        for label, side in (("KleanApp", k), ("sevDesk", s)):
            if fields is None:
                if number in side:
                    report.lost.append(f"{number}: expected gone, still active in {label}")
                continue
            if number not in side:
                report.lost.append(f"{number}: missing in {label}")
                continue
            want = normalise({**side[number], **fields})
            for f in fields:
                if side[number].get(f) != want.get(f):
                    report.lost.append(
                        f"{number}.{f}: {label} has {side[number].get(f)!r}, "
                        f"expected {want.get(f)!r}"
                    )
    if expected is not None:
        known = set(expected)
        report.unexpected = [
            f"{n}: active in {label}, not in the expected model"
            for label, side in (("KleanApp", k), ("sevDesk", s))
            for n in sorted(side.keys() - known)
        ]
    return report


async def audit_async(
    sevdesk_url: str,
    sevdesk_token: str,
    kleanapp_url: str,
    kleanapp_token: str,
    expected: Expected | None = None,
    *,
    strict: bool = False,
    sevdesk_transport: httpx.AsyncBaseTransport | None = None,
    kleanapp_transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30,
) -> AuditReport:
    """Read both services through their public APIs and judge them (see module docstring)."""
    base = {"timeout": timeout}
    async with (
        httpx.AsyncClient(
            base_url=sevdesk_url.rstrip("/") + "/",
            headers={"Authorization": sevdesk_token},
            transport=sevdesk_transport,
            **base,
        ) as s_client,
        httpx.AsyncClient(
            base_url=kleanapp_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {kleanapp_token}"},
            transport=kleanapp_transport,
            **base,
        ) as k_client,
    ):
        kleanapp = await read_kleanapp(k_client)
        sevdesk = await read_sevdesk(s_client)
    return judge(kleanapp, sevdesk, expected, strict=strict)


def audit(
    sevdesk_url: str,
    sevdesk_token: str,
    kleanapp_url: str,
    kleanapp_token: str,
    expected: Expected | None = None,
    *,
    strict: bool = False,
    timeout: float = 30,
) -> AuditReport:
    """``audit_async`` for plain (non-async) tests against served emulators."""
    return asyncio.run(
        audit_async(
            sevdesk_url,
            sevdesk_token,
            kleanapp_url,
            kleanapp_token,
            expected,
            strict=strict,
            timeout=timeout,
        )
    )
