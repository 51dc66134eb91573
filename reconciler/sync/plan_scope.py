"""A plan cut down to a few KleanApp customers: what the invoice export carries over first.

Why a cut plan and not a smaller snapshot: the invoice export brings an
invoice's customer into sevDesk when it is not linked yet, and it must do so
with the very rules of a sync (matching, parking, conflicts, the journal).
Matching needs every unlinked record of both sides, or the new customer
could be created beside a look-alike that an incremental read did not see;
so the run reads everything (``SyncOptions.only_customers`` makes it full),
plans as usual, and only then keeps what concerns those customers:

* their pairs (create, link, update) and the conflicts and tasks of those pairs;
* parked records that are one of them, or name one of them as a candidate;
* quarantine notes about them.

Everything else (other customers, units, removals) waits for the next
regular sync, which is also why a cut plan carries no cursors and no
complete counts: it must neither move the incremental read past records it
left alone nor let a full read's absences close other records' notes.
"""

from __future__ import annotations

from collections.abc import Collection

from reconciler.sync.plan_model import Plan

#: The trigger of a run that carries an invoice's customers over (run history, counts).
INVOICE_TRIGGER = "invoice"


def scoped(plan: Plan, kleanapp_ids: Collection[str]) -> Plan:
    """``plan`` with only what concerns the KleanApp customers ``kleanapp_ids``."""
    wanted = {str(i) for i in kleanapp_ids}
    as_candidate = {f"kleanapp:{i}" for i in wanted}
    pairs = tuple(
        p for p in plan.pairs if p.entity == "customer" and (p.kleanapp_id or "") in wanted
    )
    keys = {p.key for p in pairs}
    return plan.model_copy(
        update={
            "pairs": pairs,
            "conflicts": tuple(
                c for c in plan.conflicts if c.entity == "customer" and c.key in keys
            ),
            "tasks": tuple(t for t in plan.tasks if t.entity == "customer" and t.key in keys),
            "parked": tuple(
                p
                for p in plan.parked
                if p.entity == "customer"
                and (
                    (p.side == "kleanapp" and p.record_id in wanted)
                    or as_candidate.intersection(p.candidates)
                )
            ),
            "quarantined": tuple(
                q
                for q in plan.quarantined
                if q.entity.lower() == "customer" and q.side == "kleanapp" and q.id in wanted
            ),
            "cursors": {},
            "complete_counts": {},
        }
    )
