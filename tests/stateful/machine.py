"""The state machine that explores whole syncs (the test is ``test_sync_machine.py``).

Whole syncs explored by Hypothesis: random edits, syncs, edits during runs, crashes.

A ``RuleBasedStateMachine`` (as vdirsyncer's ``tests/unit/sync/test_sync.py``
does for whole syncs) drives both in-process emulators and the real engine
(``world.py``). Its rules are what people and accidents do: create a
customer on either side, edit any field on either side (clearing it,
retyping a number, moving abroad with a new phone number, company to person,
a new customer number), delete a sevDesk address or communication way,
archive and restore in KleanApp, edit *while* a sync pages through a
listing, and crash a run at a journal point. After every sync it lets the
engine settle (runs until one plans nothing, at most six; then a full read
must plan nothing too) and checks (``checks.py``) what a user would check,
independently of the engine (``model.py``, ``tests/adversarial/audit.py``):

* both sides hold the same customers (normalised), no duplicate on either side;
* every edit the configured rule says must survive has survived;
* a bookkeeper's second e-mail or phone number in sevDesk is still there;
* a further full read plans nothing (no ping-pong, nothing missed by cursors).

Listings are paged two records at a time so that "between two pages" exists.
Shrunk failures are pinned as plain tests in ``test_sync_regressions.py``
(Hypothesis prints the steps as code; ``conftest.py``'s ``machine`` fixture
replays them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from freezegun import freeze_time
from freezegun.api import real_gmtime
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from loguru import logger

from reconciler.connectors.kleanapp import api as kleanapp_api
from reconciler.connectors.sevdesk import api as sevdesk_api
from reconciler.domain.errors import RemoteValidationError
from reconciler.domain.models import Customer
from rules.policies import RuleSet
from tests.adversarial.audit import FIELDS
from tests.stateful.checks import SettleAndCheck
from tests.stateful.model import SECOND_WAYS, SIDES, WAY_FIELDS, ModelCustomer
from tests.stateful.world import World

START = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)
MAX_CUSTOMERS = 5
PAGE_SIZE = 2

# -- what people type ---------------------------------------------------------------
POOLS: dict[str, list[Any]] = {
    # "#" becomes the customer's own key: two customers never share a name, an e-mail
    # or a VAT id by chance (first-sync matching would rightly pair them).
    "company_name": ["Glanz GmbH #", "  Glanz  GmbH # ", "Putz & Co KG #"],
    "email": ["info@glanz#.de", "INFO@Glanz#.de", "buero@putz#.de", None],
    "phone": ["030 1234567", "+49 30 1234567", "0664 1234567", "+43 1 5123456", "12345", None],
    "mobile": ["0171 1234567", "+491711234567", "+43 664 1234567", None],
    "street": ["Hauptstraße 1", "Ring 5", None],
    "postal_code": ["10115", "1010", None],
    "city": ["Berlin", "Wien", None],
    "vat_id": ["DE12345678#", "ATU1234567#", None],
    "note": ["Schlüssel beim Nachbarn", "Hund!", None],
}
COUNTRIES = ["DE", "AT", "CH"]

one_field = st.one_of([st.fixed_dictionaries({f: st.sampled_from(v)}) for f, v in POOLS.items()])
moving = st.fixed_dictionaries(
    {"country": st.sampled_from(COUNTRIES), "phone": st.sampled_from(POOLS["phone"])}
)
kind_switch = st.sampled_from(
    [
        {"kind": "person", "company_name": None, "first_name": "Anna", "last_name": "Berg #"},
        {"kind": "company", "company_name": "Glanz GmbH #", "first_name": None, "last_name": None},
    ]
)
changes = st.one_of(
    one_field,
    one_field,
    moving,
    st.sampled_from(COUNTRIES).map(lambda c: {"country": c}),
    kind_switch,
    st.just({"customer_number": "NEW"}),  # replaced by a fresh number
)
new_customers = st.fixed_dictionaries(
    {"company_name": st.sampled_from(POOLS["company_name"])},
    optional={f: st.sampled_from(v) for f, v in POOLS.items() if f != "company_name"}
    | {"country": st.sampled_from(COUNTRIES)},
)
sides = st.sampled_from(SIDES)
targets = st.integers(0, MAX_CUSTOMERS - 1)
rule_names = st.sampled_from(["last-write-wins", "kleanapp-authoritative", "sevdesk-authoritative"])
rule_configs = st.fixed_dictionaries(
    {"default": rule_names},
    optional={"fields": st.dictionaries(st.sampled_from(["phone", "email", "city"]), rule_names)},
)
CRASH_POINTS = [
    f"{stage}:customer.{side}.{op}"
    for stage in ("after_intent", "after_request")
    for side in SIDES
    for op in ("create", "update")
]
PARTS = ["address", "EMAIL", "PHONE", "MOBILE"]
#: Write requests a fault can hit: (side, method, path regex).
FAULTS = [
    ("sevdesk", "POST", "^/api/v1/Contact$"),
    ("sevdesk", "PUT", "^/api/v1/Contact/"),
    ("sevdesk", "POST", "^/api/v1/(ContactAddress|CommunicationWay)$"),
    ("sevdesk", "PUT", "^/api/v1/(ContactAddress|CommunicationWay)/"),
    ("sevdesk", "DELETE", "^/api/v1/(ContactAddress|CommunicationWay)/"),
    ("kleanapp", "POST", "^/api/v1/customers$"),
    ("kleanapp", "PATCH", "^/api/v1/customers/"),
]
#: How a twin typed into sevDesk may differ from its KleanApp copy.
TWIN_DIFFS = [
    {"phone": "+49 30 1234567"},
    {"city": "Potsdam"},
    {"note": None},
    {"email": "INFO@Glanz#.de"},
]
#: STATEFUL_PROGRESS=path: every 100 sequences, append the counts so far (long local runs).
PROGRESS = os.environ.get("STATEFUL_PROGRESS")
#: Rules left out while the defect they find is open on main (name -> the defect).
#: Each such defect is pinned in test_sync_regressions.py as a strict xfail.
EXCLUDED: dict[str, str] = {}


def small_difference(fields: dict[str, Any], differ: dict[str, Any]) -> dict[str, Any]:
    """``differ`` (one of ``TWIN_DIFFS``) as one small way of typing the same customer.

    The e-mail in capitals is the address typed, in capitals (not another
    address: a twin typed with ``buero@putz1.de`` in KleanApp and
    ``INFO@glanz1.de`` in sevDesk rightly scores below a link, found by the
    long run); another phone number only where none was typed.
    """
    out = dict(differ)
    if "email" in out and fields.get("email"):
        out["email"] = fields["email"].upper()
    if "phone" in out and fields.get("phone"):
        del out["phone"]
    return out


def own(fields: dict[str, Any], key: int) -> dict[str, Any]:
    """``fields`` with "#" in names replaced by the customer's key."""
    return {f: v.replace("#", str(key)) if isinstance(v, str) else v for f, v in fields.items()}


class SyncMachine(SettleAndCheck, RuleBasedStateMachine):
    clock: Any = None  # freezegun's clock, set by the test
    #: What the explored sequences did, summed (the test prints it: the run's size).
    stats: Counter[str] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.world: World | None = None
        self.customers: list[ModelCustomer] = []
        self.next_number = 1
        self.tainted = False

    # -- set-up ------------------------------------------------------------------
    @initialize(
        rules=rule_configs,
        seed=st.lists(st.tuples(sides, new_customers), min_size=1, max_size=MAX_CUSTOMERS - 1),
    )
    def start(self, rules: dict[str, Any], seed: list[tuple[str, dict[str, Any]]]) -> None:
        """Customers on either side, linked by a first sync: there is something to edit."""
        self.clock.move_to(START)
        self.stats["sequences"] += 1
        if PROGRESS and self.stats["sequences"] % 100 == 0:
            with open(PROGRESS, "a", encoding="utf-8") as out:  # a long run's count, if cut off
                # The wall clock, not the frozen one the machine moves.
                stamp = time.strftime("%H:%M:%S", real_gmtime())
                out.write(f"{stamp} {dict(self.stats)}\n")
        self.world = World(rules)
        self.rule_for = RuleSet(**rules).rule_for
        for side, fields in seed:
            self.create(side, fields)
        self.sync()

    def teardown(self) -> None:
        if self.world is not None:
            self.world.close()

    # -- helpers ---------------------------------------------------------------
    def tick(self, seconds: int = 7) -> None:
        self.clock.tick(dt.timedelta(seconds=seconds))

    def number(self) -> str:
        self.next_number += 1
        return f"K-{self.next_number:04d}"

    def pick(self, index: int, side: str | None = None) -> ModelCustomer | None:
        usable = [
            c
            for c in self.customers
            if not c.archived and (c.linked or (side is not None and c.ids.get(side)))
        ]
        return usable[index % len(usable)] if usable else None

    async def edit(self, side: str, customer: ModelCustomer, change: dict[str, Any]) -> set[str]:
        """A person's edit; returns the fields it changed (as ``record_edit`` counts them)."""
        change = own(change, customer.key)
        if change.get("customer_number") == "NEW":
            change["customer_number"] = self.number()
        world = self.world
        assert world is not None
        for f in [f for f, v in change.items() if v is None and f in customer.second_ways]:
            if side == "sevdesk" and (customer.raw[side] or {}).get(f) == customer.second_ways[f]:
                del customer.second_ways[f]  # the one sevDesk shows: the person clears it
        with contextlib.suppress(RemoteValidationError):
            # The service refused what was typed: nothing changed, as for a person.
            await world.update(side, customer.ids[side], change)
        now = await world.get(side, customer.ids[side])
        if customer.twin_unlinked:
            customer.edited_before_link = True
        return customer.record_edit(side, now.record.model_dump(), now.updated_at, set(change))

    # -- what people do -----------------------------------------------------------
    @precondition(lambda self: len(self.customers) < MAX_CUSTOMERS)
    @rule(side=sides, fields=new_customers)
    def create(self, side: str, fields: dict[str, Any]) -> None:
        self.tick()
        world, key = self.world, len(self.customers)
        typed = Customer(customer_number=self.number(), **own(fields, key))
        try:
            created = world.run(world.create(side, typed))
        except RemoteValidationError:
            return  # refused as typed: nobody has this customer
        ids = {"kleanapp": None, "sevdesk": None, side: created.id}
        customer = ModelCustomer(key=key, ids=ids)
        customer.record_edit(side, created.record.model_dump(), created.updated_at)
        self.customers.append(customer)

    @rule(side=sides, index=targets, change=changes)
    def edit_field(self, side: str, index: int, change: dict[str, Any]) -> None:
        customer = self.pick(index, side)
        if customer is None or not customer.ids.get(side):
            return
        self.tick()
        self.world.run(self.edit(side, customer, change))

    @precondition(lambda self: len(self.customers) < MAX_CUSTOMERS)
    @rule(fields=new_customers, differ=st.sampled_from([{}, *(dict(c) for c in TWIN_DIFFS)]))
    def create_on_both_sides(self, fields: dict[str, Any], differ: dict[str, Any]) -> None:
        """The same customer typed into both systems before they were linked."""
        self.tick()
        world, key, number = self.world, len(self.customers), self.number()
        ids: dict[str, str | None] = {"kleanapp": None, "sevdesk": None}
        customer = ModelCustomer(key=key, ids=ids)
        for side, extra in (("kleanapp", {}), ("sevdesk", small_difference(fields, differ))):
            typed = Customer(customer_number=number, **own({**fields, **extra}, key))
            try:
                created = world.run(world.create(side, typed))
            except RemoteValidationError:
                return  # refused as typed (the other copy, if any, is a one-sided customer)
            ids[side] = created.id
            # Every field was typed on both sides: a first link decides each by the rule.
            after = created.record.model_dump()
            customer.record_edit(side, after, created.updated_at, set(FIELDS))
            if side == "kleanapp":
                self.customers.append(customer)
            self.tick()

    @precondition(lambda self: "add_second_way" not in EXCLUDED)
    @rule(index=targets, kind=st.sampled_from(list(SECOND_WAYS)))
    def add_second_way(self, index: int, kind: str) -> None:
        """A second e-mail or phone number in sevDesk, not marked main: nothing to sync
        (unless the contact had none of its kind: then it is the one sevDesk shows)."""
        customer = self.pick(index, "sevdesk")
        if customer is None:
            return
        self.tick()
        field, value = SECOND_WAYS[kind]
        value = own({field: value}, customer.key)[field]
        world = self.world
        world.run(world.add_sevdesk_way(customer.ids["sevdesk"], kind, value))
        now = world.run(world.get("sevdesk", customer.ids["sevdesk"]))
        customer.record_edit("sevdesk", now.record.model_dump(), now.updated_at)
        if getattr(now.record, field) != value:  # else it is the one sevDesk shows
            customer.second_ways[field] = value

    @precondition(lambda self: "swap_numbers_in_sevdesk" not in EXCLUDED)
    @rule(first=targets, second=targets)
    def swap_numbers_in_sevdesk(self, first: int, second: int) -> None:
        """Two customers' numbers swapped in sevDesk (which does not enforce unique numbers)."""
        a, b = self.pick(first), self.pick(second)
        if a is None or b is None or a is b or a.pending or b.pending:
            return
        self.tick()
        world = self.world
        numbers = [a.raw["sevdesk"]["customer_number"], b.raw["sevdesk"]["customer_number"]]
        for customer, number in ((a, numbers[1]), (b, numbers[0])):
            world.run(world.set_sevdesk_number(customer.ids["sevdesk"], number))
            now = world.run(world.get("sevdesk", customer.ids["sevdesk"]))
            customer.record_edit("sevdesk", now.record.model_dump(), now.updated_at)

    @precondition(lambda self: "delete_sevdesk_part" not in EXCLUDED)
    @rule(index=targets, part=st.sampled_from(PARTS))
    def delete_sevdesk_part(self, index: int, part: str) -> None:
        customer = self.pick(index, "sevdesk")
        if customer is None or not customer.ids.get("sevdesk"):
            return
        self.tick()
        world = self.world
        row = world.run(world.delete_sevdesk_part(customer.ids["sevdesk"], part))
        if row is not None:
            field = next((f for f, (k, _v) in WAY_FIELDS.items() if k == part), None)
            if field and customer.second_ways.get(field) == row.get("value"):
                del customer.second_ways[field]  # the bookkeeper deleted it
            now = world.run(world.get("sevdesk", customer.ids["sevdesk"]))
            customer.record_edit("sevdesk", now.record.model_dump(), now.updated_at)
            customer.time_unknown.add("sevdesk")

    @rule(index=targets)
    def archive_in_kleanapp(self, index: int) -> None:
        customer = self.pick(index)
        if customer is None or customer.pending:
            return
        self.tick()
        self.world.run(self.world.archive(customer.ids["kleanapp"]))
        customer.archived = True

    @rule(index=targets)
    def restore_in_kleanapp(self, index: int) -> None:
        archived = [c for c in self.customers if c.archived]
        if not archived:
            return
        customer = archived[index % len(archived)]
        self.tick()
        self.world.run(self.world.restore(customer.ids["kleanapp"]))
        customer.archived = False
        now = self.world.run(self.world.get("kleanapp", customer.ids["kleanapp"]))
        customer.raw["kleanapp"] = now.record.model_dump()

    # -- syncs --------------------------------------------------------------------
    @rule()
    def sync(self) -> None:
        self.tick()
        self.settle()

    @precondition(lambda self: "sync_while_people_edit" not in EXCLUDED)
    @rule(
        side=sides,
        after_page=st.integers(1, 3),
        edits=st.lists(st.tuples(sides, targets, changes), min_size=1, max_size=3),
        full=st.booleans(),
    )
    def sync_while_people_edit(
        self,
        side: str,
        after_page: int,
        edits: list[tuple[str, int, dict[str, Any]]],
        full: bool = False,
    ) -> None:
        """People edit right after page ``after_page`` of ``side``'s listing was answered
        (an incremental run lists only changed records: often one page, then no edit)."""
        chosen = [(s, self.pick(i, s), change) for s, i, change in edits]
        chosen = [(s, c, change) for s, c, change in chosen if c is not None and c.ids.get(s)]
        if not chosen:
            return

        async def people() -> None:
            for s, customer, change in chosen:
                self.tick(1)
                racing = customer.twin_unlinked  # this run may be the one that links it
                changed = await self.edit(s, customer, change)
                if racing:
                    customer.raced |= changed

        self.tick()
        self.tainted = True
        self.world.run(
            self.world.sync_with_edits_between_pages(side, after_page, people, full=full)
        )
        self.settle()

    @rule(fault=st.sampled_from(FAULTS), kind=st.sampled_from(["status", "after_write"]))
    def sync_with_a_failing_write(self, fault: tuple[str, str, str], kind: str) -> None:
        """One write fails with 500 (``after_write``: after the service did it); then recover."""
        self.tick()
        self.tainted = True
        side, method, path = fault
        world = self.world
        world.run(world.fail_next(side, {"kind": kind, "method": method, "path": path}))
        world.run(world.sync())  # errors expected: the failed write is reported
        world.run(world.clear_faults())
        self.tick()
        self.settle()

    @rule(point=st.sampled_from(CRASH_POINTS), nth=st.integers(1, 2))
    def crash_during_a_sync(self, point: str, nth: int) -> None:
        self.tick()
        self.tainted = True
        self.world.run(self.world.sync_crashing_at(point, nth))
        self.tick()
        self.settle()


@contextlib.contextmanager
def machine_world(monkeypatch) -> Iterator[type[SyncMachine]]:
    """Small pages, a frozen clock the machine moves, no log lines: the machine's setting."""
    monkeypatch.setattr(kleanapp_api, "PER_PAGE", PAGE_SIZE)
    monkeypatch.setattr(sevdesk_api, "MAX_PAGE", PAGE_SIZE)
    logger.disable("reconciler")
    try:
        # Hypothesis keeps real time (its shrink and health-check clocks must not jump).
        with freeze_time(START, real_asyncio=True, ignore=["hypothesis"]) as clock:
            SyncMachine.clock = clock
            yield SyncMachine
    finally:
        logger.enable("reconciler")
