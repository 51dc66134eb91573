"""Activation through the emulators: 300 customers per side typed independently."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import httpx

from rules.normalize import normalize_record


def activation_data():
    name = "activation_data"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "rules" / "activation_data.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


async def bulk(app, root: str, body: dict) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        r = await c.post(f"{root}/_sandbox/bulk", json=body)
        assert r.status_code == 201, r.text
        return r.json()


async def test_first_sync_links_true_pairs_parks_ambiguous_creates_the_rest(env):
    sc = activation_data().activation_scenario()
    k_ids = [
        str(i)
        for i in (
            await bulk(env.kleanapp_app, "http://kleanapp.test", {"customers": list(sc.kleanapp)})
        )["customers"]
    ]
    s_ids = [
        str(i)
        for i in (
            await bulk(env.sevdesk_app, "http://sevdesk.test", {"contacts": list(sc.sevdesk)})
        )["contacts"]
    ]
    env.configure(sync={"units": "off"}, rules={"default": "kleanapp-authoritative"})

    first = await env.sync()
    assert first.errors == []

    links = {(link.kleanapp_id, link.sevdesk_id) for link in env.store.links("customer")}
    true_pairs = {(k_ids[k], s_ids[s]) for k, s, _level in sc.pairs}
    assert true_pairs <= links, f"{len(true_pairs - links)} true pairs were not linked"
    linked_k = {k for k, _ in links}
    linked_s = {s for _, s in links}
    # Nothing else was linked to an existing record: the other links are new creations.
    for k, s in links - true_pairs:
        assert (k not in k_ids) or (s not in s_ids), f"false link {k} ~ {s}"

    parked = {(p.side, p.record_id) for p in first.plan.parked}
    assert parked == {("kleanapp", k_ids[i]) for i in sc.parked_kleanapp} | {
        ("sevdesk", s_ids[i]) for i in sc.parked_sevdesk
    }
    assert not any(k_ids[i] in linked_k for i in sc.parked_kleanapp)
    assert not any(s_ids[i] in linked_s for i in sc.parked_sevdesk)

    assert first.counts == {
        "customer.sevdesk.create": len(sc.create_in_sevdesk),
        "customer.kleanapp.create": len(sc.create_in_kleanapp),
    } | (
        {"customer.kleanapp.update": first.counts["customer.kleanapp.update"]}
        if "customer.kleanapp.update" in first.counts
        else {}
    ) | (
        {"customer.sevdesk.update": first.counts["customer.sevdesk.update"]}
        if "customer.sevdesk.update" in first.counts
        else {}
    )
    for side in ("kleanapp", "sevdesk"):
        listing = await (env.k if side == "kleanapp" else env.s).customers.list_changed()
        numbers = Counter(r.record.customer_number for r in listing.records)
        # Only the parked same-side duplicates may share a number, as they did before.
        dupes = {n for n, c in numbers.items() if c > 1 and n}
        before = Counter(
            r.get("customer_number") for r in (sc.kleanapp if side == "kleanapp" else sc.sevdesk)
        )
        assert all(before[n] == numbers[n] for n in dupes), f"{side} gained duplicates"

    # Every linked pair now agrees field by field (first-link conflicts were decided).
    k_now = {r.id: r for r in (await env.k.customers.list_changed()).records}
    s_now = {r.id: r for r in (await env.s.customers.list_changed()).records}
    for k, s in links:
        a = normalize_record(k_now[k].record).model_dump(exclude={"archived"})
        b = normalize_record(s_now[s].record).model_dump(exclude={"archived"})
        assert a == b, (k, s)

    second = await env.sync()
    assert second.counts == {}, [(a.key, a.fields) for a in second.plan.actions][:5]
    assert second.plan.conflicts == ()
    assert len(env.store.open_parked()) == len(parked)
