"""The quick score decides exactly as the full comparison did (issue 21, ``rules.match_quick``).

Matching scores every candidate pair with ``QuickScorer`` and builds the
evidence only for the pairs that can link or park. If the two ever
disagreed, a first sync would link, park or create differently from what
the evidence in the report says. Checked on random records typed the ways
the seed data and real users type them, and on whole matching runs against
the way the graph scored before (every pair fully compared).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.domain.models import Customer, Remote
from rules.match_blocking import candidate_pairs, idf, shared_values
from rules.match_graph import CandidateGraph
from rules.match_keys import features
from rules.match_quick import QuickScorer
from rules.match_score import MatchSettings, Scorer
from rules.matching import match_customers

NAMES = ["Müller GmbH", "Mueller  GmbH", "Müller Gebäude Service", "Müller Gebäudeservice"]
NAMES += ["Schmidt", "Schmitt", "Filiale 3", "Filiale 4", "Café Weber", "Cafe Weber UG", None]
FIRST = ["Anna", "A.", "Anne", "Jonas", None]
LAST = ["Müller", "Mueller", "Schmidt", None]
STREETS = ["Hauptstraße 5", "Hauptstr. 5", "Hauptstr.5a", "Hauptstr. 7", "5 Hauptstraße"]
STREETS += ["Hauptweg 5", "Am Markt 1", None]
customers = st.builds(
    Customer,
    customer_number=st.sampled_from(["K-1", "K-2", "1003", "1004", "K-10", None, None]),
    kind=st.sampled_from(["company", "company", "person"]),
    company_name=st.sampled_from(NAMES),
    first_name=st.sampled_from(FIRST),
    last_name=st.sampled_from(LAST),
    email=st.sampled_from(["a@x.de", "A@X.DE", "b@x.de", "c@web.de", None, None]),
    phone=st.sampled_from(["030 1234567", "+49 30 1234567", "030 7654321", None]),
    mobile=st.sampled_from(["0171 5083090", None, None]),
    street=st.sampled_from(STREETS),
    postal_code=st.sampled_from(["10115", "10115 ", "80331", None]),
    city=st.sampled_from(["Berlin", "berlin", "München", None]),
    vat_id=st.sampled_from(["DE111111111", "de 111 111 111", "DE222222222", None, None]),
    archived=st.booleans(),
)


def _remotes(side, records):
    return [Remote(side=side, id=f"{side[0]}{i}", record=r) for i, r in enumerate(records)]


@settings(max_examples=300, deadline=None)
@given(st.lists(customers, min_size=1, max_size=6), st.lists(customers, min_size=1, max_size=6))
def test_the_quick_score_is_the_full_comparisons_score_veto_and_renumbered(ks, ss):
    entries = {
        "kleanapp": [features("kleanapp", i, r) for i, r in enumerate(_remotes("kleanapp", ks))],
        "sevdesk": [features("sevdesk", i, r) for i, r in enumerate(_remotes("sevdesk", ss))],
    }
    scorer = Scorer(MatchSettings(), idf(entries), shared_values(entries))
    quick = QuickScorer(scorer)
    for a in entries["kleanapp"]:
        for b in entries["sevdesk"]:
            full = scorer.compare(a, b)
            assert quick.score(a, b) == (full.score, full.veto is not None, full.renumbered)


def _score_all_as_before(self):
    """``CandidateGraph.score_all`` as it was: every candidate pair fully compared."""
    s = self.s
    for k, sv in sorted(candidate_pairs(self.e)):
        c = self.compare(k, sv)
        for side, me, other in (("kleanapp", k, sv), ("sevdesk", sv, k)):
            best = self.best_any[side].get(me)
            if best is None or (c.score, -other) > (best[0], -best[1]):
                self.best_any[side][me] = (c.score, other)
        if (c.score >= s.park_threshold and (not c.veto or c.score >= s.link_threshold)) or (
            c.renumbered and not c.veto
        ):
            self.adj["kleanapp"].setdefault(k, []).append((c.score, sv))
            self.adj["sevdesk"].setdefault(sv, []).append((c.score, k))
        else:
            del self.comparisons[k, sv]


taken = st.fixed_dictionaries(
    {
        side: st.sets(st.sampled_from(["K-1", "K-2", "K-9"]), max_size=2)
        for side in ("kleanapp", "sevdesk")
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(customers, max_size=8), st.lists(customers, max_size=8), taken)
def test_matching_decides_as_it_did_when_every_pair_was_fully_compared(ks, ss, numbers):
    k, s = _remotes("kleanapp", ks), _remotes("sevdesk", ss)
    now = match_customers(k, s, taken_numbers=numbers)
    quick = CandidateGraph.score_all
    try:
        CandidateGraph.score_all = _score_all_as_before  # type: ignore[method-assign]
        before = match_customers(k, s, taken_numbers=numbers)
    finally:
        CandidateGraph.score_all = quick  # type: ignore[method-assign]
    # Frozen dataclasses compare by value: links with their evidence, parked records with
    # their reasons and candidates, unmatched records and near misses, all in order.
    assert now == before
