"""Retention: old run reports and stored run results are let go.

``serve`` runs every night and on every webhook; each run writes an HTML,
a JSON and a CSV report and stores its result. Kept forever, that was 75 MB
of reports and a 37 MB state store after five runs with bad data. So only
the newest ``[report] keep`` runs, none older than ``keep_days``, keep their
report files and their stored result (the run's row itself stays: it is a
few bytes and the run history counts it).

Only files named as kleansync names them (``20261125-171334-<run id>.html``)
are ever removed; ``latest.*`` and anything else in the folder are left alone.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlalchemy import null, update
from sqlmodel import col, select

from state import Store
from state.tables import Run

REPORT_FILE = re.compile(r"^(\d{8}-\d{6})-[A-Za-z0-9_-]+\.(?:html|json|csv|md)$")


def prune_reports(
    report_dir: Path,
    *,
    keep: int,
    keep_days: int,
    now: dt.datetime | None = None,
    current: str | None = None,
) -> int:
    """Remove report files beyond the newest ``keep`` runs or older than ``keep_days``.

    Returns how many files were removed. ``keep_days = 0``: no age limit.
    ``current`` (a file stem) is the run just reported: it always stays.
    """
    if not report_dir.is_dir():
        return 0
    runs: dict[str, list[Path]] = {}
    for path in report_dir.iterdir():
        match = REPORT_FILE.match(path.name)
        if match and path.is_file():
            runs.setdefault(path.name.rsplit(".", 1)[0], []).append(path)
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=keep_days) if keep_days else None
    removed = 0

    # The name starts with the run's UTC time (seconds); runs within one second
    # are told apart by when their files were written.
    def age(stem: str) -> tuple[str, float]:
        return stem[:15], max(p.stat().st_mtime for p in runs[stem])

    ordered = sorted(runs, key=age, reverse=True)
    if current in runs:
        ordered.remove(current)
        ordered.insert(0, current)
    for n, stem in enumerate(ordered):
        stamp = dt.datetime.strptime(stem[:15], "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
        if stem == current or (n < keep and (cutoff is None or stamp >= cutoff)):
            continue
        for path in runs[stem]:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def prune_run_results(
    store: Store, *, keep: int, keep_days: int, now: dt.datetime | None = None
) -> int:
    """Drop the stored results of runs beyond the newest ``keep`` or older than ``keep_days``."""
    now = now or dt.datetime.now(dt.UTC)
    with store.session() as s:
        recent = select(Run.id).order_by(col(Run.started_at).desc()).limit(keep)
        query = update(Run).where(col(Run.id).not_in(recent), col(Run.result).is_not(None))
        dropped = s.exec(query.values(result=null())).rowcount
        if keep_days:
            cutoff = now - dt.timedelta(days=keep_days)
            older = update(Run).where(col(Run.started_at) < cutoff, col(Run.result).is_not(None))
            dropped += s.exec(older.values(result=null())).rowcount
    return dropped
