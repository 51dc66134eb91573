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
3. **Deciding** (``rules.match_graph``), in rounds: a pair is **linked** when its score reaches
   ``link_threshold``, it has no veto, and it is the best candidate of
   *both* records by at least ``link_margin`` (so one record is never in
   two links, and a near tie goes to an admin). Records linked in a round
   stop competing; the rounds end when no new link is clear.
4. **Parking** (``rules.match_parking``): an unlinked record with a candidate at or above
   ``park_threshold`` (or above ``link_threshold`` despite a veto) is a
   *possible match*; a record that looks like one already linked (score at
   ``link_threshold``) is parked too, rather than created as a duplicate.
   Below ``park_threshold`` the records are **different customers**, except
   a pair with the very same name and nothing disagreeing but the customer
   number (``Comparison.renumbered``): a customer renumbered on one side
   looks exactly so, and creating each beside the other would show it twice
   in both systems, so it is parked as a possible match.

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

from reconciler.domain.models import SIDES, Customer, Remote, Side
from rules.match_graph import OTHER, CandidateGraph
from rules.match_keys import Features, features, name_key, postal_key
from rules.match_parking import duplicates, park
from rules.match_result import Candidate, Match, MatchResult, NearMiss, ParkedMatch
from rules.match_score import Comparison, FieldEvidence, MatchSettings
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


def _result(g: CandidateGraph) -> MatchResult:
    """Link what is clear, park what is doubtful, and gather the outcome in input order."""
    dup = duplicates(g)
    g.link(set(dup))
    parked = park(g, dup)
    matches = tuple(
        Match(g.e["kleanapp"][k].remote, g.e["sevdesk"][sv].remote, g.compare(k, sv))
        for k, sv in sorted(g.linked["kleanapp"].items())
    )
    out_parked = []
    for side in SIDES:
        other = OTHER[side]
        for f in g.e[side]:
            if (side, f.pos) not in parked:
                continue
            reason, ordered = parked[side, f.pos]
            evidence = tuple(
                Candidate(g.e[other][o].remote, g.cmp(side, f.pos, o), d) for o, d in ordered
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
            f for f in g.e[side] if f.pos not in g.linked[side] and (side, f.pos) not in parked
        )
        for side in SIDES
    }
    near = []
    for side in SIDES:
        other = OTHER[side]
        for f in unmatched[side]:
            best = g.best_any[side].get(f.pos)
            if best is None:
                continue
            c = g.cmp(side, f.pos, best[1])
            if c.fields[0].verdict in ("=", "≈") or sum(f.verdict == "=" for f in c.fields) > 1:
                near.append(NearMiss(side, f.remote, g.e[other][best[1]].remote, c))
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
    entries: dict[Side, list[Features]] = {
        "kleanapp": _entries("kleanapp", kleanapp),
        "sevdesk": _entries("sevdesk", sevdesk),
    }
    taken: dict[Side, set[str]] = {side: set() for side in SIDES}
    for side, numbers in (taken_numbers or {}).items():
        taken[side] = {n for raw in numbers if (n := normalize_customer_number(raw))}
    graph = CandidateGraph(entries, taken, settings or MatchSettings())
    graph.score_all()
    return _result(graph)
