"""The fast JSON decoding (issue 21) reads everything ``json.loads`` reads, the same way."""

from __future__ import annotations

import json

import pytest

from reconciler.domain.json_text import loads


@pytest.mark.parametrize(
    "text",
    [
        b'{"objects": [{"id": "1", "name": "M\\u00fcller GmbH", "sumNet": 12.5}], "total": 1}',
        b'{"big": 123456789012345678901234567890}',  # beyond 64 bits: orjson made a float
        b'{"max": 18446744073709551615, "iban": "DE89370400440532013000"}',
        b'{"x": NaN, "y": Infinity}',  # json.dumps writes these; orjson refuses
        '{"name": "Gebäude"}'.encode("utf-16"),  # not UTF-8: orjson refuses
        '{"name": "Gebäude"}',
    ],
)
def test_decodes_what_json_decodes_with_the_same_values(text: bytes | str) -> None:
    expected = json.loads(text)
    got = loads(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_text_that_is_not_json_still_raises_value_error() -> None:
    with pytest.raises(ValueError):
        loads(b"<html>Bad Gateway</html>")
