"""What ``kleansync resync`` reports: links made (and by what), kept, parked, one-sided.

``as_dict()`` is the ``resync --json`` object; ``summary_lines()`` the text a
user reads. Kept apart from ``reconciler.sync.resync`` (which decides) so
the shape of the answer is found in one place.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ResyncResult:
    """What resync linked, parked and found on one side only (``--json`` is ``as_dict``)."""

    run_id: str
    dry_run: bool
    linked: list[dict[str, Any]] = field(default_factory=list)
    units_linked: int = 0
    kept: int = 0
    parked: list[dict[str, Any]] = field(default_factory=list)
    only_kleanapp: list[dict[str, Any]] = field(default_factory=list)
    only_sevdesk: list[dict[str, Any]] = field(default_factory=list)
    stale_ids: list[dict[str, Any]] = field(default_factory=list)
    quarantined: int = 0
    stable_ids_missing: int = 0
    stable_ids_written: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def by(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for link in self.linked:
            counts[link["by"]] += 1
        return dict(counts)

    def as_dict(self) -> dict[str, Any]:
        agreed = sum(1 for link in self.linked if link["agreed"])
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "counts": {
                "linked": len(self.linked),
                "linked_by": self.by(),
                "agreed": agreed,
                "differ": len(self.linked) - agreed,
                "units_linked": self.units_linked,
                "kept": self.kept,
                "parked": len(self.parked),
                "only_kleanapp": len(self.only_kleanapp),
                "only_sevdesk": len(self.only_sevdesk),
                "quarantined": self.quarantined,
                "stable_ids_missing": self.stable_ids_missing,
                "stable_ids_written": self.stable_ids_written,
            },
            "linked": self.linked,
            "parked": self.parked,
            "only_kleanapp": self.only_kleanapp,
            "only_sevdesk": self.only_sevdesk,
            "stale_ids": self.stale_ids,
            "errors": self.errors,
        }

    def summary_lines(self) -> list[str]:
        verb = "would link" if self.dry_run else "linked"
        by = ", ".join(f"{n} by {how}" for how, n in sorted(self.by().items())) or "none"
        agreed = sum(1 for link in self.linked if link["agreed"])
        lines = [
            f"resync {self.run_id}{' (dry-run)' if self.dry_run else ''}: {verb} "
            f"{len(self.linked)} customers ({by}) and {self.units_linked} units; "
            f"{self.kept} existing links kept",
            f"  {agreed} agree on both sides; {len(self.linked) - agreed} differ (the next sync "
            "decides them as on a first link)",
        ]
        record = "to record" if self.dry_run else "recorded"
        lines.append(
            f"  KleanApp ids {record} on sevDesk contacts: "
            f"{self.stable_ids_missing if self.dry_run else self.stable_ids_written}; "
            "nothing else written to either side"
        )
        for label, items in (
            ("only in KleanApp", self.only_kleanapp),
            ("only in sevDesk", self.only_sevdesk),
        ):
            if items:
                shown = ", ".join(f"{i['key']} {i['name']}" for i in items[:5])
                more = f" and {len(items) - 5} more" if len(items) > 5 else ""
                lines.append(f"  {label}: {len(items)} ({shown}{more}); the next sync creates them")
        lines += [f"  parked: {p['side']}:{p['record_id']} ({p['reason']})" for p in self.parked]
        lines += [f"  stable id ignored: {s['reason']}" for s in self.stale_ids]
        if self.quarantined:
            lines.append(f"  quarantined: {self.quarantined} records could not be read")
        lines += [f"  error: {e['error']}" for e in self.errors]
        return lines
