"""Matching evidence as an admin reads it: who each record is, and why it is (not) a match.

A parked match is only decidable if the admin sees both records side by
side (name, address, e-mail, phone, customer number) with the per-field
evidence, not two bare ids. The planner stores these plain dicts in the
plan (``ParkedItem.details``/``evidence``), so ``sync --json``, the run
history, the reports, ``conflicts show P…`` and ``doctor`` all show the same
thing without reading either system again.
"""

from __future__ import annotations

from typing import Any

from reconciler.domain.i18n import N_, _, using
from reconciler.domain.models import SIDE_LABEL, Customer, Remote
from rules.matching import Candidate, Comparison

__all__ = ["candidate_dict", "evidence_lines", "facts_line", "record_facts"]


def _join(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def record_facts(remote: Remote[Customer]) -> dict[str, Any]:
    """What identifies a customer to a person, as one side holds it."""
    c = remote.record
    address = ", ".join(p for p in (_join(c.street), _join(c.postal_code, c.city)) if p)
    phones = ", ".join(p for p in (c.phone, c.mobile) if p)
    return {
        "side": remote.side,
        "id": remote.id,
        "record": f"{remote.side}:{remote.id}",
        "name": c.display_name,
        "kind": c.kind,
        "address": address or None,
        "email": c.email,
        "phone": phones or None,
        "customer_number": c.customer_number,
        "vat_id": c.vat_id,
        "archived": c.archived,
    }


def comparison_dict(evidence: Comparison, decision: str) -> dict[str, Any]:
    return {
        "score": round(evidence.score, 2),
        "decision": decision,
        "veto": evidence.veto,
        "fields": [f.as_dict() for f in evidence.fields],
        "summary": evidence.summary(decision),
    }


def candidate_dict(candidate: Candidate) -> dict[str, Any]:
    """One candidate of a parked record: its facts plus the evidence for it."""
    facts = record_facts(candidate.record)
    return {**facts, **comparison_dict(candidate.evidence, candidate.decision)}


def facts_line(facts: dict[str, Any]) -> str:
    """Name; address; e-mail; phone; customer number; VAT ID, in the current language."""
    parts = [facts.get("name") or _("(no name)")]
    for label, key in (
        ("", "address"),
        (N_("e-mail"), "email"),
        (N_("phone"), "phone"),
        (N_("no."), "customer_number"),
        (N_("VAT"), "vat_id"),
    ):
        if facts.get(key):
            parts.append(f"{_(label)} {facts[key]}" if label else str(facts[key]))
    if facts.get("archived"):
        parts.append(_("archived"))
    return "; ".join(parts)


def evidence_lines(details: dict[str, Any] | None, evidence: list[dict[str, Any]]) -> list[str]:
    """The parked record and each candidate with its evidence, as indented text lines.

    For the command line (``conflicts show``, ``doctor``), which speaks
    English until its own messages are in the catalogue (issue 17, a later
    step): the words are messages already, so then only ``using`` goes. The
    ids stay: ``conflicts link P1 --with sevdesk:100002`` needs them.
    """
    with using("en"):
        lines: list[str] = []
        if details:
            side = SIDE_LABEL.get(details.get("side", ""), details.get("side", ""))
            facts = facts_line(details)
            lines.append(
                "  "
                + _(
                    "this record (%(side)s %(id)s): %(facts)s",
                    side=side,
                    id=details.get("id"),
                    facts=facts,
                )
            )
        for cand in evidence:
            side = SIDE_LABEL.get(cand.get("side", ""), cand.get("side", ""))
            lines.append(
                "  "
                + _(
                    "candidate %(record)s (%(side)s): %(facts)s",
                    record=cand.get("record"),
                    side=side,
                    facts=facts_line(cand),
                )
            )
            lines.append("    " + _("evidence: %(summary)s", summary=cand.get("summary")))
        return lines
