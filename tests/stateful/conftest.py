"""``machine``: replay a shrunk sequence of the stateful test as a plain test.

Hypothesis prints a failing sequence as code (``state = SyncMachine()``,
``state.start(...)``, ...); a regression test writes ``state = machine()``
and pastes the steps. Every machine made is torn down after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.stateful.machine import SyncMachine, machine_world


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], SyncMachine]]:
    made: list[SyncMachine] = []
    with machine_world(monkeypatch) as cls:

        def make() -> SyncMachine:
            made.append(cls())
            return made[-1]

        try:
            yield make
        finally:
            for state in made:
                state.teardown()
