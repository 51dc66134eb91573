"""A run report on disk: the run's own HTML, JSON and CSV files plus ``latest.*`` copies.

Files are written to a temporary name and renamed, so an admin (or a web
server) never opens half a report; ``latest.*`` are copies, not symlinks, so
they work on every filesystem. With ``[report] max_bytes`` no file grows
past the limit: rows are left out (and counted) until each format fits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.domain.bounds import MAX_ITEMS
from reconciler.domain.files import write_atomically
from reconciler.reporting.render import render
from reconciler.reporting.view import RunResult, as_time, build_view, result_data


@dataclass(frozen=True)
class ReportFiles:
    """Where one run's report went: the run's own files and the ``latest.*`` copies."""

    html: Path
    json: Path
    csv: Path
    latest_html: Path
    latest_json: Path
    latest_csv: Path


def file_stem(view: dict[str, Any]) -> str:
    """``20261125-171334-<run id>``: sorts by time in a file manager, names the run."""
    run = view["run"]
    stamp = as_time(run["at"])
    prefix = stamp.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S-") if stamp else ""
    return f"{prefix}{run['run_id']}"


def write_report_files(
    data: dict[str, Any],
    report_dir: Path,
    *,
    tz: str = "UTC",
    max_rows: int = MAX_ITEMS,
    max_bytes: int | None = None,
) -> ReportFiles:
    """Render a stored run dict into ``report_dir`` (HTML, JSON, CSV and ``latest.*``).

    With ``max_bytes``, no file is larger: rows per section are halved until
    each format fits (the summary still counts every row).
    """
    while True:
        view = build_view(data, max_rows=max_rows)
        texts = {fmt: render(view, fmt, tz=tz) for fmt in ("html", "json", "csv")}
        biggest = max(len(t.encode("utf-8", "replace")) for t in texts.values())
        if max_bytes is None or biggest <= max_bytes or max_rows == 0:
            break
        max_rows //= 2
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(view)
    paths = {fmt: report_dir / f"{stem}.{fmt}" for fmt in texts}
    for fmt, text in texts.items():
        write_atomically(paths[fmt], text)
    # Copies, not symlinks: they work on every filesystem and survive a copied folder.
    latest = {fmt: report_dir / f"latest.{fmt}" for fmt in texts}
    for fmt, text in texts.items():
        write_atomically(latest[fmt], text)
    return ReportFiles(
        html=paths["html"],
        json=paths["json"],
        csv=paths["csv"],
        latest_html=latest["html"],
        latest_json=latest["json"],
        latest_csv=latest["csv"],
    )


def write_reports(
    result: RunResult, report_dir: Path, *, trigger: str | None = None, tz: str = "UTC"
) -> ReportFiles:
    """Write the report of a run that just finished (called by the engine after every run)."""
    return write_report_files(result_data(result, trigger=trigger), Path(report_dir), tz=tz)
