"""A KleanApp webhook is trusted only with a valid signature, and read only if well-formed."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.domain.errors import KleansyncError
from reconciler.service.webhooks import (
    SIGNATURE_HEADER,
    InvalidWebhook,
    parse_event,
    sign,
    verify_signature,
)

SECRET = "whsec-0123456789abcdef"
BODY = json.dumps(
    {
        "event": "customer.saved",
        "id": 17,
        "occurred_at": "2026-03-01T09:30:00.000Z",
        "data": {"id": 17, "customer_number": "K-00017", "version": 3},
    }
).encode()


def test_signature_is_kleanapps_documented_hmac() -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY) == expected
    assert sign(SECRET.encode(), BODY) == expected


def test_round_trip_verifies() -> None:
    assert verify_signature(SECRET, BODY, sign(SECRET, BODY))
    assert verify_signature(SECRET.encode(), BODY, sign(SECRET, BODY))


def test_uppercase_hex_and_surrounding_space_still_verify() -> None:
    header = sign(SECRET, BODY)
    assert verify_signature(SECRET, BODY, "  sha256=" + header[7:].upper() + " ")


def test_wrong_secret_fails() -> None:
    assert not verify_signature("another-secret-0000", BODY, sign(SECRET, BODY))


def test_tampered_body_fails() -> None:
    tampered = BODY.replace(b"K-00017", b"K-00018")
    assert not verify_signature(SECRET, tampered, sign(SECRET, BODY))
    assert not verify_signature(SECRET, BODY + b" ", sign(SECRET, BODY))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "md5=" + "0" * 32,
        "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest(),
        "sha256=not-hex-at-all",
        "sha256=" + "ä" * 64,
        hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest(),  # no "sha256=" prefix
        "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()[:-2],
        12345,
    ],
)
def test_malformed_header_is_false_not_an_exception(header: object) -> None:
    assert verify_signature(SECRET, BODY, header) is False  # type: ignore[arg-type]


def test_empty_secret_never_verifies() -> None:
    forged = "sha256=" + hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    assert verify_signature("", BODY, forged) is False
    with pytest.raises(ValueError):
        sign("", BODY)


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=512))
def test_verify_accepts_exactly_what_sign_produced(secret: bytes, body: bytes) -> None:
    header = sign(secret, body)
    assert verify_signature(secret, body, header)
    assert not verify_signature(secret, body + b"x", header)
    assert not verify_signature(secret + b"x", body, header)


def test_parse_event_reads_a_kleanapp_event() -> None:
    event = parse_event(BODY)
    assert event.event == "customer.saved"
    assert event.id == "17"
    assert event.occurred_at == dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    assert event.occurred_at.utcoffset() == dt.timedelta(0)
    assert event.data["customer_number"] == "K-00017"


def test_parse_event_converts_offsets_to_utc() -> None:
    body = json.dumps(
        {"event": "unit.saved", "id": 3, "occurred_at": "2026-03-01T10:30:00+01:00", "data": {}}
    ).encode()
    assert parse_event(body).occurred_at == dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


GOOD = {"event": "unit.saved", "id": 1, "occurred_at": "2026-03-01T09:30:00Z", "data": {}}


def _without(key: str) -> bytes:
    return json.dumps({k: v for k, v in GOOD.items() if k != key}).encode()


def _with(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_without("event"), "event"),
        (_without("id"), "id"),
        (_with(id=True), "id"),
        (_without("occurred_at"), "occurred_at"),
        (_with(occurred_at="yesterday"), "occurred_at"),
        (_without("data"), "data"),
        (_with(data=[]), "data"),
    ],
)
def test_parse_event_rejects_malformed_bodies_with_a_typed_error(
    body: bytes, mentions: str
) -> None:
    with pytest.raises(InvalidWebhook) as info:
        parse_event(body)
    assert isinstance(info.value, KleansyncError)
    assert mentions in str(info.value)


async def test_a_real_emulator_delivery_verifies_and_parses() -> None:
    """What the KleanApp emulator signs and sends is exactly what we accept."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from sandbox.kleanapp import create_app

    received: list[tuple[bytes, str | None]] = []

    async def hook(request: Request) -> Response:
        received.append((await request.body(), request.headers.get(SIGNATURE_HEADER)))
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    emulator = create_app(
        "token", rate_limit_rps=None, webhook_transport=httpx.ASGITransport(app=receiver)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator),
        base_url="http://kleanapp.test/api/v1",
        headers={"Authorization": "Bearer token"},
    ) as api:
        registered = await api.post(
            "/webhooks",
            json={
                "url": "http://receiver.test/hook",
                "events": ["invoice.saved"],
                "secret": SECRET,
            },
        )
        assert registered.status_code == 201
        customer = await api.post(
            "/customers", json={"kind": "company", "company_name": "Hotel Adler"}
        )
        saved = await api.post(
            "http://kleanapp.test/_sandbox/invoices",
            json={
                "customer_id": customer.json()["id"],
                "invoice_date": "2026-11-02",
                "status": "open",
                "positions": [
                    {
                        "product_name": "Unterhaltsreinigung",
                        "quantity": 4,
                        "unit_name": "Std",
                        "unit_price_net": 31.5,
                        "tax_rate": 19,
                    }
                ],
            },
        )
        assert saved.status_code == 201, saved.text
        await emulator.drain()

    [(body, header)] = received
    assert verify_signature(SECRET, body, header)
    assert not verify_signature("some-other-secret-123", body, header)
    event = parse_event(body)
    assert (event.event, event.id) == ("invoice.saved", str(saved.json()["id"]))
    assert event.data["number"] == saved.json()["number"]
