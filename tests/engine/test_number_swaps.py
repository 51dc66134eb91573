"""Ordering renames so KleanApp's unique customer numbers never collide mid-plan."""

from __future__ import annotations

from reconciler.domain.models import Customer, Remote
from reconciler.sync.number_swaps import order_number_renames, temporary_number, unswapped
from reconciler.sync.plan_model import Action, PairPlan


def rename(kid: str, new: str) -> PairPlan:
    action = Action(
        entity="customer",
        side="kleanapp",
        op="update",
        key=new,
        target_id=kid,
        fields={"customer_number": new, "city": "Potsdam"},
        expected_version="1",
    )
    return PairPlan(
        entity="customer", key=new, kleanapp_id=kid, sevdesk_id="s" + kid, actions=(action,)
    )


def simulate(pairs: list[PairPlan], numbers: dict[str, str]) -> dict[str, str]:
    """Apply the renames in plan order, refusing a number another record holds (409)."""
    held = dict(numbers)
    for pair in pairs:
        for action in pair.actions:
            new = action.fields["customer_number"]
            others = {n for kid, n in held.items() if kid != action.target_id}
            assert new not in others, f"409: {new} is taken"
            held[action.target_id] = new
    return held


def test_a_swap_goes_through_a_temporary_number():
    numbers = {"a": "K-1", "b": "K-2"}
    pairs = order_number_renames([rename("a", "K-2"), rename("b", "K-1")], numbers)
    assert pairs[0].link_untouched and pairs[0].actions[0].step == "temporary-number"
    assert pairs[0].actions[0].fields == {"customer_number": "K-1~swap"}
    assert simulate(pairs, numbers) == {"a": "K-2", "b": "K-1"}


def test_a_chain_starts_at_its_free_end_and_a_three_cycle_needs_one_temporary():
    chain = {"a": "K-1", "b": "K-2", "c": "K-3"}
    pairs = [rename("a", "K-2"), rename("b", "K-3"), rename("c", "K-9")]
    ordered = order_number_renames(pairs, chain)
    assert len(ordered) == 3 and simulate(ordered, chain) == {"a": "K-2", "b": "K-3", "c": "K-9"}

    ring = {"a": "K-1", "b": "K-2", "c": "K-3"}
    pairs = [rename("a", "K-2"), rename("b", "K-3"), rename("c", "K-1")]
    ordered = order_number_renames(pairs, ring)
    assert sum(p.link_untouched for p in ordered) == 1
    assert simulate(ordered, ring) == {"a": "K-2", "b": "K-3", "c": "K-1"}


def test_a_rename_names_the_one_that_frees_its_number():
    """So the applier leaves it for the next run when that one did not go through."""
    chain = {"a": "K-1", "b": "K-2"}
    first, second = order_number_renames([rename("a", "K-2"), rename("b", "K-9")], chain)
    assert first.kleanapp_id == "b" and first.actions[0].after == ""
    assert second.actions[0].after == first.actions[0].id

    swap = {"a": "K-1", "b": "K-2"}
    temp, b, a = order_number_renames([rename("a", "K-2"), rename("b", "K-1")], swap)
    assert (temp.kleanapp_id, b.kleanapp_id, a.kleanapp_id) == ("a", "b", "a")
    assert b.actions[0].after == temp.actions[0].id  # K-1 is free once a holds K-1~swap
    assert a.actions[0].after == b.actions[0].id


def test_our_temporary_number_reads_as_the_agreed_one():
    k = Remote[Customer](
        side="kleanapp", id="1", record=Customer(customer_number=temporary_number("K-1"))
    )
    back, mid_swap = unswapped(k, {"customer_number": "K-1"})
    assert (back.record.customer_number, mid_swap) == ("K-1", True)
    assert unswapped(k, {"customer_number": "K-2"}) == (k, False)
    assert len(temporary_number("K" * 32)) == 32
