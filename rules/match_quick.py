"""The score of a candidate pair without its evidence: what deciding needs, cheaply.

Why: a first sync compares every pair that shares a block, about 25 per
record (250,000 pairs at 10,000 customers per side), and nearly all of them
are two different customers in one postal code. ``Scorer.compare`` builds
the evidence an admin reads (a ``FieldEvidence`` per field with its wording,
the values side by side) for each of them, and the graph threw it away again
for every pair below ``park_threshold``: most of a first sync's time.
Deciding needs only three things of a pair: its score, whether something
vetoes it, and whether it looks renumbered. :func:`quick_score` computes
exactly those, field by field in the order ``Scorer.compare`` adds the
weights (so the float is the very same number, not a close one), and the
full comparison is built only for the pairs that can link or park a record,
or when one is shown.

The rules are ``rules.match_score``'s; ``tests/rules/test_match_quick.py``
checks on random records that both give the same score, veto and
"renumbered", and that matching decides the same with either. Pure, no I/O.
"""

from __future__ import annotations

from rapidfuzz.distance import Indel, JaroWinkler

from rules.match_keys import Features, number_shape
from rules.match_score import Scorer, _digits, _soft, _token_sim

__all__ = ["QuickScorer"]


class QuickScorer:
    """``(score, vat veto, renumbered)`` of a pair, as ``Scorer.compare`` would say.

    Per record, what every comparison of it needs again (its tokens sorted,
    the bits of its name, the digits in it) is worked out once.
    """

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.s = scorer.s
        #: name tokens -> (sorted tokens, bits of information)
        self._names: dict[tuple[str, ...], tuple[list[str], float]] = {}
        self._digits: dict[str, str] = {}

    def _name_facts(self, tokens: tuple[str, ...]) -> tuple[list[str], float]:
        facts = self._names.get(tokens)
        if facts is None:
            idf = self.scorer.idf
            facts = (sorted(tokens), sum(idf.get(t, 1.0) for t in tokens))
            self._names[tokens] = facts
        return facts

    def _joined_digits(self, joined: str) -> str:
        d = self._digits.get(joined)
        if d is None:
            d = self._digits[joined] = _digits(joined)
        return d

    def score(self, a: Features, b: Features) -> tuple[float, bool, bool]:
        """The pair's score, whether the VAT ids veto it, and ``Comparison.renumbered``.

        ``plain`` tracks the renumbered rule: every field but the customer
        number agrees ("=") or is missing on a side ("-").
        """
        s = self.s
        score = 0.0
        plain = True
        # -- name (Scorer._name)
        name_equal = False
        if a.tokens and b.tokens:
            a_sorted, a_bits = self._name_facts(a.tokens)
            b_sorted, b_bits = self._name_facts(b.tokens)
            if a.tokens == b.tokens or a_sorted == b_sorted or a.joined == b.joined:
                sim = 1.0
            else:
                idf = self.scorer.idf
                sim = (_soft(a.tokens, b.tokens, idf) + _soft(b.tokens, a.tokens, idf)) / 2
                if not (a.first and b.first) and self._joined_digits(
                    a.joined
                ) == self._joined_digits(b.joined):
                    sim = max(sim, Indel.normalized_similarity(a.joined, b.joined))
            rarity = min(max(min(a_bits, b_bits) / s.name_rarity_bits, 0.6), 1.0)
            if sim >= 0.999:
                score += s.name * rarity
                name_equal = True
            elif sim >= 0.9:
                score += s.name * s.name_near * rarity
                plain = False
            elif sim >= 0.75:
                score += 0.0
                plain = False
            else:
                score += s.name_differs
                plain = False
            if a.first and b.first and _token_sim(a.first, b.first) < 0.8:
                score += s.first_name_differs
                plain = False
        if a.kind != b.kind:
            score += s.kind_differs
            plain = False
        # -- address (Scorer._address)
        if a.postal and b.postal:
            if a.postal == b.postal:
                score += s.postal_code
            else:
                score += s.postal_code_differs
                plain = False
        else:
            score += 0.0
            if a.city and b.city:
                if a.city == b.city:
                    score += s.city
                else:
                    score += s.city_differs
                    plain = False
        if a.street and b.street:
            same = a.street == b.street
            sim = 1.0 if same else JaroWinkler.normalized_similarity(a.street, b.street)
            if sim < 0.88:
                elsewhere = a.postal and b.postal and a.postal != b.postal
                score += s.street_differs * (0.6 if elsewhere else 1.0)
                plain = False
            else:
                score += s.street * (1.0 if sim == 1.0 else 0.5)
                if sim != 1.0:
                    plain = False
                if a.house and b.house:
                    if a.house == b.house:
                        score += s.house_number
                    elif a.house.rstrip("abcdefgh") == b.house.rstrip("abcdefgh"):
                        score += 0.0
                        plain = False
                    else:
                        score += s.house_number_differs
                        plain = False
        else:
            score += 0.0
        # -- e-mail (Scorer._email)
        if a.email and b.email:
            if a.email == b.email:
                score += self.scorer._shared_weight("email", a.email, s.email)
            elif a.domain and a.domain == b.domain:
                score += 0.0
                plain = False
            else:
                score += s.email_differs
                plain = False
        else:
            score += 0.0
        # -- phone (Scorer._phone)
        if a.phones and b.phones:
            common = sorted(a.phones & b.phones)
            if common:
                score += max(self.scorer._shared_weight("phone", p, s.phone) for p in common)
            else:
                score += s.phone_differs
                plain = False
        else:
            score += 0.0
        # -- VAT id and customer number (Scorer.compare)
        veto = False
        if a.vat and b.vat:
            if a.vat == b.vat:
                score += self.scorer._shared_weight("vat", a.vat, s.vat_id)
            else:
                score += 0.0
                veto = True
                plain = False
        else:
            score += 0.0
        number_differs = False
        if a.number and b.number:
            if a.number == b.number:
                score += self.scorer._shared_weight("number", a.number, s.customer_number)
            elif number_shape(a.number) == number_shape(b.number):
                score += s.customer_number_differs
                number_differs = True
            else:
                score += 0.0
        else:
            score += 0.0
        return score, veto, name_equal and number_differs and plain
