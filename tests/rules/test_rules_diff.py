"""Three-way merge: one-sided edits propagate, real conflicts follow the rule."""

import datetime as dt

import pytest

from reconciler.domain.models import Customer, Remote, Unit
from rules.diff import merge, merge_records
from rules.fingerprints import fingerprint, fingerprints, settle_written
from rules.policies import RuleSet

T09 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
T10 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
LWW = RuleSet("last-write-wins")
MANUAL = RuleSet("manual")

BASE = Customer(
    customer_number="1001",
    company_name="Putz GmbH",
    email="info@putz.de",
    phone="+49301234567",
    city="Berlin",
)


def remote(side, record, updated_at=None):
    return Remote[Customer](side=side, id="1", updated_at=updated_at, record=record)


def run(base, k, s, rules=LWW, k_time=T09, s_time=T10):
    return merge(
        base, remote("kleanapp", k, k_time), remote("sevdesk", s, s_time), rules, key="1001"
    )


def test_nothing_changed_means_nothing_to_do():
    r = run(BASE, BASE, BASE)
    assert (r.to_kleanapp, r.to_sevdesk, r.conflicts) == ({}, {}, ())
    assert r.merged == BASE
    assert not r.has_writes


def test_formatting_differences_alone_cause_no_writes():
    k = BASE.model_copy(update={"phone": "030 123 4567", "email": "Info@Putz.DE", "country": "de"})
    s = BASE.model_copy(update={"phone": "+49 (0)30 1234567", "city": " Berlin ", "note": ""})
    r = run(BASE, k, s)
    assert not r.has_writes and not r.conflicts


def test_change_on_one_side_goes_to_the_other():
    r = run(BASE, BASE.model_copy(update={"email": "neu@putz.de"}), BASE)
    assert r.to_sevdesk == {"email": "neu@putz.de"}
    assert r.to_kleanapp == {}
    assert r.merged.email == "neu@putz.de"

    r = run(BASE, BASE, BASE.model_copy(update={"city": "Potsdam"}))
    assert r.to_kleanapp == {"city": "Potsdam"}
    assert r.to_sevdesk == {}


def test_written_values_are_as_typed_and_the_base_is_normalised():
    r = run(BASE, BASE.model_copy(update={"phone": "030 9999999"}), BASE)
    assert r.to_sevdesk == {"phone": "030 9999999"}
    assert r.merged.phone == "+49309999999"


def test_different_fields_changed_on_both_sides_are_both_kept():
    k = BASE.model_copy(update={"email": "neu@putz.de"})
    s = BASE.model_copy(update={"city": "Potsdam"})
    r = run(BASE, k, s)
    assert r.to_sevdesk == {"email": "neu@putz.de"}
    assert r.to_kleanapp == {"city": "Potsdam"}
    assert r.conflicts == ()
    assert (r.merged.email, r.merged.city) == ("neu@putz.de", "Potsdam")


def test_same_change_on_both_sides_is_no_conflict_and_no_write():
    changed = BASE.model_copy(update={"city": "Potsdam"})
    r = run(BASE, changed, changed.model_copy(update={"city": "  Potsdam"}))
    assert not r.has_writes and not r.conflicts
    assert r.merged.city == "Potsdam"


def test_conflict_last_write_wins_sevdesk_later():
    r = run(
        BASE,
        BASE.model_copy(update={"city": "Potsdam"}),
        BASE.model_copy(update={"city": "Hamburg"}),
        k_time=T09,
        s_time=T10,
    )
    assert r.to_kleanapp == {"city": "Hamburg"}
    assert r.to_sevdesk == {}
    assert r.merged.city == "Hamburg"
    (c,) = r.conflicts
    assert (c.entity, c.key, c.field) == ("customer", "1001", "city")
    assert (c.base, c.kleanapp, c.sevdesk) == ("Berlin", "Potsdam", "Hamburg")
    assert (c.rule, c.decision) == ("last-write-wins", "sevdesk")
    assert c.reason == "sevDesk changed it later (2026-11-24 10:00 UTC vs 09:00 UTC)"
    assert c.winning_value == "Hamburg"


def test_conflict_rule_is_chosen_per_field():
    rules = RuleSet("last-write-wins", {"city": "kleanapp-authoritative"})
    k = BASE.model_copy(update={"city": "Potsdam", "email": "k@putz.de"})
    s = BASE.model_copy(update={"city": "Hamburg", "email": "s@putz.de"})
    r = run(BASE, k, s, rules)
    assert r.to_sevdesk == {"city": "Potsdam"}
    assert r.to_kleanapp == {"email": "s@putz.de"}
    assert {c.field: c.rule for c in r.conflicts} == {
        "email": "last-write-wins",
        "city": "kleanapp-authoritative",
    }


def test_manual_conflict_touches_neither_side_and_keeps_the_base():
    k = BASE.model_copy(update={"city": "Potsdam", "email": "neu@putz.de"})
    s = BASE.model_copy(update={"city": "Hamburg"})
    r = run(BASE, k, s, MANUAL)
    assert r.to_kleanapp == {}
    assert r.to_sevdesk == {"email": "neu@putz.de"}  # non-conflicting change still flows
    assert r.merged.city == "Berlin"
    assert [c.field for c in r.manual_conflicts] == ["city"]
    assert r.manual_conflicts[0].winning_value == "Berlin"


def test_manual_conflict_reappears_next_run_until_resolved():
    k = BASE.model_copy(update={"city": "Potsdam"})
    s = BASE.model_copy(update={"city": "Hamburg"})
    first = run(BASE, k, s, MANUAL)
    second = run(first.merged, k, s, MANUAL)
    assert [c.field for c in second.manual_conflicts] == ["city"]
    # resolved by a human in sevDesk: both now agree, nothing left to do
    resolved = run(second.merged, k, k, MANUAL)
    assert not resolved.conflicts and not resolved.has_writes
    assert resolved.merged.city == "Potsdam"


def test_first_link_every_difference_is_a_conflict_under_the_rule():
    k = BASE.model_copy(update={"city": "Potsdam"})
    r = run(None, k, BASE, k_time=T10, s_time=T09)
    (c,) = r.conflicts
    assert (c.field, c.base, c.decision) == ("city", None, "kleanapp")
    assert c.reason.startswith("no common base yet (first link); KleanApp changed it later")
    assert r.to_sevdesk == {"city": "Potsdam"}
    assert r.merged == k


def test_first_link_identical_sides_need_nothing():
    r = run(None, BASE, BASE.model_copy(update={"email": "INFO@putz.de"}))
    assert not r.has_writes and not r.conflicts
    assert r.merged == BASE


def test_first_link_manual_conflict_leaves_no_base_to_store():
    k = BASE.model_copy(update={"city": "Potsdam", "email": "neu@putz.de"})
    rules = RuleSet("last-write-wins", {"city": "manual"})
    r = run(None, k, BASE, rules, k_time=T10, s_time=T09)
    assert r.merged is None
    assert r.to_sevdesk == {"email": "neu@putz.de"}
    assert [c.field for c in r.manual_conflicts] == ["city"]


def test_archived_is_merged_like_a_field_and_exposed():
    r = run(BASE, BASE.model_copy(update={"archived": True}), BASE)
    assert r.to_sevdesk == {"archived": True}
    assert r.archived_writes == {"sevdesk": True}
    assert run(BASE, BASE, BASE).archived_writes == {}


def test_swapped_remotes_are_rejected():
    with pytest.raises(ValueError, match="expects"):
        merge(BASE, remote("sevdesk", BASE), remote("kleanapp", BASE), LWW, key="x")


def test_records_of_different_types_are_rejected():
    with pytest.raises(TypeError):
        merge_records(None, BASE, Unit(name="h"), LWW, key="x")


def test_merge_records_works_for_other_entities():
    r = merge_records(Unit(name="Std"), Unit(name="Std"), Unit(name=" Stunden "), LWW, key="u1")
    assert r.entity == "unit"
    assert r.to_kleanapp == {"name": "Stunden"}


def test_writes_for_side():
    r = run(BASE, BASE.model_copy(update={"city": "Potsdam"}), BASE)
    assert r.writes_for("sevdesk") == {"city": "Potsdam"}
    assert r.writes_for("kleanapp") == {}


def test_phone_is_read_in_the_agreed_country_so_a_country_conflict_cannot_ping_pong():
    # "030 1234567" is a Berlin number in DE but not a valid Austrian one: read
    # per side, the same typed number would differ and be rewritten every run.
    rules = RuleSet("kleanapp-authoritative", {"country": "manual"})
    k = Customer(country="AT", phone="030 1234567")
    s = Customer(country="DE", phone="030 1234567")
    first = run(None, k, s, rules)
    assert first.to_kleanapp == {} and first.to_sevdesk == {}
    assert [c.field for c in first.conflicts] == ["country"]
    second = run(first.merged, k, s, rules)
    assert not second.has_writes


def test_country_change_on_one_side_rereads_unchanged_phone_without_a_write():
    base = Customer(country="DE", phone="0664 1234567")
    k = base.model_copy(update={"country": "Österreich"})
    r = run(base, k, base)
    assert r.to_sevdesk == {"country": "AT"}
    assert r.merged.phone == "+436641234567"


# --- per-side fingerprints (issue 12) ----------------------------------------------

DE = Customer(customer_number="1001", country="DE", mobile="+491711234567")


def linked(k, s):
    """Base and fingerprints as the engine stores them after linking ``k`` and ``s``."""
    first = run(None, k, s)
    assert not first.has_writes and not first.conflicts
    return first.merged, first.seen_after


def test_retyping_the_mobile_while_moving_abroad_is_carried_and_never_written_back():
    base, seen = linked(DE, DE.model_copy(update={"mobile": "+49 171 1234567"}))
    k = DE.model_copy(update={"country": "AT", "mobile": "0171 1234567"})
    s = DE.model_copy(update={"mobile": "+49 171 1234567"})
    r = merge(base, remote("kleanapp", k), remote("sevdesk", s), LWW, key="1001", seen=seen)
    assert r.to_kleanapp == {} and r.reformats == () and r.conflicts == ()
    assert r.to_sevdesk == {"country": "AT", "mobile": "0171 1234567"}


def test_both_sides_holding_the_same_move_and_number_need_nothing():
    base, seen = linked(DE, DE)
    both = DE.model_copy(update={"country": "AT", "mobile": "0171 1234567"})
    r = merge(base, remote("kleanapp", both), remote("sevdesk", both), LWW, key="1", seen=seen)
    assert not r.has_writes and r.reformats == () and r.conflicts == ()


def test_an_untouched_national_number_gets_its_international_form_as_a_reformat():
    national = DE.model_copy(update={"mobile": "0171 1234567"})
    base, seen = linked(national, DE)
    k = national.model_copy(update={"country": "AT"})
    r = merge(base, remote("kleanapp", k), remote("sevdesk", DE), LWW, key="1", seen=seen)
    assert r.to_sevdesk == {"country": "AT"} and r.to_kleanapp == {}
    [fix] = r.reformats
    assert (fix.side, fix.field, fix.value) == ("kleanapp", "mobile", "+491711234567")
    assert r.seen_after["kleanapp"]["mobile"] == fingerprint("+491711234567")


def test_a_link_without_fingerprints_compares_by_value_once():
    base = Customer(customer_number="1001", country="DE", mobile="+491711234567")
    k = DE.model_copy(update={"mobile": "0171 1234567", "city": "Potsdam"})
    r = merge(base, remote("kleanapp", k), remote("sevdesk", DE), LWW, key="1", seen=None)
    assert r.to_sevdesk == {"city": "Potsdam"} and r.to_kleanapp == {}
    after_write = DE.model_copy(update={"city": "Potsdam"})
    assert r.seen_after == {"kleanapp": fingerprints(k), "sevdesk": fingerprints(after_write)}


def test_after_a_clear_what_the_side_shows_instead_is_not_an_edit():
    planned = {"email": fingerprint(None), "city": fingerprint("Berlin")}
    shown = Customer(email="buchhaltung@putz.de", city="Berlin")
    settled = settle_written(planned, {"email": None}, shown)
    assert settled["email"] == fingerprint("buchhaltung@putz.de")
    # but a value other than the one written means someone changed it meanwhile
    assert settle_written(planned, {"city": "Potsdam"}, shown)["city"] == planned["city"]
