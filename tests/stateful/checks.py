"""What the stateful machine checks after every sync (``machine.py`` drives it).

Kept apart from the rules (what people do) so each reads on its own: a sync is
let settle (runs until one plans nothing, at most six; then a full read must
plan nothing too), parked twins are answered as an admin would, and then what
a user would check is checked, independently of the engine (``model.py``,
``tests/adversarial/audit.py``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from reconciler.admin.queue import link_parked
from tests.adversarial.audit import AuditReport, has_address, in_country, judge
from tests.stateful.model import SIDES, WAY_FIELDS, ModelCustomer, violations, without_second_ways

OTHER = {"kleanapp": "sevdesk", "sevdesk": "kleanapp"}


class SettleAndCheck:
    """The machine's checks, mixed into ``SyncMachine``."""

    world: Any
    customers: list[ModelCustomer]
    stats: Counter[str]
    tainted: bool
    rule_for: Any
    tick: Callable[..., None]  # the machine's clock

    def settle(self) -> None:
        """Run until a run plans nothing; a full read must then plan nothing either; check.

        Twins the matcher rightly parked are then linked as an admin would
        (``link_parked_twins``), and the runs repeat before the check.
        """
        self.run_until_quiet()
        self.split_twins_told_apart()
        if self.link_parked_twins():
            self.run_until_quiet()
        self.check()
        self.stats["settled syncs"] += 1
        self.stats["customers checked"] += len(self.customers)

    def split_twins_told_apart(self) -> None:
        """A twin whose copies no longer look alike is two customers, as the engine says.

        Edited before its first link (its number changed on one side, say,
        leaving only the name in common), a twin may score below the matcher's
        ``park_threshold`` (``rules.matching``): the engine then takes the two
        copies for different customers and creates each on the other side,
        with a near-miss note in the report ("not sevDesk customer …"). That is
        its documented decision, not a lost edit: the model follows it, two
        customers from then on, each expecting what its own side held.
        """
        linked = [
            (link.kleanapp_id, link.sevdesk_id) for link in self.world.store.links("customer")
        ]
        partner = {"kleanapp": dict(linked), "sevdesk": {s: k for k, s in linked}}
        for customer in list(self.customers):
            if not customer.may_be_parked:
                continue
            ids = customer.ids
            told_apart = any(
                partner[side].get(ids[side]) not in (None, ids[OTHER[side]]) for side in SIDES
            )
            if not told_apart:
                continue
            self.customers.append(customer.split_off("sevdesk", key=len(self.customers)))
            self.stats["twins told apart"] += 1

    def link_parked_twins(self) -> bool:
        """Answer the parked queue as the admin who typed the customers (``kleansync link``).

        A twin the model allows to be parked (``ModelCustomer.may_be_parked``) is
        linked with its other copy. Any other customer parked was taken for a
        possible match of a look-alike (the machine's customers differ by one
        digit of their name and may share an address): the admin knows it is a
        customer of its own and has it created on the other side.
        """
        store = self.world.store
        answered = False
        for row in store.open_parked():
            customer = next(
                (c for c in self.customers if c.ids.get(row.side) == row.record_id), None
            )
            assert customer is not None, f"{row.side} record {row.record_id} parked: {row.reason}"
            if not customer.may_be_parked:
                assert not customer.twin_unlinked, (
                    f"customer #{customer.key}, typed into both systems, parked: {row.reason}"
                )
                link_parked(store, f"P{row.id}", create_new=True)
                self.stats["parked look-alikes created"] += 1
                answered = True
            elif row.side == "kleanapp" and store.get_parked(row.id).status == "open":
                sevdesk_id = customer.ids["sevdesk"]
                link_parked(store, f"P{row.id}", with_id=f"sevdesk:{sevdesk_id}")
                self.stats["parked twins linked"] += 1
                answered = True
        return answered

    def run_until_quiet(self) -> None:
        world = self.world
        for _ in range(6):
            result = world.run(world.sync())
            self.stats["runs"] += 1
            self.stats["writes"] += sum(result.counts.values())
            assert result.errors == [], result.errors
            self.tick(1)
            if not result.plan.actions:
                break
        else:
            raise AssertionError("the sync never settles: six runs in a row planned writes")
        full = world.run(world.sync(full=True))
        assert full.errors == [], full.errors
        assert full.plan.actions == [], f"a full read plans more: {full.plan.actions}"
        self.stats["runs"] += 1

    def check(self) -> None:
        world = self.world
        ids = {side: world.run(world.ids_by_number(side)) for side in SIDES}
        report = self.judged(world.run(world.audit()), ids["sevdesk"])
        assert report.duplicates == [], report.summary()
        assert report.disagreements == [], report.summary()
        active = [c for c in self.customers if not c.archived]
        assert report.counts["kleanapp"] == len(active), report.summary()
        assert report.counts["kleanapp_archived"] == len(self.customers) - len(active)
        assert report.counts["sevdesk"] == len(self.customers), report.summary()
        k_view, s_view = report.kleanapp.by_number(), report.sevdesk.by_number()
        problems: list[str] = []
        for customer in active:
            expected = customer.expected(self.rule_for, self.tainted)
            number = next((n for n in expected["customer_number"] if n in k_view), None)
            assert number is not None and number in s_view, (
                f"customer #{customer.key} (number {set(expected['customer_number'])}) "
                f"is missing: {report.summary()}"
            )
            k_now, s_now = k_view[number], s_view[number]
            if not has_address(s_now):  # its numbers read as in KleanApp's country
                s_now = in_country(s_now, k_now["country"])
            for label, now in (("KleanApp", k_now), ("sevDesk", s_now)):
                problems += violations(customer, expected, now, label)
            for side in SIDES:
                if customer.ids.get(side):
                    assert ids[side][number] == customer.ids[side], "the customer was re-created"
            customer.settle(k_view[number], {side: ids[side][number] for side in SIDES})
            for side in SIDES:
                now = world.run(world.get(side, ids[side][number]))
                customer.raw[side] = now.record.model_dump()
        assert problems == [], "\n".join(problems)
        for customer in active:
            if customer.second_ways:
                ways = world.run(world.sevdesk_ways(customer.ids["sevdesk"]))
                held = {(w.get("type"), w.get("value")) for w in ways}
                for f, value in customer.second_ways.items():
                    assert (WAY_FIELDS[f][0], value) in held, (
                        f"customer #{customer.key}: the bookkeeper's second {f} {value!r} "
                        f"is gone from sevDesk (holds {sorted(held)})"
                    )
        self.tainted = False

    def judged(self, report: AuditReport, sevdesk_ids: dict[str, str]) -> AuditReport:
        """The audit judged again with the bookkeeper's second ways read as they are meant
        (``model.without_second_ways``)."""
        by_id = {c.ids["sevdesk"]: c for c in self.customers if c.second_ways}
        k_view = report.kleanapp.by_number()
        records = []
        for record in report.sevdesk.active:
            number = record["customer_number"]
            customer = by_id.get(sevdesk_ids.get(number))
            if customer is not None and number in k_view:
                record = without_second_ways(customer, record, k_view[number])
            records.append(record)
        sevdesk = dataclasses.replace(report.sevdesk, active=records)
        return judge(report.kleanapp, sevdesk)
