"""``kleansync status`` (run history) and ``kleansync report`` (re-rendering old runs)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

from reconciler.admin.status import next_run, status
from state.tables import Run

BERLIN = ZoneInfo("Europe/Berlin")


async def test_status_shows_runs_queue_tasks_and_the_next_run(world, cli):
    dry = await world.sync(dry_run=True)
    real = await world.sync()

    data = json.loads(cli("status", "--json").stdout)
    assert [r["run_id"] for r in data["runs"]] == [real.run_id, dry.run_id]
    newest = data["runs"][0]
    assert newest["dry_run"] is False and newest["trigger"] == "test"
    assert newest["outcome"] == "ok" and newest["changes"] == sum(real.counts.values())
    assert newest["duration_s"] is not None and newest["conflicts"] == 2
    assert data["runs"][1]["dry_run"] is True
    assert [c["field"] for c in data["open_conflicts"]] == ["email"]
    assert len(data["parked"]) == 3
    assert data["tasks_run_id"] == real.run_id
    assert [t["kind"] for t in data["tasks"]] == ["missing_unit"]
    assert data["schedule"] == {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}
    upcoming = dt.datetime.fromisoformat(data["next_run"]).astimezone(BERLIN)
    assert (upcoming.hour, upcoming.minute) == (2, 0)
    assert upcoming > dt.datetime.now(BERLIN)

    text = cli("status").stdout
    assert "Open conflicts: 1" in text and "Parked records: 3" in text
    assert "Open admin tasks: 1" in text and "create unit 'Einsatz' in sevDesk" in text
    assert f"(run {real.run_id})" in text and "dry-run" in text
    assert "Next scheduled run: " in text and "Europe/Berlin" in text


async def test_answers_waiting_for_the_next_run_are_counted(world, cli):
    await world.sync()
    cid = next(c for c in world.store.conflicts(("open",)))
    assert cli("conflicts", "resolve", f"C{cid.id}", "--take", "kleanapp").exit_code == 0
    data = status(world.store, world.config)
    assert data["open_conflicts"] == [] and data["waiting_to_apply"] == 1
    assert "Answers waiting for the next run: 1" in cli("status").stdout


def test_next_run_follows_the_cron_in_its_time_zone():
    afternoon = dt.datetime(2026, 6, 10, 14, 30, tzinfo=BERLIN)
    assert next_run("0 2 * * *", "Europe/Berlin", afternoon) == dt.datetime(
        2026, 6, 11, 2, 0, tzinfo=BERLIN
    )
    just_before = dt.datetime(2026, 6, 10, 1, 59, tzinfo=BERLIN)
    assert next_run("0 2 * * *", "Europe/Berlin", just_before) == dt.datetime(
        2026, 6, 10, 2, 0, tzinfo=BERLIN
    )
    # Weekdays only: Friday evening -> Monday.
    friday = dt.datetime(2026, 6, 12, 20, 0, tzinfo=BERLIN)
    assert next_run("30 6 * * mon-fri", "Europe/Berlin", friday) == dt.datetime(
        2026, 6, 15, 6, 30, tzinfo=BERLIN
    )


async def test_status_of_a_fresh_install(world, cli):
    out = cli("status")
    assert out.exit_code == 0
    assert "No runs yet." in out.stdout and "Open conflicts: 0" in out.stdout


async def test_report_rerenders_any_stored_run(world, cli):
    first = await world.sync(dry_run=True)
    await world.sync()

    latest = json.loads(cli("report", "latest", "--format", "json").stdout)
    assert latest["run"]["dry_run"] is False and latest["run"]["trigger"] == "test"
    assert {c["field"] for c in latest["conflicts"]} == {"email", "city"}

    old = cli("report", first.run_id[:6], "--format", "csv")
    assert old.exit_code == 0, old.output
    rows = list(csv.DictReader(io.StringIO(old.stdout)))
    assert {r["section"] for r in rows} >= {"conflict"}

    md = cli("report", first.run_id).stdout
    assert md.startswith(f"# kleansync dry-run {first.run_id}")
    assert "## Matches held back for checking" in md and "## Unreadable records, held back" in md

    html = cli("report", "--format", "html").stdout
    assert html.startswith("<!doctype html>") and 'id="tasks"' in html


async def test_report_open_writes_the_page_and_opens_it(world, cli, monkeypatch):
    result = await world.sync()
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    out = cli("report", "--open")
    assert out.exit_code == 0, out.output
    path = world.tmp / "reports" / opened[0].rsplit("/", 1)[1]
    assert opened[0].startswith("file://") and result.run_id in path.name
    assert 'id="conflicts"' in path.read_text(encoding="utf-8")


async def test_report_of_a_failed_run_and_unknown_runs(world, cli):
    world.store.start_run(Run(id="f00dfeed0001", trigger="schedule"))
    world.store.finish_run(
        "f00dfeed0001", outcome="failed", error="sevDesk refused the API key (401)"
    )
    md = cli("report", "f00dfeed0001", "--format", "md").stdout
    assert "The run failed: sevDesk refused the API key (401)." in md
    assert "started by: schedule" in md

    missing = cli("report", "nope")
    assert missing.exit_code == 1 and "no run 'nope'" in missing.stderr
    wrong = cli("report", "--format", "pdf")
    assert wrong.exit_code == 2 and "--format must be one of" in wrong.stderr
    empty = cli("report", "latest", "--open", "--format", "json")
    assert empty.exit_code == 2
