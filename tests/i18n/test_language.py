"""Which language kleansync speaks, and how it writes numbers, money and times in it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from reconciler.config import parse_config
from reconciler.domain import i18n
from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import (
    _,
    current_language,
    format_date,
    format_datetime,
    format_money,
    format_number,
    ngettext,
    using,
)
from reconciler.domain.labels import field_label, value_label

MINIMAL = {
    "sevdesk": {"base_url": "http://s.test/api/v1", "token_env": "I18N_TEST_SEV"},
    "kleanapp": {"base_url": "http://k.test/api/v1", "token_env": "I18N_TEST_KLEAN"},
}


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(i18n.ENV_VAR, raising=False)
    i18n.set_language(None)
    i18n.configure(None)
    yield
    i18n.set_language(None)
    i18n.configure(None)


def test_german_unless_asked_otherwise():
    assert current_language() == "de"
    assert _("Conflicts") == "Konflikte"
    assert field_label("customer_number") == "Kundennummer"
    assert field_label("vat_id") == "USt-IdNr."
    assert value_label("kind", "company") == "Firma"


def test_flag_before_environment_before_config(monkeypatch):
    i18n.configure("en")
    assert current_language() == "en"
    monkeypatch.setenv(i18n.ENV_VAR, "de_DE.UTF-8")
    assert current_language() == "de"  # the environment beats the config file
    i18n.set_language("en")
    assert current_language() == "en"  # the flag beats both
    with using("de"):
        assert _("Conflicts") == "Konflikte"  # one block, e.g. one report
    assert _("Conflicts") == "Conflicts"


def test_config_language_is_checked_and_applied():
    parse_config({**MINIMAL, "report": {"language": "EN"}})
    assert current_language() == "en"
    with pytest.raises(ConfigError, match=r"\[report\] language.*unknown language 'fr'"):
        parse_config({**MINIMAL, "report": {"language": "fr"}})


def test_a_stray_environment_value_does_not_stop_anything(monkeypatch):
    monkeypatch.setenv(i18n.ENV_VAR, "klingon")
    assert current_language() == "de"
    with pytest.raises(ValueError, match="known: de, en"):
        i18n.set_language("klingon")


def test_plural_forms_in_both_languages():
    assert ngettext("%(num)d conflict", "%(num)d conflicts", 1) == "1 Konflikt"
    assert ngettext("%(num)d conflict", "%(num)d conflicts", 3) == "3 Konflikte"
    with using("en"):
        assert ngettext("%(num)d conflict", "%(num)d conflicts", 3) == "3 conflicts"


def test_numbers_money_and_times_in_german_form_and_the_configured_zone():
    stamp = dt.datetime(2026, 12, 1, 8, 53, tzinfo=dt.UTC)
    assert format_money(Decimal("1234.56")) == "1.234,56\xa0€"
    assert format_number(12345) == "12.345" and format_number(4.9) == "4,9"
    assert format_number(6.6, decimals=1) == "6,6"
    assert format_datetime(stamp, "Europe/Berlin") == "01.12.2026 09:53"
    assert format_datetime(stamp.replace(tzinfo=None), "Europe/Berlin") == "01.12.2026 09:53"
    assert format_date(dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC), "Europe/Berlin") == (
        "01.12.2026"
    )
    with using("en"):
        assert format_money(Decimal("1234.56")) == "€1,234.56"
        assert format_datetime(stamp, "Europe/Berlin") == "2026-12-01 09:53"
