"""What ``kleansync resync`` reports: links made (and by what), kept, parked, one-sided.

``as_dict()`` is the ``resync --json`` object; ``summary_lines()`` the text a
user reads. Kept apart from ``reconciler.sync.resync`` (which decides) so
the shape of the answer is found in one place.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from reconciler.domain.i18n import N_, _

#: How a pair was found (stored English in ``--json``), as the reader says it.
_HOW = {
    "stable id": N_("stable id"),
    "customer number": N_("customer number"),
    "matcher": N_("matcher"),
}


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
        """What the resync did (or would do), in the reader's language."""
        from reconciler.reporting.phrases import Phrases

        why = Phrases()
        by = ", ".join(
            _("%(count)s by %(how)s", count=n, how=_(_HOW.get(how, how)))
            for how, n in sorted(self.by().items())
        ) or _("none")
        agreed = sum(1 for link in self.linked if link["agreed"])
        args = {
            "run": self.run_id,
            "customers": len(self.linked),
            "by": by,
            "units": self.units_linked,
            "kept": self.kept,
        }
        lines = [
            _(
                "resync %(run)s (dry-run): would link %(customers)s customers (%(by)s) and "
                "%(units)s units; %(kept)s existing links kept",
                **args,
            )
            if self.dry_run
            else _(
                "resync %(run)s: linked %(customers)s customers (%(by)s) and %(units)s units; "
                "%(kept)s existing links kept",
                **args,
            ),
            "  "
            + _(
                "%(agreed)s agree on both sides; %(differ)s differ (the next sync decides them "
                "as on a first link)",
                agreed=agreed,
                differ=len(self.linked) - agreed,
            ),
        ]
        lines.append(
            "  "
            + (
                _(
                    "KleanApp ids to record on sevDesk contacts: %(count)s; nothing else "
                    "written to either side",
                    count=self.stable_ids_missing,
                )
                if self.dry_run
                else _(
                    "KleanApp ids recorded on sevDesk contacts: %(count)s; nothing else written "
                    "to either side",
                    count=self.stable_ids_written,
                )
            )
        )
        for side, items in (("KleanApp", self.only_kleanapp), ("sevDesk", self.only_sevdesk)):
            if items:
                shown = ", ".join(f"{i['key']} {i['name']}" for i in items[:5])
                if len(items) > 5:
                    shown += " " + _("and %(count)s more", count=len(items) - 5)
                lines.append(
                    "  "
                    + _(
                        "only in %(side)s: %(count)s (%(shown)s); the next sync creates them",
                        side=side,
                        count=len(items),
                        shown=shown,
                    )
                )
        lines += [
            "  "
            + _(
                "parked: %(record)s (%(why)s)",
                record=f"{p['side']}:{p['record_id']}",
                why=why(p["reason"]),
            )
            for p in self.parked
        ]
        lines += [
            "  " + _("stable id ignored: %(why)s", why=why(s["reason"])) for s in self.stale_ids
        ]
        if self.quarantined:
            lines.append(
                "  " + _("unreadable: %(count)s records could not be read", count=self.quarantined)
            )
        lines += ["  " + _("error: %(error)s", error=why.said(e, "error")) for e in self.errors]
        return lines
