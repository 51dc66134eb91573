"""A linked pair that did not change is decided on plain values, and the plan stays the same.

The planner's shortcut (``Planner.quiet_shortcut``, ``unchanged_pair``) skips the
merge for a pair whose two records agree with the link's base; it must never
skip a pair the full path would plan. These properties build the same plan
both ways for generated pairs: quiet ones (the same customer spelled as each
side spells it) and not (an edit, an archive flag, a number mid-swap, an admin's
answer, a base from an older version, a link without fingerprints, fields a
side cannot keep).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from reconciler.config import parse_config
from reconciler.connectors.sevdesk.customers import SevdeskCustomers
from reconciler.domain.models import Customer, Remote
from reconciler.sync.number_swaps import temporary_number
from reconciler.sync.plan import Planner
from reconciler.sync.plan_writes import unchanged_pair
from reconciler.sync.snapshot import SideRead, Snapshot
from rules.fingerprints import fingerprints
from rules.normalize import normalize_record
from state.tables import Link

CONFIG = parse_config({"kleanapp": {"base_url": "http://kleanapp.test"}})
FIELDS = [f for f in Customer.model_fields if f not in ("kind", "archived")]

#: Each field's spellings: those on one line are the same value once normalised.
SPELLINGS: dict[str, list[list[str | None]]] = {
    "customer_number": [["1001", " 1001 "], ["1002"], [None, ""]],
    "company_name": [["Putz GmbH", " Putz  GmbH"], ["Glanz AG"], [None, ""]],
    "first_name": [["Anna", " Anna "], ["anna"], [None]],
    "last_name": [["Müller", "Mu\u0308ller"], ["Schmidt"], [None]],
    "email": [["info@putz.de", "Info@Putz.DE", " info @putz.de"], ["neu@putz.de"], [None, " "]],
    "phone": [["030 1234567", "+49 30 1234567", "+49301234567"], ["12345"], [None, ""]],
    "mobile": [["0171 1234567", "+491711234567"], ["bitte anrufen"], [None]],
    "street": [["Hauptstr. 1", "Hauptstr.  1"], ["c/o Praxis Ott\nHauptstr. 1"], [None]],
    "postal_code": [["10115", " 10115"], ["1010"], [None]],
    "city": [["Berlin", "Berlin "], ["Wien"], [None]],
    "country": [["DE", "de", "Deutschland"], ["AT", "Österreich"], [None, ""], ["Atlantis"]],
    "vat_id": [["DE123456789", "de 123 456 789"], ["ATU12345678"], [None]],
    "note": [["Schlüssel\r\nbeim Nachbarn ", "Schlüssel\nbeim Nachbarn"], [None, ""]],
}


@st.composite
def pairs(draw: st.DrawFn) -> dict[str, Any]:
    """A base customer and each side's record: mostly respelled, sometimes edited."""
    classes = {f: draw(st.integers(0, len(SPELLINGS[f]) - 1)) for f in FIELDS}
    kind = draw(st.sampled_from(["company", "person"]))
    archived = draw(st.booleans())

    def side() -> Customer:
        values: dict[str, Any] = {"kind": kind, "archived": archived}
        edited = draw(st.booleans())  # else only spelled its own way
        for f in FIELDS:
            spelling = SPELLINGS[f]
            cls = classes[f]
            if edited and not draw(st.integers(0, 3)):
                cls = draw(st.integers(0, len(spelling) - 1))
            values[f] = draw(st.sampled_from(spelling[cls]))
        if edited and not draw(st.integers(0, 3)):
            values["kind"] = draw(st.sampled_from(["company", "person"]))
        if edited and not draw(st.integers(0, 3)):
            values["archived"] = draw(st.booleans())
        return Customer(**values)

    k, s = side(), side()
    if draw(st.booleans()):  # as sevDesk reads it back: no archive flag, no names it drops
        dropped = ("first_name", "last_name") if s.kind == "company" else ("company_name",)
        s = s.model_copy(update={"archived": False, **dict.fromkeys(dropped)})
    base = normalize_record(side() if draw(st.integers(0, 5)) == 0 else k).model_dump()
    shape = draw(st.sampled_from(["normal"] * 6 + ["raw", "none", "old", "extra", "flag"]))
    if shape == "raw":  # a base value kept as typed (a direction closed, an admin's answer)
        base = side().model_dump()
    elif shape == "none":
        base = None
    elif shape == "old":  # from before a field existed: the model fills its default
        base = {f: v for f, v in base.items() if f not in ("note", "archived")}
    elif shape == "extra":
        base = {**base, "archived": draw(st.sampled_from([0, 1, None]))}
    elif shape == "flag":
        base = {**base, "archived": not base["archived"]}
    if base and base.get("customer_number") and not draw(st.integers(0, 7)):
        k = k.model_copy(update={"customer_number": temporary_number(base["customer_number"])})
    seen = draw(st.sampled_from(["both", "both", "both", "none", "kleanapp"]))
    forced = draw(
        st.one_of(
            st.just({}),
            st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(["Neu", None]), max_size=2),
        )
    )
    k_skip = draw(
        st.sampled_from([frozenset(), frozenset(), frozenset({"note"}), frozenset({"kind"})])
    )
    return {"base": base, "k": k, "s": s, "seen": seen, "forced": forced, "k_skip": k_skip}


def _sevdesk_unstorable(record: Customer) -> frozenset[str]:
    return SevdeskCustomers.unstorable_fields(None, record)  # type: ignore[arg-type]


def _link(case: dict[str, Any]) -> Link:
    k, s = case["k"], case["s"]
    digests = case.get("digests") or (None, None)
    return Link(
        id=7,
        kleanapp_digest=digests[0],
        sevdesk_digest=digests[1],
        entity="customer",
        key="1001",
        kleanapp_id="k1",
        sevdesk_id="s1",
        base=case["base"],
        kleanapp_raw=fingerprints(case.get("k_seen", k)) if case["seen"] != "none" else None,
        sevdesk_raw=fingerprints(case.get("s_seen", s)) if case["seen"] == "both" else None,
    )


def _snapshot(case: dict[str, Any]) -> Snapshot:
    k, s = case["k"], case["s"]
    reads = {
        ("customer", "kleanapp"): SideRead(
            "kleanapp", "customer", {"k1": Remote(side="kleanapp", id="k1", version="3", record=k)}
        ),
        ("customer", "sevdesk"): SideRead(
            "sevdesk", "customer", {"s1": Remote(side="sevdesk", id="s1", version="9", record=s)}
        ),
        ("unit", "kleanapp"): SideRead("kleanapp", "unit"),
        ("unit", "sevdesk"): SideRead("sevdesk", "unit"),
    }
    return Snapshot(
        full=True,
        reads=reads,
        unstorable={"kleanapp": lambda _r: case["k_skip"], "sevdesk": _sevdesk_unstorable},
    )


def _planner(case: dict[str, Any], *, shortcut: bool) -> Planner:
    resolved = [
        SimpleNamespace(link_id=7, field=f, resolution={"value": v}, id=40 + i, revision=2)
        for i, (f, v) in enumerate(case["forced"].items())
    ]
    planner = Planner(CONFIG, _snapshot(case), {"customer": [_link(case)]}, resolved)
    planner.quiet_shortcut = shortcut
    return planner


def _plan(case: dict[str, Any], *, shortcut: bool) -> dict[str, Any]:
    planner = _planner(case, shortcut=shortcut)
    try:
        return planner.build().model_dump(exclude={"created_at"})
    except ValueError as exc:  # a base the model refuses: the same refusal both ways
        return {"refused": str(exc)}


def _shortcut_taken(case: dict[str, Any]) -> bool:
    return unchanged_pair(_snapshot(case).unstorable, _link(case), case["k"], case["s"])


def _case(k: Customer, s: Customer, **changes: Any) -> dict[str, Any]:
    base = normalize_record(k).model_dump()
    case = {"base": base, "k": k, "s": s, "seen": "both", "forced": {}, "k_skip": frozenset()}
    return {**case, **changes}


#: One customer as each side spells it: sevDesk keeps no contact names on an
#: organisation and no archive flag, and writes phone numbers its own way.
K = Customer(
    customer_number="1001",
    company_name="Putz  GmbH",
    first_name="Anna",
    phone="030 1234567",
    email="Info@Putz.de",
)
S = Customer(
    customer_number=" 1001", company_name="Putz GmbH", phone="+49301234567", email="info@putz.de"
)
LONG = "A" * 27 + "~swap"  # its own temporary number: a swap half done looks unchanged
SPECIAL = {
    "edited in sevDesk": _case(K, S.model_copy(update={"city": "Berlin"}), s_seen=S),
    "newly archived in KleanApp": _case(
        K.model_copy(update={"archived": True}), S, base=normalize_record(K).model_dump()
    ),
    "an archive flag the model refuses": _case(
        K, S, base={**normalize_record(K).model_dump(), "archived": None}
    ),
    "mid-swap": _case(
        K.model_copy(update={"customer_number": LONG}),
        S.model_copy(update={"customer_number": LONG}),
    ),
    "an admin's answer": _case(K, S, forced={"city": "Potsdam"}),
    "no fingerprints": _case(K, S, seen="none"),
    "a base from an older version": _case(
        K, S, base={f: v for f, v in normalize_record(K).model_dump().items() if f != "note"}
    ),
    "KleanApp cannot keep the note": _case(
        K,
        S.model_copy(update={"note": "Schlüssel"}),
        base=normalize_record(K.model_copy(update={"note": "Schlüssel"})).model_dump(),
        k_skip=frozenset({"note"}),
    ),
}


@given(pairs())
@example(_case(K, S))
@example(SPECIAL["edited in sevDesk"])
@example(SPECIAL["newly archived in KleanApp"])
@example(SPECIAL["an archive flag the model refuses"])
@example(SPECIAL["mid-swap"])
@example(SPECIAL["an admin's answer"])
@example(SPECIAL["no fingerprints"])
@example(SPECIAL["a base from an older version"])
@example(SPECIAL["KleanApp cannot keep the note"])
def test_the_shortcut_plans_what_the_full_path_plans(case: dict[str, Any]) -> None:
    assert _plan(case, shortcut=True) == _plan(case, shortcut=False)


def _remembered(case: dict[str, Any]) -> tuple[str, str] | None:
    """The digests a run that plans ``case`` keeps on its link (``Planner.quiet``), if any."""
    planner = _planner(case, shortcut=True)
    try:
        planner.build()
    except ValueError:
        return None
    found = planner.quiet.get(7)
    return None if found is None else found[0]


@given(pairs(), st.sampled_from(["same", "kleanapp", "sevdesk"]))
@example(_case(K, S), "same")
@example(_case(K, S), "kleanapp")
@example(SPECIAL["KleanApp cannot keep the note"], "sevdesk")
def test_a_pair_remembered_as_quiet_plans_what_the_full_path_plans(
    case: dict[str, Any], edited: str
) -> None:
    """The next run with the digests a quiet run kept: the same pair, or one side edited."""
    digests = _remembered(case)
    if digests is None:
        return
    if edited != "same":
        side = "k" if edited == "kleanapp" else "s"
        case = {**case, side: case[side].model_copy(update={"city": "Wien"})}
    later = {**case, "digests": digests}
    assert _plan(later, shortcut=True) == _plan(later, shortcut=False)


def test_a_quiet_pair_is_remembered_and_then_known_by_its_digests() -> None:
    digests = _remembered(_case(K, S))
    assert digests is not None
    later = _planner({**_case(K, S), "digests": digests}, shortcut=True)
    assert later.build().pairs == () and later.quiet == {}  # known: nothing to remember
    base = normalize_record(K).model_dump()
    wien = K.model_copy(update={"city": "Wien"})
    edited = _case(wien, S, base=base, digests=digests, k_seen=K)
    (pair,) = _plan(edited, shortcut=True)["pairs"]  # the edit is carried, the country with it
    assert [(a["side"], a["fields"]["city"]) for a in pair["actions"]] == [("sevdesk", "Wien")]


def test_a_quiet_pair_takes_the_shortcut_and_plans_nothing() -> None:
    assert _shortcut_taken(_case(K, S))
    assert _plan(_case(K, S), shortcut=True)["pairs"] == ()


def test_every_special_case_takes_the_full_path() -> None:
    """Each of them would be planned (or refused) by the full path, so none is skipped."""
    for name, case in SPECIAL.items():
        if name == "an admin's answer":  # the planner's own check (``Planner.forced``)
            assert _plan(case, shortcut=True)["pairs"], name
        elif name != "KleanApp cannot keep the note":
            assert not _shortcut_taken(case), name
    (pair,) = _plan(SPECIAL["edited in sevDesk"], shortcut=True)["pairs"]
    assert [(a["side"], a["fields"]) for a in pair["actions"]] == [("kleanapp", {"city": "Berlin"})]
    assert _plan(SPECIAL["newly archived in KleanApp"], shortcut=True)["tasks"]
    (swap,) = _plan(SPECIAL["mid-swap"], shortcut=True)["pairs"]
    assert swap["actions"][0]["fields"] == {"customer_number": LONG}


def test_a_field_a_side_cannot_keep_is_never_a_change() -> None:
    """KleanApp drops the note: its missing note is no change, the pair stays quiet."""
    assert _shortcut_taken(SPECIAL["KleanApp cannot keep the note"])
