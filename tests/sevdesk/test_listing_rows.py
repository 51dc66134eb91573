"""sevDesk rows as a listing reads them: the e-mail and phone a customer shows and its
stamps, read the same however fast the reading got (issue 21)."""

from __future__ import annotations

import datetime as dt

import pytest

from reconciler.connectors.sevdesk.mapping import (
    WAY_TYPES,
    MappingError,
    customer_from_parts,
    main_way,
    parse_timestamp,
)

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
