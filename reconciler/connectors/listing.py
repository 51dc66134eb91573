"""What a paged listing must prove before the engine may trust it.

Two facts, both read from the service's own answers:

* **When it started**, in the service's clock. Pages are read one after
  another; a record on page 1 edited while page 3 is read is not in the
  listing, and its stamp is *older* than the newest stamp page 3 shows. So
  the next incremental read must start where this listing started, not at
  the newest stamp seen (``Listing.as_of``). The start is the ``Date`` header
  of the first page's answer (RFC 9110: every origin server with a clock
  sends it) minus its one-second resolution, so the service's clock is used
  and our own clock's skew does not matter. Only an answer without ``Date``
  (the in-process emulators of the test suite, which share our clock) falls
  back to our clock, read just before the first request was sent.
* **That it is complete**: every page agrees on the service's total
  (KleanApp's ``meta.total``, sevDesk's ``total`` with ``countAll=true``) and
  the rows add up to it. An empty or short page in the middle, a total that
  changes while paging (rows added or deleted meanwhile shift the pages) or
  an answer without a total is not proof: the connector reads the list once
  more, and if that is not complete either it raises ``IncompleteListing``
  before the engine has planned anything. A record missing from a listing
  is read as deleted only when the listing is proven complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from reconciler.domain import progress
from reconciler.domain.errors import IncompleteListing

#: A ``Date`` header has whole seconds: the answer may have been made up to
#: one second after the instant it names was over.
DATE_RESOLUTION = dt.timedelta(seconds=1)
#: Read a list that did not add up once more before giving up.
ATTEMPTS = 2


def local_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def started_at(response: httpx.Response, sent: dt.datetime) -> dt.datetime:
    """The service's time at or before it began answering (see module docstring)."""
    raw = response.headers.get("date")
    if raw:
        try:
            stamp = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            stamp = None
        if stamp is not None and stamp.tzinfo is not None:
            return stamp.astimezone(dt.UTC) - DATE_RESOLUTION
    return sent


class PageCheck:
    """Counts one listing's pages against the service's total.

    ``page(rows, total, per_page)`` after each page returns True once the
    listing is done (complete, or found wanting: then ``problem`` says why).
    """

    def __init__(self) -> None:
        self.total: int | None = None
        self.seen = 0
        self.pages = 0
        self.problem: str | None = None

    def page(self, rows: int, total: Any, per_page: int) -> bool:
        self.pages += 1
        count = _count(total)
        if count is None:
            so_far = f" after {self.seen} of {self.total} rows" if self.total is not None else ""
            self.problem = f"page {self.pages} came without a total{so_far}"
            return True
        if self.total is None:
            self.total = count
        elif count != self.total:
            self.problem = f"the total changed from {self.total} to {count} while paging"
            return True
        self.seen += rows
        progress.rows_read(min(self.seen, self.total), self.total)
        if self.seen > self.total:
            self.problem = f"{self.seen} rows for a total of {self.total}"
            return True
        if self.seen == self.total:
            return True
        if rows < per_page:
            self.problem = (
                f"page {self.pages} had {rows} rows, after {self.seen} of {self.total} rows"
            )
            return True
        return False

    def distinct(self, rows: list[Any]) -> bool:
        """No row twice: with the same total, one row added and one deleted while
        paging shift a row from one page to the next and hide another."""
        ids = [row.get("id") for row in rows if isinstance(row, dict) and row.get("id") is not None]
        if self.problem is None and len(set(map(str, ids))) != len(ids):
            self.problem = "a row came twice (rows moved between pages while paging)"
        return self.problem is None

    def fail(self, service: str, what: str) -> IncompleteListing:
        return IncompleteListing(
            f"{service} answered the {what} list incompletely {ATTEMPTS} times in a row "
            f"({self.problem}); nothing was changed, the next run reads it again"
        )


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a listing turns its rows into records.

    Why: building tens of thousands of records allocates hundreds of thousands of
    objects that all stay alive, and each time the allocations pass a quarter of
    what is already alive CPython walks every live object (a full collection):
    several such walks while a listing was built cost about a third of building
    it (20,000 sevDesk customers: 1.4 s with the collector, 0.9 s without).
    Paused, the new objects meet the collector once, afterwards. Only around
    code that neither awaits nor does I/O, so no other task runs meanwhile; an
    object freed by reference counting is freed at once, as always.
    """
    if not gc.isenabled():  # someone else paused it: theirs to resume
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _count(total: Any) -> int | None:
    """A total as the services send it (KleanApp: int, sevDesk: a numeric string)."""
    if isinstance(total, bool):
        return None
    if isinstance(total, int):
        return total if total >= 0 else None
    if isinstance(total, str) and total.strip().isdigit():
        return int(total.strip())
    return None
