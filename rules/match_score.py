"""How much two records look like one customer: per-field evidence and a score.

The model is Fellegi–Sunter's (as in splink): every compared field adds a
weight, positive when the two values agree, **negative when two present
values disagree**, zero when either is empty ("blank is not a match", as
Salesforce's matching rules put it). The score is the sum; two thresholds
split it into *linked*, *possible match* (parked for an admin) and
*different customers*. Weights are points on a log-odds-like scale; the
defaults below were set so that, on the labelled benchmark
(``bench/bench_matching.py``), no look-alike pair reaches the link
threshold while true pairs typed differently do.

Why each default (all are ``[matching]`` config keys, see config.toml):

* ``name`` 6: the name is what people recognise, but alone it is not
  enough (two hotels "Adler" in one town). It is scaled by rarity
  (``name_rarity_bits``): the information of the name's tokens in the data
  at hand (``log2`` of how rare each token is), so "Müller" or
  "Hausverwaltung" count for less than "Quastenberg". A near spelling
  (typo) counts ``name_near`` of it; a clearly different name costs
  ``name_differs`` 6; two persons with different first names (a family at
  one address) cost ``first_name_differs`` 8 more.
* ``postal_code`` 3 / -3: agreement is cheap evidence (many customers per
  postal code); disagreement is strong (people rarely move between the
  two systems' typing).
* ``street`` 2 / -3 and ``house_number`` 2 / -3: one address agreeing is
  good evidence, a different street or number in the same postal code is
  the classic look-alike (two branches, two hotels of one name).
* ``email`` 6 / -2.5: an address usually belongs to one customer; a
  different address is weaker counter-evidence (people have several), and
  none at all when both are at the same company domain. ``phone`` 5 / -2
  likewise.
* ``vat_id`` 8: a legal entity's id; two *different* VAT ids are a veto.
* ``customer_number`` 8 / -3: the same number is strong; different numbers
  of one numbering scheme count against, numbers of two different schemes
  ("K-00042" vs "1042") say nothing.
* A shared identifier (one e-mail, phone, VAT id or number on several
  records of a side: a company's sites, a family) counts
  ``shared_value_penalty`` 2 points less per doubling.
* ``kind_differs`` -3: a company and a person are seldom one customer.
* ``link_threshold`` 12: needs the name plus at least two independent
  agreements (e.g. postal code and street + number, or an e-mail);
  ``park_threshold`` 6: below it the records are different customers.
  ``link_margin`` 3: a link needs a lead of that much over each record's
  next candidate, otherwise both candidates are shown to an admin.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

from rapidfuzz.distance import Indel, JaroWinkler

from rules.match_keys import Features, number_shape

__all__ = ["Comparison", "FieldEvidence", "MatchSettings", "Scorer"]


@dataclass(frozen=True)
class MatchSettings:
    """Weights and thresholds of the matcher (defaults documented in the module)."""

    name: float = 6.0
    name_near: float = 0.75
    name_differs: float = -6.0
    name_rarity_bits: float = 14.0
    first_name_differs: float = -10.0
    postal_code: float = 3.0
    postal_code_differs: float = -4.0
    city: float = 1.0
    city_differs: float = -1.0
    street: float = 3.0
    street_differs: float = -8.0
    house_number: float = 3.0
    house_number_differs: float = -4.0
    email: float = 6.0
    email_differs: float = -2.5
    phone: float = 5.0
    phone_differs: float = -2.0
    vat_id: float = 8.0
    customer_number: float = 8.0
    customer_number_differs: float = -3.0
    shared_value_penalty: float = 3.0
    kind_differs: float = -3.0
    link_threshold: float = 12.0
    park_threshold: float = 6.0
    link_margin: float = 3.0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


_SHOWN = frozenset(
    {"street", "house number", "postal code", "VAT id", "first name", "kind", "city"}
)


@dataclass(frozen=True, slots=True)
class FieldEvidence:
    """One compared field: ``verdict`` "=", "≈", "≠" or "-" (missing), its weight."""

    field: str
    verdict: str
    weight: float
    detail: str = ""

    @property
    def text(self) -> str:
        """ "street ≠ (Kirchplatz 148b vs Am Markt 84b)", "name 0.97", "e-mail ≠".

        Values are repeated only where they are short and tell the story
        (addresses, VAT ids, first names); the full values of both records
        stand beside the evidence wherever it is shown.
        """
        if self.field == "name" and self.detail:
            return f"name {self.detail}"
        if self.field == "customer number" and self.verdict == "≈":
            return "customer numbers of different schemes"
        if self.field == "e-mail" and self.verdict == "≈":
            return "e-mail domain ="
        if self.verdict == "≠" and self.detail and self.field in _SHOWN:
            return f"{self.field} ≠ ({self.detail})"
        return f"{self.field} {self.verdict}"

    def as_dict(self) -> dict[str, object]:
        return {
            "field": self.field,
            "verdict": self.verdict,
            "weight": round(self.weight, 2),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """The evidence for one KleanApp/sevDesk pair, its score and any veto."""

    score: float
    fields: tuple[FieldEvidence, ...]
    veto: str | None = None

    @property
    def renumbered(self) -> bool:
        """The very same name, nothing else disagreeing, only the customer numbers.

        One customer whose number was changed on one side (before the first
        link, or while it ran) looks exactly like this, as likely as two
        customers of one name: the score alone (name 6, numbers -3) would call
        them different and create each beside its look-alike, a duplicate in
        both systems. Such a pair is a possible match for an admin instead.
        """
        verdict = {f.field: f.verdict for f in self.fields}
        return (
            verdict.get("name") == "="
            and verdict.get("customer number") == "≠"
            and all(f.verdict in ("=", "-") for f in self.fields if f.field != "customer number")
        )

    def summary(self, decision: str) -> str:
        """One line an admin can judge: "name 0.97, postal code =, street ≠ (...) → ..."."""
        present = [f.text for f in self.fields if f.verdict != "-"]
        missing = [f.field for f in self.fields if f.verdict == "-"]
        text = ", ".join(present) or "nothing to compare"
        if missing:
            text += f" ({', '.join(missing)} missing on one side)"
        if self.veto:
            text += f"; {self.veto}"
        return f"{text} → {decision} (score {self.score:.1f})"


@functools.lru_cache(maxsize=500_000)
def _token_sim(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if not (a.isalpha() and b.isalpha()):
        return 0.0  # "Filiale 3" is not "Filiale 4", however alike the strings look
    # An initial ("A." for "Anna") is compatible, not equal.
    if (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
        return 0.8
    return JaroWinkler.normalized_similarity(a, b)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _soft(a: tuple[str, ...], b: tuple[str, ...], idf: dict[str, float]) -> float:
    """Share of ``a``'s information found in ``b`` (each token at its best match)."""
    total = found = 0.0
    for t in a:
        w = idf.get(t, 1.0)
        total += w
        best = max((_token_sim(t, u) for u in b), default=0.0)
        if best >= 0.85:
            found += w * best
    return found / total if total else 0.0


class Scorer:
    """Compares two records' ``Features`` under ``settings`` and the data's frequencies.

    ``idf`` maps a name token to its information in bits (rare = many bits);
    ``shared`` maps ("email"|"phone"|"vat"|"number", value) to the most
    records holding it on one side. Both come from the data at hand, so the
    comparison is symmetric in the sides.
    """

    def __init__(
        self,
        settings: MatchSettings,
        idf: dict[str, float],
        shared: dict[tuple[str, str], int],
    ) -> None:
        self.s = settings
        self.idf = idf
        self.shared = shared

    def _shared_weight(self, kind: str, value: str, weight: float) -> float:
        n = self.shared.get((kind, value), 1)
        return max(weight - self.s.shared_value_penalty * math.log2(max(n, 1)), 0.5)

    def _name(self, a: Features, b: Features) -> list[FieldEvidence]:
        s = self.s
        if not a.tokens or not b.tokens:
            return [FieldEvidence("name", "-", 0.0)]
        idf = self.idf
        if a.tokens == b.tokens or sorted(a.tokens) == sorted(b.tokens) or a.joined == b.joined:
            sim = 1.0
        else:
            sim = (_soft(a.tokens, b.tokens, idf) + _soft(b.tokens, a.tokens, idf)) / 2
            # "Gebäude Service" vs "Gebäudeservice"; not for persons (first names are
            # compared on their own) nor for names with different numbers in them.
            if not (a.first and b.first) and _digits(a.joined) == _digits(b.joined):
                sim = max(sim, Indel.normalized_similarity(a.joined, b.joined))
        bits = min(sum(idf.get(t, 1.0) for t in a.tokens), sum(idf.get(t, 1.0) for t in b.tokens))
        rarity = min(max(bits / s.name_rarity_bits, 0.6), 1.0)
        detail = f"{sim:.2f}"
        if sim >= 0.999:
            out = [FieldEvidence("name", "=", s.name * rarity, detail)]
        elif sim >= 0.9:
            out = [FieldEvidence("name", "≈", s.name * s.name_near * rarity, detail)]
        elif sim >= 0.75:
            out = [FieldEvidence("name", "~", 0.0, detail)]
        else:
            out = [FieldEvidence("name", "≠", s.name_differs, detail)]
        if a.first and b.first and _token_sim(a.first, b.first) < 0.8:
            out.append(
                FieldEvidence(
                    "first name",
                    "≠",
                    s.first_name_differs,
                    f"{a.remote.record.first_name} vs {b.remote.record.first_name}",
                )
            )
        return out

    def _address(self, a: Features, b: Features) -> list[FieldEvidence]:
        s = self.s
        out: list[FieldEvidence] = []
        if a.postal and b.postal:
            if a.postal == b.postal:
                out.append(FieldEvidence("postal code", "=", s.postal_code))
            else:
                out.append(
                    FieldEvidence(
                        "postal code", "≠", s.postal_code_differs, f"{a.postal} vs {b.postal}"
                    )
                )
        else:
            out.append(FieldEvidence("postal code", "-", 0.0))
            if a.city and b.city:  # the city only matters when a postal code is missing
                same = a.city == b.city
                out.append(
                    FieldEvidence(
                        "city",
                        "=" if same else "≠",
                        s.city if same else s.city_differs,
                        "" if same else f"{a.remote.record.city} vs {b.remote.record.city}",
                    )
                )
        if not a.street or not b.street:
            out.append(FieldEvidence("street", "-", 0.0))
            return out
        shown = f"{a.remote.record.street} vs {b.remote.record.street}"
        sim = 1.0 if a.street == b.street else JaroWinkler.normalized_similarity(a.street, b.street)
        if sim < 0.88:
            # In another postal code the street differs anyway: the postal code said it.
            elsewhere = a.postal and b.postal and a.postal != b.postal
            weight = s.street_differs * (0.6 if elsewhere else 1.0)
            out.append(FieldEvidence("street", "≠", weight, shown))
            return out
        verdict = "=" if sim == 1.0 else "≈"
        out.append(FieldEvidence("street", verdict, s.street * (1.0 if sim == 1.0 else 0.5)))
        if a.house and b.house:
            if a.house == b.house:
                out.append(FieldEvidence("house number", "=", s.house_number))
            elif a.house.rstrip("abcdefgh") == b.house.rstrip("abcdefgh"):
                out.append(FieldEvidence("house number", "≈", 0.0, f"{a.house} vs {b.house}"))
            else:
                out.append(
                    FieldEvidence("house number", "≠", s.house_number_differs, shown),
                )
        return out

    def _email(self, a: Features, b: Features) -> FieldEvidence:
        s = self.s
        if not a.email or not b.email:
            return FieldEvidence("e-mail", "-", 0.0)
        if a.email == b.email:
            return FieldEvidence("e-mail", "=", self._shared_weight("email", a.email, s.email))
        detail = f"{a.email} vs {b.email}"
        if a.domain and a.domain == b.domain:
            return FieldEvidence("e-mail", "≈", 0.0, detail)  # one company, several addresses
        return FieldEvidence("e-mail", "≠", s.email_differs, detail)

    def _phone(self, a: Features, b: Features) -> FieldEvidence:
        s = self.s
        if not a.phones or not b.phones:
            return FieldEvidence("phone", "-", 0.0)
        common = sorted(a.phones & b.phones)
        if common:
            weight = max(self._shared_weight("phone", p, s.phone) for p in common)
            return FieldEvidence("phone", "=", weight)
        return FieldEvidence(
            "phone",
            "≠",
            s.phone_differs,
            f"{', '.join(sorted(a.phones))} vs {', '.join(sorted(b.phones))}",
        )

    def compare(self, a: Features, b: Features) -> Comparison:
        """The evidence for ``a`` and ``b`` being one customer (symmetric in a, b)."""
        s = self.s
        ev = self._name(a, b)
        if a.kind != b.kind:
            ev.append(FieldEvidence("kind", "≠", s.kind_differs, f"{a.kind} vs {b.kind}"))
        ev += self._address(a, b)
        ev.append(self._email(a, b))
        ev.append(self._phone(a, b))
        veto = None
        if a.vat and b.vat:
            if a.vat == b.vat:
                ev.append(FieldEvidence("VAT id", "=", self._shared_weight("vat", a.vat, s.vat_id)))
            else:
                ev.append(FieldEvidence("VAT id", "≠", 0.0, f"{a.vat} vs {b.vat}"))
                veto = f"their VAT ids differ ({a.vat} vs {b.vat})"
        else:
            ev.append(FieldEvidence("VAT id", "-", 0.0))
        if a.number and b.number:
            if a.number == b.number:
                weight = self._shared_weight("number", a.number, s.customer_number)
                ev.append(FieldEvidence("customer number", "=", weight))
            else:
                same_scheme = number_shape(a.number) == number_shape(b.number)
                ev.append(
                    FieldEvidence(
                        "customer number",
                        "≠" if same_scheme else "≈",
                        s.customer_number_differs if same_scheme else 0.0,
                        f"{a.number} vs {b.number}"
                        + ("" if same_scheme else ", different numbering schemes"),
                    )
                )
        else:
            ev.append(FieldEvidence("customer number", "-", 0.0))
        score = 0.0
        for f in ev:
            score += f.weight
        return Comparison(score=score, fields=tuple(ev), veto=veto)
