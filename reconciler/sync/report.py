"""Step 5 of a run: what happened, for people and for machines.

``RunResult`` is the one summary of a run: ``sync --json`` prints it, the
run history stores it, and the admin reports are rendered from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.domain.bounds import one_line
from reconciler.domain.models import SIDE_LABEL, Quarantined
from reconciler.sync.plan_model import Plan


@dataclass
class RunResult:
    run_id: str
    dry_run: bool
    full: bool
    counts: dict[str, int]
    plan: Plan
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[dict[str, Any]] = field(default_factory=list)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    #: The HTML report written for this run (set once it is written).
    report: Path | None = None
    #: Records refused in earlier runs and not changed since: not sent, not errors.
    waiting_for_fix: int = 0
    #: Records set aside for the first time (None: the plan's, e.g. in a dry-run) ...
    quarantined: list[Quarantined] | None = None
    #: ... and those set aside for the same reason before (reported then; counted now).
    known_quarantined: int = 0
    #: Ids of planned actions a real run did not send (not listed as changes).
    not_sent: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "errors" if self.errors else "ok"

    @property
    def new_quarantined(self) -> list[Quarantined]:
        return list(self.plan.quarantined) if self.quarantined is None else self.quarantined

    @property
    def warnings(self) -> list[str]:
        """What an admin should know although the run did its job (exit code 0)."""
        out = []
        if (n := self.waiting_for_fix) > 0:
            out.append(
                f"{n} record{'s' if n != 1 else ''} refused by a service earlier still "
                f"wait{'s' if n == 1 else ''} for a fix at the source (not sent again until "
                "changed; see 'kleansync status')"
            )
        if (n := self.known_quarantined) > 0:
            out.append(
                f"{n} record{'s' if n != 1 else ''} quarantined earlier, for the same reason, "
                f"{'are' if n != 1 else 'is'} still set aside"
            )
        return out

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def as_dict(self) -> dict[str, Any]:
        """The ``sync --json`` object (its keys are a documented contract)."""
        not_sent = set() if self.dry_run else set(self.not_sent)
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "full": self.full,
            "outcome": self.outcome,
            "counts": self.counts,
            "conflicts": [
                # The link id is the store's business, not part of the `sync --json` contract.
                c.model_dump(exclude={"link_id"})
                for c in self.plan.conflicts
            ],
            "tasks": [t.model_dump() for t in self.plan.tasks],
            "parked": [p.model_dump() for p in self.plan.parked],
            "quarantined": [q.model_dump() for q in self.new_quarantined],
            "errors": self.errors,
            "skipped": self.skipped,
            "recovered": self.recovered,
            "waiting_for_fix": self.waiting_for_fix,
            "warnings": self.warnings,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "actions": [
                {
                    "id": a.id,
                    "entity": a.entity,
                    "side": a.side,
                    "op": a.op,
                    "key": a.key,
                    "target_id": a.target_id,
                    "fields": dict(a.fields),
                    "reason": a.reason,
                }
                for a in self.plan.actions
                if a.id not in not_sent
            ],
        }

    def summary_lines(self) -> list[str]:
        """A short human summary for the terminal."""
        verb = "would do" if self.dry_run else "did"
        lines = [
            f"run {self.run_id} ({'dry-run, ' if self.dry_run else ''}"
            f"{'full' if self.full else 'incremental'}): {verb}"
        ]
        if not self.counts:
            lines.append("  nothing to change")
        for key, n in self.counts.items():
            entity, side, op = key.split(".")
            lines.append(f"  {op:<7} {n:>5} {entity}(s) in {SIDE_LABEL[side]}")
        for c in self.plan.conflicts:
            winner = (
                "left for an admin" if c.decision == "manual" else f"{SIDE_LABEL[c.decision]} wins"
            )
            lines.append(
                f"  conflict {c.entity} {c.key} {c.field}: KleanApp {c.kleanapp!r} vs "
                f"sevDesk {c.sevdesk!r} → {winner} ({c.rule})"
            )
        lines += [f"  task: {t.message}" for t in self.plan.tasks]
        lines += [
            f"  parked: {p.entity} {p.side}:{p.record_id} ({p.reason})" for p in self.plan.parked
        ]
        lines += [
            f"  quarantined: {q.side} {q.entity} {q.id}: {q.reason}" for q in self.new_quarantined
        ]
        for e in self.errors:
            if e.get("waiting_for_fix"):
                lines.append(f"  refused: {e['error']}")
            else:
                lines.append(f"  error: {one_line(e['action'], 120)}: {e['error']}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  skipped: {s['action']}: {s['reason']}" for s in self.skipped]
        # A record typed by anyone may hold 100 kB or a line break: one short line each.
        return [
            "  " + one_line(line[2:], 400) if line.startswith("  ") else one_line(line, 400)
            for line in lines
        ]
