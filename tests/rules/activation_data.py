"""The activation scenario: two systems that already hold the same customers, typed differently.

Used by the pure matcher test (tests/rules/test_matching.py) and meant for the
end-to-end activation test through the emulators, so the records are plain
canonical ``Customer`` dicts: KleanApp's fit ``POST /_sandbox/bulk``
``customers`` (CustomerInput + ``archived``), sevDesk's fit its bulk
``contacts`` (canonical-ish; no ``archived``, sevDesk has none). Records are
identified by their index in those lists; the bulk endpoints answer ids in
input order.

tests/ is not a package: load this file by path, e.g.::

    spec = importlib.util.spec_from_file_location("activation_data", path)

What is in it (defaults: 300 per side, 250 true pairs, 10 ambiguous groups):

* true pairs, each findable at exactly one level (``pairs[i][2]``): the same
  customer number; a different number format ("K-00042" vs "K00042", "10042"
  or none) but the same VAT id typed differently; the same e-mail in another
  case; or only the same name ("Müller GmbH" vs "Mueller GmbH ") and postal
  code. Phones, streets and VAT ids differ in formatting only. Some KleanApp
  members are archived (they are still linked).
* ambiguous groups, two records on one side and one on the other sharing a
  name and an address, a name and an e-mail, or a name, a phone and a postal
  code, with nothing to tell the two apart: every member must be parked.
* the rest exist on one side only (some near misses: the same name in
  another postal code, or in the same postal code with another street,
  e-mail and phone); they are to be created on the other side, except
  archived KleanApp ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]

SURNAMES = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Schmitz",
    "Krause",
    "Meier",
    "Lehmann",
    "Schmid",
    "Schulze",
    "Maier",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Mayer",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Schubert",
]
TRADES = (
    "Hausverwaltung",
    "Immobilien",
    "Praxis",
    "Kanzlei",
    "Bäckerei",
    "Autohaus",
    "Zahnarztpraxis",
    "Architekturbüro",
    "Steuerberatung",
    "Physiotherapie",
    "Gastronomie",
    "Logistik",
    "Elektrotechnik",
    "Hotel",
    "Fitnessstudio",
    "Gebäudeservice",
)
FIRST_NAMES = [
    "Anna",
    "Jürgen",
    "Sören",
    "Bärbel",
    "Lukas",
    "Marie",
    "Jörg",
    "Sophie",
    "Paul",
    "Özlem",
    "Ben",
    "Lea",
    "Finn",
    "Käthe",
    "Jonas",
    "Mia",
]
LEGAL_FORMS = ("GmbH", "GmbH & Co. KG", "UG (haftungsbeschränkt)", "e.K.", "AG", "KG", "OHG", "")
STREETS = ("Hauptstraße", "Bahnhofstr.", "Gartenweg", "Lindenallee", "Am Markt", "Kirchplatz")
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Leipzig", "Dresden", "Potsdam")


@dataclass(frozen=True)
class ActivationScenario:
    """Both sides' records plus what a correct first sync does with each (by list index)."""

    kleanapp: tuple[Record, ...]
    sevdesk: tuple[Record, ...]
    #: (kleanapp index, sevdesk index, level it must be found at), by kleanapp index.
    pairs: tuple[tuple[int, int, str], ...]
    #: per ambiguous group: (kleanapp indices, sevdesk indices); all of them are parked.
    ambiguous: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    unmatched_kleanapp: tuple[int, ...]
    unmatched_sevdesk: tuple[int, ...]
    #: kleanapp indices of pairs whose two records differ in formatting only.
    formatting_only: frozenset[int]

    @property
    def parked_kleanapp(self) -> frozenset[int]:
        return frozenset(i for k, _ in self.ambiguous for i in k)

    @property
    def parked_sevdesk(self) -> frozenset[int]:
        return frozenset(i for _, s in self.ambiguous for i in s)

    @property
    def create_in_sevdesk(self) -> tuple[int, ...]:
        """KleanApp indices to be created in sevDesk (unmatched, not archived)."""
        return tuple(i for i in self.unmatched_kleanapp if not self.kleanapp[i]["archived"])

    @property
    def create_in_kleanapp(self) -> tuple[int, ...]:
        """sevDesk indices to be created in KleanApp."""
        return self.unmatched_sevdesk


def _blank(**fields: Any) -> Record:
    record: Record = dict.fromkeys(
        (
            "customer_number",
            "company_name",
            "first_name",
            "last_name",
            "email",
            "phone",
            "mobile",
            "street",
            "postal_code",
            "city",
            "vat_id",
            "note",
        )
    )
    record.update(kind="company", country="DE")
    record.update(fields)
    return record


def _respell(name: str, rng: random.Random, *, spacing_only: bool = False) -> str:
    """The same name as the other system's user typed it.

    ``spacing_only`` keeps the spelling (the diff sees no difference after
    normalisation); otherwise umlauts, case or legal-form punctuation change
    too, which only the matcher's :func:`rules.matching.name_key` folds.
    """
    if spacing_only:
        return " " + "  ".join(name.split())
    variant = name.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    variant = variant.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    choice = rng.randrange(4)
    if choice == 0:
        variant = variant.upper()
    elif choice == 1:
        variant = "  ".join(variant.split()) + " "
    elif choice == 2:
        variant = variant.replace("GmbH & Co. KG", "GmbH & Co KG").replace("e.K.", "e. K.")
    return variant


def _spaced_vat(vat: str) -> str:
    return f"{vat[:2].lower()} {vat[2:5]} {vat[5:8]} {vat[8:]}"


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        combos = [(s, t) for s in SURNAMES for t in TRADES]
        self.rng.shuffle(combos)
        self.combos = iter(combos)
        people = [(f, s) for f in FIRST_NAMES for s in SURNAMES]
        self.rng.shuffle(people)
        self.people = iter(people)
        self.postal = iter(self.rng.sample(range(1067, 99999), 2000))
        self.vats = iter(self.rng.sample(range(100_000_000, 999_999_999), 2000))
        self.serial = 0

    def next(self) -> int:
        self.serial += 1
        return self.serial

    def postal_code(self) -> str:
        return f"{next(self.postal):05d}"

    def vat(self) -> str:
        return f"DE{next(self.vats)}"

    def company(self) -> tuple[str, str]:
        surname, trade = next(self.combos)
        return f"{surname} {trade} {self.rng.choice(LEGAL_FORMS)}".strip(), surname

    def base(self, *, person: bool = False) -> Record:
        """One customer as KleanApp holds it (tidy formatting, K- number)."""
        n = self.next()
        rng = self.rng
        phone = f"030 {rng.randrange(2_000_000, 9_999_999)}"
        if person:
            first, last = next(self.people)
            record = _blank(kind="person", first_name=first, last_name=last)
            slug = last
        else:
            name, slug = self.company()
            record = _blank(company_name=name)
        slug = slug.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
        slug = slug.replace("ß", "ss")
        record.update(
            customer_number=f"K-{n:05d}",
            email=f"Buero{n}@{slug}-{n}.de",
            phone=phone,
            street=f"{rng.choice(STREETS)} {rng.randrange(1, 120)}",
            postal_code=self.postal_code(),
            city=rng.choice(CITIES),
            archived=False,
        )
        return record

    def twin(self, k: Record, *, name_level: bool = False, spacing_only: bool = False) -> Record:
        """The same customer typed in sevDesk: same data, other formatting."""
        s = {key: value for key, value in k.items() if key != "archived"}
        if k["kind"] == "company":
            s["company_name"] = _respell(k["company_name"], self.rng, spacing_only=spacing_only)
        else:
            s["first_name"] = _respell(k["first_name"], self.rng, spacing_only=spacing_only)
            s["last_name"] = _respell(k["last_name"], self.rng, spacing_only=spacing_only)
        s["phone"] = "+49 30 " + k["phone"].split()[1]
        s["street"] = k["street"].replace(" ", "  ", 1)
        s["email"] = k["email"].lower() if not name_level else None
        if k["vat_id"]:
            s["vat_id"] = _spaced_vat(k["vat_id"])
        return s


def activation_scenario(
    n_per_side: int = 300, n_pairs: int = 250, n_ambiguous: int = 10, *, seed: int = 7
) -> ActivationScenario:
    """Build the scenario; deterministic for a given seed.

    ``n_ambiguous`` groups take 3 records each, two on alternating sides, so
    each side gets ``n_ambiguous * 3 // 2`` (rounded per side) of them.
    """
    b = _Builder(seed)
    rng = b.rng
    k_side: list[tuple[Record, str]] = []  # (record, tag) before shuffling
    s_side: list[tuple[Record, str]] = []
    pairs: list[tuple[str, str, str]] = []  # (k tag, s tag, level)
    formatting_only: set[str] = set()
    groups: list[tuple[list[str], list[str]]] = []

    levels = ("customer_number", "vat_id", "email", "name+postal_code")
    for i in range(n_pairs):
        level = levels[0] if i % 5 < 2 else levels[i % 5 - 1]  # 40 % number, 20 % each other
        k = b.base(person=i % 4 == 3)
        if i % 3 == 0 or level == "vat_id":
            k["vat_id"] = b.vat()
        if i % 25 == 7:
            k["archived"] = True
        s = b.twin(
            k,
            name_level=level == "name+postal_code",
            spacing_only=level == "customer_number",
        )
        if level != "customer_number":
            s["customer_number"] = rng.choice(
                [k["customer_number"].replace("-", ""), f"1{k['customer_number'][2:]}", None]
            )
            if level != "vat_id":
                s["vat_id"] = None  # nothing stronger than the level under test
        elif i % 10 == 0:
            s["customer_number"] = f" {k['customer_number']} "
        tag = f"pair{i}"
        k_side.append((k, tag))
        s_side.append((s, tag))
        pairs.append((tag, tag, level))
        if level == "customer_number":
            formatting_only.add(tag)

    kinds = ("name+address", "name+email", "name+phone+postal_code")
    for g in range(n_ambiguous):
        kind = kinds[g % len(kinds)]
        n_k, n_s = (2, 1) if g % 2 == 0 else (1, 2)
        shared_name, _ = b.company()
        shared_postal = b.postal_code()
        shared_street = f"{rng.choice(STREETS)} {rng.randrange(1, 120)}"
        shared_email = f"verwaltung{g}@gruppe.de"
        shared_phone = f"030 {rng.randrange(2_000_000, 9_999_999)}"
        members: tuple[list[str], list[str]] = ([], [])
        for side, count in ((0, n_k), (1, n_s)):
            for j in range(count):
                r = b.base()
                if side == 1:
                    r = b.twin(r)
                    r["customer_number"] = rng.choice([f"3{b.next():04d}", None])
                r.update(company_name=_respell(shared_name, rng), email=None, phone=None)
                if kind == "name+address":
                    r.update(postal_code=shared_postal, street=shared_street)
                elif kind == "name+email":
                    r.update(email=shared_email.upper() if j else shared_email, street=None)
                    r["postal_code"] = None
                else:
                    r.update(phone=shared_phone, postal_code=shared_postal, street=None)
                tag = f"group{g}-{side}-{j}"
                (k_side if side == 0 else s_side).append((r, tag))
                members[side].append(tag)
        groups.append(members)

    only_k: list[str] = []
    only_s: list[str] = []
    for side, target, only in ((0, k_side, only_k), (1, s_side, only_s)):
        j = 0
        while len(target) < n_per_side:
            r = b.base(person=j % 3 == 2)
            if side == 1:
                r = b.twin(r)
                r["customer_number"] = rng.choice([f"2{b.next():04d}", None])
            elif j % 7 == 3:
                r["archived"] = True
            tag = f"only{side}-{j}"
            target.append((r, tag))
            only.append(tag)
            j += 1
    # Near misses: the same company name in another postal code on the other side,
    # and (the look-alike that must not merge) in the same postal code with another
    # street, e-mail and phone.
    for n in range(min(10, len(only_k), len(only_s))):
        k_rec = next(r for r, t in k_side if t == only_k[n])
        s_rec = next(r for r, t in s_side if t == only_s[n])
        if k_rec["kind"] == "company" and s_rec["kind"] == "company":
            s_rec["company_name"] = _respell(k_rec["company_name"], rng)
            if n % 2:
                s_rec.update(postal_code=k_rec["postal_code"], city=k_rec["city"])

    if len(k_side) != n_per_side or len(s_side) != n_per_side:
        raise ValueError("n_per_side is too small for the pairs and groups asked for")
    rng.shuffle(k_side)
    rng.shuffle(s_side)
    k_index = {tag: i for i, (_, tag) in enumerate(k_side)}
    s_index = {tag: i for i, (_, tag) in enumerate(s_side)}
    return ActivationScenario(
        kleanapp=tuple(r for r, _ in k_side),
        sevdesk=tuple(r for r, _ in s_side),
        pairs=tuple(sorted((k_index[k], s_index[s], level) for k, s, level in pairs)),
        ambiguous=tuple(
            (tuple(sorted(k_index[t] for t in k)), tuple(sorted(s_index[t] for t in s)))
            for k, s in groups
        ),
        unmatched_kleanapp=tuple(sorted(k_index[t] for t in only_k)),
        unmatched_sevdesk=tuple(sorted(s_index[t] for t in only_s)),
        formatting_only=frozenset(k_index[t] for t in formatting_only),
    )
