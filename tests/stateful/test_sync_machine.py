"""Whole syncs explored by Hypothesis (the machine and what it checks: ``machine.py``).

CI runs the ``ci`` profile's number of sequences; ``pytest --long`` runs
5,000, ``STATEFUL_EXAMPLES=n`` any number (``HYPOTHESIS_PROFILE=dev`` for new
random ones).
"""

from __future__ import annotations

import os

from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.stateful.machine import machine_world

#: Steps per sequence: long enough for edit, sync, edit again, crash, recover.
STEPS = 12


def examples(long_run: bool) -> int:
    wanted = os.environ.get("STATEFUL_EXAMPLES")
    if wanted:
        return int(wanted)
    return 5000 if long_run else settings.default.max_examples


def test_whole_syncs_lose_no_edit_and_make_no_duplicate(long_run, monkeypatch):
    with machine_world(monkeypatch) as machine:
        run_state_machine_as_test(
            machine,
            settings=settings(
                settings.default,
                max_examples=examples(long_run),
                stateful_step_count=STEPS,
                # STATEFUL_SHRINK=0: report failures unshrunk (shrinking whole syncs takes minutes).
                phases=[
                    p
                    for p in Phase
                    if os.environ.get("STATEFUL_SHRINK") != "0" or p != Phase.shrink
                ],
            ),
        )
    print(f"stateful: {dict(machine.stats)}")
