"""Unit matching by meaning, so no duplicate units get created."""

import pytest

from rules.units import match_units, resolve_unit, unit_key


@pytest.mark.parametrize(
    "group",
    [
        ["Stk", "Stk.", "Stück", "STÜCK", "Stueck", "piece", "pcs"],
        ["Std", "Std.", "Stunde", "Stunden", "h", "H"],
        ["m²", "qm", "m2", "M2"],
        ["m³", "cbm", "m3"],
        ["pauschal", "Pauschal", "pausch.", "flat"],
        ["lfm", "laufender Meter", "Laufender  Meter", "lfm."],
    ],
)
def test_aliases_share_one_key(group):
    assert len({unit_key(name) for name in group}) == 1


def test_different_units_have_different_keys():
    keys = [unit_key(n) for n in ("Stk", "Std", "qm", "cbm", "pauschal", "lfm", "kg")]
    assert len(set(keys)) == len(keys)


def test_unknown_units_match_case_insensitively():
    assert unit_key(" Kilogramm ") == unit_key("kilogramm") == "kilogramm"


def test_match_units_pairs_aliases_and_reports_the_rest():
    pairs, only_k, only_s = match_units(
        ["Stunden", "Stück", "qm", "Fenster"], ["Std", "Stk", "m²", "pauschal"]
    )
    assert pairs == (("Stunden", "Std"), ("Stück", "Stk"), ("qm", "m²"))
    assert only_k == ("Fenster",)
    assert only_s == ("pauschal",)


def test_match_units_prefers_same_spelling_and_pairs_extra_aliases_instead_of_duplicating():
    result = match_units(["Stück"], ["Stk", "Stück"])
    assert result.pairs == (("Stück", "Stück"), ("Stück", "Stk"))
    assert result.only_kleanapp == () and result.only_sevdesk == ()


def test_match_units_ignores_duplicate_names():
    assert match_units(["h", "h"], ["Std"]).pairs == (("h", "Std"),)


def test_resolve_unit_prefers_exact_spelling():
    assert resolve_unit("stk", ["Stück", "Stk"]) == "Stk"
    assert resolve_unit("Stunden", ["Stk", "Std"]) == "Std"
    assert resolve_unit("kg", ["Stk", "Std"]) is None


def test_renamed_tells_which_side_changed_the_meaning():
    from rules.units import renamed

    assert renamed("Std", "Std", "Stunde", "Std") is None  # same meaning, other spelling
    assert renamed("lfm", "lfm", "Laufmeter", "lfm") == (True, False)
    assert renamed("lfm", "lfm", "lfm", "Laufmeter") == (False, True)
    assert renamed("lfm", "lfm", "Meter", "Laufmeter") == (True, True)
    # reported before: the base holds both names, nothing is new
    assert renamed("Laufmeter", "lfm", "Laufmeter", "lfm") == (False, False)
