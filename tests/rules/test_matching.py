"""First-sync matching: link true pairs, park the doubtful, create nothing twice."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.domain.models import SIDES, Customer, Remote, Side
from rules.diff import merge_records
from rules.match_keys import split_street
from rules.matching import (
    MatchResult,
    MatchSettings,
    match_customers,
    name_key,
    postal_key,
)
from rules.normalize import normalize_customer_number
from rules.policies import RuleSet


def _load(name: str, path: Path) -> ModuleType:
    """tests/ and bench/ are no packages: load a module by path, once."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _activation_data() -> ModuleType:
    return _load("activation_data", Path(__file__).with_name("activation_data.py"))


def _bench() -> ModuleType:
    return _load("bench_matching", Path(__file__).parents[2] / "bench" / "bench_matching.py")


def k(id_: str, **fields) -> Remote[Customer]:
    return Remote(side="kleanapp", id=id_, record=Customer(**fields))


def s(id_: str, **fields) -> Remote[Customer]:
    return Remote(side="sevdesk", id=id_, record=Customer(**fields))


def pairs(result: MatchResult) -> set[tuple[str, str]]:
    return {(m.kleanapp.id, m.sevdesk.id) for m in result.matches}


def parked(result: MatchResult) -> dict[str, tuple[str, ...]]:
    return {p.record.id: tuple(c.id for c in p.candidates) for p in result.parked}


def reason(result: MatchResult, id_: str) -> str:
    return next(p.reason for p in result.parked if p.record.id == id_)


# --- name_key ------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "Müller GmbH",
        "Mueller GmbH ",
        "MÜLLER gmbh",
        "Mu\u0308ller GmbH",  # decomposed ü, as a Mac types it
        "  Müller   GmbH & Co. KG",
        "Müller GmbH&Co.KG",
        "Müller UG (haftungsbeschränkt)",
        "Müller e.K.",
        "Müller OHG",
        "Müller GbR",
        "Müller AG",
        "Müller KG",
        "Müller",
    ],
)
def test_name_key_folds_case_spacing_umlauts_and_legal_forms(variant):
    assert name_key(Customer(company_name=variant)) == "mueller"


def test_name_key_keeps_what_tells_customers_apart():
    key = name_key(Customer(company_name="Müller Gebäudereinigung GmbH"))
    assert key == "mueller gebaeudereinigung"
    assert name_key(Customer(company_name="Müller Bau GmbH")) != key
    assert name_key(Customer(company_name="Straßenbau Groß")) == "strassenbau gross"
    # A name that is only a legal form is kept rather than matched as "nothing".
    assert name_key(Customer(company_name="GmbH")) == "gmbh"
    assert name_key(Customer(company_name="Müller & Söhne")) == name_key(
        Customer(company_name="Mueller und Soehne OHG")
    )


def test_name_key_of_people_and_of_nameless_records():
    anna = Customer(kind="person", first_name="Anna", last_name="Müller")
    assert name_key(anna) == "anna mueller"
    assert name_key(Customer(kind="person", first_name=" ANNA", last_name="Mueller ")) == (
        "anna mueller"
    )
    # A company without company name falls back to the contact person and vice versa.
    assert name_key(Customer(first_name="Anna", last_name="Müller")) == "anna mueller"
    assert name_key(Customer(kind="person", company_name="Anna Müller")) == "anna mueller"
    assert name_key(Customer()) is None
    assert postal_key(" 101 15 ") == "10115"


# --- the evidence model ------------------------------------------------------------


def summary_of(result: MatchResult, id_: str) -> str:
    """The evidence line shown for a record: its link, its parking or its near miss."""
    for m in result.matches:
        if id_ in (m.kleanapp.id, m.sevdesk.id):
            return m.summary
    for p in result.parked:
        if p.record.id == id_:
            return p.evidence[0].summary if p.evidence else p.reason
    side = "kleanapp" if id_.startswith("k") else "sevdesk"
    near = result.near_miss(side, id_)
    return near.summary if near else ""


def test_a_true_pair_typed_differently_is_linked_with_its_evidence():
    result = match_customers(
        [
            k(
                "k1",
                customer_number="K-00042",
                company_name="Müller Gebäudeservice GmbH",
                street="Hauptstr. 5",
                postal_code="10115",
                email="Info@Mueller-Gebaeudeservice.de",
                phone="030 1234567",
            )
        ],
        [
            s(
                "s1",
                customer_number="1042",
                company_name="Mueller Gebaeudeservice GmbH",
                street="Hauptstraße 5",
                postal_code="10115",
                email="info@mueller-gebaeudeservice.de",
                phone="+49 30 1234567",
            )
        ],
    )
    assert pairs(result) == {("k1", "s1")}
    assert summary_of(result, "k1").startswith(
        "name 1.00, postal code =, street =, house number =, e-mail =, phone =, "
        "customer numbers of different schemes (VAT id missing on one side) → linked"
    )


def test_same_name_in_one_postal_code_with_other_street_email_phone_are_two_customers():
    hotel = {"company_name": "Hotel Adler GmbH", "postal_code": "80331", "city": "München"}
    result = match_customers(
        [k("k1", **hotel, street="Kirchplatz 148b", email="a@adler.de", phone="089 1234567")],
        [s("s1", **hotel, street="Am Markt 84b", email="b@hotel-adler.de", phone="089 7654321")],
    )
    assert result.matches == () and result.parked == ()
    assert [r.id for r in result.creatable("kleanapp")] == ["k1"]
    assert [r.id for r in result.creatable("sevdesk")] == ["s1"]
    assert summary_of(result, "k1").startswith(
        "name 1.00, postal code =, street ≠ (Kirchplatz 148b vs Am Markt 84b), e-mail ≠, "
        "phone ≠ (VAT id, customer number missing on one side) → different customers"
    )


def test_agreeing_name_with_half_the_evidence_missing_is_parked_with_its_evidence():
    result = match_customers(
        [k("k1", company_name="Praxis Dr. Quastenberg", postal_code="50667", email="q@praxis.de")],
        [s("s1", company_name="Praxis Dr. Quastenberg", postal_code="50667", street="Ring 4")],
    )
    assert result.matches == ()
    assert parked(result) == {"k1": ("s1",), "s1": ("k1",)}
    (cand,) = next(p for p in result.parked if p.record.id == "k1").evidence
    assert cand.record.id == "s1" and cand.decision == "possible match"
    assert cand.summary.startswith(
        "name 1.00, postal code = (street, e-mail, phone, VAT id, customer number missing on "
        "one side) → possible match"
    )
    assert reason(result, "k1").startswith("sevDesk customer s1 is a possible match: name 1.00")


def test_disagreement_subtracts_and_an_empty_field_adds_nothing():
    base = {"company_name": "Glanzwerk Reinigung", "postal_code": "10115", "street": "Gartenweg 3"}
    agree = match_customers([k("k1", **base, phone="030 111111")], [s("s1", **base)])
    differ = match_customers(
        [k("k1", **base, phone="030 111111")], [s("s1", **base, phone="030 222222")]
    )
    empty = match_customers([k("k1", **base)], [s("s1", **base)])
    assert agree.matches[0].evidence.score == empty.matches[0].evidence.score
    assert "phone" not in [f.field for f in agree.matches[0].evidence.fields if f.verdict != "-"]
    phone = next(f for f in differ.matches[0].evidence.fields if f.field == "phone")
    assert (phone.verdict, phone.weight < 0) == ("≠", True)
    assert differ.matches[0].evidence.score < empty.matches[0].evidence.score


def test_house_number_is_compared_on_its_own_wherever_it_was_typed():
    base = {"company_name": "Bäckerei Quastenberg", "postal_code": "04109"}
    same = match_customers(
        [k("k1", **base, street="Max-Planck-Straße 5 a")],
        [s("s1", **base, street="5a Max Planck Str.")],
    )
    assert "street =, house number =" in same.matches[0].summary
    moved = match_customers(
        [k("k1", **base, street="Hauptstraße 5")], [s("s1", **base, street="Hauptstr. 7")]
    )
    assert "street =, house number ≠ (Hauptstraße 5 vs Hauptstr. 7)" in summary_of(moved, "k1")
    assert moved.matches == ()


def test_frequent_names_count_less_than_rare_ones():
    def score(name: str, others: list[str]) -> float:
        ks = [k("k1", company_name=name, postal_code="1", street="A 1")] + [
            k(f"k{i + 2}", company_name=o, postal_code=str(i + 10)) for i, o in enumerate(others)
        ]
        found = match_customers(ks, [s("s1", company_name=name, postal_code="1", street="A 1")])
        return found.matches[0].evidence.fields[0].weight

    crowd = [f"Müller {t}" for t in ("Bau", "Logistik", "Praxis", "Kanzlei")] * 30
    assert score("Müller Bau", crowd) < score("Quastenberg & Achterkamp", crowd)


def test_family_members_at_one_address_are_not_linked():
    home = {
        "kind": "person",
        "last_name": "Müller",
        "street": "Lindenallee 7",
        "postal_code": "01067",
        "phone": "0351 123456",
        "email": "familie.mueller@web.de",
    }
    result = match_customers(
        [k("k1", **home, first_name="Anna")], [s("s1", **home, first_name="Peter")]
    )
    assert result.matches == () and result.parked == ()
    assert "first name ≠ (Anna vs Peter)" in summary_of(result, "k1")


def test_two_different_vat_ids_are_never_linked():
    same = {
        "company_name": "Sonnenhof KG",
        "postal_code": "1",
        "street": "Weg 1",
        "email": "a@b.de",
    }
    result = match_customers(
        [k("k1", **same, vat_id="DE111111111")], [s("s1", **same, vat_id="de 222 222 222")]
    )
    assert result.matches == ()
    assert parked(result) == {"k1": ("s1",), "s1": ("k1",)}
    assert reason(result, "k1") == (
        "sevDesk customer s1 looks like the same customer, but their VAT ids differ "
        "(DE111111111 vs DE222222222)"
    )


def test_a_number_another_customer_holds_on_the_other_side_vetoes_the_link():
    same = {
        "company_name": "Sonnenhof KG",
        "postal_code": "1",
        "street": "Weg 1",
        "email": "a@b.de",
    }
    result = match_customers(
        [k("k1", **same, customer_number="K-2")],
        [s("s1", **same, customer_number="K-1")],
        taken_numbers={"sevdesk": {"K-2"}},
    )
    assert result.matches == ()
    assert reason(result, "k1") == (
        "sevDesk customer s1 looks like the same customer, but customer number K-2 is already "
        "used in sevDesk by another customer"
    )


def test_two_equally_good_candidates_park_all_three():
    twin = {"company_name": "Hotel Adler", "postal_code": "1", "street": "Weg 1", "email": "a@b.de"}
    result = match_customers(
        [k("k1", **twin, customer_number="K-1"), k("k2", **twin, customer_number="K-2")],
        [s("s1", **twin)],
    )
    assert result.matches == ()
    assert parked(result) == {"k1": ("s1",), "k2": ("s1",), "s1": ("k1", "k2")}
    assert reason(result, "s1").startswith("2 KleanApp customers look alike (k1, k2)")


def test_a_clear_winner_is_linked_and_the_look_alike_of_a_linked_record_is_parked():
    adler = {"postal_code": "1", "street": "Weg 1", "email": "a@b.de", "phone": "030 123456"}
    result = match_customers(
        [
            k("k1", company_name="Hotel Adler", **adler),
            k("k2", company_name="Hotel Adler Mitte", **adler),
        ],
        [s("s1", company_name="Hotel Adler GmbH", **adler)],
    )
    assert pairs(result) == {("k1", "s1")}
    assert reason(result, "k2").startswith(
        "looks like sevDesk customer s1, which is already linked with KleanApp customer k1"
    )


def test_weights_and_thresholds_come_from_the_settings():
    half = (
        [k("k1", company_name="Quastenberg", postal_code="1")],
        [s("s1", company_name="Quastenberg", postal_code="1")],
    )
    assert match_customers(*half).matches == ()
    lenient = MatchSettings(link_threshold=5, park_threshold=2)
    assert pairs(match_customers(*half, settings=lenient)) == {("k1", "s1")}
    strict = MatchSettings(postal_code=0)
    assert match_customers(*half, settings=strict).parked == ()


# --- customer numbers stay unique on each side -------------------------------------


def test_numbers_match_only_exactly_after_stripping():
    result = match_customers(
        [k("k1", customer_number="K-00042"), k("k2", customer_number="K-7")],
        [s("s1", customer_number="K00042"), s("s2", customer_number="k-7")],
    )
    assert result.matches == ()
    # Both sides keep their own numbers, which are free on the other side.
    assert {r.id for r in result.creatable("kleanapp")} == {"k1", "k2"}
    assert {r.id for r in result.creatable("sevdesk")} == {"s1", "s2"}


def test_a_number_used_twice_on_one_side_is_ambiguous():
    result = match_customers(
        [
            k("k1", customer_number="K-1", email="a@x.de"),
            k("k2", customer_number="K-1 "),
            k("k3", customer_number="K-3", company_name="Quastenberg", email="q@q.de"),
        ],
        [
            s("s1", customer_number="K-1"),
            s("s3", customer_number="K-3", company_name="Quastenberg", email="q@q.de"),
        ],
    )
    assert pairs(result) == {("k3", "s3")}
    assert parked(result) == {"k1": ("s1",), "k2": ("s1",), "s1": ("k1", "k2")}
    assert reason(result, "k1") == "customer number K-1 is also used by KleanApp customer k2"
    assert reason(result, "s1") == "2 KleanApp customers have the customer number K-1"

    # Also without any counterpart: creating both would put K-1 twice into sevDesk.
    alone = match_customers([k("k1", customer_number="K-1"), k("k2", customer_number="K-1")], [])
    assert parked(alone) == {"k1": (), "k2": ()}


def test_a_number_already_used_by_a_linked_record_on_the_same_side_is_ambiguous():
    result = match_customers(
        [k("k1", customer_number="K-1")],
        [s("s1", customer_number="K-1")],
        taken_numbers={"kleanapp": {"K-1"}},
    )
    assert parked(result) == {"k1": ("s1",), "s1": ("k1",)}
    assert reason(result, "k1") == (
        "customer number K-1 is also used by another KleanApp customer that is already linked"
    )


def test_one_number_on_two_different_customers_parks_both_as_candidates():
    result = match_customers(
        [k("k1", customer_number="K-1", company_name="Quastenberg", postal_code="1")],
        [s("s1", customer_number="K-1", company_name="Brinkhaus", postal_code="2")],
    )
    assert parked(result) == {"k1": ("s1",), "s1": ("k1",)}
    assert reason(result, "k1").startswith(
        "sevDesk customer s1 has the same customer number K-1, but the rest says different "
        "customers: name 0."
    )


def test_an_unmatched_record_whose_number_is_taken_is_parked_not_created():
    result = match_customers(
        [
            k("k1", customer_number="K-00042", company_name="Neu GmbH"),
            k("k2", customer_number="K-00043", archived=True),
            k("k3", customer_number="K-00044"),
        ],
        [s("s1", customer_number="1001")],
        taken_numbers={"sevdesk": {"K-00042", "K-00043"}, "kleanapp": {"1001"}},
    )
    assert parked(result) == {"k1": (), "s1": ()}
    assert reason(result, "k1") == (
        "customer number K-00042 is already used in sevDesk by another customer"
    )
    # Archived and unmatched: not created, so its number clashes with nothing.
    assert [r.id for r in result.unmatched_kleanapp] == ["k2", "k3"]
    assert [r.id for r in result.creatable("kleanapp")] == ["k3"]


def test_archived_records_are_linked_but_never_created():
    adler = {"company_name": "Hotel Adler", "postal_code": "1", "street": "Weg 1"}
    result = match_customers(
        [
            k("k1", customer_number="K-1", archived=True, **adler),
            k("k2", customer_number="K-2", archived=True),
        ],
        [s("s1", customer_number="K-1", **adler)],
    )
    assert pairs(result) == {("k1", "s1")}
    assert [r.id for r in result.unmatched_kleanapp] == ["k2"]
    assert result.creatable("kleanapp") == ()


def test_output_follows_input_order():
    ks = [k(f"k{i}", customer_number=f"K-{i}", company_name=f"Firma {i}") for i in (3, 1, 2)]
    ss = [s(f"s{i}", customer_number=f"K-{i}", company_name=f"Firma {i}") for i in (2, 3, 1)]
    result = match_customers(ks, ss)
    assert [m.kleanapp.id for m in result.matches] == ["k3", "k1", "k2"]
    assert result == match_customers(ks, ss)


def test_wrong_side_or_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="passed as kleanapp"):
        match_customers([s("s1")], [])
    with pytest.raises(ValueError, match="appears twice"):
        match_customers([], [s("s1"), s("s1")])


def test_split_street_folds_spelling_and_splits_the_house_number():
    assert split_street("Hauptstr.5") == ("hauptstr", "5")
    assert split_street("5 Hauptstraße") == ("hauptstr", "5")
    assert split_street("Hauptstrasse 5 a") == ("hauptstr", "5a")
    assert split_street("Max-Planck-Str. 12 - 14") == ("maxplanckstr", "12-14")
    assert split_street("Straße des 17. Juni 5") == ("strdes17juni", "5")
    assert split_street("Lindenallee") == ("lindenallee", None)


def test_the_benchmark_generator_is_deterministic_and_labelled():
    """The shipped benchmark at a small size: its labels hold and the goals are met there too."""
    bench = _bench().generate(600, 400, 40, seed=5)
    again = _bench().generate(600, 400, 40, seed=5)
    assert bench.kleanapp == again.kleanapp and bench.truth == again.truth
    assert len(bench.kleanapp) == len(bench.sevdesk) == 600
    assert len(bench.truth) == 400 and len(bench.lookalikes) == 40
    ks, ss = _bench().remotes(bench)
    figures = _bench().evaluate(bench, match_customers(ks, ss), 0.0)
    assert figures.precision >= 0.999 and figures.recall >= 0.95
    assert figures.parked_share <= 0.03 and figures.lookalikes_linked == 0


# --- the activation scenario of the issue -----------------------------------------


def _scenario_remotes(sc) -> tuple[list[Remote[Customer]], list[Remote[Customer]]]:
    ks = [
        Remote(side="kleanapp", id=f"k{i}", record=Customer.model_validate(r))
        for i, r in enumerate(sc.kleanapp)
    ]
    ss = [
        Remote(side="sevdesk", id=f"s{i}", record=Customer.model_validate(r))
        for i, r in enumerate(sc.sevdesk)
    ]
    return ks, ss


def test_activation_links_true_pairs_parks_ambiguous_ones_and_creates_the_rest():
    sc = _activation_data().activation_scenario()
    assert len(sc.kleanapp) == len(sc.sevdesk) == 300
    assert len(sc.pairs) == 250 and len(sc.ambiguous) == 10
    ks, ss = _scenario_remotes(sc)

    result = match_customers(ks, ss)

    got = sorted((int(m.kleanapp.id[1:]), int(m.sevdesk.id[1:])) for m in result.matches)
    assert got == [(i, j) for i, j, _ in sc.pairs]  # every true pair, and no false link
    # Each link carries its evidence; no link rests on a veto or below the threshold.
    assert all(m.evidence.veto is None and m.evidence.score >= 12 for m in result.matches)
    assert {int(p.record.id[1:]) for p in result.parked if p.side == "kleanapp"} == (
        sc.parked_kleanapp
    )
    assert {int(p.record.id[1:]) for p in result.parked if p.side == "sevdesk"} == (
        sc.parked_sevdesk
    )
    for group_k, group_s in sc.ambiguous:  # each parked record lists its group's other side
        for i in group_k:
            assert sorted(parked(result)[f"k{i}"]) == sorted(f"s{j}" for j in group_s)
        for j in group_s:
            assert sorted(parked(result)[f"s{j}"]) == sorted(f"k{i}" for i in group_k)
    # The look-alikes (same name, same postal code, other street) are explained, not merged.
    assert any("street ≠" in n.summary for n in result.near_misses)
    assert [int(r.id[1:]) for r in result.unmatched_kleanapp] == list(sc.unmatched_kleanapp)
    assert [int(r.id[1:]) for r in result.unmatched_sevdesk] == list(sc.unmatched_sevdesk)
    assert [int(r.id[1:]) for r in result.creatable("kleanapp")] == list(sc.create_in_sevdesk)
    assert len(sc.create_in_sevdesk) < len(sc.unmatched_kleanapp)  # archived ones stay
    assert any(sc.kleanapp[i]["archived"] for i, _, _ in sc.pairs)  # ... but get linked


SPELLING_FIELDS = {"customer_number", "company_name", "first_name", "last_name", "email", "vat_id"}


def test_activation_pairs_typed_differently_give_no_conflicts_on_first_link():
    """Formatting (phones, spacing, e-mail case, VAT spacing) is no disagreement."""
    sc = _activation_data().activation_scenario()
    rules = RuleSet("manual")
    for i, j, _ in sc.pairs:
        k_rec = Customer.model_validate({**sc.kleanapp[i], "archived": False})
        s_rec = Customer.model_validate(sc.sevdesk[j])
        merged = merge_records(None, k_rec, s_rec, rules, key=str(i))
        fields = {c.field for c in merged.conflicts}
        if i in sc.formatting_only:
            assert fields == set(), (sc.kleanapp[i], sc.sevdesk[j])
        else:  # the number differs; names spelt differently, e-mail or VAT id missing
            assert "customer_number" in fields
            assert fields <= SPELLING_FIELDS


def test_activation_scenario_is_deterministic_and_sized_by_its_parameters():
    data = _activation_data()
    assert data.activation_scenario() == data.activation_scenario()
    small = data.activation_scenario(40, 20, 4, seed=1)
    assert len(small.kleanapp) == len(small.sevdesk) == 40
    ks, ss = _scenario_remotes(small)
    result = match_customers(ks, ss)
    assert sorted((int(m.kleanapp.id[1:]), int(m.sevdesk.id[1:])) for m in result.matches) == [
        (i, j) for i, j, _ in small.pairs
    ]


# --- properties ---------------------------------------------------------------------

NUMBERS = ["K-1", " K-1", "K-2", "k-2", "K-3", "1003", "1004", None, None, None, None]
VATS = ["DE111111111", "de 111 111 111", "DE222222222", None, None, None, None]
EMAILS = ["a@x.de", "A@X.DE ", "b@x.de", "c@y.de", "d@web.de", None, None]
NAMES = [
    "Müller GmbH",
    "Mueller  GmbH",
    "MÜLLER AG",
    "Müller Gebäudeservice",
    "Schmidt",
    "Schmidt e.K.",
    "Schmitt",
    "Weber",
    None,
]
POSTAL = ["10115", " 10115", "80331", None]
STREETS = ["Hauptstraße 5", "Hauptstr. 5", "Hauptstr. 7", "Am Markt 1", None, None]
PHONES = ["030 1234567", "+49 30 1234567", "030 7654321", None, None]

customers = st.builds(
    Customer,
    customer_number=st.sampled_from(NUMBERS),
    vat_id=st.sampled_from(VATS),
    email=st.sampled_from(EMAILS),
    company_name=st.sampled_from(NAMES),
    postal_code=st.sampled_from(POSTAL),
    street=st.sampled_from(STREETS),
    phone=st.sampled_from(PHONES),
    archived=st.booleans(),
)
taken_sets = st.fixed_dictionaries(
    {side: st.sets(st.sampled_from(["K-1", "K-2", "K-9", "k-2"]), max_size=2) for side in SIDES}
)


def remotes(side: Side, records: list[Customer]) -> list[Remote[Customer]]:
    return [Remote(side=side, id=f"{side[0]}{i}", record=r) for i, r in enumerate(records)]


def flip(remote: Remote[Customer]) -> Remote[Customer]:
    other: Side = "sevdesk" if remote.side == "kleanapp" else "kleanapp"
    return remote.model_copy(update={"side": other})


def shape(result: MatchResult) -> tuple:
    """The result as sets, independent of order and of the reasons' wording."""
    return (
        frozenset((m.kleanapp.id, m.sevdesk.id, m.evidence.score) for m in result.matches),
        frozenset(
            (p.side, p.record.id, frozenset(c.id for c in p.candidates)) for p in result.parked
        ),
        frozenset(r.id for r in result.unmatched_kleanapp),
        frozenset(r.id for r in result.unmatched_sevdesk),
    )


world = st.tuples(st.lists(customers, max_size=7), st.lists(customers, max_size=7), taken_sets).map(
    lambda t: (remotes("kleanapp", t[0]), remotes("sevdesk", t[1]), t[2])
)


@settings(max_examples=300, deadline=None)
@given(world)
def test_every_record_lands_exactly_once(w):
    ks, ss, taken = w
    result = match_customers(ks, ss, taken_numbers=taken)
    placed = {side: [] for side in SIDES}
    for m in result.matches:
        placed["kleanapp"].append(m.kleanapp.id)
        placed["sevdesk"].append(m.sevdesk.id)
    for p in result.parked:
        placed[p.side].append(p.record.id)
    placed["kleanapp"] += [r.id for r in result.unmatched_kleanapp]
    placed["sevdesk"] += [r.id for r in result.unmatched_sevdesk]
    assert sorted(placed["kleanapp"]) == sorted(r.id for r in ks)
    assert sorted(placed["sevdesk"]) == sorted(r.id for r in ss)


@settings(max_examples=300, deadline=None)
@given(world)
def test_matching_is_symmetric(w):
    ks, ss, taken = w
    result = match_customers(ks, ss, taken_numbers=taken)
    mirrored = match_customers(
        [flip(r) for r in ss],
        [flip(r) for r in ks],
        taken_numbers={"kleanapp": taken["sevdesk"], "sevdesk": taken["kleanapp"]},
    )
    matches, parked_, only_k, only_s = shape(result)
    m_matches, m_parked, m_only_k, m_only_s = shape(mirrored)
    assert m_matches == {(b, a, score) for a, b, score in matches}
    flipped: dict[str, Side] = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}
    assert m_parked == {(flipped[side], id_, c) for side, id_, c in parked_}
    assert (m_only_k, m_only_s) == (only_s, only_k)


@settings(max_examples=200, deadline=None)
@given(world, st.randoms(use_true_random=False))
def test_input_order_does_not_change_the_outcome(w, rnd):
    ks, ss, taken = w
    shuffled_k, shuffled_s = list(ks), list(ss)
    rnd.shuffle(shuffled_k)
    rnd.shuffle(shuffled_s)
    assert shape(match_customers(ks, ss, taken_numbers=taken)) == shape(
        match_customers(shuffled_k, shuffled_s, taken_numbers=taken)
    )


@settings(max_examples=300, deadline=None)
@given(world)
def test_links_rest_on_evidence_one_per_record_and_parking_is_closed(w):
    ks, ss, taken = w
    settings = MatchSettings()
    result = match_customers(ks, ss, taken_numbers=taken)
    linked_k = [m.kleanapp.id for m in result.matches]
    linked_s = [m.sevdesk.id for m in result.matches]
    assert len(set(linked_k)) == len(linked_k) and len(set(linked_s)) == len(linked_s)
    for m in result.matches:
        assert m.evidence.veto is None and m.evidence.score >= settings.link_threshold
        assert any(f.weight > 0 for f in m.evidence.fields)
    candidates = {
        (p.side, p.record.id): {(c.side, c.id) for c in p.candidates} for p in result.parked
    }
    for (side, id_), cands in candidates.items():
        for c in cands:
            assert c[0] != side
            assert (side, id_) in candidates[c]  # candidates are parked, relation symmetric
    for p in result.parked:  # every candidate comes with its evidence
        assert [c.record.id for c in p.evidence] == [c.id for c in p.candidates]


@settings(max_examples=300, deadline=None)
@given(world)
def test_customer_numbers_never_end_up_twice_on_a_side(w):
    """What the run may write (creations, either number of a new link) clashes with nothing."""
    ks, ss, taken = w
    result = match_customers(ks, ss, taken_numbers=taken)
    inputs = {"kleanapp": ks, "sevdesk": ss}
    for target in SIDES:
        source: Side = "sevdesk" if target == "kleanapp" else "kleanapp"
        held = [(normalize_customer_number(r.record.customer_number), r.id) for r in inputs[target]]
        held += [(normalize_customer_number(n), None) for n in taken[target]]
        writes = [
            (normalize_customer_number(r.record.customer_number), None)
            for r in result.creatable(source)
        ]
        for m in result.matches:
            mine = m.kleanapp if target == "kleanapp" else m.sevdesk
            theirs = m.sevdesk if target == "kleanapp" else m.kleanapp
            writes.append((normalize_customer_number(theirs.record.customer_number), mine.id))
        writes = [(n, owner) for n, owner in writes if n]
        assert len({n for n, _ in writes}) == len(writes)
        for number, owner in writes:  # owner None: a new record
            assert all(holder == owner for n, holder in held if n == number), (number, owner)
