"""The candidate graph of first-sync matching: which pairs are compared, scored and linked.

Steps 1 to 3 of ``rules.matching``: records that share a blocking key are
scored (``rules.match_score``), a pair that would put a customer number on a
side where another customer holds it is vetoed, and a pair is linked when it
is clearly the best candidate of *both* records. What is left over is parked
by ``rules.match_parking``. Pure, deterministic, no I/O.
"""

from __future__ import annotations

from reconciler.domain.models import SIDE_LABEL, SIDES, Side
from rules.match_blocking import candidate_pairs, idf, shared_values
from rules.match_keys import Features
from rules.match_quick import QuickScorer
from rules.match_score import Comparison, MatchSettings, Scorer

__all__ = ["OTHER", "CandidateGraph"]

OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


class CandidateGraph:
    """The pairs of one matching run worth comparing, their scores, and the links made.

    ``e`` are each side's records (``Features``, by input position), ``s`` the
    settings; ``adj`` keeps per record the pairs that could link or park it,
    ``linked`` the links decided so far. Parking (``rules.match_parking``)
    and the result (``rules.matching``) read it.
    """

    def __init__(
        self,
        entries: dict[Side, list[Features]],
        taken: dict[Side, set[str]],
        settings: MatchSettings,
    ) -> None:
        self.e = entries
        self.taken = taken
        self.s = settings
        self.scorer = Scorer(settings, idf(entries), shared_values(entries))
        self.quick = QuickScorer(self.scorer)
        self.holders: dict[Side, dict[str, list[Features]]] = {side: {} for side in SIDES}
        for side in SIDES:
            for f in entries[side]:
                if f.number:
                    self.holders[side].setdefault(f.number, []).append(f)
        self.comparisons: dict[tuple[int, int], Comparison] = {}
        #: per side and position: (score, other position) of pairs at park_threshold or more
        self.adj: dict[Side, dict[int, list[tuple[float, int]]]] = {"kleanapp": {}, "sevdesk": {}}
        #: per side and position: the best (score, other position) of any compared pair
        self.best_any: dict[Side, dict[int, tuple[float, int]]] = {"kleanapp": {}, "sevdesk": {}}
        self.linked: dict[Side, dict[int, int]] = {"kleanapp": {}, "sevdesk": {}}

    def compare(self, k: int, s: int) -> Comparison:
        c = self.comparisons.get((k, s))
        if c is None:
            c = self.scorer.compare(self.e["kleanapp"][k], self.e["sevdesk"][s])
            c = self._number_veto(k, s, c)
            self.comparisons[k, s] = c
        return c

    def _number_veto(self, k: int, s: int, c: Comparison) -> Comparison:
        """Linking must not put a number on a side where another customer holds it."""
        if c.veto:
            return c
        pair = {"kleanapp": self.e["kleanapp"][k], "sevdesk": self.e["sevdesk"][s]}
        for side in SIDES:
            mine, theirs = pair[side], pair[OTHER[side]]
            n = mine.number
            if not n or n == theirs.number:
                continue
            others = [h for h in self.holders[theirs.side].get(n, []) if h is not theirs]
            if others or n in self.taken[theirs.side]:
                veto = (
                    f"customer number {n} is already used in {SIDE_LABEL[theirs.side]} "
                    "by another customer"
                )
                return Comparison(c.score, c.fields, veto)
        return c

    def _number_vetoed(self, k: int, s: int) -> bool:
        """Would ``_number_veto`` veto the pair (the same rule, without its sentence)?"""
        pair = {"kleanapp": self.e["kleanapp"][k], "sevdesk": self.e["sevdesk"][s]}
        for side in SIDES:
            mine, theirs = pair[side], pair[OTHER[side]]
            n = mine.number
            if not n or n == theirs.number:
                continue
            if n in self.taken[theirs.side]:
                return True
            if any(h is not theirs for h in self.holders[theirs.side].get(n, ())):
                return True
        return False

    def score_all(self) -> None:
        """Score every candidate pair once; keep those that could link or park a record.

        Scored by ``QuickScorer`` (the same score, no evidence): the full
        comparison is built only for the pairs kept, see ``rules.match_quick``.
        """
        s = self.s
        quick = self.quick.score
        kleanapp, sevdesk = self.e["kleanapp"], self.e["sevdesk"]
        best_k, best_s = self.best_any["kleanapp"], self.best_any["sevdesk"]
        for k, sv in sorted(candidate_pairs(self.e)):
            score, vat_veto, renumbered = quick(kleanapp[k], sevdesk[sv])
            best = best_k.get(k)
            if best is None or (score, -sv) > (best[0], -best[1]):
                best_k[k] = (score, sv)
            best = best_s.get(sv)
            if best is None or (score, -k) > (best[0], -best[1]):
                best_s[sv] = (score, k)
            if score < s.park_threshold and not renumbered:
                continue  # neither links nor parks anything: no evidence needed
            veto = vat_veto or self._number_vetoed(k, sv)
            if (score >= s.park_threshold and (not veto or score >= s.link_threshold)) or (
                renumbered and not veto
            ):
                self.compare(k, sv)  # the evidence, kept for linking and parking
                self.adj["kleanapp"].setdefault(k, []).append((score, sv))
                self.adj["sevdesk"].setdefault(sv, []).append((score, k))

    def cmp(self, side: Side, me: int, other: int) -> Comparison:
        return self.compare(me, other) if side == "kleanapp" else self.compare(other, me)

    def open_edges(self, side: Side, me: int) -> list[tuple[float, int]]:
        """``me``'s candidates not linked to another record, best first."""
        other = OTHER[side]
        return sorted(
            ((sc, o) for sc, o in self.adj[side].get(me, []) if o not in self.linked[other]),
            key=lambda t: (-t[0], t[1]),
        )

    def _clear(self, side: Side, me: int, partner: int, score: float) -> bool:
        """Is ``partner`` ``me``'s best candidate by at least the margin?

        *Every* other candidate counts, also one that is clearly someone
        else's: if a record looks as much like two others, that one of them
        has a better partner does not tell which customer this one is.
        """
        second = max((sc for sc, o in self.adj[side].get(me, []) if o != partner), default=-1e9)
        return second < score and second <= score - self.s.link_margin

    def link(self, parked: set[tuple[Side, int]]) -> None:
        """Link every pair that is clearly each record's best (one pass, order-free)."""
        for k, edges in sorted(self.adj["kleanapp"].items()):
            if ("kleanapp", k) in parked:
                continue
            for score, sv in edges:
                if score < self.s.link_threshold or ("sevdesk", sv) in parked:
                    continue
                if self.comparisons[k, sv].veto:
                    continue
                if self._clear("kleanapp", k, sv, score) and self._clear("sevdesk", sv, k, score):
                    self.linked["kleanapp"][k] = sv
                    self.linked["sevdesk"][sv] = k
