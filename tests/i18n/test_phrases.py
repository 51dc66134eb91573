"""The planner's English sentences, as the rules and the export write them, read as German.

Each sentence comes from the producer itself (the conflict rules, the
matcher's evidence, the invoice mapping), so a producer reworded without
its pattern in ``reporting/phrases.py`` fails here instead of reaching an
admin in English.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from reconciler.domain.i18n import using
from reconciler.domain.models import InvoicePosition
from reconciler.domain.problems import PROBLEMS, problem
from reconciler.invoices.mapping import UNIT_TASK, Unexportable, tax_rule, unit_ids
from reconciler.reporting.phrases import Phrases
from rules.diff import _FIRST_LINK
from rules.match_score import Comparison, FieldEvidence
from rules.policies import SideValue, get_rule

AT = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
ENGLISH = re.compile(r"\b(the|and|is|it|has|have|of|to|not|by|wins|changed|later|vs)\b")


def german(text: str) -> str:
    with using("de"):
        out = Phrases(tz="Europe/Berlin")(text)
    assert not ENGLISH.search(out), f"English left in {out!r} (from {text!r})"
    assert "UTC" not in out
    return out


@pytest.mark.parametrize(
    ("k_time", "s_time", "expected"),
    [
        (
            AT,
            AT - dt.timedelta(hours=1),
            "in KleanApp später geändert (24.11.2026 11:00 gegenüber 10:00)",
        ),
        (
            AT,
            AT + dt.timedelta(seconds=5),
            "in sevDesk später geändert (24.11.2026 11:00:05 gegenüber 11:00:00)",
        ),
        (AT, AT, "in beiden Systemen zur selben Zeit geändert (24.11.2026 11:00:00)"),
        (None, AT, "KleanApp nennt keinen Änderungszeitpunkt"),
        (None, None, "KleanApp und sevDesk nennen keinen Änderungszeitpunkt"),
    ],
)
def test_the_later_change_counts_in_local_time(k_time, s_time, expected):
    decision = get_rule("last-write-wins")(
        "city", None, SideValue("Berlin", k_time), SideValue("Potsdam", s_time)
    )
    # the stored sentence (the API) keeps UTC ...
    assert ("UTC" in decision.reason) == (k_time is not None and s_time is not None)
    assert expected in german(f"{_FIRST_LINK}; {decision.reason}")  # ... the reader does not


@pytest.mark.parametrize("rule", ["manual", "kleanapp-authoritative", "sevdesk-authoritative"])
def test_every_other_rule_explains_itself_in_german(rule):
    decision = get_rule(rule)("email", "a@b.de", SideValue("x@y.de"), SideValue("z@y.de"))
    german(decision.reason)


def test_match_evidence_in_german():
    evidence = Comparison(
        score=6.55,
        fields=(
            FieldEvidence("name", "≈", 3.0, "0.97"),
            FieldEvidence("street", "≠", -8.0, "Kirchplatz 148b vs Am Markt 84b"),
            FieldEvidence("e-mail", "≈", 1.0),
            FieldEvidence("phone", "-", 0.0),
        ),
        veto="their VAT ids differ (DE1 vs DE2)",
    )
    assert german(evidence.summary("possible match")) == (
        "Name 0,97, Straße verschieden (Kirchplatz 148b / Am Markt 84b), gleiche E-Mail-Domain "
        "(Telefon auf einer Seite nicht angegeben); ihre USt-IdNr. unterscheiden sich "
        "(DE1 / DE2) → kommt in Frage (Punktzahl 6,5)"
    )


def _position(unit: str, rate: str) -> InvoicePosition:
    return InvoicePosition(
        name="Unterhaltsreinigung",
        quantity=Decimal(1),
        unit=unit,
        unit_price_net=Decimal(10),
        tax_rate=Decimal(rate),
    )


def test_why_an_invoice_is_held_and_what_to_do_in_german():
    with pytest.raises(Unexportable) as missing:
        unit_ids([_position("Std.", "19")], {})
    assert german(missing.value.tasks[0]) == (
        "Einheit „Std.“ in sevDesk anlegen: Einstellungen → System → Einheiten"
    )
    assert german(missing.value.reason) == "Einheit 'Std.' gibt es in sevDesk nicht"
    assert UNIT_TASK.format(name="Std.") == missing.value.tasks[0]
    with pytest.raises(Unexportable) as zero:
        tax_rule([_position("Std.", "0")])
    german(zero.value.tasks[0])


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_every_problem_code_is_said_in_german_and_its_stored_english_too(code: str) -> None:
    """A run's error/skipped entry: its code's German sentence; an entry stored before codes
    existed (English text only) is recognised by that text and said in German as well."""
    names = re.findall(r"%\((\w+)\)s", PROBLEMS[code])
    params = {name: "K-00002" if name == "key" else "sevDesk" for name in names}
    params |= {n: "customer" for n in names if n == "entity"} | {
        n: "update" for n in names if n == "op"
    }
    entry = problem(code, "error", **params)
    with using("de"):
        said = Phrases(tz="Europe/Berlin").said(entry, "error")
        stored = Phrases(tz="Europe/Berlin").said({"error": entry["error"]}, "error")
    assert said == stored, (said, stored)
    assert not ENGLISH.search(said), said
    with using("en"):
        assert Phrases().said(entry, "error") == entry["error"]
