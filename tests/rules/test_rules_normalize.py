"""Normalisation: formatting differences between the systems must vanish, data must not."""

import pytest

from reconciler.domain.models import Customer, Unit
from rules.normalize import (
    collapse_whitespace,
    normalize_country,
    normalize_customer,
    normalize_customer_number,
    normalize_email,
    normalize_multiline,
    normalize_phone,
    normalize_record,
    normalize_text,
    normalize_unit,
    normalize_vat_id,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Putz  &\tGlanz\u00a0GmbH ", "Putz & Glanz GmbH"),
        ("", None),
        ("   \n\t", None),
        (None, None),
        ("Mu\u0308ller", "Müller"),  # decomposed umlaut (macOS input) == precomposed
    ],
)
def test_text_collapses_whitespace_and_empty_is_none(raw, expected):
    assert normalize_text(raw) == expected


def test_collapse_whitespace_keeps_words():
    assert collapse_whitespace(" a \n b ") == "a b"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Max.Mustermann@Example.DE ", "max.mustermann@example.de"),
        ("info @ firma.de", "info@firma.de"),
        ("mailto:Info@Firma.de", "info@firma.de"),
        ("  ", None),
    ],
)
def test_email_case_and_whitespace_do_not_matter(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["030 1234567", "+49 30 1234567", "0049 30 1234567", "+49 (0)30 1234567", "(030) 123-4567"],
)
def test_german_phone_spellings_become_one_e164(raw):
    assert normalize_phone(raw) == "+49301234567"


def test_phone_without_prefix_is_read_in_the_records_country():
    assert normalize_phone("0664 1234567", "AT") == "+436641234567"
    assert normalize_phone("0664 1234567", "DE") == "+496641234567"


def test_phone_with_unknown_region_falls_back_to_germany():
    assert normalize_phone("030 1234567", "Atlantis") == "+49301234567"
    assert normalize_phone("030 1234567", None) == "+49301234567"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("030 1234567  (nur vormittags)", "030 1234567 (nur vormittags)"),
        ("12345", "12345"),  # an internal extension is not a German number
        ("bitte  per Mail", "bitte per Mail"),
        ("030 1234567 ext. 12", "030 1234567 ext. 12"),
    ],
)
def test_unparseable_phone_is_kept_whitespace_collapsed(raw, expected):
    assert normalize_phone(raw) == expected


def test_empty_phone_is_none():
    assert normalize_phone(" ") is None
    assert normalize_phone(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("de", "DE"),
        (" De ", "DE"),
        ("Deutschland", "DE"),
        ("GERMANY", "DE"),
        ("DEU", "DE"),
        ("Österreich", "AT"),
        ("Oesterreich", "AT"),
        ("Schweiz", "CH"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("Vereinigte  Staaten", "US"),
        ("Atlantis", "Atlantis"),
        ("", None),
    ],
)
def test_country_becomes_iso2(raw, expected):
    assert normalize_country(raw) == expected


def test_customer_number_is_only_stripped():
    assert normalize_customer_number("  K-0042 ") == "K-0042"
    assert normalize_customer_number("k  0042") == "k  0042"
    assert normalize_customer_number("   ") is None


def test_vat_id_spacing_and_case_do_not_matter():
    assert normalize_vat_id("de 123 456 789") == "DE123456789"


def test_note_keeps_line_breaks_but_not_trailing_blanks():
    assert normalize_multiline("  Schlüssel bei Nachbarn  \r\nKlingel  defekt \n\n") == (
        "Schlüssel bei Nachbarn\nKlingel  defekt"
    )
    assert normalize_multiline(" \n ") is None


def test_normalize_customer_touches_every_formatted_field():
    raw = Customer(
        customer_number=" 1001 ",
        company_name=" Putz  GmbH ",
        email="Info@Putz.DE",
        phone="030 1234567",
        mobile="",
        street="Hauptstr.  1",
        postal_code=" 10115",
        city="Berlin ",
        country="Deutschland",
        vat_id="de123456789 ",
        note="",
    )
    assert normalize_customer(raw) == Customer(
        customer_number="1001",
        company_name="Putz GmbH",
        email="info@putz.de",
        phone="+49301234567",
        mobile=None,
        street="Hauptstr. 1",
        postal_code="10115",
        city="Berlin",
        country="DE",
        vat_id="DE123456789",
        note=None,
    )


def test_normalize_customer_uses_normalised_country_for_phone():
    c = normalize_customer(Customer(country="Österreich", phone="0664 1234567"))
    assert c.phone == "+436641234567"


def test_normalize_unit_collapses_whitespace_but_keeps_spelling():
    assert normalize_unit(Unit(name="  Stück ")) == Unit(name="Stück")


def test_normalize_record_dispatches_by_type():
    assert normalize_record(Unit(name=" h ")) == Unit(name="h")
    assert normalize_record(Customer(email="A@B.DE")).email == "a@b.de"
