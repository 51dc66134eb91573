"""Property tests: the guarantees that keep the sync from writing in circles."""

import datetime as dt
from functools import partial

from hypothesis import assume, example, given
from hypothesis import strategies as st

from reconciler.domain.models import Customer, Remote, Unit
from rules.carry import carry_problem, carry_value
from rules.diff import merge
from rules.fingerprints import fingerprints
from rules.merge_result import MergeResult
from rules.normalize import (
    DEFAULT_REGION,
    normalize_country,
    normalize_customer,
    normalize_phone,
    normalize_unit,
)
from rules.policies import RULES, RuleSet
from rules.units import unit_key

FIELDS = list(Customer.model_fields)
SIDES = ("kleanapp", "sevdesk")
UTC = dt.UTC

# --- strategies -------------------------------------------------------------

# Small pools of realistic, messily formatted values, so that equal and
# "equal after normalisation" values collide often and every diff branch is hit.
POOLS = {
    "customer_number": ["1001", " 1001 ", "1002", "K-7", None, ""],
    "company_name": ["Putz GmbH", " Putz  GmbH", "Glanz AG", None, ""],
    "first_name": ["Anna", "anna", " Anna", None],
    "last_name": ["Müller", "Mu\u0308ller", "Schmidt", None],
    "email": ["info@putz.de", "Info@Putz.DE", "neu@putz.de", "x y@z.de", None, " "],
    "phone": [
        "030 1234567",
        "+49 30 1234567",
        "0171 1234567",
        "030 1075011",
        "12345",
        "bitte anrufen",
        None,
        "",
    ],
    "mobile": ["0171 1234567", "+491711234567", "0664 1234567", None],
    "street": ["Hauptstr. 1", "Hauptstr.  1", "c/o Praxis Ott\nHauptstr. 1", "Ring 5", None],
    "postal_code": ["10115", " 10115", "1010", None],
    "city": ["Berlin", "Berlin ", "Potsdam", "Wien", None],
    "country": ["DE", "de", "Deutschland", "AT", "Österreich", "FR", "NL", None, "", "Atlantis"],
    "vat_id": ["DE123456789", "de 123 456 789", "ATU12345678", None],
    "note": ["Schlüssel\r\nbeim Nachbarn ", "Schlüssel\nbeim Nachbarn", "", None],
}


def field_values(name):
    if name == "kind":
        return st.sampled_from(["company", "person"])
    if name == "archived":
        return st.booleans()
    return st.sampled_from(POOLS[name])


customers = st.fixed_dictionaries({name: field_values(name) for name in FIELDS}).map(
    lambda d: Customer(**d)
)


#: A random subset of fields with new values (an edit one side makes).
edits = st.fixed_dictionaries({}, optional={name: field_values(name) for name in FIELDS})


messy_text = st.one_of(st.none(), st.text(max_size=30), st.from_regex(r"\s*\+?[0-9 ()/.-]{0,20}"))
wild_customers = st.builds(
    Customer,
    **{
        name: messy_text
        for name in FIELDS
        if name not in ("kind", "archived", "country", "phone", "mobile")
    },
    country=st.one_of(st.sampled_from(POOLS["country"] + ["at", "U.K.", "usa"]), messy_text),
    phone=st.one_of(st.sampled_from(POOLS["phone"]), messy_text),
    mobile=st.one_of(st.sampled_from(POOLS["mobile"]), messy_text),
    archived=st.booleans(),
)

times = st.one_of(
    st.none(),
    st.sampled_from([dt.datetime(2026, 11, 24, h, tzinfo=UTC) for h in (8, 9, 10)]),
)
rule_names = st.sampled_from(sorted(RULES))
rulesets = st.builds(
    RuleSet, rule_names, st.dictionaries(st.sampled_from(FIELDS), rule_names, max_size=4)
)


def region_of(c: Customer) -> str:
    return normalize_country(c.country) or DEFAULT_REGION


def run(base, k, s, rules, k_time=None, s_time=None, seen=None) -> MergeResult[Customer]:
    return merge(
        base,
        Remote[Customer](side="kleanapp", id="k", updated_at=k_time, record=k),
        Remote[Customer](side="sevdesk", id="s", updated_at=s_time, record=s),
        rules,
        key="c1",
        seen=seen,
    )


def written(record: Customer, writes: dict) -> Customer:
    """What a side holds once ``writes`` were written to it."""
    return record.model_copy(update=writes)


def apply(r: MergeResult, k: Customer, s: Customer) -> tuple[Customer, Customer]:
    """Both sides after the engine carried out ``r`` (changes and re-formats)."""
    fixes = {side: {f.field: f.value for f in r.reformats if f.side == side} for side in SIDES}
    return (
        written(k, {**r.to_kleanapp, **fixes["kleanapp"]}),
        written(s, {**r.to_sevdesk, **fixes["sevdesk"]}),
    )


def agreed(k: Customer, s: Customer):
    """The engine's state once a first sync linked sides holding ``k`` and ``s``.

    As the engine builds it: the merge's ``merged`` is the base and its
    ``seen_after`` the fingerprints, the first link's writes carried out.
    Returns (base, seen, what KleanApp holds, what sevDesk holds).
    """
    r = run(None, k, s, RuleSet("kleanapp-authoritative"))
    k2, s2 = apply(r, k, s)
    if r.merged is None:  # a value that cannot be carried: no base yet
        return None, None, k2, s2
    return r.merged, r.seen_after, k2, s2


# --- normalisation ----------------------------------------------------------


@given(wild_customers)
def test_normalize_customer_is_idempotent(c):
    once = normalize_customer(c)
    assert normalize_customer(once) == once


@given(st.text(), st.sampled_from(["DE", "AT", "CH", "US", "XX", None]))
def test_normalize_phone_is_idempotent_and_never_loses_a_number(raw, region):
    once = normalize_phone(raw, region)
    assert normalize_phone(once, region) == once
    if raw.strip():
        assert once is not None


@given(st.text())
def test_normalize_unit_and_unit_key_are_idempotent(name):
    once = normalize_unit(Unit(name=name))
    assert normalize_unit(once) == once
    assert unit_key(unit_key(name)) == unit_key(name)


# --- three-way diff ---------------------------------------------------------
#
# The cases each pinned below, from issue 12 and 14:
DE_MOBILE = Customer(customer_number="1001", country="DE", mobile="+491711234567")
NATIONAL_MOBILE = Customer(customer_number="1001", country="DE", mobile="0171 1234567")
MOVE_AND_RETYPE = {"country": "AT", "mobile": "0171 1234567"}
FR_CUSTOMER = Customer(customer_number="1001", country="FR", phone="01 23 45 67 89")
SILENT = [
    {"street": "c/o Praxis Ott\nHauptstr. 1"},
    {"email": "x y@z.de"},
    {"phone": "030 1075011"},
]
LWW = RuleSet("last-write-wins")


@given(customers, customers, rulesets, times, times)
@example(DE_MOBILE, DE_MOBILE.model_copy(update=MOVE_AND_RETYPE), LWW, None, None)
@example(FR_CUSTOMER, FR_CUSTOMER.model_copy(update=SILENT[2]), LWW, None, None)
def test_identical_sides_need_no_writes_and_have_no_conflicts(seed, c, rules, k_time, s_time):
    base, seen, _, _ = agreed(seed, seed)
    r = run(base, c, c, rules, k_time, s_time, seen)
    assert r.to_kleanapp == {} and r.to_sevdesk == {} and r.conflicts == ()
    assert r.reformats == () and r.held == ()
    if base is not None:
        assert r.merged == normalize_customer(c)


def expected_change(base, seed, changed):
    """What a one-sided edit of ``seed`` into ``changed`` must write, and hold back.

    A field is changed when its raw value differs from what the side held at
    the base *and* it reads differently from the base (a retyped spelling of
    the same value is no edit); it is written when the other side reads
    differently, as typed, unless it cannot be carried without changing its
    meaning (then it is held back).
    """
    norm = partial(normalize_customer, phone_region=region_of(changed))
    nb, nc, ns = norm(base).model_dump(), norm(changed).model_dump(), norm(seed).model_dump()
    meant = [
        f
        for f in FIELDS
        if getattr(changed, f) != getattr(seed, f) and nc[f] != nb[f] and nc[f] != ns[f]
    ]
    carried = {f: carry_value(f, getattr(changed, f)) for f in meant}
    held = {f for f, v in carried.items() if carry_problem(f, v)}
    return {f: v for f, v in carried.items() if f not in held}, held


@given(customers, edits, rulesets, times, times)
@example(DE_MOBILE, MOVE_AND_RETYPE, LWW, None, None)
@example(NATIONAL_MOBILE, {"country": "AT"}, LWW, None, None)
@example(FR_CUSTOMER, SILENT[0], LWW, None, None)
@example(FR_CUSTOMER, SILENT[1], LWW, None, None)
@example(FR_CUSTOMER, SILENT[2], LWW, None, None)
@example(DE_MOBILE, {"email": None}, LWW, None, None)
@example(DE_MOBILE, {"customer_number": "1002"}, LWW, None, None)
def test_a_one_sided_change_always_lands_on_the_other_side(seed, edit, rules, k_time, s_time):
    base, seen, seed_k, seed_s = agreed(seed, seed)
    assume(base is not None and seed_k == seed_s)
    changed = written(seed, edit)
    expected, held = expected_change(base, seed, changed)

    for mine, theirs in (("kleanapp", "sevdesk"), ("sevdesk", "kleanapp")):
        k, s = (changed, seed) if mine == "kleanapp" else (seed, changed)
        r = run(base, k, s, rules, k_time, s_time, seen)
        assert (r.writes_for(theirs), r.writes_for(mine), r.conflicts) == (expected, {}, ())
        assert {h.field for h in r.held} == held and all(h.side == mine for h in r.held)
        # Nothing the edit did is written back onto the side that made it; a
        # re-format only ever concerns the side that did not edit the field.
        assert all(f.side == theirs and f.field not in expected for f in r.reformats)


MIRROR_RULE = {"kleanapp-authoritative": "sevdesk-authoritative"}
MIRROR_RULE |= {v: k for k, v in MIRROR_RULE.items()}
MIRROR_SIDE = {"kleanapp": "sevdesk", "sevdesk": "kleanapp", "manual": "manual"}


def mirrored(seen):
    return None if seen is None else {"kleanapp": seen["sevdesk"], "sevdesk": seen["kleanapp"]}


@given(customers, customers, edits, edits, rulesets, times, times)
@example(DE_MOBILE, DE_MOBILE, MOVE_AND_RETYPE, {}, LWW, None, None)
@example(NATIONAL_MOBILE, DE_MOBILE, {"country": "AT"}, {}, LWW, None, None)
def test_swapping_sides_mirrors_the_result(seed, other, k_edit, s_edit, rules, k_time, s_time):
    used = {rules.default, *rules.fields.values()}
    if "last-write-wins" in used:
        # Ties and missing times fall back to KleanApp on purpose: not symmetric.
        assume(k_time is not None and s_time is not None and k_time != s_time)
    mirror = RuleSet(
        MIRROR_RULE.get(rules.default, rules.default),
        {f: MIRROR_RULE.get(n, n) for f, n in rules.fields.items()},
    )
    # Agreed with the sides typed differently (``other`` where it means the same).
    same = normalize_customer(seed).model_dump()
    variant = written(
        seed,
        {f: getattr(other, f) for f in FIELDS if getattr(normalize_customer(other), f) == same[f]},
    )
    base, seen, seed_k, seed_s = agreed(seed, variant)
    k, s = written(seed_k, k_edit), written(seed_s, s_edit)

    r = run(base, k, s, rules, k_time, s_time, seen)
    m = run(base, s, k, mirror, s_time, k_time, mirrored(seen))

    assert (m.to_kleanapp, m.to_sevdesk, m.merged) == (r.to_sevdesk, r.to_kleanapp, r.merged)
    assert m.seen_after == mirrored(r.seen_after)
    assert [
        (c.field, c.base, c.sevdesk, c.kleanapp, MIRROR_SIDE[c.decision]) for c in m.conflicts
    ] == [(c.field, c.base, c.kleanapp, c.sevdesk, c.decision) for c in r.conflicts]
    assert sorted((MIRROR_SIDE[f.side], f.field, f.value) for f in m.reformats) == sorted(
        (f.side, f.field, f.value) for f in r.reformats
    )


@given(customers, customers, edits, edits, rulesets, times, times)
@example(DE_MOBILE, DE_MOBILE, MOVE_AND_RETYPE, MOVE_AND_RETYPE, LWW, None, None)
@example(DE_MOBILE, DE_MOBILE, MOVE_AND_RETYPE, {}, LWW, None, None)
@example(NATIONAL_MOBILE, DE_MOBILE, {"country": "AT"}, {}, LWW, None, None)
@example(FR_CUSTOMER, FR_CUSTOMER, SILENT[2], {}, LWW, None, None)
@example(FR_CUSTOMER, FR_CUSTOMER, {}, SILENT[1], LWW, None, None)
@example(FR_CUSTOMER, FR_CUSTOMER, SILENT[0], {"street": "Ring 5"}, RuleSet("manual"), None, None)
def test_applying_the_writes_converges_without_ping_pong(
    seed, other, k_edit, s_edit, rules, k_time, s_time
):
    same = normalize_customer(seed).model_dump()
    variant = written(
        seed,
        {f: getattr(other, f) for f in FIELDS if getattr(normalize_customer(other), f) == same[f]},
    )
    base, seen, seed_k, seed_s = agreed(seed, variant)
    k, s = written(seed_k, k_edit), written(seed_s, s_edit)

    r = run(base, k, s, rules, k_time, s_time, seen)
    # What the engine does: write the values and re-formats; each side then holds them.
    k2, s2 = apply(r, k, s)
    manual = {c.field for c in r.manual_conflicts}
    held = {h.field for h in r.held}
    assert not manual & (r.to_kleanapp.keys() | r.to_sevdesk.keys())
    assert not held & (r.to_kleanapp.keys() | r.to_sevdesk.keys())
    for side, writes in (("kleanapp", r.to_kleanapp), ("sevdesk", r.to_sevdesk)):
        for name, value in writes.items():  # as typed at the source, never re-read
            source = s if side == "kleanapp" else k
            assert value == carry_value(name, getattr(source, name))

    if r.merged is not None:
        norm = partial(normalize_customer, phone_region=region_of(r.merged))
        assert norm(r.merged) == r.merged
        nk2, ns2 = norm(k2), norm(s2)
        for f in FIELDS:
            if f in manual or (f in held and base is not None):
                assert getattr(r.merged, f) == getattr(norm(base), f)
            elif f not in held and getattr(nk2, f) == getattr(ns2, f):
                assert getattr(nk2, f) == getattr(r.merged, f)
        # Both sides agree wherever the engine could make them agree.
        differing = {f for f in FIELDS if getattr(nk2, f) != getattr(ns2, f)}
        assert differing <= manual | held

    # The next run, with the new base and fingerprints, has nothing left to write.
    again = run(r.merged, k2, s2, rules, k_time, s_time, r.seen_after if r.merged else None)
    assert again.to_kleanapp == {} and again.to_sevdesk == {} and again.reformats == ()
    if r.merged is not None:
        assert {c.field for c in again.conflicts} == manual
        assert all(c.is_manual for c in again.conflicts)
        assert again.merged == r.merged
        assert {h.field for h in again.held} == held


def test_the_engine_base_of_identical_sides_is_their_normalised_record():
    seed = Customer(customer_number=" 1001 ", phone="030 1234567", note="a\r\nb ")
    base, seen, k, s = agreed(seed, seed)
    assert base == normalize_customer(seed) and k == s == seed
    assert seen == {"kleanapp": fingerprints(seed), "sevdesk": fingerprints(seed)}
