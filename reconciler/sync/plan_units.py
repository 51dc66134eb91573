"""Planning units of measure: the same lifecycle as customers, by meaning.

Units used to be paired afresh on every run by name. Once a unit was
renamed or deleted on one side (or deleted and added again in sevDesk), the
fresh pairing planned a second link for a unit that already had one and
every later run ended in ``UNIQUE constraint failed: link…``. So, like
customers, a unit's *link* is the truth between runs, and this module
decides per link:

* both sides still mean the same unit: nothing (a spelling within one
  meaning, "Std" -> "Stunde", is not a change);
* renamed in sevDesk: the KleanApp unit is renamed;
* renamed in KleanApp: an admin task, because sevDesk renames units only in
  its settings page; the base remembers both names, so it is reported once;
* gone on one side: a unit of the same meaning that appeared unlinked on
  that side is the same unit added again, and the link is repaired;
  otherwise the deletion policy decides (``[sync] on_kleanapp_unit_delete``,
  ``on_sevdesk_unit_delete``), and a tombstone in the base keeps it from
  being decided again;
* gone on both sides: the link is forgotten.

Only what no link covers is then matched by name, each id at most once; a
second spelling of a linked unit ("Stück" next to a linked "Stk") is left
alone: it means a unit the other side already has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.config import Config
from reconciler.domain.models import SIDE_LABEL, Remote, Side, Unit
from reconciler.sync.plan_model import Action, PairPlan, Task
from reconciler.sync.snapshot import SideRead
from rules.units import match_units, renamed, unit_key
from state.tables import Link

IN_SEVDESK_UI = "Einstellungen → System → Einheiten"
UNIT_TASK = "create unit '{name}' in sevDesk: " + IN_SEVDESK_UI
#: Base key of a link whose unit is gone on that side and whose deletion was handled.
DELETED_IN = "deleted_in"
#: Base key: the name sevDesk holds when it differs in meaning (already reported).
SEVDESK_NAME = "sevdesk_name"


@dataclass
class UnitPlanner:
    """Decides every unit pair of one run (pure: reads and links are passed in)."""

    config: Config
    reads: dict[Side, SideRead]
    links: list[Link]
    writable: Callable[[Side], bool]
    pairs: list[PairPlan] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)

    def plan(self) -> tuple[list[PairPlan], list[Task]]:
        bad = {side: {q.id for q in self.reads[side].quarantined} for side in self.reads}
        linked: dict[Side, set[str]] = {"kleanapp": set(), "sevdesk": set()}
        for link in self.links:
            linked["kleanapp"].add(link.kleanapp_id)
            linked["sevdesk"].add(link.sevdesk_id)
        self.unlinked: dict[Side, dict[str, Remote[Unit]]] = {
            side: {i: r for i, r in self.reads[side].records.items() if i not in linked[side]}
            for side in ("kleanapp", "sevdesk")
        }
        #: Meanings a link already covers on each side (extra spellings are not copied).
        self.covered: dict[Side, set[str]] = {"kleanapp": set(), "sevdesk": set()}
        for link in self.links:
            if link.kleanapp_id in bad["kleanapp"] or link.sevdesk_id in bad["sevdesk"]:
                continue  # a record we could not read is neither changed nor gone
            self._linked(link)
        self._unlinked()
        return self.pairs, self.tasks

    # -- linked units --------------------------------------------------------
    def _present(self, side: Side, record_id: str) -> Remote[Unit] | None | Literal[False]:
        """The unit, None when it is gone, False when absence proves nothing."""
        read = self.reads[side]
        if record_id in read.records:
            return read.records[record_id]
        return None if read.complete or record_id in read.gone else False

    def _linked(self, link: Link) -> None:
        base = dict(link.base or {})
        k = self._present("kleanapp", link.kleanapp_id)
        s = self._present("sevdesk", link.sevdesk_id)
        if k is False or s is False:
            return
        base_k = base.get("name") or (k.record.name if k else s.record.name if s else "")
        base_s = base.get(SEVDESK_NAME) or base_k
        for name in (base_k, base_s, *(r.record.name for r in (k, s) if r)):
            self.covered["kleanapp"].add(unit_key(name))
            self.covered["sevdesk"].add(unit_key(name))
        if k is None and s is None:
            self._pair(link, None, unlink=True)
        elif k is None and s is not None:
            again = self._re_added("kleanapp", base_k, s.record.name)
            if again is not None:
                self._pair(link, {"name": again.record.name}, kleanapp_id=again.id)
            elif base.get(DELETED_IN) != "kleanapp":
                self._kleanapp_deleted(link, base, s)
        elif s is None and k is not None:
            again = self._re_added("sevdesk", base_s, k.record.name)
            if again is not None:
                self._pair(link, {"name": k.record.name}, sevdesk_id=again.id)
            elif base.get(DELETED_IN) != "sevdesk":
                self._sevdesk_deleted(link, base, k)
        elif k is not None and s is not None:
            self._both_present(link, base, base_k, base_s, k, s)

    def _re_added(self, side: Side, *names: str) -> Remote[Unit] | None:
        """An unlinked unit on ``side`` meaning one of ``names``: the same unit added again."""
        keys = {unit_key(n) for n in names}
        found = next(
            (r for r in self.unlinked[side].values() if unit_key(r.record.name) in keys), None
        )
        if found is not None:
            del self.unlinked[side][found.id]
        return found

    def _both_present(
        self,
        link: Link,
        base: dict[str, Any],
        base_k: str,
        base_s: str,
        k: Remote[Unit],
        s: Remote[Unit],
    ) -> None:
        change = renamed(base_k, base_s, k.record.name, s.record.name)
        if change is None:
            if DELETED_IN in base or SEVDESK_NAME in base:
                self._pair(link, {"name": k.record.name})  # agreed again: clear the marks
            return
        k_renamed, s_renamed = change
        disagreement = {"name": k.record.name, SEVDESK_NAME: s.record.name}
        if s_renamed and not k_renamed and self.writable("kleanapp"):
            action = Action(
                entity="unit",
                side="kleanapp",
                op="update",
                key=link.key,
                target_id=k.id,
                fields={"name": s.record.name},
                expected_version=k.version,
                reason="renamed in sevDesk",
            )
            self._pair(link, {"name": s.record.name}, actions=(action,))
        elif k_renamed and not s_renamed:
            if self.writable("sevdesk"):
                self._task(
                    "renamed",
                    link,
                    f"unit '{s.record.name}' was renamed to '{k.record.name}' in KleanApp; "
                    f"rename it in sevDesk too: {IN_SEVDESK_UI}",
                )
            self._pair(link, disagreement)
        elif k_renamed and s_renamed:
            self._task(
                "renamed",
                link,
                f"unit '{base_k}' was renamed on both sides: '{k.record.name}' in KleanApp, "
                f"'{s.record.name}' in sevDesk; rename one of them so they mean the same",
            )
            self._pair(link, disagreement)
        elif s_renamed:  # renamed in sevDesk, but KleanApp is not ours to write
            self._pair(link, disagreement)
        # else: a disagreement already reported; quiet until someone changes a name

    def _kleanapp_deleted(self, link: Link, base: dict[str, Any], s: Remote[Unit]) -> None:
        policy = self.config.sync.on_kleanapp_unit_delete
        if policy == "recreate" and self.writable("kleanapp"):
            action = Action(
                entity="unit",
                side="kleanapp",
                op="create",
                key=link.key,
                source_id=s.id,
                fields={"name": s.record.name},
                reason="deleted in KleanApp (on_kleanapp_unit_delete = recreate)",
            )
            self._pair(link, {"name": s.record.name}, kleanapp_id=None, actions=(action,))
            return
        self._task(
            "deleted",
            link,
            f"unit '{s.record.name}' was deleted in KleanApp; sevDesk keeps it "
            f"(on_kleanapp_unit_delete = {policy}): delete it there if it is no longer used: "
            + IN_SEVDESK_UI,
        )
        self._pair(link, {**base, DELETED_IN: "kleanapp"})

    def _sevdesk_deleted(self, link: Link, base: dict[str, Any], k: Remote[Unit]) -> None:
        policy = self.config.sync.on_sevdesk_unit_delete
        tombstone = {**base, "name": k.record.name, DELETED_IN: "sevdesk"}
        if policy == "delete" and self.writable("kleanapp"):
            action = Action(
                entity="unit",
                side="kleanapp",
                op="delete",
                key=link.key,
                target_id=k.id,
                expected_version=k.version,
                reason="deleted in sevDesk",
            )
            # If KleanApp keeps it (invoice positions use it), the link stays with
            # the tombstone, so the deletion is not tried on every run.
            self._pair(link, tombstone, actions=(action,), unlink=True)
            return
        self._task(
            "deleted",
            link,
            f"unit '{k.record.name}' was deleted in sevDesk; KleanApp keeps it "
            f"(on_sevdesk_unit_delete = {policy})",
        )
        self._pair(link, tombstone)

    # -- unlinked units ------------------------------------------------------
    def _unlinked(self) -> None:
        names = {
            side: {r.record.name: r for r in self.unlinked[side].values()}
            for side in ("kleanapp", "sevdesk")
        }
        match = match_units(names["kleanapp"], names["sevdesk"])
        used: set[str] = set()
        for k_name, s_name in match.pairs:
            k, s = names["kleanapp"][k_name], names["sevdesk"][s_name]
            if f"k{k.id}" in used or f"s{s.id}" in used:
                continue  # an extra spelling: each unit is in at most one link
            used |= {f"k{k.id}", f"s{s.id}"}
            self.pairs.append(
                PairPlan(
                    entity="unit",
                    key=unit_key(k_name),
                    kleanapp_id=k.id,
                    sevdesk_id=s.id,
                    base_after={"name": k_name},
                )
            )
        for name in match.only_sevdesk:
            if unit_key(name) not in self.covered["kleanapp"] and self.writable("kleanapp"):
                self._create("kleanapp", names["sevdesk"][name])
        for name in match.only_kleanapp:
            if unit_key(name) in self.covered["sevdesk"] or not self.writable("sevdesk"):
                continue
            if self.config.sevdesk.create_units:
                self._create("sevdesk", names["kleanapp"][name])
            else:
                self.tasks.append(
                    Task(
                        kind="missing_unit",
                        entity="unit",
                        key=unit_key(name),
                        message=UNIT_TASK.format(name=name),
                    )
                )

    def _create(self, target: Side, source: Remote[Unit]) -> None:
        key = unit_key(source.record.name)
        self.covered[target].add(key)  # "Stk" and "Stück" only in sevDesk: one copy
        self.pairs.append(
            PairPlan(
                entity="unit",
                key=key,
                kleanapp_id=source.id if source.side == "kleanapp" else None,
                sevdesk_id=source.id if source.side == "sevdesk" else None,
                actions=(
                    Action(
                        entity="unit",
                        side=target,
                        op="create",
                        key=key,
                        source_id=source.id,
                        fields={"name": source.record.name},
                        reason=f"unit missing in {SIDE_LABEL[target]}",
                    ),
                ),
                base_after={"name": source.record.name},
            )
        )

    # -- helpers ---------------------------------------------------------------
    _KEEP = object()

    def _pair(
        self,
        link: Link,
        base_after: dict[str, Any] | None,
        *,
        kleanapp_id: Any = _KEEP,
        sevdesk_id: Any = _KEEP,
        actions: tuple[Action, ...] = (),
        unlink: bool = False,
    ) -> None:
        self.pairs.append(
            PairPlan(
                entity="unit",
                key=link.key,
                link_id=link.id,
                kleanapp_id=link.kleanapp_id if kleanapp_id is self._KEEP else kleanapp_id,
                sevdesk_id=link.sevdesk_id if sevdesk_id is self._KEEP else sevdesk_id,
                actions=actions,
                base_after=base_after,
                unlink=unlink,
            )
        )

    def _task(self, kind: str, link: Link, message: str) -> None:
        self.tasks.append(Task(kind=kind, entity="unit", key=link.key, message=message))
