"""A field's fingerprint is the hash of its JSON text, exactly as every stored one was made.

``rules.fingerprints.fingerprint`` writes strings, ``None``, booleans and
integers itself (issue 21: ``json.dumps`` was most of an activation's
fingerprinting); a single byte of difference would make every stored
fingerprint look like an edit on the next run, so the fast path is held to
``json.dumps`` here, for every kind of value a record field can hold.
"""

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from reconciler.domain.models import Customer
from rules.fingerprints import fingerprint, fingerprints


def made_like_the_stored_ones(value: Any) -> str:
    data = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text()
    | st.datetimes()
    | st.decimals(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(values)
@example('Müller & Söhne "GmbH"\n\t\u2028\x00\\')
@example("\ud800")  # a lone surrogate: dumps keeps it, so must the fast path (or fail alike)
@example(True)
@example(1)
@example(0)
@example(False)
@example(None)
@example("")
def test_fingerprint_is_the_hash_of_the_json_text(value: Any) -> None:
    try:
        expected = made_like_the_stored_ones(value)
    except UnicodeEncodeError:
        try:
            fingerprint(value)
        except UnicodeEncodeError:
            return
        raise AssertionError("the fast path hashed what json.dumps could not encode") from None
    assert fingerprint(value) == expected


def test_a_records_fingerprints_are_unchanged_for_a_stored_link() -> None:
    # Pinned: the fingerprints a link stored before the fast path existed.
    record = Customer(
        customer_number="K-1001",
        kind="company",
        company_name="Glanz & Co. KG",
        email="büro@glanz.example",
        phone="0171 1234567",
        archived=False,
    )
    got = fingerprints(record)
    assert got == {name: made_like_the_stored_ones(getattr(record, name)) for name in got}
    # The hashes as the code before the fast path stored them (literal, not recomputed).
    assert got["company_name"] == "f660561d1e6246f8"
    assert got["email"] == "7d505d1e74c57932"
    assert got["archived"] == "fcbcf165908dd18a"
    assert got["vat_id"] == "74234e98afe7498f"  # None
    assert fingerprint(dt.date(2026, 12, 3)) == made_like_the_stored_ones("2026-12-03")
    assert fingerprint(Decimal("1.50")) == made_like_the_stored_ones("1.50")
