"""A run report on disk: the run's own HTML, JSON and CSV files plus ``latest.*`` copies.

Files are written to a temporary name and renamed, so an admin (or a web
server) never opens half a report; ``latest.*`` are copies, not symlinks, so
they work on every filesystem. With ``[report] max_bytes`` no file grows
past the limit: rows are left out (and counted) until each format fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.domain.bounds import MAX_ITEMS
from reconciler.domain.files import write_atomically
from reconciler.reporting.render import render
from reconciler.reporting.shown import SHOWN_ROWS
from reconciler.reporting.view import RunResult, build_view, file_stem, result_data


@dataclass(frozen=True)
class ReportFiles:
    """Where one run's report went: the run's own files and the ``latest.*`` copies."""

    html: Path
    json: Path
    csv: Path
    latest_html: Path
    latest_json: Path
    latest_csv: Path


def write_report_files(
    data: dict[str, Any],
    report_dir: Path,
    *,
    tz: str = "UTC",
    max_rows: int = MAX_ITEMS,
    max_bytes: int | None = None,
    shown_rows: int = SHOWN_ROWS,
) -> ReportFiles:
    """Render a stored run dict into ``report_dir`` (HTML, JSON, CSV and ``latest.*``).

    The JSON and CSV hold up to ``max_rows`` rows per section; the HTML shows
    the first ``shown_rows`` of each kind and says how many more the JSON
    holds (``reporting.shown``). With ``max_bytes``, no file is larger: rows
    per section are halved until each format fits (the summary still counts
    every row).
    """
    while True:
        view = build_view(data, max_rows=max_rows)
        texts = {fmt: render(view, fmt, tz=tz) for fmt in ("json", "csv")}
        texts["html"] = render(view, "html", tz=tz, shown_rows=shown_rows)
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
