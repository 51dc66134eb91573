"""Conflict rules: deterministic winners with reasons an admin can follow."""

import datetime as dt

import pytest

from rules.policies import RULES, RuleSet, SideValue, get_rule, rule

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

UTC = dt.UTC
T09 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
T10 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def lww(k_time, s_time):
    return get_rule("last-write-wins")("email", "a", SideValue("k", k_time), SideValue("s", s_time))


def test_last_write_wins_picks_the_later_side_and_says_when():
    d = lww(T09, T10)
    assert d.winner == "sevdesk"
    assert d.reason == "sevDesk changed it later (2026-11-24 10:00 UTC vs 09:00 UTC)"
    assert lww(T10, T09).winner == "kleanapp"


def test_last_write_wins_compares_instants_not_wall_clock():
    berlin = dt.timezone(dt.timedelta(hours=1))
    k_time = dt.datetime(2026, 11, 24, 10, 30, tzinfo=berlin)  # 09:30 UTC
    d = lww(k_time, T09 + dt.timedelta(minutes=45))  # 09:45 UTC
    assert d.winner == "sevdesk"
    assert "09:45 UTC vs 09:30 UTC" in d.reason


def test_last_write_wins_shows_seconds_and_dates_only_when_needed():
    d = lww(T10 + dt.timedelta(seconds=5), T10 + dt.timedelta(seconds=2))
    assert d.reason.endswith("(2026-11-24 10:00:05 UTC vs 10:00:02 UTC)")
    d = lww(T09, T10 - dt.timedelta(days=1))
    assert d.reason.endswith("(2026-11-24 09:00 UTC vs 2026-11-23 10:00 UTC)")


def test_last_write_wins_tie_goes_to_kleanapp_and_says_so():
    d = lww(T10, T10)
    assert d.winner == "kleanapp"
    assert "same time" in d.reason and "by default" in d.reason


@pytest.mark.parametrize(("k_time", "s_time"), [(None, T10), (T10, None), (None, None)])
def test_last_write_wins_missing_time_goes_to_kleanapp_and_says_so(k_time, s_time):
    d = lww(k_time, s_time)
    assert d.winner == "kleanapp"
    assert "no modification time" in d.reason and "by default" in d.reason


def test_last_write_wins_reads_naive_times_as_utc():
    assert lww(T10.replace(tzinfo=None), T09).winner == "kleanapp"


@pytest.mark.parametrize(
    ("name", "winner"),
    [
        ("sevdesk-authoritative", "sevdesk"),
        ("kleanapp-authoritative", "kleanapp"),
        ("manual", "manual"),
    ],
)
def test_fixed_rules_ignore_times(name, winner):
    d = get_rule(name)("city", "a", SideValue("k", T10), SideValue("s", T09))
    assert d.winner == winner
    assert d.reason


def test_ruleset_picks_per_field_rule_or_default():
    rules = RuleSet("last-write-wins", {"vat_id": "sevdesk-authoritative"})
    assert rules.rule_for("vat_id") == "sevdesk-authoritative"
    assert rules.rule_for("email") == "last-write-wins"
    assert (
        rules.decide("vat_id", None, SideValue("k", T10), SideValue("s", T09)).winner == "sevdesk"
    )


def test_unknown_rule_names_are_rejected_naming_the_valid_ones():
    with pytest.raises(ValueError, match="last-write-wins") as exc:
        RuleSet("newest")
    assert "'newest'" in str(exc.value) and "manual" in str(exc.value)
    with pytest.raises(ValueError, match="field 'email'.*'sevdesk-wins'.*valid rules"):
        RuleSet("manual", {"email": "sevdesk-wins"})


def test_ruleset_rejects_overrides_for_unknown_fields():
    from reconciler.domain.models import Customer

    RuleSet("manual", {"email": "manual"}).check_fields(Customer.model_fields)
    with pytest.raises(ValueError, match="e_mail"):
        RuleSet("manual", {"e_mail": "manual"}).check_fields(Customer.model_fields)


def test_ruleset_is_not_changed_by_mutating_the_callers_dict():
    overrides = {"email": "manual"}
    rules = RuleSet("last-write-wins", overrides)
    overrides["email"] = "nonsense"
    assert rules.rule_for("email") == "manual"


def test_rules_can_be_registered_by_decorator():
    @rule("test-always-sevdesk")
    def always(field, base, kleanapp, sevdesk):
        from rules.policies import Decision

        return Decision("sevdesk", "test")

    try:
        assert RuleSet("test-always-sevdesk").rule_for("x") == "test-always-sevdesk"
        with pytest.raises(ValueError, match="already registered"):
            rule("test-always-sevdesk")(always)
    finally:
        del RULES["test-always-sevdesk"]
