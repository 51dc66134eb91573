"""Reports and stored run results have a retention and a size bound (issue 14, item 6).

Before: every run wrote its HTML, JSON and CSV report, kept forever, and a
run with bad data wrote ~7 MB of them; the state store kept every result.
"""

from __future__ import annotations

import datetime as dt
import json

from reconciler.reporting.files import write_report_files
from reconciler.reporting.retention import prune_reports, prune_run_results
from state import Store
from state.tables import Run

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _report_files(folder, days_ago: int, run_id: str) -> None:
    stamp = (NOW - dt.timedelta(days=days_ago)).strftime("%Y%m%d-%H%M%S")
    for fmt in ("html", "json", "csv"):
        (folder / f"{stamp}-{run_id}.{fmt}").write_text("x", encoding="utf-8")


def test_only_the_newest_reports_within_the_age_limit_are_kept(tmp_path):
    for n, days in enumerate((0, 1, 2, 40, 100)):
        _report_files(tmp_path, days, f"run{n}")
    for name in ("latest.html", "latest.json", "notes.txt", "20260101-keep-me.pdf"):
        (tmp_path / name).write_text("mine", encoding="utf-8")

    removed = prune_reports(tmp_path, keep=4, keep_days=30, now=NOW)
    assert removed == 6  # run3 is too old, run4 beyond the count and too old
    left = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in left if n.endswith(".html") and "run" in n] == [
        (NOW - dt.timedelta(days=d)).strftime("%Y%m%d-%H%M%S") + f"-run{n}.html"
        for n, d in ((2, 2), (1, 1), (0, 0))
    ]
    assert {"latest.html", "latest.json", "notes.txt", "20260101-keep-me.pdf"} <= set(left)

    assert prune_reports(tmp_path, keep=1, keep_days=0, now=NOW) == 6
    assert len([n for n in tmp_path.iterdir() if "run" in n.name]) == 3


def test_stored_results_beyond_the_newest_runs_are_dropped(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    for n in range(5):
        store.start_run(
            Run(id=f"r{n}", started_at=NOW - dt.timedelta(days=10 * n), result={"run_id": f"r{n}"})
        )
    assert prune_run_results(store, keep=3, keep_days=25, now=NOW) == 2
    assert {r.id for r in store.runs(10) if r.result} == {"r0", "r1", "r2"}
    assert prune_run_results(store, keep=10, keep_days=15, now=NOW) == 1  # r2: 20 days old
    assert {r.id for r in store.runs(10) if r.result} == {"r0", "r1"}
    assert len(store.runs(10)) == 5  # the run history itself stays
    assert prune_run_results(store, keep=3, keep_days=15, now=NOW) == 0
    store.close()


def test_a_report_stays_within_its_size_bound_and_says_what_it_left_out(tmp_path):
    errors = [
        {
            "action": f"customer:K-{n:05d}:kleanapp:create",
            "entity": "customer",
            "key": f"K-{n:05d}",
            "side": "kleanapp",
            "op": "create",
            "error": "KleanApp refused the create: company_name: must be at most 200 characters",
        }
        for n in range(5000)
    ]
    actions = [
        {
            "id": e["action"],
            "entity": "customer",
            "side": "kleanapp",
            "op": "create",
            "key": e["key"],
            "fields": {"company_name": "X" * 100_000},
        }
        for e in errors[:50]
    ]
    data = {"run_id": "abc123", "outcome": "errors", "errors": errors, "actions": actions}
    files = write_report_files(data, tmp_path, max_rows=1000, max_bytes=256 * 1024)
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 256 * 1024, path.name
    view = json.loads(files.json.read_text(encoding="utf-8"))
    assert view["summary"]["errors"] == 5000  # the summary counts every row
    assert view["summary"]["omitted"]["errors"] >= 4000
    assert len(view["errors"]) + view["summary"]["omitted"]["errors"] == 5000
    name = view["changes"][0]["fields"]["company_name"]
    assert len(name) <= 500 and name.endswith("(100,000 characters)")
    assert "left out" in files.html.read_text(encoding="utf-8")
