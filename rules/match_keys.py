"""What the matcher compares: each customer reduced to folded, comparable parts.

Two systems type the same customer differently: "Müller Gebäudeservice GmbH,
Hauptstr. 5" in one, "Mueller Gebaeudeservice GmbH, Hauptstraße 5" in the
other, the e-mail in another case, the phone once with +49 and once with 0.
None of that says anything about *who* the customer is, so it is folded
away here, once per record, before any comparison (pure, no I/O):

* names: case, accents, umlaut spellings (ü = ue, ß = ss), punctuation,
  "und"/"&", legal forms at the end (GmbH, UG (haftungsbeschränkt), KG,
  e.K., GbR, ...), so "Müller GmbH" and "MUELLER gmbh" are one name;
* streets: the same folds plus "Str."/"Strasse"/"Straße" as one word, and
  the house number split off (compared on its own, wherever it was typed:
  "Hauptstr.5", "5 Hauptstraße", "Hauptstraße 5 a");
* e-mail lower case, its domain (for companies; free-mail domains such as
  gmx.de say nothing about who the customer is), phones in E.164;
* customer numbers untouched (their format belongs to the user), plus
  their *shape* ("K-00042" is ``A-9``, "1042" is ``9``): two numbers of
  different shapes come from different numbering schemes and say nothing,
  two different numbers of one scheme are two customers.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from reconciler.domain.models import Customer, Remote, Side
from rules.normalize import (
    normalize_country,
    normalize_customer_number,
    normalize_email,
    normalize_phone,
    normalize_text,
    normalize_vat_id,
)

__all__ = [
    "Features",
    "features",
    "fold_tokens",
    "name_key",
    "number_shape",
    "postal_key",
    "split_street",
]

_LETTER_FOLDS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"))

_LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(
    tuple(form.split())
    for form in (
        "gesellschaft mit beschraenkter haftung",
        "haftungsbeschraenkt",
        "gmbh",
        "ggmbh",
        "mbh",
        "ug",
        "ag",
        "kg",
        "kgaa",
        "ohg",
        "gbr",
        "se",
        "eg",
        "e g",
        "ek",
        "e k",
        "e kfm",
        "e kfr",
        "ev",
        "e v",
        "partg",
        "partg mbb",
        "mbb",
        "ltd",
        "inc",
        "llc",
        "& co",
        "u co",
    )
)
"""Legal-form suffixes (as folded tokens), stripped from the end of company names.

``"GmbH & Co. KG"`` needs no entry of its own: ``kg``, then ``& co``, then
``gmbh`` are stripped in turn.
"""

#: Mail providers anyone can use: a shared domain there says nothing.
FREE_MAIL = frozenset(
    """
    gmail.com googlemail.com web.de gmx.de gmx.net gmx.at gmx.ch t-online.de yahoo.de yahoo.com
    outlook.com outlook.de hotmail.com hotmail.de live.de live.com icloud.com me.com aol.com
    aol.de freenet.de posteo.de mailbox.org arcor.de online.de mail.de email.de vodafone.de
    kabelmail.de magenta.de protonmail.com proton.me bluewin.ch
    """.split()  # noqa: SIM905
)


@functools.lru_cache(maxsize=200_000)
def fold_tokens(text: str) -> tuple[str, ...]:
    """Tokens of ``text`` with case, umlaut spelling, accents and punctuation folded."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"['’`´]", "", text)  # "Bob's" == "Bobs"
    for src, dst in _LETTER_FOLDS:
        text = text.replace(src, dst)
    # Other accents carry no identity either ("Café" == "Cafe").
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[&+]", " & ", text)
    text = re.sub(r"[^\w&]|_", " ", text)
    return tuple("&" if token in ("und", "u") else token for token in text.split())


def _strip_legal_forms(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Drop trailing legal forms, keeping at least one token."""
    changed = True
    while changed:
        changed = False
        for form in _LEGAL_FORMS:
            n = len(form)
            if len(tokens) > n and tokens[-n:] == form:
                tokens = tokens[:-n]
                changed = True
    return tokens


def _name_tokens(c: Customer) -> tuple[str, ...]:
    company = normalize_text(c.company_name)
    person = normalize_text(" ".join(p for p in (c.first_name, c.last_name) if p))
    if c.kind == "company":
        return _strip_legal_forms(fold_tokens(company)) if company else fold_tokens(person or "")
    return fold_tokens(person) if person else _strip_legal_forms(fold_tokens(company or ""))


def name_key(c: Customer) -> str | None:
    """The folded name used for matching, or None if the record has no name.

    A company's ``company_name`` (legal-form suffixes dropped), else first
    plus last name; a person's first plus last name, else the company name.
    Folds case, whitespace, punctuation, umlaut spellings (ü = ue, ß = ss)
    and accents, and reads "und" as "&".
    """
    return " ".join(_name_tokens(c)) or None


def postal_key(value: str | None) -> str | None:
    """Postal code without whitespace, case-folded ("1010 " == "1010")."""
    text = normalize_text(value)
    return "".join(text.split()).casefold() if text else None


_HOUSE_END = re.compile(r"(?<![^\W\d_])(\d+\s*[a-z]?(?:\s*[-/]\s*\d+\s*[a-z]?)?)\s*$", re.I)
_HOUSE_START = re.compile(r"^\s*(\d+\s*[a-z]?(?:\s*[-/]\s*\d+\s*[a-z]?)?)\s+(?=[^\W\d_])", re.I)
_STREET_WORD = re.compile(r"(strasse|strase|str)$")


@functools.lru_cache(maxsize=200_000)
def split_street(value: str | None) -> tuple[str | None, str | None]:
    """``(street name, house number)`` folded: "Hauptstr.5" -> ("hauptstr", "5").

    The street name loses its spaces and hyphens ("Max-Planck-Str." ==
    "Max Planck Straße" == "maxplanckstr"), "straße"/"strasse"/"str." all
    become "str"; the house number keeps its letter ("5 a" == "5a") and is
    taken from the end, or from the start when typed first ("5 Hauptstraße").
    """
    text = normalize_text(value)
    if not text:
        return None, None
    text = re.sub(r"(?<=[^\W\d_])\.?(?=\d)", " ", text)  # "Hauptstr.5" -> "Hauptstr 5"
    house = None
    for pattern in (_HOUSE_END, _HOUSE_START):
        found = pattern.search(text)
        if found and text[: found.start()].strip() + text[found.end() :].strip():
            house = re.sub(r"\s+", "", found.group(1)).lower().replace("/", "-")
            text = text[: found.start()] + " " + text[found.end() :]
            break
    words = [_STREET_WORD.sub("str", t) for t in fold_tokens(text) if t != "&"]
    name = "".join(words)
    return name or None, house


def _phone(value: str | None, country: str | None) -> str | None:
    """E.164 when valid, else just the digits ("0171/508309" == "0171 508309")."""
    phone = normalize_phone(value, country)
    if phone is None or phone.startswith("+"):
        return phone
    digits = re.sub(r"\D", "", phone)
    return digits if len(digits) >= 5 else None


@functools.lru_cache(maxsize=200_000)
def number_shape(number: str) -> str:
    """The numbering scheme of a customer number: letters -> A, digit runs -> 9."""
    return re.sub(r"\d+", "9", re.sub(r"[^\W\d_]", "A", number))


@dataclass(frozen=True, slots=True)
class Features:
    """One record as the matcher compares it (all folded, None when empty)."""

    side: Side
    pos: int
    remote: Remote[Customer]
    kind: str
    tokens: tuple[str, ...]  # folded name tokens, legal forms dropped
    first: str | None  # a person's folded first name
    last: tuple[str, ...]  # a person's folded last-name tokens
    postal: str | None
    street: str | None
    house: str | None
    city: str | None
    email: str | None
    domain: str | None  # a company's e-mail domain unless free-mail
    phones: frozenset[str]
    vat: str | None
    number: str | None

    @property
    def name(self) -> str:
        return " ".join(self.tokens)

    @property
    def joined(self) -> str:
        """The name without spaces: "Gebäude Service" == "Gebäudeservice"."""
        return "".join(t for t in self.tokens if t != "&")


def features(side: Side, pos: int, remote: Remote[Customer]) -> Features:
    """Fold one record (see the module docstring for what is folded and why)."""
    c = remote.record
    country = normalize_country(c.country)
    email = normalize_email(c.email)
    domain = None
    if email and "@" in email and c.kind == "company":
        domain = email.rsplit("@", 1)[1]
        if domain in FREE_MAIL:
            domain = None
    phones = frozenset(p for p in (_phone(c.phone, country), _phone(c.mobile, country)) if p)
    street, house = split_street(c.street)
    first = last = None
    if c.kind == "person":
        first_tokens = fold_tokens(normalize_text(c.first_name) or "")
        first = " ".join(first_tokens) or None
        last = fold_tokens(normalize_text(c.last_name) or "")
    city = normalize_text(c.city)
    return Features(
        side=side,
        pos=pos,
        remote=remote,
        kind=c.kind,
        tokens=_name_tokens(c),
        first=first,
        last=last or (),
        postal=postal_key(c.postal_code),
        street=street,
        house=house,
        city="".join(fold_tokens(city)) if city else None,
        email=email,
        domain=domain,
        phones=phones,
        vat=normalize_vat_id(c.vat_id),
        number=normalize_customer_number(c.customer_number),
    )
