"""What first-sync matching decides, as frozen data: links, parked records, near misses.

Every decision carries its evidence (``rules.match_score.Comparison``), so
the plan, the reports and ``kleansync conflicts show`` can say *why* two
records are one customer, might be, or are not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from reconciler.domain.models import Customer, Remote, Side
from rules.match_score import Comparison

__all__ = ["Candidate", "Match", "MatchResult", "NearMiss", "ParkedMatch"]


@dataclass(frozen=True)
class Match:
    """A counterpart found; link the two and diff them with an empty base."""

    kleanapp: Remote[Customer]
    sevdesk: Remote[Customer]
    evidence: Comparison

    @property
    def summary(self) -> str:
        return self.evidence.summary("linked")


@dataclass(frozen=True)
class Candidate:
    """One possible counterpart of a parked record, with the evidence for it."""

    record: Remote[Customer]
    evidence: Comparison
    decision: str

    @property
    def summary(self) -> str:
        return self.evidence.summary(self.decision)


@dataclass(frozen=True)
class ParkedMatch:
    """A record nothing may happen to until an admin decides.

    ``candidates`` are the other side's records it might be (possibly none,
    e.g. for a customer-number clash), best first; ``evidence`` holds the
    comparison with each; ``reason`` is the sentence for the report.
    """

    side: Side
    record: Remote[Customer]
    candidates: tuple[Remote[Customer], ...]
    reason: str
    evidence: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class NearMiss:
    """An unmatched record's most similar record on the other side, and why it is not it."""

    side: Side
    record: Remote[Customer]
    other: Remote[Customer]
    evidence: Comparison

    @property
    def summary(self) -> str:
        return self.evidence.summary("different customers")


@dataclass(frozen=True)
class MatchResult:
    """Every input record lands in exactly one of matches, parked, unmatched."""

    matches: tuple[Match, ...]
    parked: tuple[ParkedMatch, ...]
    unmatched_kleanapp: tuple[Remote[Customer], ...]
    unmatched_sevdesk: tuple[Remote[Customer], ...]
    #: For unmatched records that resemble one of the other side: why they are not it.
    near_misses: tuple[NearMiss, ...] = ()

    def unmatched(self, side: Side) -> tuple[Remote[Customer], ...]:
        return self.unmatched_kleanapp if side == "kleanapp" else self.unmatched_sevdesk

    def creatable(self, side: Side) -> tuple[Remote[Customer], ...]:
        """Records of ``side`` to create on the other side: unmatched and not archived."""
        return tuple(r for r in self.unmatched(side) if not r.record.archived)

    @functools.cached_property
    def _near_index(self) -> dict[tuple[Side, str], NearMiss]:
        index: dict[tuple[Side, str], NearMiss] = {}
        for n in self.near_misses:
            index.setdefault((n.side, n.record.id), n)
        return index

    def near_miss(self, side: Side, record_id: str) -> NearMiss | None:
        """The near miss of one record, by id (a run asks for each record it creates)."""
        return self._near_index.get((side, record_id))
