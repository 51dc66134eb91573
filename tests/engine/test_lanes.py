"""Both services written at once, each at its own pace, in plan order per record (issue 16).

Before: a run applied one pair after the other, so an activation spent the
KleanApp minutes plus the sevDesk minutes. The lanes (reconciler/sync/lanes.py)
are tested directly with pairs whose writes are steered by hand (no sleeps),
and end to end: a run against both in-process emulators journals the two
sides' creates interleaved, and every record's writes in the plan's order.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reconciler.domain.errors import AuthError
from reconciler.sync.lanes import lane_of, run_lanes
from reconciler.sync.plan_model import Action, PairPlan

from .conftest import customer


def pair(key: str, *sides: str, op: str = "update", kid: str | None = None) -> PairPlan:
    actions = tuple(
        Action(entity="customer", side=side, op=op, key=key, target_id=f"{side}-{key}")  # type: ignore[arg-type]
        for side in sides
    )
    return PairPlan(entity="customer", key=key, kleanapp_id=kid, actions=actions)


class Recorder:
    """An ``apply_pair`` that logs start and end, and lets a test hold a pair open."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.fail: dict[str, BaseException] = {}

    async def __call__(self, p: PairPlan) -> None:
        self.log.append(f"start {p.key}")
        if p.key in self.gates:
            await self.gates[p.key].wait()
        for _ in range(3):
            await asyncio.sleep(0)  # a request's worth of awaiting
        if p.key in self.fail:
            raise self.fail[p.key]
        self.log.append(f"end {p.key}")


def test_a_pair_goes_to_the_lane_of_its_first_write_unless_it_numbers_in_kleanapp():
    assert lane_of(pair("A", "sevdesk", "kleanapp")) == "sevdesk"
    assert lane_of(pair("B", "kleanapp")) == "kleanapp"
    renumber = PairPlan(
        entity="customer",
        key="C",
        actions=(
            Action(entity="customer", side="sevdesk", op="update", key="C", target_id="1"),
            Action(
                entity="customer",
                side="kleanapp",
                op="update",
                key="C",
                target_id="2",
                fields={"customer_number": "K-9"},
            ),
        ),
    )
    assert lane_of(renumber) == "kleanapp"  # KleanApp keeps numbers unique: in plan order


async def test_the_two_sides_are_written_at_the_same_time():
    record = Recorder()
    record.gates["S1"] = asyncio.Event()
    task = asyncio.create_task(
        run_lanes([pair("S1", "sevdesk"), pair("K1", "kleanapp")], record, stopped=lambda: False)
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert sorted(record.log) == ["end K1", "start K1", "start S1"]  # sevDesk's still open
    record.gates["S1"].set()
    assert await task == []
    assert record.log[-1] == "end S1"


async def test_a_record_written_in_both_lanes_keeps_the_plan_order():
    record = Recorder()
    record.gates["first"] = asyncio.Event()
    first = pair("first", "sevdesk", kid="7")
    later = pair("later", "kleanapp", kid="7")  # the same KleanApp record, later in the plan
    task = asyncio.create_task(run_lanes([first, later], record, stopped=lambda: False))
    for _ in range(20):
        await asyncio.sleep(0)
    assert record.log == ["start first"]
    record.gates["first"].set()
    await task
    assert record.log == ["start first", "end first", "start later", "end later"]


async def test_an_error_that_stops_the_run_lets_the_pair_in_flight_finish_and_takes_no_more():
    record = Recorder()
    record.fail["K1"] = AuthError("KleanApp rejected the API key (HTTP 401)")
    record.gates["S1"] = asyncio.Event()
    plan = [
        pair("K1", "kleanapp"),
        pair("K2", "kleanapp"),
        pair("S1", "sevdesk"),
        pair("S2", "sevdesk"),
    ]
    task = asyncio.create_task(run_lanes(plan, record, stopped=lambda: False))
    for _ in range(20):
        await asyncio.sleep(0)
    record.gates["S1"].set()
    with pytest.raises(AuthError):
        await task
    assert record.log == ["start K1", "start S1", "end S1"]


async def test_a_graceful_stop_returns_the_pairs_never_started():
    record = Recorder()
    stop = asyncio.Event()
    record.gates["S1"] = asyncio.Event()
    plan = [pair("S1", "sevdesk"), pair("S2", "sevdesk"), pair("K1", "kleanapp", kid="1")]
    plan.append(pair("K2", "kleanapp", kid="1"))
    task = asyncio.create_task(run_lanes(plan, record, stopped=stop.is_set))
    for _ in range(20):
        await asyncio.sleep(0)
    stop.set()
    record.gates["S1"].set()
    left = await task
    assert [p.key for p in left] == ["S2"]  # K1 and K2 went through before the stop
    assert record.log.count("end S1") == 1


async def test_an_activation_journals_both_sides_interleaved_and_each_record_in_order(env):
    env.configure(sync={"units": "off"})
    for n in ("K-1", "K-2", "K-3"):
        await env.k.customers.create(customer(n))
    for n in ("S-1", "S-2", "S-3"):
        await env.s.customers.create(customer(n))
    # Every answer takes a turn of the event loop, as one over a network does
    # (in-process, an emulator answers without ever letting the other lane run).
    for app in (env.kleanapp_app, env.sevdesk_app):
        rule = {"kind": "latency", "latency_ms": 0, "times": None}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
            assert (await c.post("http://x/_sandbox/faults", json=rule)).status_code == 201

    result = await env.sync()

    assert result.counts == {"customer.kleanapp.create": 3, "customer.sevdesk.create": 3}
    creates = [(j.side, j.key) for j in env.store.journal() if j.entity == "customer"]
    sides = [side for side, _ in creates]
    # Both lanes at once: neither side's creates all come before the other's.
    assert sides.index("kleanapp") < len(sides) - 1 - sides[::-1].index("sevdesk")
    assert sides.index("sevdesk") < len(sides) - 1 - sides[::-1].index("kleanapp")
    # Each side in the plan's order, and every record written once, then linked.
    assert [k for s, k in creates if s == "sevdesk"] == ["K-1", "K-2", "K-3"]
    assert [k for s, k in creates if s == "kleanapp"] == ["S-1", "S-2", "S-3"]
    assert await env.normalised("kleanapp") == await env.normalised("sevdesk")
    assert len(env.store.links("customer")) == 6
