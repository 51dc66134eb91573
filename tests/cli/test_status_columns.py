"""``kleansync status``: the run history reads as a table in German too."""

from __future__ import annotations

from typing import Any

from reconciler.admin.status import status_lines
from reconciler.domain.i18n import using


def _run(run_id: int, trigger: str, *, dry_run: bool) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "kind": "sync",
        "started_at": "2026-12-01T02:00:00+00:00",
        "duration_s": 3.3,
        "trigger": trigger,
        "dry_run": dry_run,
        "full": False,
        "outcome": "ok",
        "changes": 2,
        "conflicts": 0,
        "errors": 0,
        "error": None,
    }


def _status(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": runs,
        "open_conflicts": [],
        "parked": [],
        "tasks": [],
        "waiting_to_apply": 0,
        "next_run": None,
        "schedule": {"timezone": "Europe/Berlin", "cron": "0 2 * * *"},
    }


def test_a_long_trigger_word_does_not_push_its_line_out_of_the_columns() -> None:
    runs = [_run(1, "manual", dry_run=True), _run(2, "schedule", dry_run=True)]
    with using("de"):
        lines = status_lines(_status(runs))
    by_hand = next(line for line in lines if "von Hand (Befehlszeile)" in line)
    nightly = next(line for line in lines if "(Lauf 2)" in line)
    # "Probelauf" (dry-run) starts in the same column on both lines, and the duration reads
    # the German way.
    assert by_hand.index("Probelauf") == nightly.index("Probelauf")
    assert "3,3 s" in by_hand
