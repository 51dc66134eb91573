"""The resolution queue: what an admin answers, as the commands record it.

Applying an answer is the engine's part (tested end to end there); these
tests pin the queue's own promises: an answer is stored with who and when,
survives a restart, is given once, and a typed value is checked first.
"""

from __future__ import annotations

import json

import httpx
import pytest

from reconciler.admin.queue import link_parked, queue, resolve_conflict
from reconciler.admin.values import validate_value
from state import Store
from state.admin_tables import ParkedResolution

from .conftest import KLEAN_API, KLEAN_TOKEN


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


async def open_email_conflict(world) -> str:
    await world.sync()
    open_ = queue(world.store)["conflicts"]
    assert [c["field"] for c in open_] == ["email"]
    return open_[0]["id"]


async def test_take_is_recorded_with_who_and_when_and_survives_a_restart(world, cli):
    cid = await open_email_conflict(world)
    listed = json.loads(cli("conflicts", "list", "--json").stdout)
    assert [c["id"] for c in listed["conflicts"]] == [cid]
    assert listed["conflicts"][0]["kleanapp"] == "buero@kleanapp-seite.de"
    assert {p["record"].split(":")[0] for p in listed["parked"]} == {"kleanapp", "sevdesk"}

    done = cli("conflicts", "resolve", cid, "--take", "sevdesk", "--by", "anna")
    assert done.exit_code == 0, done.output
    assert "rechnung@sevdesk-seite.de" in done.stdout and "next sync" in done.stdout

    reopened = Store(world.config.state.url)  # a new process would see the same
    try:
        row = reopened.get_conflict(int(cid[1:]))
    finally:
        reopened.close()
    assert row.status == "resolved"
    assert row.resolution == {"value": "rechnung@sevdesk-seite.de", "take": "sevdesk"}
    assert row.resolved_by == "anna" and row.resolved_at is not None
    assert [
        c["id"] for c in json.loads(cli("conflicts", "list", "--json").stdout)["conflicts"]
    ] == []
    everything = json.loads(cli("conflicts", "list", "--json", "--all").stdout)
    assert any(c["id"] == cid and c["status"] == "resolved" for c in everything["conflicts"])

    again = cli("conflicts", "resolve", cid, "--value", "x@y.de")
    assert again.exit_code == 1
    line = one_line(again.stderr)
    assert "already resolved by anna" in line and "cannot be resolved twice" in line


async def test_value_is_stored_normalised_with_the_login_name(world, cli, monkeypatch):
    cid = await open_email_conflict(world)
    monkeypatch.setattr("getpass.getuser", lambda: "bernd")
    done = cli("conflicts", "resolve", cid, "--value", "  Neu@Firma-Beispiel.DE ")
    assert done.exit_code == 0, done.output
    row = world.store.get_conflict(int(cid[1:]))
    assert row.resolution == {"value": "neu@firma-beispiel.de"}
    assert row.resolved_by == "bernd"


@pytest.mark.parametrize(
    "bad", ["not-an-email", "anna@", "@firma.de", "anna@firma", "a..b@firma.de", "a@@firma.de"]
)
async def test_an_invalid_email_is_refused_with_a_clear_message(world, cli, bad):
    cid = await open_email_conflict(world)
    refused = cli("conflicts", "resolve", cid, "--value", bad)
    assert refused.exit_code == 2
    assert "is not a valid e-mail address" in one_line(refused.stderr)
    assert world.store.get_conflict(int(cid[1:])).status == "open"  # nothing recorded


async def test_usage_mistakes_are_one_line_each(world, cli):
    cid = await open_email_conflict(world)
    both = cli("conflicts", "resolve", cid, "--take", "kleanapp", "--value", "a@b.de")
    assert both.exit_code == 2 and "exactly one of" in one_line(both.stderr)
    neither = cli("conflicts", "resolve", cid)
    assert neither.exit_code == 2
    side = cli("conflicts", "resolve", cid, "--take", "excel")
    assert side.exit_code == 2 and "kleanapp or sevdesk" in one_line(side.stderr)
    missing = cli("conflicts", "resolve", "C999", "--take", "kleanapp")
    assert missing.exit_code == 1 and "no conflict C999" in one_line(missing.stderr)
    decided = next(c for c in world.store.conflicts() if c.status == "decided")
    rule = cli("conflicts", "resolve", f"C{decided.id}", "--take", "sevdesk")
    assert rule.exit_code == 1 and "decided by the rule kleanapp-authoritative" in rule.stderr


async def test_two_admins_cannot_both_resolve(world):
    cid = await open_email_conflict(world)
    second = Store(world.config.state.url)
    try:
        resolve_conflict(world.store, cid, take="kleanapp", by="anna")
        assert not second.resolve_conflict(int(cid[1:]), {"value": "x"}, "bernd", _now())
        with pytest.raises(Exception, match="already resolved by anna"):
            resolve_conflict(second, cid, take="sevdesk", by="bernd")
    finally:
        second.close()
    assert world.store.get_conflict(int(cid[1:])).resolution["take"] == "kleanapp"


async def test_a_conflict_whose_sides_became_equal_closes_itself(world, cli):
    cid = await open_email_conflict(world)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.klean),
        base_url=KLEAN_API + "/",
        headers={"Authorization": f"Bearer {KLEAN_TOKEN}"},
    ) as api:
        customers = (await api.get("customers", params={"per_page": 100})).json()["data"]
        k1 = next(c for c in customers if c["customer_number"] == "K-1")
        r = await api.patch(
            f"customers/{k1['id']}",
            json={"email": "rechnung@sevdesk-seite.de"},
            headers={"If-Match": str(k1["version"])},
        )
        assert r.status_code == 200, r.text
    await world.sync()
    assert world.store.get_conflict(int(cid[1:])).status == "closed"
    late = cli("conflicts", "resolve", cid, "--take", "kleanapp")
    assert late.exit_code == 1 and "closed itself" in one_line(late.stderr)


async def test_parked_link_settles_both_records_once(world, cli):
    await world.sync()
    parked = {p["record"]: p for p in queue(world.store)["parked"]}
    k_ids = sorted(r for r in parked if r.startswith("kleanapp:"))
    s_id = next(r for r in parked if r.startswith("sevdesk:"))
    first, second = parked[k_ids[0]], parked[k_ids[1]]

    not_candidate = cli("conflicts", "link", first["id"], "--with", "sevdesk:999999")
    assert not_candidate.exit_code == 2 and "not a candidate" in one_line(not_candidate.stderr)
    same_side = cli("conflicts", "link", first["id"], "--with", second["id"])
    assert same_side.exit_code == 2 and "needs a customer in sevDesk" in same_side.stderr

    done = cli("conflicts", "link", first["id"], "--with", s_id, "--by", "anna")
    assert done.exit_code == 0, done.output
    assert f"linked with {s_id}" in done.stdout
    [res] = world.store.parked_resolutions(applied=False)
    assert isinstance(res, ParkedResolution)
    assert (res.action, res.with_id, res.by, res.applied) == ("link", s_id, "anna", False)
    assert (f"{res.side}:{res.record_id}") == k_ids[0]
    assert res.with_parked_id == int(parked[s_id]["id"][1:])
    assert {p["record"] for p in queue(world.store)["parked"]} == {k_ids[1]}

    twice = cli("conflicts", "link", parked[s_id]["id"], "--create-new")
    assert twice.exit_code == 1
    assert "already settled by anna" in one_line(twice.stderr)
    taken = cli("conflicts", "link", second["id"], "--with", parked[s_id]["id"])
    assert taken.exit_code == 1 and "already settled" in one_line(taken.stderr)

    new = cli("conflicts", "link", second["id"], "--create-new", "--json")
    assert new.exit_code == 0, new.output
    shown = json.loads(new.stdout)
    assert shown["status"] == "resolved" and shown["resolution"]["action"] == "create-new"
    assert queue(world.store)["parked"] == []

    # What the engine will do next, and marking it done.
    pending = world.store.parked_resolutions(applied=False)
    assert [r.action for r in pending] == ["link", "create-new"]
    world.store.mark_parked_resolution_applied(pending[0].id, "run-x")
    assert [r.action for r in world.store.parked_resolutions(applied=False)] == ["create-new"]


async def test_show_explains_one_item(world, cli):
    cid = await open_email_conflict(world)
    text = cli("conflicts", "show", cid).stdout
    assert f"{cid}: customer K-1, field E-mail (open)" in text
    assert "KleanApp:           'buero@kleanapp-seite.de'" in text
    assert "base (last agreed): (not set)" in text
    pid = queue(world.store)["parked"][0]["id"]
    shown = json.loads(cli("conflicts", "show", pid, "--json").stdout)
    assert shown["kind"] == "parked" and shown["candidates"]
    link_parked(world.store, pid, create_new=True, by="carla")
    assert "settled by carla" in cli("conflicts", "show", pid).stdout
    assert cli("conflicts", "show", "X1").exit_code == 2


async def test_show_puts_a_parked_record_beside_each_candidate_with_the_evidence(world, cli):
    await world.sync()
    sev = next(p for p in queue(world.store)["parked"] if p["side"] == "sevdesk")
    text = cli("conflicts", "show", sev["id"]).stdout
    assert "why: 2 KleanApp customers look alike" in text
    assert "this record (sevDesk" in text and "Doppelt AG; e-mail info@doppelt.de" in text
    candidates = [line for line in text.splitlines() if line.startswith("  candidate kleanapp:")]
    assert len(candidates) == 2
    assert {c.rsplit("no. ", 1)[1] for c in candidates} == {"K-2", "K-4"}
    assert text.count("    evidence: Name 1.00, E-mail same") == 2  # said as in the report
    shown = json.loads(cli("conflicts", "show", sev["id"], "--json").stdout)
    assert [e["record"] for e in shown["evidence"]] == shown["candidates"]
    assert shown["evidence"][0]["fields"][0] == {
        "field": "name",
        "verdict": "=",
        "weight": 3.6,
        "detail": "1.00",
    }


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [
        ("email", "Anna@Firma.DE", "anna@firma.de"),
        ("email", "", None),
        ("country", "Deutschland", "DE"),
        ("phone", "030 1234567", "+49301234567"),
        ("vat_id", "de 123 456 789", "DE123456789"),
        ("kind", "Person", "person"),
        ("city", "  Bad   Homburg ", "Bad Homburg"),
    ],
)
def test_values_are_normalised_like_the_diff_does(field, raw, value):
    assert validate_value(field, raw) == value


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("country", "Atlantis", "not a country"),
        ("kind", "firma", "not a customer kind"),
        ("vat_id", "12", "not a VAT id"),
        ("customer_number", "  ", "cannot be empty"),
        ("archived", "maybe", "not true or false"),
    ],
)
def test_bad_values_say_why(field, raw, message):
    with pytest.raises(Exception, match=message) as info:
        validate_value(field, raw)
    assert info.value.exit_code == 2


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)
