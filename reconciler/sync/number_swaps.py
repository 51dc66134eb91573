"""Customer numbers swapped, or passed along, between customers of one side.

KleanApp keeps customer numbers unique, so when two customers swap numbers in
sevDesk, renaming the first one in KleanApp hits 409 against the second, not
yet renamed one, on every run. The planner therefore orders such renames: a
rename that frees a number goes before the one that takes it, and a cycle (a
swap) is broken by first giving one of its customers a temporary number.

A rename that waits for another names it (``Action.after``): when the one
it waits for does not go through (someone edited that customer meanwhile),
it is not sent either, and the next run plans both again; sent anyway it
would be refused as "already taken" and parked as waiting for a fix that
its own record can never bring.

The temporary number is recognisable (:func:`temporary_number` of the number
the link agreed on), so a run that crashes between the two halves resumes:
the next run reads the temporary number as the customer's old one, plans the
swap again and finishes it; each half is a journaled write like any other.
"""

from __future__ import annotations

from typing import Any

from reconciler.domain.models import Customer, Remote
from reconciler.sync.plan_model import Action, PairPlan

#: Numbers are unique on this side (sevDesk does not enforce it, KleanApp does).
UNIQUE_SIDE = "kleanapp"
TEMP_SUFFIX = "~swap"
#: KleanApp's customer_number maxLength.
MAX_NUMBER = 32

__all__ = ["holds_temporary_number", "order_number_renames", "temporary_number", "unswapped"]


def temporary_number(number: str) -> str:
    """The temporary number a customer numbered ``number`` holds during a swap."""
    return f"{number[: MAX_NUMBER - len(TEMP_SUFFIX)]}{TEMP_SUFFIX}"


def unswapped(k: Remote[Customer], base: dict[str, Any] | None) -> tuple[Remote[Customer], bool]:
    """The KleanApp record with our temporary number read as the agreed one.

    Returns the record and whether it held a temporary number (which must
    then be replaced even if nothing else changed).
    """
    if holds_temporary_number(k.record.customer_number, base):
        number = (base or {})["customer_number"]
        record = k.record.model_copy(update={"customer_number": number})
        return k.model_copy(update={"record": record}), True
    return k, False


def holds_temporary_number(number: str | None, base: dict[str, Any] | None) -> bool:
    """Whether a KleanApp customer numbered ``number`` holds our temporary number (mid-swap)."""
    if not number or not number.endswith(TEMP_SUFFIX):
        return False  # the common case, without building the temporary number
    agreed = (base or {}).get("customer_number")
    return bool(agreed and number == temporary_number(agreed))


def _rename(pair: PairPlan) -> Action | None:
    for action in pair.actions:
        if (
            action.side == UNIQUE_SIDE
            and action.op == "update"
            and not action.number_from_create
            and action.fields.get("customer_number")
        ):
            return action
    return None


def order_number_renames(pairs: list[PairPlan], current: dict[str, str | None]) -> list[PairPlan]:
    """``pairs`` reordered so that no rename takes a number another rename still holds.

    ``current`` maps a KleanApp record id to the number it holds now. Renames
    form chains and cycles (each number is held by one record); a chain is
    applied from its free end, a cycle after one temporary rename.
    """
    renames: dict[int, tuple[Action, str | None, str]] = {}
    for i, pair in enumerate(pairs):
        action = _rename(pair)
        if action is not None and action.target_id is not None:
            renames[i] = (action, current.get(action.target_id), action.fields["customer_number"])
    if len(renames) < 2:
        return pairs
    holder = {old: i for i, (_a, old, _new) in renames.items() if old}
    waits = {
        i: holder[new] for i, (_a, _old, new) in renames.items() if holder.get(new) not in (None, i)
    }
    after = {i: renames[held_by][0].id for i, held_by in waits.items()}
    preludes: list[PairPlan] = []
    for start in sorted(waits):
        seen, node = [start], waits.get(start)
        while node is not None and node not in seen:
            seen.append(node)
            node = waits.get(node)
        if node != start or start != min(seen):
            continue  # not a cycle, or found already from its smallest member
        action, old, new = renames[start]
        preludes.append(_temporary(pairs[start], action, old, new))
        for waiting, held_by in list(waits.items()):
            if held_by == start:  # its number is free once the temporary one is set
                del waits[waiting]
                after[waiting] = preludes[-1].actions[0].id
    ordered: list[PairPlan] = []
    placed: set[int] = set()

    def place(i: int) -> None:
        if i in placed:
            return
        placed.add(i)
        if i in waits:
            place(waits[i])
        ordered.append(_waiting(pairs[i], renames[i][0], after[i]) if i in after else pairs[i])

    for i in range(len(pairs)):
        place(i)
    return preludes + ordered


def _waiting(pair: PairPlan, rename: Action, after: str) -> PairPlan:
    """``pair`` with its rename marked as waiting for the action ``after``."""
    actions = tuple(
        a.model_copy(update={"after": after}) if a is rename else a for a in pair.actions
    )
    return pair.model_copy(update={"actions": actions})


def _temporary(pair: PairPlan, action: Action, old: str | None, new: str) -> PairPlan:
    temp = temporary_number(old or new)
    return PairPlan(
        entity=pair.entity,
        key=pair.key,
        link_id=pair.link_id,
        kleanapp_id=pair.kleanapp_id,
        sevdesk_id=pair.sevdesk_id,
        actions=(
            action.model_copy(
                update={
                    "fields": {"customer_number": temp},
                    "reason": f"temporary number, so that {old} can become {new}: customer "
                    "numbers are swapped",
                    "step": "temporary-number",
                }
            ),
        ),
        link_untouched=True,
    )
