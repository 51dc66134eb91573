"""Applying a plan to both services at once, each at its own pace, in order per record.

Why: KleanApp and sevDesk are independent services, each with its own rate
limit. Applied one pair after the other, a run spends the sum of both sides'
request time although either side waits idle while the other one writes; an
activation of 500 customers per side took the KleanApp minutes *plus* the
sevDesk minutes. Here each side has a lane that applies pairs in plan order,
one at a time, and the two lanes run side by side:

* a pair goes to the lane of its first write's side; one that writes a
  customer number or creates in KleanApp goes to the KleanApp lane, because
  KleanApp keeps numbers unique and the planner's order of renames and
  creates is what keeps them from colliding;
* a pair waits for every earlier pair that names the same record (an id, its
  key, a customer number or unit name its writes set, an ``Action.after``),
  so the journal order per record is the plan's order, as before;
* one pair at a time per lane (``WORKERS``): the HTTP layer paces each side
  anyway, and a run whose lock is taken over, or that is killed, leaves at
  most one write in flight per side.

A lane takes no further pair once the other one failed with an error that
stops the run (lock lost, auth, unreachable, a crash); the pair in flight
finishes first, then the first error is raised. Each pair is journaled by the
applier exactly as before, so a crash anywhere resumes without duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from reconciler.sync.plan_model import PairPlan

#: Pairs each lane applies at the same time.
WORKERS = {"kleanapp": 1, "sevdesk": 1}


def lane_of(pair: PairPlan) -> str:
    """The side whose lane applies ``pair`` (see the module docstring)."""
    for action in pair.actions:
        if action.side == "kleanapp" and (
            action.op == "create" or "customer_number" in action.fields
        ):
            return "kleanapp"
    return pair.actions[0].side if pair.actions else "sevdesk"


def names(pair: PairPlan) -> set[str]:
    """Everything that identifies the records ``pair`` writes, for ordering by record."""
    found = {f"{pair.entity}:key:{pair.key}"}
    found |= {f"{pair.entity}:kleanapp:{pair.kleanapp_id}"} if pair.kleanapp_id else set()
    found |= {f"{pair.entity}:sevdesk:{pair.sevdesk_id}"} if pair.sevdesk_id else set()
    for action in pair.actions:
        if action.target_id:
            found.add(f"{pair.entity}:{action.side}:{action.target_id}")
        for field in ("customer_number", "name"):
            value = action.fields.get(field)
            if isinstance(value, str) and value:
                found.add(f"{pair.entity}:{field}:{value.casefold()}")
    return found


async def run_lanes(
    pairs: Sequence[PairPlan],
    apply_pair: Callable[[PairPlan], Awaitable[None]],
    *,
    stopped: Callable[[], bool],
) -> list[PairPlan]:
    """Apply every pair through its lane; the pairs never started (a stop), in plan order."""
    finished = [asyncio.Event() for _ in pairs]
    before: list[set[int]] = []
    last: dict[str, int] = {}
    owner = {a.id: i for i, p in enumerate(pairs) for a in p.actions}
    for i, pair in enumerate(pairs):
        earlier = {last[n] for n in names(pair) if n in last}
        earlier |= {owner[a.after] for a in pair.actions if a.after in owner}
        before.append({j for j in earlier if j < i})
        last.update(dict.fromkeys(names(pair), i))
    # deques: popping the head of a list is O(n), quadratic over an activation of 100,000 pairs
    queues: dict[str, deque[int]] = {"kleanapp": deque(), "sevdesk": deque()}
    for i, pair in enumerate(pairs):
        queues[lane_of(pair)].append(i)
    started: set[int] = set()
    abandoned: set[int] = set()  # never started, or waiting for one that never was
    failure: list[BaseException] = []

    async def worker(queue: deque[int]) -> None:
        while queue and not failure and not stopped():
            i = queue.popleft()
            try:
                for j in sorted(before[i]):
                    await finished[j].wait()
                if failure or abandoned & before[i]:
                    abandoned.add(i)  # its record's earlier write never ran: not this one
                else:
                    started.add(i)
                    await apply_pair(pairs[i])
            except BaseException as exc:  # noqa: BLE001 - raised below, once the others stop
                failure.append(exc)
            finally:
                finished[i].set()
        for i in queue:  # a stop or a failure: what this lane never took
            abandoned.add(i)
            finished[i].set()
        queue.clear()

    await asyncio.gather(*(worker(queues[side]) for side, n in WORKERS.items() for _ in range(n)))
    if failure:
        raise failure[0]
    return [p for i, p in enumerate(pairs) if i not in started]


class FollowUps:
    """Writes a pair leaves behind for one side, sent by a lane of their own.

    Why: a new customer link records the KleanApp id on its sevDesk contact
    (one sevDesk write). Sent by the pair itself, every KleanApp create would
    wait for sevDesk's pace, and KleanApp would be written at half its own.
    Queued here, they go out in order at sevDesk's pace beside its lane, each
    journaled by its sender as before. A stopping error is raised by
    ``finish``; after a failure elsewhere the queue is dropped (what was not
    journaled yet is healed by the next full run's backfill, as after a kill).
    """

    def __init__(self, send: Callable[..., Awaitable[Any]]) -> None:
        self.send = send
        self.queue: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()
        self.failure: Exception | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def put(self, *args: Any) -> None:
        self.queue.put_nowait(args)

    async def _run(self) -> None:
        while (item := await self.queue.get()) is not None:
            if self.failure is None:
                try:
                    await self.send(*item)
                except Exception as exc:  # noqa: BLE001 - raised by finish()
                    self.failure = exc

    async def finish(self, *, drop: bool = False) -> None:
        """Send what is queued (or ``drop`` it), then raise the first stopping error."""
        if self.task is None:
            return
        if drop:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            return
        self.queue.put_nowait(None)
        await self.task
        if self.failure is not None:
            raise self.failure
