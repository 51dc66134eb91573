"""The sync's progress on stderr: a bar on a terminal, a line every 10 % otherwise.

Both show the same figures, ``123/505 · 4,9/s · noch 1:40`` (done/total,
rate, time left), for the read phase (the services' lists, page by page,
``reconciler.domain.progress``) and for the writes (the engine's
``progress(total, done)`` callback). Without a terminal (cron, ``serve``'s
journal, a pipe) a redrawn bar is noise in a log file, and nothing at all
looks like a hang: so one plain line per 10 % step, each phase on its own.

German first (the admins' language); ``reconciler.i18n`` is to take the
texts over.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from reconciler.domain import progress

__all__ = ["APPLYING", "Meter", "ProgressLines", "figures", "progress_bar"]

#: The write phase's name.
APPLYING = "Änderungen schreiben"
#: A sync's ``progress(total, done)`` hook: returns the per-write tick.
ApplyHook = Callable[[int, int], Callable[[int], None]]


def _number(n: float, digits: int = 0) -> str:
    """German digits: ``1.234``, ``4,9``."""
    text = f"{n:,.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def figures(done: int, total: int | None, rate: float | None) -> str:
    """``123/505 · 4,9/s · noch 1:40`` (the rate and time left once there is a rate)."""
    parts = [f"{_number(done)}/{_number(total)}" if total is not None else _number(done)]
    if rate:
        parts.append(f"{_number(rate, 1)}/s")
        if total is not None and total > done:
            parts.append(f"noch {_clock((total - done) / rate)}")
    return " · ".join(parts)


@dataclass
class Meter:
    """One phase's counts and rate, measured from its first update.

    A phase may page through several lists (sevDesk's contacts, then their
    addresses, then their communication ways): a count that starts over is
    the phase's next list, added to what was read before, so one phase
    reads as one progress and its rate stays honest.
    """

    total: int | None
    done: int = 0
    first: int = 0
    started: float = field(default_factory=time.monotonic)
    #: Rows of the phase's earlier lists, and the current list's count.
    offset: int = 0
    current: int = 0

    @classmethod
    def start(cls, done: int, total: int | None) -> Meter:
        return cls(total, done, done, current=done)

    def update(self, done: int, total: int | None) -> None:
        if done < self.current:  # the phase's next list (or one read once more)
            self.offset += self.current
        self.current = done
        self.done = self.offset + done
        if total is not None:
            self.total = self.offset + total

    @property
    def rate(self) -> float | None:
        elapsed = time.monotonic() - self.started
        moved = self.done - self.first
        return moved / elapsed if moved > 0 and elapsed > 0 else None

    def text(self) -> str:
        return figures(self.done, self.total, self.rate)


class ProgressLines:
    """Without a terminal: ``PHASE: 51/505 · 4,9/s · noch 1:33 (10 %)`` per 10 % step."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.meters: dict[str, Meter] = {}
        self.printed: dict[str, int] = {}

    def update(self, phase: str, done: int, total: int | None) -> None:
        meter = self.meters.get(phase)
        if meter is None:
            meter = self.meters[phase] = Meter.start(done, total)
            self.printed[phase] = 0
        meter.update(done, total)
        if not meter.total:
            return
        step = min(10, meter.done * 10 // meter.total)
        if step > self.printed[phase]:
            self.printed[phase] = step
            stream = self.stream or sys.stderr
            print(f"{phase}: {meter.text()} ({step * 10} %)", file=stream, flush=True)


class ProgressBar:
    """On a terminal: a rich bar per phase, with the same figures beside it."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.tasks: dict[str, Any] = {}
        self.meters: dict[str, Meter] = {}

    def update(self, phase: str, done: int, total: int | None) -> None:
        meter = self.meters.get(phase)
        if meter is None:
            meter = self.meters[phase] = Meter.start(done, total)
            self.tasks[phase] = self.bar.add_task(phase, total=total, figures="")
        meter.update(done, total)
        self.bar.update(
            self.tasks[phase], completed=meter.done, total=meter.total, figures=meter.text()
        )


def apply_hook(reporter: progress.Reporter) -> ApplyHook:
    """The engine's ``progress(total, done)`` for the writes, counting on ``reporter``."""

    def start(total: int, done: int) -> Callable[[int], None]:
        count = [done]
        reporter.update(APPLYING, done, total)

        def tick(n: int) -> None:
            count[0] += n
            reporter.update(APPLYING, count[0], total)

        return tick

    return start


@contextlib.contextmanager
def progress_bar(*, quiet: bool = False) -> Iterator[ApplyHook | None]:
    """Progress of one sync on stderr (see the module docstring); yields the write hook.

    The read phase is reported through ``reconciler.domain.progress`` while
    the block runs. ``quiet`` (``-q``: only warnings and errors): none at all.
    """
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        lines = ProgressLines()
        with progress.showing(lines):
            yield apply_hook(lines)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[figures]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        shown = ProgressBar(bar)
        with progress.showing(shown):
            yield apply_hook(shown)
