"""Normalisation: one spelling per value, so formatting never causes a write.

KleanApp and sevDesk store the same customer with different formatting: one
keeps ``"030 1234567"``, the other ``"+49 30 1234567"``; one says
``"Deutschland"``, the other ``"DE"``; one sends ``""`` where the other sends
``null``. Compared raw, every such pair would look like an edit and the
engine would write back and forth forever. So every record is normalised
before any comparison, and the diff only ever sees normalised values.

Rules every helper here follows:

* **Idempotent**: ``f(f(x)) == f(x)``. The stored base is itself a
  normalised record, and re-normalising it must not make it look changed.
* **Lossless where unsure**: a value we cannot interpret (a phone number
  with "nur vormittags" in it, a country called "Atlantis") is only
  whitespace-collapsed, never dropped or guessed at.
* **Empty is None**: ``""`` and whitespace-only strings become ``None``;
  the two systems disagree on which one means "not set", users do not.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, TypeVar, overload

import phonenumbers

from reconciler.domain.models import Canonical, Customer, Unit

DEFAULT_REGION = "DE"
"""Region for phone numbers without a country prefix when the record has no usable country.

The customers are those of a German cleaning company, so a bare ``030 …``
is a Berlin number far more often than anything else.
"""

__all__ = [
    "DEFAULT_REGION",
    "collapse_whitespace",
    "normalize_country",
    "normalize_customer",
    "normalize_customer_number",
    "normalize_email",
    "normalize_multiline",
    "normalize_phone",
    "normalize_record",
    "normalize_street",
    "normalize_text",
    "normalize_unit",
    "normalize_vat_id",
    "normalized_customer_fields",
]


#: Distinct raw values whose normal form is remembered (per function). Why: a run
#: normalises each record several times (its base, both sides, the merge), and
#: cities, postal codes and countries repeat across customers (issue 21).
RAW_CACHE = 65536
#: Distinct ``(phone, region)`` pairs remembered. Larger than the others: a customer brings
#: up to two numbers per side, nearly all distinct, and parsing one is the dearest step of
#: a first link (~40 µs). An activation reads each number twice (the matcher's features,
#: then the merge of the matched pair); with 65,536 entries every number of a company with
#: more than ~30,000 customers was parsed twice (100,000 pairs: 420,000 parses for 240,000
#: numbers). At most ~110 MB when full (issue 21).
PHONE_CACHE = 1 << 19


def _nfc(value: str) -> str:
    # "Müller" typed on a Mac (decomposed ü) and on Windows (precomposed ü)
    # are the same name; without NFC they would compare unequal.
    return unicodedata.normalize("NFC", value)


@functools.lru_cache(maxsize=RAW_CACHE)
def collapse_whitespace(value: str) -> str:
    """Trim and turn every run of whitespace (incl. tabs, NBSP, newlines) into one space."""
    return _nfc(" ".join(_nfc(value).split()))


@functools.lru_cache(maxsize=RAW_CACHE)
def normalize_text(value: str | None) -> str | None:
    """Single-line free text (names, street, city, postal code).

    Whitespace is collapsed because double spaces and trailing blanks are
    invisible in both UIs; empty becomes ``None``.
    """
    if value is None:
        return None
    collapsed = collapse_whitespace(value)
    return collapsed or None


@functools.lru_cache(maxsize=RAW_CACHE)
def normalize_multiline(value: str | None) -> str | None:
    """Multi-line text (the note): keep line breaks, drop invisible differences.

    Collapsing all whitespace would merge a carefully formatted note into
    one line, so only line endings (CRLF/CR -> LF), trailing blanks per line
    and leading/trailing empty lines are normalised.
    """
    if value is None:
        return None
    text = _nfc(value).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    result = "\n".join(lines).strip()
    return result or None


def normalize_customer_number(value: str | None) -> str | None:
    """Strip only: customer numbers are identifiers whose format belongs to the user.

    ``"K-0042"`` and ``"K 0042"`` may well be different customers, so
    nothing inside the number is touched.
    """
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


@functools.lru_cache(maxsize=RAW_CACHE)
def normalize_email(value: str | None) -> str | None:
    """Lower-case e-mail address without the blanks around ``@`` or at the ends.

    Mail providers treat addresses case-insensitively in practice, and one
    of the two systems lower-cases on save; without this every customer with
    a capital letter in their address would be rewritten on every run.
    A blank *inside* a part is kept (runs collapsed to one): ``x y@z.de`` is
    not ``xy@z.de``, which is another mailbox, so the two must not compare
    equal (:func:`carry_problem` says why such a value is not written).
    """
    if value is None:
        return None
    text = _AROUND_AT.sub("@", collapse_whitespace(value)).lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :].strip()
    text = _nfc(text)
    return text or None


_AROUND_AT = re.compile(r"\s*@\s*")


@functools.lru_cache(maxsize=RAW_CACHE)
def normalize_street(value: str | None) -> str | None:
    """A street that may span lines ("c/o Praxis Ott" above "Hauptstr. 1").

    Each line is whitespace-collapsed and empty lines dropped, but the line
    breaks stay: flattening them would make two different address layouts
    compare equal, and a line break typed on one side would never travel.
    """
    if value is None:
        return None
    text = _nfc(value).replace("\r\n", "\n").replace("\r", "\n")
    lines = [collapse_whitespace(line) for line in text.split("\n")]
    return "\n".join(line for line in lines if line) or None


# Only strings made of digits and the usual separators are handed to
# phonenumbers: its lenient parser would otherwise pull a number out of
# "030 123456 (nur vormittags)" and silently drop the remark.
_PHONE_CHARS = re.compile(r"\+?[\d\s()\-/.]*\d[\d\s()\-/.]*", re.ASCII)


@functools.lru_cache(maxsize=PHONE_CACHE)
def normalize_phone(value: str | None, region: str | None = None) -> str | None:
    """E.164 (``+49301234567``) when the number is valid, else the collapsed input.

    ``region`` is the record's country (ISO-2) and decides how a number
    without ``+``/``00`` prefix is read; unknown or missing regions fall
    back to :data:`DEFAULT_REGION`. Only numbers phonenumbers considers
    *valid* are rewritten: an internal extension like ``"12345"`` is not a
    German landline, and turning it into ``+4912345`` would be inventing
    data. Anything not rewritten is kept (whitespace-collapsed), never lost.

    Cached: parsing is the costliest step of a run's diff, and each number is
    compared several times per run (a pure function of its arguments).
    """
    text = normalize_text(value)
    if text is None:
        return None
    if not _PHONE_CHARS.fullmatch(text):
        return text
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = DEFAULT_REGION
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text
    if number.extension or not phonenumbers.is_valid_number(number):
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _country_lookup_key(value: str) -> str:
    text = collapse_whitespace(value).casefold()
    for src, dst in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), (".", "")):
        text = text.replace(src, dst)
    return " ".join(text.replace("-", " ").split())


_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "DE": ("deutschland", "germany", "bundesrepublik deutschland", "brd", "deu", "ger"),
    "AT": ("oesterreich", "austria", "aut"),
    "CH": ("schweiz", "switzerland", "suisse", "svizzera", "che"),
    "LI": ("liechtenstein", "lie"),
    "LU": ("luxemburg", "luxembourg", "lux"),
    "NL": ("niederlande", "netherlands", "the netherlands", "holland", "nld"),
    "BE": ("belgien", "belgium", "belgique", "bel"),
    "FR": ("frankreich", "france", "fra"),
    "IT": ("italien", "italy", "italia", "ita"),
    "ES": ("spanien", "spain", "espana", "esp"),
    "PT": ("portugal", "prt"),
    "DK": ("daenemark", "denmark", "dnk"),
    "SE": ("schweden", "sweden", "swe"),
    "NO": ("norwegen", "norway", "nor"),
    "FI": ("finnland", "finland", "fin"),
    "PL": ("polen", "poland", "polska", "pol"),
    "CZ": ("tschechien", "czechia", "czech republic", "tschechische republik", "cze"),
    "SK": ("slowakei", "slovakia", "svk"),
    "HU": ("ungarn", "hungary", "hun"),
    "SI": ("slowenien", "slovenia", "svn"),
    "HR": ("kroatien", "croatia", "hrv"),
    "RO": ("rumaenien", "romania", "rou"),
    "BG": ("bulgarien", "bulgaria", "bgr"),
    "GR": ("griechenland", "greece", "grc"),
    "IE": ("irland", "ireland", "irl"),
    "GB": (
        "uk",
        "united kingdom",
        "vereinigtes koenigreich",
        "grossbritannien",
        "great britain",
        "england",
        "gbr",
    ),
    "US": ("usa", "united states", "united states of america", "vereinigte staaten"),
    "TR": ("tuerkei", "turkey", "tuerkiye", "turkiye", "tur"),
}
_COUNTRY_BY_NAME: dict[str, str] = {
    name: code for code, names in _COUNTRY_NAMES.items() for name in names
}
_ISO2 = re.compile(r"[A-Za-z]{2}", re.ASCII)


@functools.lru_cache(maxsize=RAW_CACHE)
def normalize_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 in upper case; common German/English names and alpha-3 accepted.

    ``"de"``, ``"Deutschland"``, ``"Germany"`` and ``"DEU"`` all become
    ``"DE"``. ``"UK"`` becomes ``"GB"`` (the ISO code) because that is what
    people type. Unrecognised names are kept whitespace-collapsed rather
    than guessed, so a human sees them in the report.
    """
    text = normalize_text(value)
    if text is None:
        return None
    key = _country_lookup_key(text)
    if key in _COUNTRY_BY_NAME:
        return _COUNTRY_BY_NAME[key]
    if _ISO2.fullmatch(text):
        return text.upper()
    return text


@functools.lru_cache(maxsize=RAW_CACHE)
def normalize_vat_id(value: str | None) -> str | None:
    """Upper case without whitespace: ``"de 123 456 789"`` is ``"DE123456789"``.

    VAT ids never contain spaces; invoices print them grouped for reading.
    """
    if value is None:
        return None
    text = "".join(_nfc(value).split()).upper()
    return _nfc(text) or None


def normalize_customer(c: Customer, *, phone_region: str | None = None) -> Customer:
    """The customer with every field in its one canonical spelling.

    The country is normalised first because it decides how a phone number
    without a country prefix is read (``0664 …`` is Austrian for an
    Austrian customer). ``phone_region`` overrides that: the three-way diff
    reads base, KleanApp and sevDesk versions with *one* region, otherwise
    a customer whose country differs between the systems would see the same
    ``"030 1234567"`` as two different numbers and rewrite it every run.
    """
    return c.model_copy(update=normalized_customer_fields(c.__dict__, phone_region=phone_region))


def normalized_customer_fields(
    values: Mapping[str, Any], *, phone_region: str | None = None
) -> dict[str, Any]:
    """A customer's field values in their normal spelling (``kind`` and ``archived`` as they are).

    ``values``: a customer's fields as plain values (a ``Customer``'s ``__dict__``,
    or one with some fields taken from the other side). Why a function of plain
    values: the planner decides that a linked pair did not change without building
    a model per side and step (issue 21: a quiet full run of 100,000 pairs);
    :func:`normalize_customer` is this applied to a record, so the two never differ.
    """
    country = normalize_country(values["country"])
    region = phone_region if phone_region is not None else country
    return {
        "customer_number": normalize_customer_number(values["customer_number"]),
        "kind": values["kind"],
        "company_name": normalize_text(values["company_name"]),
        "first_name": normalize_text(values["first_name"]),
        "last_name": normalize_text(values["last_name"]),
        "email": normalize_email(values["email"]),
        "phone": normalize_phone(values["phone"], region),
        "mobile": normalize_phone(values["mobile"], region),
        "street": normalize_street(values["street"]),
        "postal_code": normalize_text(values["postal_code"]),
        "city": normalize_text(values["city"]),
        "country": country,
        "vat_id": normalize_vat_id(values["vat_id"]),
        "note": normalize_multiline(values["note"]),
        "archived": values["archived"],
    }


def normalize_unit(u: Unit) -> Unit:
    """The unit with its name whitespace-collapsed.

    The spelling itself ("Stk" vs "Stück") is *not* unified here: both are
    legitimate names a user chose. Matching across spellings is
    :func:`rules.units.unit_key`'s job.
    """
    return u.model_copy(update={"name": collapse_whitespace(u.name)})


RecordT = TypeVar("RecordT", bound=Canonical)


@overload
def normalize_record(record: Customer) -> Customer: ...
@overload
def normalize_record(record: Unit) -> Unit: ...
@overload
def normalize_record(record: RecordT) -> RecordT: ...
def normalize_record(record: Canonical) -> Canonical:
    """Dispatch to the normaliser for the record's type (identity for others).

    Lets the generic three-way diff normalise whatever it is handed without
    knowing the entity; the overloads tell the type checker that a record
    comes back as the type it went in.
    """
    if isinstance(record, Customer):
        return normalize_customer(record)
    if isinstance(record, Unit):
        return normalize_unit(record)
    return record
