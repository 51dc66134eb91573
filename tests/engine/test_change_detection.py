"""Which side changed a field is decided by per-side fingerprints, not by normalising.

The base keeps only normalised values, so "typed as before" could not be
told from "retyped" once the country (and with it the reading of a national
phone number) changed. Each link now remembers a fingerprint of the raw
values each side held; these scenarios are the ones the old heuristic got
wrong, plus the upgrade of a store written before fingerprints existed.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text

from state import Store

from .conftest import customer

MOVE = {"country": "AT", "postal_code": "1010", "city": "Wien", "street": "Ring 1"}


async def linked(env, k_fields, s_fields, number="K-00001"):
    """One customer on both sides, typed as given, linked by a quiet first sync."""
    env.configure(sync={"units": "off"})
    k = await env.k.customers.create(customer(number, **k_fields))
    s = await env.s.customers.create(customer(number, **s_fields))
    first = await env.sync()
    assert first.errors == [] and first.plan.actions == [], first.plan.actions
    return k.id, s.id


async def raw(env, side, rid):
    conn = env.k if side == "kleanapp" else env.s
    return (await conn.customers.get(rid)).record


async def assert_quiet(env):
    writes = await env.writes()
    for full in (False, True):
        again = await env.sync(full=full)
        assert again.errors == [] and again.plan.actions == [], again.plan.actions
        assert again.plan.conflicts == ()
    assert await env.writes() == writes


async def test_a_mobile_retyped_while_moving_abroad_goes_to_sevdesk_and_nothing_comes_back(env):
    """Base DE, +491711234567; KleanApp moves to AT and retypes the mobile as 0171 1234567."""
    k1, s1 = await linked(env, {"mobile": "+491711234567"}, {"mobile": "+49 171 1234567"})
    await env.k.customers.update(k1, {**MOVE, "mobile": "0171 1234567"})

    result = await env.sync()

    assert result.errors == [] and result.plan.conflicts == ()
    assert [a.side for a in result.plan.actions] == ["sevdesk"]
    assert (await raw(env, "kleanapp", k1)).mobile == "0171 1234567"
    sev = await raw(env, "sevdesk", s1)
    assert (sev.country, sev.mobile) == ("AT", "0171 1234567")  # as typed, not re-read
    await assert_quiet(env)


async def test_both_sides_holding_the_same_move_and_number_write_nothing(env):
    k1, s1 = await linked(env, {"mobile": "+491711234567"}, {"mobile": "+49 171 1234567"})
    for conn, rid in ((env.k, k1), (env.s, s1)):
        await conn.customers.update(rid, {**MOVE, "mobile": "0171 1234567"})
    writes = await env.writes()

    result = await env.sync()

    assert result.errors == [] and result.plan.actions == [] and result.plan.conflicts == ()
    assert await env.writes() == writes
    await assert_quiet(env)


async def test_an_unchanged_national_number_keeps_its_meaning_after_a_move(env):
    """Typed as 0171 1234567 in Germany and never touched: the move abroad makes
    it an Austrian number when read there, so KleanApp gets the international
    form as a write of its own; sevDesk's number is left alone."""
    k1, s1 = await linked(env, {"mobile": "0171 1234567"}, {"mobile": "+491711234567"})
    await env.k.customers.update(k1, MOVE)

    result = await env.sync()

    assert result.errors == [] and result.plan.conflicts == ()
    by_side = {a.side: a for a in result.plan.actions}
    assert set(by_side["sevdesk"].fields) == set(MOVE)
    assert by_side["kleanapp"].step == "reformat"
    assert by_side["kleanapp"].fields == {"mobile": "+491711234567"}
    assert (await raw(env, "sevdesk", s1)).mobile == "+491711234567"
    await assert_quiet(env)


async def test_an_edit_that_reads_as_the_base_loses_to_nothing(env):
    """Retyping the same number in another spelling is no edit: sevDesk's real
    change of that number travels to KleanApp without a conflict."""
    k1, s1 = await linked(env, {"phone": "030 1234567"}, {"phone": "+49 30 1234567"})
    await env.k.customers.update(k1, {"phone": "030 123 45 67"})
    await env.s.customers.update(s1, {"phone": "+49 30 7654321"})

    result = await env.sync()

    assert result.errors == [] and result.plan.conflicts == ()
    assert (await raw(env, "kleanapp", k1)).phone == "+49 30 7654321"
    await assert_quiet(env)


def _drop_fingerprints(url: str) -> None:
    """Turn the store back into a schema-2 store (links without fingerprints, before Alembic)."""
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(text("ALTER TABLE link DROP COLUMN kleanapp_raw"))
        db.execute(text("ALTER TABLE link DROP COLUMN sevdesk_raw"))
        db.execute(text("UPDATE schema_info SET version = 2"))
        db.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


async def test_a_store_from_before_fingerprints_is_upgraded_by_one_run_that_writes_nothing(env):
    env.configure(sync={"units": "off"})
    for n in ("K-00001", "K-00002"):
        await env.k.customers.create(customer(n, mobile="0171 1234567"))
        await env.s.customers.create(customer(n, phone="+49 30 1234567", mobile="+491711234567"))
    assert (await env.sync()).errors == []
    env.store.close()
    _drop_fingerprints(env.store.url)
    env.store = Store(env.store.url)
    assert env.store.links_without_fingerprints() == 2
    writes = await env.writes()

    upgrade = await env.sync()  # incremental by default, but fills every link

    assert upgrade.errors == [] and upgrade.full and upgrade.plan.actions == []
    assert await env.writes() == writes
    assert env.store.links_without_fingerprints() == 0
    # And the fingerprints work: an untouched national number survives a move.
    k1 = (await env.customers("kleanapp"))["K-00001"].id
    await env.k.customers.update(k1, MOVE)
    moved = await env.sync()
    by_side = {a.side: a for a in moved.plan.actions}
    assert set(by_side["sevdesk"].fields) == set(MOVE)
    assert by_side["kleanapp"].fields == {"phone": "+49301234567", "mobile": "+491711234567"}
    await assert_quiet(env)
