"""Values no person typed are named, field and position (rules.unfit)."""

import pytest

from reconciler.domain.models import Customer
from rules.carry import carry_problem
from rules.unfit import record_problem, value_problem


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("company_name", "Praxis\x00 Müller", "U+0000 (NUL) at position 7"),
        ("street", "Haupt\x1b[31mstraße", "U+001B"),
        ("city", "Berlin\x7f", "U+007F"),
        ("note", "Zeile\x0bzwei", "U+000B"),
        ("vat_id", "DE12", "'DE12' is not a VAT id"),
        ("vat_id", "Steuer-Nr 12/345", "is not a VAT id"),
    ],
)
def test_unfit_values_are_named(field, value, expected):
    assert expected in value_problem(field, value)
    assert expected in carry_problem(field, value)  # so they are quarantined, not written


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company_name", "מרפאת שיניים כהן"),
        ("company_name", "عيادة الأسنان الحديثة"),
        ("street", "Hinterhaus\nHauptstraße 5"),
        ("note", "Schlüssel:\tbeim Hausmeister"),
        ("company_name", "X" * 100_000),  # long is the receiving service's call
        ("vat_id", "de 123 456 789"),
        ("vat_id", "ATU12345678"),
        ("vat_id", "NL123456789B01"),
        ("vat_id", "CHE-123.456.789 MWST"),
        ("vat_id", None),
    ],
)
def test_what_people_type_is_fit(field, value):
    assert value_problem(field, value) is None


def test_record_problem_names_the_first_unfit_field():
    record = Customer(company_name="Praxis", city="Ber\x00lin", vat_id="XX")
    assert (
        record_problem(record) == "city: contains the control character U+0000 (NUL) at position 4"
    )
    assert record_problem(Customer(company_name="Praxis")) is None
