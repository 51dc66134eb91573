"""sevDesk rows as a listing reads them: the e-mail and phone a customer shows, its stamps,
and the JSON of an answer, read the same however fast the reading got (issue 21)."""

from __future__ import annotations

import datetime as dt
import json
import math

import httpx
import pytest

from reconciler.connectors.responses import decode_json, json_body
from reconciler.connectors.sevdesk.mapping import (
    WAY_TYPES,
    MappingError,
    customer_from_parts,
    main_way,
    parse_timestamp,
)
from reconciler.domain.errors import FatalError

CONTACT = {"id": "7", "name": "Glanz GmbH", "update": "2026-03-01T10:00:00+01:00"}


def way(id_: str, type_: str, value: str, main: str = "0") -> dict:
    return {"id": id_, "type": type_, "value": value, "main": main, "contact": {"id": "7"}}


WAYS = [
    way("30", "EMAIL", "later-main@glanz.de", main="1"),
    way("12", "EMAIL", "old@glanz.de"),
    way("11", "email", "older-lower-case@glanz.de", main="1"),
    way("x9", "PHONE", "0221 not a numeric id"),
    way("9", "PHONE", "0221 12345"),
    way("5", "MOBILE", "0171 first of a tie", main="true"),
    way("5", "MOBILE", "0171 second of a tie", main="true"),
    way("2", "WEB", "https://glanz.de", main="1"),
]


@pytest.mark.parametrize(
    "ways", [WAYS, WAYS[::-1], WAYS[2:], [w for w in WAYS if w["main"] == "0"]]
)
def test_the_customer_shows_the_way_each_type_stands_by(ways: list[dict]) -> None:
    """Main first, else the oldest id, numeric ids before others, the earlier row on a tie."""
    customer = customer_from_parts(CONTACT, None, ways, {})
    for field, way_type in WAY_TYPES.items():
        chosen = main_way(ways, way_type)
        assert getattr(customer, field) == (chosen["value"] if chosen else None)
    if ways is WAYS:
        assert (customer.email, customer.phone, customer.mobile) == (
            "older-lower-case@glanz.de",
            "0221 12345",
            "0171 first of a tie",
        )


def test_a_stamp_read_twice_is_the_same_instant_and_a_bad_one_is_refused_each_time() -> None:
    first = parse_timestamp("2026-03-01T10:00:00+01:00")
    assert (
        first
        == parse_timestamp("2026-03-01T10:00:00+01:00")
        == dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    )
    assert parse_timestamp("2026-07-01T10:00:00") == dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)
    for _ in range(2):
        with pytest.raises(MappingError, match="unreadable 'update' timestamp: 'gestern'"):
            parse_timestamp("gestern")
    with pytest.raises(MappingError, match="missing or invalid 'update' timestamp: None"):
        parse_timestamp(None)


BODIES = [
    b'{"total":"2","objects":[{"id":"1","name":"M\xc3\xbcller","x":1.5},{"id":"2","n":-0}]}',
    b'{"objects":[{"id":123456789012345678901234567890}]}',  # beyond 64 bits: stays an int
    b'{"objects":[{"id":-9223372036854775809,"note":"IBAN DE89370400440532013000"}]}',
    b'\xef\xbb\xbf{"objects":[]}',  # a byte order mark
    b'{"objects":[NaN, Infinity, 1e400]}',
    b'{"objects":["\\ud800 lone surrogate"]}',
    b'{"objects":["\\u0000"], "objects":"last wins"}',
    "[1]".encode("utf-16"),
]


def same(a: object, b: object) -> bool:
    """Equal, of the same types all the way down (NaN equal to NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[call-overload]
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize("body", BODIES)
def test_an_answer_reads_as_the_standard_library_reads_it(body: bytes) -> None:
    assert same(decode_json(body), json.loads(body))


@pytest.mark.parametrize(
    ("body", "quoted"),
    [
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (b'{"objects": [1,]}', '{"objects": [1,]}'),
        (b'\xef\xbb\xbf{"objects": 1', '\ufeff{"objects": 1'),  # BOM quoted as read
    ],
)
def test_a_body_that_is_not_json_is_refused_naming_the_service_and_status(
    body: bytes, quoted: str
) -> None:
    response = httpx.Response(502, content=body)  # the emulator always answers JSON
    with pytest.raises(FatalError) as refused:
        json_body(response, "sevDesk")
    assert str(refused.value) == f"sevDesk answered HTTP 502 with a body that is not JSON: {quoted}"
