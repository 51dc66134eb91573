"""Schemathesis against the sevDesk emulator: every operation it serves, any input.

The vendored spec plus the overlay (``tests/sevdesk_overlay.py``) is handed to
schemathesis, which generates requests for every operation the emulator
implements, both valid ones (positive) and ones the spec forbids (negative),
and sends them to the in-process app. Every answer must

* not be a 5xx, except the one API-NOTES.md documents (§3:
  ``checkCustomerNumberAvailability`` without ``customerNumber`` answers 500);
* carry sevDesk's JSON error body when it is an error, never plain text;
* be described by spec + overlay (status, content type, body), checked by the
  same ``SpecChecker`` every other emulator test uses.

Valid requests (positive mode) name records that exist (``seed``: a customer with
address, e-mail and custom field, a draft invoice), so they reach the routes'
real work instead of stopping at "not found"; invalid ones use whatever ids
schemathesis makes up. DELETEs run last so the seeded records live long enough.

Bounded for CI: ``EXAMPLES`` per operation and mode, one emulator for the run;
``pytest --long`` tries ``LONG_EXAMPLES``. Which inputs are tried is fixed by the
hypothesis profile (``ci`` is derandomized, see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from sandbox.sevdesk import create_app

from .conftest import API, ROOT, SPEC, TOKEN, path_template, served_operations

#: Examples per operation and generation mode: in CI, and under ``pytest --long``.
EXAMPLES, LONG_EXAMPLES = 5, 50
#: The 5xx answers API-NOTES.md documents: (METHOD, path template) -> where.
DOCUMENTED_5XX = {
    ("GET", "/Contact/Mapper/checkCustomerNumberAvailability"): "§3, without customerNumber",
}


def spec_for_schemathesis(checker: Any) -> dict[str, Any]:
    """The spec + overlay the response checker validates against, served at the emulator only."""
    return {**copy.deepcopy(checker.spec), "servers": [{"url": API}]}


def test_schemathesis_finds_no_crash_and_no_answer_outside_the_spec(checker, long_run):
    app = create_app(TOKEN, legacy_unity_write=True)
    served = served_operations(app)
    schema = schemathesis.openapi.from_dict(spec_for_schemathesis(checker))
    operations = sorted(
        (
            op
            for op in (result.ok() for result in schema.get_all_operations())
            if (op.method.upper(), path_template(op.path)) in served
        ),
        key=lambda op: (op.method == "DELETE", op.path, op.method),
    )
    assert len(operations) >= 40, f"only {len(operations)} spec'd operations are served"
    examples = LONG_EXAMPLES if long_run else EXAMPLES
    failures: list[str] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()
    with sync_client(app) as client:
        ids = seed(client)
        for operation in operations:
            for mode in GenerationMode:
                failures += _explore(operation, mode, client, checker, examples, statuses, ids)
    took = time.monotonic() - started
    print(
        f"schemathesis: {len(operations)} operations x 2 modes x {examples} examples: "
        f"{sum(statuses.values())} requests {dict(sorted(statuses.items()))} in {took:.1f} s"
    )
    assert statuses.get(200, 0) + statuses.get(201, 0) > len(operations), "hardly anything passed"
    assert not failures, "\n".join(failures[:15])


Send = Any  # (method, url, **httpx request kwargs) -> httpx.Response


@contextmanager
def sync_client(app: Any) -> Iterator[Send]:
    """A blocking sender to the in-process app: one event loop, one httpx client."""
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT)

    def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
        return loop.run_until_complete(client.request(method, url, **kwargs))

    try:
        yield send
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


def _explore(
    operation: Any,
    mode: GenerationMode,
    client: Send,
    checker: Any,
    examples: int,
    statuses: dict[int, int],
    ids: dict[str, str],
) -> list[str]:
    failures: list[str] = []
    key = (operation.method.upper(), path_template(operation.path))
    known = {n: ids[n] for n in re.findall(r"\{([^}]+)\}", operation.path) if n in ids}
    fixed = {"path_parameters": known} if mode is GenerationMode.POSITIVE and known else {}
    pinned = pinned_bodies(ids).get(key, []) if mode is GenerationMode.POSITIVE else []

    @settings(
        max_examples=examples,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case: Any) -> None:
        sent = case.as_transport_kwargs(base_url=API, headers={"Authorization": TOKEN})
        response = _send(client, sent)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        failures.extend(_judge(key, response, checker))

    for body in pinned:
        run = example(case=operation.Case(body=body, media_type="application/json"))(run)
    try:
        run()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (no parameters, no body).
        assert mode is GenerationMode.NEGATIVE, f"no valid request for {key}"
    return failures


def pinned_bodies(ids: dict[str, str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Inputs that once crashed the emulator (issue 16), tried on every run."""
    cref = {"id": ids["contactId"], "objectName": "Contact"}
    draft = _draft(cref)
    draft["invoicePosSave"][0]["positionNumber"] = 1.5
    return {
        ("POST", "/Contact"): [
            {"name": "Riesig", "category": {"id": 3, "objectName": "Category"}}
            | {"defaultDiscountAmount": 1e30}
        ],
        ("POST", "/ContactAddress"): [
            {"contact": cref, "country": {"id": 1, "objectName": "StaticCountry"}}
            | {"category": {"id": 47, "objectName": "Category"}, "zip": 1e30}
        ],
        ("POST", "/Invoice/Factory/saveInvoice"): [draft],
    }


def seed(client: Send) -> dict[str, str]:
    """A small account to explore: path parameter name -> id of a record that exists."""

    def made(path: str, body: dict[str, Any]) -> str:
        response = client("POST", f"{API}{path}", json=body, headers={"Authorization": TOKEN})
        assert response.status_code in (200, 201), response.text
        objects = response.json()["objects"]
        return str((objects.get("invoice") or objects)["id"])

    contact = made(
        "/Contact", {"name": "Seed GmbH", "category": {"id": 3, "objectName": "Category"}}
    )
    cref = {"id": contact, "objectName": "Contact"}
    address = made(
        "/ContactAddress",
        {
            "contact": cref,
            "country": {"id": 1, "objectName": "StaticCountry"},
            "category": {"id": 47, "objectName": "Category"},
            "city": "Berlin",
        },
    )
    way = made(
        "/CommunicationWay",
        {
            "contact": cref,
            "type": "EMAIL",
            "value": "seed@example.org",
            "key": {"id": 2, "objectName": "CommunicationWayKey"},
        },
    )
    setting = made("/ContactCustomFieldSetting", {"name": "KleanApp-ID", "objectName": "X"})
    field = made(
        "/ContactCustomField",
        {
            "contact": cref,
            "contactCustomFieldSetting": {"id": setting, "objectName": "ContactCustomFieldSetting"},
            "value": "1",
            "objectName": "ContactCustomField",
        },
    )
    invoice = made("/Invoice/Factory/saveInvoice", _draft(cref))
    return {
        "contactId": contact,
        "contactAddressId": address,
        "communicationWayId": way,
        "contactCustomFieldSettingId": setting,
        "contactCustomFieldId": field,
        "invoiceId": invoice,
        "unityId": "1",
    }


def _draft(contact: dict[str, str]) -> dict[str, Any]:
    return {
        "invoice": {
            "objectName": "Invoice",
            "mapAll": True,
            "invoiceDate": "01.03.2026",
            "contact": contact,
            "contactPerson": {"id": 900001, "objectName": "SevUser"},
            "discount": 0,
            "status": 100,
            "addressCountry": {"id": 1, "objectName": "StaticCountry"},
            "taxRule": {"id": 1, "objectName": "TaxRule"},
            "taxText": "Umsatzsteuer 19%",
            "taxRate": 0,
            "taxType": "default",
            "invoiceType": "RE",
            "currency": "EUR",
        },
        "invoicePosSave": [
            {
                "objectName": "InvoicePos",
                "mapAll": True,
                "quantity": 2,
                "price": 40,
                "taxRate": 19,
                "unity": {"id": 1, "objectName": "Unity"},
            }
        ],
    }


def _send(client: Send, sent: dict[str, Any]) -> httpx.Response:
    headers = {k: v for k, v in sent["headers"].items() if k.lower() != "connection"}
    # The token is not what is being explored: a generated one would only test the 401.
    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    headers["Authorization"] = TOKEN
    return client(
        sent["method"],
        sent["url"],
        params=sent.get("params") or None,
        headers=headers,
        json=sent.get("json"),
        content=sent.get("data") if "json" not in sent else None,
    )


def _judge(key: tuple[str, str], response: Any, checker: Any) -> list[str]:
    where = f"{key[0]} {response.request.url} -> {response.status_code}"
    out = []
    if response.status_code >= 500 and key not in DOCUMENTED_5XX:
        out.append(f"{where}: undocumented {response.status_code}: {response.text[:300]}")
    ctype = response.headers.get("content-type", "")
    if response.status_code >= 400 and not ctype.startswith("application/json"):
        out.append(f"{where}: error without sevDesk's JSON body: {response.text[:200]}")
    try:
        checker.check(response)
    except AssertionError as exc:
        out.append(f"{where}: {str(exc)[:700]}")
    return out


def test_the_documented_500_is_the_only_one():
    """The allowance above is exactly what API-NOTES.md §3 says, nothing more."""
    notes = (SPEC.parent / "API-NOTES.md").read_text(encoding="utf-8")
    assert "Without `customerNumber` it can return 500" in notes
    assert set(DOCUMENTED_5XX) == {("GET", "/Contact/Mapper/checkCustomerNumberAvailability")}
