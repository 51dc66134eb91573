"""Parking in first-sync matching: who waits for an admin, and the sentence saying why.

Step 4 of ``rules.matching`` and its number rules: a record is parked when a
candidate is too close to call, when it looks like a record already linked,
when its customer number is held twice on its own side, or when its number
is already used on the other side. Every reason names the records it is
about, so an admin can decide from the reason alone.
"""

from __future__ import annotations

from reconciler.domain.models import SIDE_LABEL, SIDES, Side
from rules.match_graph import OTHER, CandidateGraph
from rules.match_keys import Features

__all__ = ["ParkedRecords", "duplicates", "park"]

#: (side, position) of a parked record -> (its reason, [(candidate position, decision)]),
#: candidates best first.
ParkedRecords = dict[tuple[Side, int], tuple[str, list[tuple[int, str]]]]


def _label(f: Features) -> str:
    return f"{SIDE_LABEL[f.side]} customer {f.remote.id}"


def _ids(entries: list[Features]) -> str:
    """ "KleanApp customer 7" / "KleanApp customers 7, 9" (entries of one side)."""
    plural = "s" if len(entries) > 1 else ""
    ids = ", ".join(e.remote.id for e in entries)
    return f"{SIDE_LABEL[entries[0].side]} customer{plural} {ids}"


def duplicates(g: CandidateGraph) -> dict[tuple[Side, int], str]:
    """Records whose number is held twice on their own side, and the other side's holders."""
    out: dict[tuple[Side, int], str] = {}
    for side in SIDES:
        other = OTHER[side]
        for number, group in g.holders[side].items():
            count = len(group) + (number in g.taken[side])
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
            for h in g.holders[other].get(number, []):
                many = len(group) + (number in g.taken[side])
                out.setdefault(
                    (other, h.pos),
                    f"{many} {SIDE_LABEL[side]} customers have the customer number {number}",
                )
    return out


def park(g: CandidateGraph, dup: dict[tuple[Side, int], str]) -> ParkedRecords:
    """(side, pos) -> (reason, [(other pos, decision)]) of every parked record."""
    s = g.s
    cands: dict[tuple[Side, int], dict[int, str]] = {}
    reasons: dict[tuple[Side, int], str] = dict(dup)

    def edge(a_side: Side, a: int, b: int, decision: str) -> None:
        cands.setdefault((a_side, a), {}).setdefault(b, decision)
        cands.setdefault((OTHER[a_side], b), {}).setdefault(a, decision)

    for k, edges in sorted(g.adj["kleanapp"].items()):
        if k in g.linked["kleanapp"]:
            continue
        for score, sv in edges:
            if sv in g.linked["sevdesk"]:
                continue
            c = g.comparisons[k, sv]
            if c.veto:
                decision = f"not linked: {c.veto}"
            elif score >= s.link_threshold:
                decision = "looks like the same customer"
            else:
                decision = "possible match"
            edge("kleanapp", k, sv, decision)
    for number, group in sorted(g.holders["kleanapp"].items()):
        for f in group:
            for h in g.holders["sevdesk"].get(number, []):
                if f.pos not in g.linked["kleanapp"] and h.pos not in g.linked["sevdesk"]:
                    edge("kleanapp", f.pos, h.pos, "same customer number")
    for key in list(cands) + list(dup):
        cands.setdefault(key, {})
    # Records that look like an already linked one, and numbers already used.
    for side in SIDES:
        other = OTHER[side]
        for f in g.e[side]:
            key = (side, f.pos)
            if f.pos in g.linked[side] or key in cands:
                continue
            twin = _linked_twin(g, side, f.pos)
            if twin is not None:
                cands[key] = {}
                reasons[key] = twin
            elif (
                f.number
                and not f.remote.record.archived
                and (f.number in g.taken[other] or g.holders[other].get(f.number))
            ):
                cands[key] = {}
                reasons[key] = (
                    f"customer number {f.number} is already used in {SIDE_LABEL[other]} "
                    "by another customer"
                )
    out = {}
    for key, others in cands.items():
        side, pos = key
        ordered = sorted(others.items(), key=lambda t: (-g.cmp(side, pos, t[0]).score, t[0]))
        reason = reasons.get(key) or _reason(g, side, pos, ordered)
        out[key] = (reason, ordered)
    return out


def _linked_twin(g: CandidateGraph, side: Side, pos: int) -> str | None:
    other = OTHER[side]
    for score, o in sorted(g.adj[side].get(pos, []), key=lambda t: (-t[0], t[1])):
        if score < g.s.link_threshold or o not in g.linked[other]:
            continue
        them = g.e[other][o]
        partner = g.e[side][g.linked[other][o]]
        summary = g.cmp(side, pos, o).summary("looks like the same customer")
        return (
            f"looks like {_label(them)}, which is already linked with {_label(partner)}: {summary}"
        )
    return None


def _reason(g: CandidateGraph, side: Side, pos: int, ordered: list[tuple[int, str]]) -> str:
    other = OTHER[side]
    best_pos, decision = ordered[0]
    best = g.e[other][best_pos]
    c = g.cmp(side, pos, best_pos)
    if decision == "same customer number":
        return (
            f"{_label(best)} has the same customer number {best.number}, but the rest "
            f"says different customers: {c.summary('different customers')}"
        )
    if c.veto:
        return f"{_label(best)} looks like the same customer, but {c.veto}"
    margin = g.s.link_margin
    alike = [
        g.e[other][o]
        for o, d in ordered
        if d != "same customer number"
        and g.cmp(side, pos, o).score >= min(c.score - margin, g.s.link_threshold)
    ]
    if len(alike) > 1:
        label = (
            "looks like the same customer" if c.score >= g.s.link_threshold else "possible match"
        )
        return (
            f"{len(alike)} {SIDE_LABEL[other]} customers look alike "
            f"({', '.join(o.remote.id for o in alike)}); the closest: {c.summary(label)}"
        )
    if c.score < g.s.link_threshold:
        rivals = [
            g.e[side][o]
            for sc, o in g.open_edges(other, best_pos)
            if o != pos and sc >= c.score - margin
        ]
        also = f" (so is {_ids(rivals)})" if rivals else ""
        return f"{_label(best)} is a possible match{also}: {c.summary('possible match')}"
    rivals = [
        g.e[side][o]
        for sc, o in g.open_edges(other, best_pos)
        if o != pos and sc >= c.score - g.s.link_margin
    ]
    if rivals:
        verb = "does" if len(rivals) == 1 else "do"
        return f"{_label(best)} looks like the same customer, but so {verb} {_ids(rivals)}"
    return f"{_label(best)} looks like the same customer, but is itself parked"
