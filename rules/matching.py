"""First-sync matching: which unlinked KleanApp customer is which sevDesk contact.

On activation both systems already hold most customers, typed differently
("Müller Gebäudeservice GmbH, Hauptstr. 5" / "Mueller Gebaeudeservice GmbH,
Hauptstraße 5", "Info@…" / "info@…", "K-00042" / "1042"). Creating
everything on the other side would duplicate them all; linking on a single
key would merge customers that merely look alike (two hotels of one name in
one postal code), and a merged customer silently disappears from one side.
So records are linked only on the *sum* of the evidence, and everything in
the grey zone is *parked* (neither created nor changed) for an admin.

How (pure, deterministic, no I/O):

1. **Blocking** (``rules.match_blocking``): records of the two sides are compared
   only when they share a customer number, VAT id, e-mail, phone, a
   company's e-mail domain, a postal code plus a name-token or street
   prefix, or a rare name token. Blocks too big to tell anything apart
   (``rules.match_blocking.MAX_BLOCK_PAIRS``) are skipped, so the cost stays near-linear.
2. **Scoring** (``rules.match_score``): per-field evidence, agreement adds,
   disagreement of two present values subtracts, empty adds nothing;
   frequent names and shared identifiers count less. Hard vetoes: two
   different VAT ids; a number the link would put on the other side where
   another customer already has it.
3. **Deciding**, in rounds: a pair is **linked** when its score reaches
   ``link_threshold``, it has no veto, and it is the best candidate of
   *both* records by at least ``link_margin`` (so one record is never in
   two links, and a near tie goes to an admin). Records linked in a round
   stop competing; the rounds end when no new link is clear.
4. **Parking**: an unlinked record with a candidate at or above
   ``park_threshold`` (or above ``link_threshold`` despite a veto) is a
   *possible match*; a record that looks like one already linked (score at
   ``link_threshold``) is parked too, rather than created as a duplicate.
   Below ``park_threshold`` the records are **different customers**.

Customer numbers must stay unique on each side, hence three rules that
override the score:

* *Same-side duplicates*: a record whose number is also held by another
  record on its own side (input or ``taken_numbers``) is parked, together
  with the other side's records holding that number.
* *Shared number, different customers*: two unlinked records of the two
  sides with the same number are parked as each other's candidates
  (creating either would put the number twice on the other side).
* *Clash on create*: an unmatched record whose number is already used on
  the other side is parked ("customer number K-… is already used in sevDesk
  by another customer"), never created over it.

The candidate relation of parked records is symmetric and closed (every
candidate of a parked record is parked, with it as a candidate), and
swapping the two sides mirrors the result (property-tested).

Archived records take part in matching (so an archived KleanApp customer
gets linked to its sevDesk contact), but an unmatched archived record is
never created: it stays in ``unmatched_*`` and :meth:`MatchResult.creatable`
leaves it out. ``taken_numbers`` are the numbers held on each side by
records *not* passed in (the already linked ones).

Output order: matches and unmatched follow input order, parked records are
KleanApp's then sevDesk's, each in input order; candidates best first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.domain.models import SIDE_LABEL, SIDES, Customer, Remote, Side
from rules.match_blocking import candidate_pairs, idf, shared_values
from rules.match_keys import Features, features, name_key, postal_key
from rules.match_result import Candidate, Match, MatchResult, NearMiss, ParkedMatch
from rules.match_score import Comparison, FieldEvidence, MatchSettings, Scorer
from rules.normalize import normalize_customer_number

__all__ = [
    "Candidate",
    "Comparison",
    "FieldEvidence",
    "Match",
    "MatchResult",
    "MatchSettings",
    "NearMiss",
    "ParkedMatch",
    "match_customers",
    "name_key",
    "postal_key",
]

_OTHER: dict[Side, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}

# --- preparation ----------------------------------------------------------------


def _entries(side: Side, records: Iterable[Remote[Customer]]) -> list[Features]:
    out: list[Features] = []
    seen: set[str] = set()
    for pos, remote in enumerate(records):
        if remote.side != side:
            raise ValueError(f"a {remote.side} record was passed as {side} record {remote.id}")
        if remote.id in seen:
            raise ValueError(f"{side} record id {remote.id} appears twice")
        seen.add(remote.id)
        out.append(features(side, pos, remote))
    return out


# --- deciding ----------------------------------------------------------------------


def _label(f: Features) -> str:
    return f"{SIDE_LABEL[f.side]} customer {f.remote.id}"


def _ids(entries: list[Features]) -> str:
    """ "KleanApp customer 7" / "KleanApp customers 7, 9" (entries of one side)."""
    plural = "s" if len(entries) > 1 else ""
    ids = ", ".join(e.remote.id for e in entries)
    return f"{SIDE_LABEL[entries[0].side]} customer{plural} {ids}"


class _Matcher:
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

    # -- comparisons
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
            mine, theirs = pair[side], pair[_OTHER[side]]
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

    def score_all(self) -> None:
        s = self.s
        for k, sv in sorted(candidate_pairs(self.e)):
            c = self.compare(k, sv)
            for side, me, other in (("kleanapp", k, sv), ("sevdesk", sv, k)):
                best = self.best_any[side].get(me)
                if best is None or (c.score, -other) > (best[0], -best[1]):
                    self.best_any[side][me] = (c.score, other)
            if c.score >= s.park_threshold and (not c.veto or c.score >= s.link_threshold):
                self.adj["kleanapp"].setdefault(k, []).append((c.score, sv))
                self.adj["sevdesk"].setdefault(sv, []).append((c.score, k))
            else:
                del self.comparisons[k, sv]  # keep memory flat; recomputed if shown

    def _cmp(self, side: Side, me: int, other: int) -> Comparison:
        return self.compare(me, other) if side == "kleanapp" else self.compare(other, me)

    # -- number integrity
    def duplicates(self) -> dict[tuple[Side, int], str]:
        """Records whose number is held twice on their own side, and the other side's holders."""
        out: dict[tuple[Side, int], str] = {}
        for side in SIDES:
            other = _OTHER[side]
            for number, group in self.holders[side].items():
                count = len(group) + (number in self.taken[side])
                if count < 2:
                    continue
                for f in group:
                    twins = [o for o in group if o is not f]
                    also = (
                        _ids(twins)
                        if twins
                        else f"another {SIDE_LABEL[side]} customer that is already linked"
                    )
                    out[side, f.pos] = f"customer number {number} is also used by {also}"
                for h in self.holders[other].get(number, []):
                    many = len(group) + (number in self.taken[side])
                    out.setdefault(
                        (other, h.pos),
                        f"{many} {SIDE_LABEL[side]} customers have the customer number {number}",
                    )
        return out

    # -- linking
    def _open_edges(self, side: Side, me: int) -> list[tuple[float, int]]:
        """``me``'s candidates not linked to another record, best first."""
        other = _OTHER[side]
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

    # -- parking
    def park(self, dup: dict[tuple[Side, int], str]) -> dict[tuple[Side, int], tuple[str, list]]:
        """(side, pos) -> (reason, [(other pos, decision)]) of every parked record."""
        s = self.s
        cands: dict[tuple[Side, int], dict[int, str]] = {}
        reasons: dict[tuple[Side, int], str] = dict(dup)

        def edge(a_side: Side, a: int, b: int, decision: str) -> None:
            cands.setdefault((a_side, a), {}).setdefault(b, decision)
            cands.setdefault((_OTHER[a_side], b), {}).setdefault(a, decision)

        for k, edges in sorted(self.adj["kleanapp"].items()):
            if k in self.linked["kleanapp"]:
                continue
            for score, sv in edges:
                if sv in self.linked["sevdesk"]:
                    continue
                c = self.comparisons[k, sv]
                if c.veto:
                    decision = f"not linked: {c.veto}"
                elif score >= s.link_threshold:
                    decision = "looks like the same customer"
                else:
                    decision = "possible match"
                edge("kleanapp", k, sv, decision)
        for number, group in sorted(self.holders["kleanapp"].items()):
            for f in group:
                for h in self.holders["sevdesk"].get(number, []):
                    if f.pos not in self.linked["kleanapp"] and h.pos not in self.linked["sevdesk"]:
                        edge("kleanapp", f.pos, h.pos, "same customer number")
        for key in list(cands) + list(dup):
            cands.setdefault(key, {})
        # Records that look like an already linked one, and numbers already used.
        for side in SIDES:
            other = _OTHER[side]
            for f in self.e[side]:
                key = (side, f.pos)
                if f.pos in self.linked[side] or key in cands:
                    continue
                twin = self._linked_twin(side, f.pos)
                if twin is not None:
                    cands[key] = {}
                    reasons[key] = twin
                elif (
                    f.number
                    and not f.remote.record.archived
                    and (f.number in self.taken[other] or self.holders[other].get(f.number))
                ):
                    cands[key] = {}
                    reasons[key] = (
                        f"customer number {f.number} is already used in {SIDE_LABEL[other]} "
                        "by another customer"
                    )
        out = {}
        for key, others in cands.items():
            side, pos = key
            ordered = sorted(
                others.items(), key=lambda t: (-self._cmp(side, pos, t[0]).score, t[0])
            )
            reason = reasons.get(key) or self._reason(side, pos, ordered)
            out[key] = (reason, ordered)
        return out

    def _linked_twin(self, side: Side, pos: int) -> str | None:
        other = _OTHER[side]
        for score, o in sorted(self.adj[side].get(pos, []), key=lambda t: (-t[0], t[1])):
            if score < self.s.link_threshold or o not in self.linked[other]:
                continue
            them = self.e[other][o]
            partner = self.e[side][self.linked[other][o]]
            summary = self._cmp(side, pos, o).summary("looks like the same customer")
            return (
                f"looks like {_label(them)}, which is already linked with {_label(partner)}: "
                f"{summary}"
            )
        return None

    def _reason(self, side: Side, pos: int, ordered: list[tuple[int, str]]) -> str:
        other = _OTHER[side]
        best_pos, decision = ordered[0]
        best = self.e[other][best_pos]
        c = self._cmp(side, pos, best_pos)
        if decision == "same customer number":
            return (
                f"{_label(best)} has the same customer number {best.number}, but the rest "
                f"says different customers: {c.summary('different customers')}"
            )
        if c.veto:
            return f"{_label(best)} looks like the same customer, but {c.veto}"
        margin = self.s.link_margin
        alike = [
            self.e[other][o]
            for o, d in ordered
            if d != "same customer number"
            and self._cmp(side, pos, o).score >= min(c.score - margin, self.s.link_threshold)
        ]
        if len(alike) > 1:
            label = (
                "looks like the same customer"
                if c.score >= self.s.link_threshold
                else "possible match"
            )
            return (
                f"{len(alike)} {SIDE_LABEL[other]} customers look alike "
                f"({', '.join(o.remote.id for o in alike)}); the closest: {c.summary(label)}"
            )
        if c.score < self.s.link_threshold:
            rivals = [
                self.e[side][o]
                for sc, o in self._open_edges(other, best_pos)
                if o != pos and sc >= c.score - margin
            ]
            also = f" (so is {_ids(rivals)})" if rivals else ""
            return f"{_label(best)} is a possible match{also}: {c.summary('possible match')}"
        rivals = [
            self.e[side][o]
            for sc, o in self._open_edges(other, best_pos)
            if o != pos and sc >= c.score - self.s.link_margin
        ]
        if rivals:
            verb = "does" if len(rivals) == 1 else "do"
            return f"{_label(best)} looks like the same customer, but so {verb} {_ids(rivals)}"
        return f"{_label(best)} looks like the same customer, but is itself parked"

    # -- result
    def result(self) -> MatchResult:
        dup = self.duplicates()
        self.link(set(dup))
        parked = self.park(dup)
        matches = tuple(
            Match(self.e["kleanapp"][k].remote, self.e["sevdesk"][sv].remote, self.compare(k, sv))
            for k, sv in sorted(self.linked["kleanapp"].items())
        )
        out_parked = []
        for side in SIDES:
            other = _OTHER[side]
            for f in self.e[side]:
                if (side, f.pos) not in parked:
                    continue
                reason, ordered = parked[side, f.pos]
                evidence = tuple(
                    Candidate(self.e[other][o].remote, self._cmp(side, f.pos, o), d)
                    for o, d in ordered
                )
                out_parked.append(
                    ParkedMatch(
                        side=side,
                        record=f.remote,
                        candidates=tuple(c.record for c in evidence),
                        reason=reason,
                        evidence=evidence,
                    )
                )
        unmatched = {
            side: tuple(
                f
                for f in self.e[side]
                if f.pos not in self.linked[side] and (side, f.pos) not in parked
            )
            for side in SIDES
        }
        near = []
        for side in SIDES:
            other = _OTHER[side]
            for f in unmatched[side]:
                best = self.best_any[side].get(f.pos)
                if best is None:
                    continue
                c = self._cmp(side, f.pos, best[1])
                if c.fields[0].verdict in ("=", "≈") or sum(f.verdict == "=" for f in c.fields) > 1:
                    near.append(NearMiss(side, f.remote, self.e[other][best[1]].remote, c))
        return MatchResult(
            matches=matches,
            parked=tuple(out_parked),
            unmatched_kleanapp=tuple(f.remote for f in unmatched["kleanapp"]),
            unmatched_sevdesk=tuple(f.remote for f in unmatched["sevdesk"]),
            near_misses=tuple(near),
        )


def match_customers(
    kleanapp: Iterable[Remote[Customer]],
    sevdesk: Iterable[Remote[Customer]],
    *,
    taken_numbers: Mapping[Side, Iterable[str]] | None = None,
    settings: MatchSettings | None = None,
) -> MatchResult:
    """Pair unlinked customers across the sides; park what is doubtful.

    ``kleanapp``/``sevdesk`` are the *unlinked* records of each side (their
    ``side`` must fit; ids unique per side). ``taken_numbers`` maps a side
    to the customer numbers its already-linked records hold. The rule is in
    the module docstring; the function is pure and deterministic.
    """
    entries = {"kleanapp": _entries("kleanapp", kleanapp), "sevdesk": _entries("sevdesk", sevdesk)}
    taken: dict[Side, set[str]] = {side: set() for side in SIDES}
    for side, numbers in (taken_numbers or {}).items():
        taken[side] = {n for raw in numbers if (n := normalize_customer_number(raw))}
    matcher = _Matcher(entries, taken, settings or MatchSettings())
    matcher.score_all()
    return matcher.result()
