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
from reconciler.domain.i18n import _, ngettext, using
from reconciler.domain.labels import entity_word, field_label
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
    #: The admins' answers carried out, with who and when (``reconciler.sync.decisions``).
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "errors" if self.errors else "ok"

    @property
    def new_quarantined(self) -> list[Quarantined]:
        return list(self.plan.quarantined) if self.quarantined is None else self.quarantined

    @property
    def warnings(self) -> list[str]:
        """What an admin should know although the run did its job (exit code 0); English (JSON)."""
        with using("en"):
            return self.warning_lines()

    def warning_lines(self) -> list[str]:
        """The same warnings in the reader's language."""
        out = []
        if (n := self.waiting_for_fix) > 0:
            out.append(
                ngettext(
                    "%(num)d record refused by a service earlier still waits for a fix at the "
                    "source (not sent again until changed; see 'kleansync status')",
                    "%(num)d records refused by a service earlier still wait for a fix at the "
                    "source (not sent again until changed; see 'kleansync status')",
                    n,
                )
            )
        if (n := self.known_quarantined) > 0:
            out.append(
                ngettext(
                    "%(num)d record quarantined earlier, for the same reason, is still set aside",
                    "%(num)d records quarantined earlier, for the same reason, are still set aside",
                    n,
                )
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
            "decisions": self.decisions,
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

    def summary_lines(self, tz: str = "UTC") -> list[str]:
        """A short human summary for the terminal, in the reader's language (times in ``tz``)."""
        from reconciler.reporting.phrases import Phrases
        from reconciler.reporting.words import decision, label

        why = Phrases(tz=tz)
        scope = _("full") if self.full else _("incremental")
        lines = [
            _("run %(run)s (dry-run, %(scope)s): would do", run=self.run_id, scope=scope)
            if self.dry_run
            else _("run %(run)s (%(scope)s): did", run=self.run_id, scope=scope)
        ]
        if not self.counts:
            lines.append("  " + _("nothing to change"))
        for key, n in self.counts.items():
            entity, side, op = key.split(".")
            things = (
                ngettext("%(num)d unit", "%(num)d units", n)
                if entity == "unit"
                else ngettext("%(num)d customer", "%(num)d customers", n)
            )
            lines.append(
                f"  {label(op, 'op'):<12} "
                + _("%(things)s in %(side)s", things=things, side=SIDE_LABEL[side])
            )
        for c in self.plan.conflicts:
            lines.append(
                "  "
                + _(
                    "conflict %(entity)s %(key)s %(field)s: KleanApp %(kleanapp)r vs sevDesk "
                    "%(sevdesk)r → %(decision)s (%(rule)s)",
                    entity=entity_word(c.entity),
                    key=c.key,
                    field=field_label(c.field),
                    kleanapp=c.kleanapp,
                    sevdesk=c.sevdesk,
                    decision=decision(c.decision),
                    rule=label(c.rule, "rule"),
                )
            )
        lines += ["  " + _("task: %(task)s", task=why(t.message)) for t in self.plan.tasks]
        lines += [
            "  "
            + _(
                "parked: %(entity)s %(record)s (%(why)s)",
                entity=entity_word(p.entity),
                record=f"{p.side}:{p.record_id}",
                why=why(p.reason),
            )
            for p in self.plan.parked
        ]
        lines += [
            "  "
            + _(
                "unreadable: %(side)s %(entity)s %(id)s: %(why)s",
                side=SIDE_LABEL.get(q.side, q.side),
                entity=entity_word(q.entity),
                id=q.id,
                why=why(q.reason),
            )
            for q in self.new_quarantined
        ]
        for e in self.errors:
            if e.get("waiting_for_fix"):
                lines.append("  " + _("refused: %(error)s", error=why.said(e, "error")))
            else:
                lines.append(
                    "  "
                    + _(
                        "error: %(action)s: %(error)s",
                        action=one_line(e["action"], 120),
                        error=why.said(e, "error"),
                    )
                )
        lines += ["  " + _("warning: %(warning)s", warning=w) for w in self.warning_lines()]
        lines += [
            "  " + _("skipped: %(action)s: %(why)s", action=s["action"], why=why.said(s, "reason"))
            for s in self.skipped
        ]
        # A record typed by anyone may hold 100 kB or a line break: one short line each.
        return [
            "  " + one_line(line[2:], 400) if line.startswith("  ") else one_line(line, 400)
            for line in lines
        ]
