"""The run report an admin opens: HTML, JSON and CSV written after a real engine run."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from reconciler.log import register_secret
from reconciler.reporting.files import write_report_files, write_reports
from reconciler.reporting.render import csv_rows, render
from reconciler.reporting.view import build_view, result_data

from .conftest import EVIL_NAME, SEV_TOKEN


class Page(HTMLParser):
    """What a browser would see: text per section, every tag and attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, list[str]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self._section: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "section":
            self._section = dict(attrs).get("id")
            self.sections[self._section or ""] = []
            self.rows[self._section or ""] = []
        elif tag == "tr" and self._section:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.rows[self._section or ""].append(self._row)
            self._row = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._section:
            self.sections[self._section].append(data)
        if self._cell is not None:
            self._cell.append(data)

    def section_text(self, name: str) -> str:
        return " ".join("".join(self.sections.get(name, [])).split())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


async def test_report_shows_conflict_parked_missing_unit_and_quarantined(world, tmp_path):
    result = await world.sync()
    files = write_reports(result, tmp_path / "reports", tz="Europe/Berlin")

    html = files.html.read_text(encoding="utf-8")
    page = parse(html)
    # Summary first: the headline says what needs a person.
    first_section = next(attrs.get("id") for tag, attrs in page.tags if tag == "section")
    assert first_section == "summary"
    summary = page.section_text("summary")
    assert "1 conflict to decide" in summary and "3 matches to check" in summary
    assert "1 task" in summary

    conflicts = page.rows["conflicts"]
    email = next(r for r in conflicts if "E-mail" in r[1])
    assert email[0] == "Customer K-1 Glanz & Gloria Gebäudereinigung GmbH"  # named on first link
    assert email[2] == "none yet"  # base: first link
    assert email[3:5] == ["buero@kleanapp-seite.de", "rechnung@sevdesk-seite.de"]
    assert email[5] == "waits for your decision" and email[6] == "you decide"
    city = next(r for r in conflicts if "City" in r[1])
    assert city[3:7] == ["Berlin", "Potsdam", "value from KleanApp", "KleanApp decides"]

    parked = page.section_text("parked")
    assert "Customer in KleanApp" in parked and "Customer in sevDesk" in parked
    assert "2 KleanApp customers look alike" in parked
    sev_parked = next(r for r in page.rows["parked"] if "sevDesk" in r[0])
    # its candidates are listed by customer number and name, never by an internal id ...
    assert 'KleanApp: K-2 "Doppelt AG"' in sev_parked[2] and "kleanapp:" not in parked
    # ... each with what identifies it and the per-field evidence
    assert "E-mail: info@doppelt.de" in sev_parked[2]
    assert "Customer number: K-2" in sev_parked[2] and "Customer number: K-4" in sev_parked[2]
    assert "Name: same (similarity 1.00)" in sev_parked[2] and "E-mail: same" in sev_parked[2]
    assert "possible match (score 6.6)" in sev_parked[2]

    assert "create unit 'Einsatz' in sevDesk" in page.section_text("tasks")
    quarantined = page.rows["quarantined"]
    assert len(quarantined) == 1 and quarantined[0][0] == "sevDesk"
    assert "contact has no name" in quarantined[0][2]

    # Changes per side: K-3 created in sevDesk, K-1's city written to sevDesk.
    changes = page.section_text("changes")
    assert "In KleanApp" in changes and "In sevDesk" in changes
    k3 = next(r for r in page.rows["changes"] if r[2].startswith("K-3"))
    assert k3[:2] == ["done", "create: Customer"] and EVIL_NAME in k3[2]
    assert any(r[0] == "done" and "City: Berlin" in r[3] for r in page.rows["changes"])


async def test_customer_named_script_is_text_not_markup(world, tmp_path):
    result = await world.sync()
    files = write_reports(result, tmp_path / "reports")
    html = files.html.read_text(encoding="utf-8")
    page = parse(html)

    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed")]
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; Söhne GmbH" in html
    assert EVIL_NAME in "".join(page.text)  # the browser shows the name as typed
    # Self-contained: nothing is loaded from anywhere, and scripts are forbidden anyway.
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        if tag == "link":
            raise AssertionError("no external stylesheet")
        if tag == "a":
            assert (attrs.get("href") or "#").startswith("#")
    csp = next(a for t, a in page.tags if t == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in (csp.get("content") or "")
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in page.tags)


async def test_json_and_csv_hold_the_same_rows(world, tmp_path):
    result = await world.sync()
    files = write_reports(result, tmp_path / "reports")
    data = json.loads(files.json.read_text(encoding="utf-8"))
    rows = list(csv.DictReader(io.StringIO(files.csv.read_text(encoding="utf-8"))))

    changes = [r for r in rows if r["section"] == "change"]
    conflicts = [r for r in rows if r["section"] == "conflict"]
    assert len(changes) == len(data["changes"]) == sum(result.counts.values())
    assert len(conflicts) == len(data["conflicts"]) == 2
    for row, change in zip(changes, data["changes"], strict=True):
        assert (row["entity"], row["key"], row["side"], row["op"], row["status"]) == (
            change["entity"],
            change["key"],
            change["side"],
            change["op"],
            change["status"],
        )
        assert json.loads(row["value"] or "{}") == change["fields"]
    for row, conflict in zip(conflicts, data["conflicts"], strict=True):
        assert row["field"] == conflict["field"]
        assert row["kleanapp"] == (conflict["kleanapp"] or "")
        assert row["sevdesk"] == (conflict["sevdesk"] or "")
        assert (row["decision"], row["rule"]) == (conflict["decision"], conflict["rule"])
    # Everything else the HTML shows is in the JSON too.
    assert len(data["parked"]) == 3 and len(data["tasks"]) == 1
    assert data["quarantined"][0]["reason"].startswith("contact has no name")
    assert data["summary"]["needs_attention"] is True
    # The "latest" copies are the same report.
    assert files.latest_json.read_text() == files.json.read_text()
    assert files.latest_html.read_text() == files.html.read_text()
    assert result.run_id in files.html.name


async def test_dry_run_report_says_planned_and_wrote_nothing(world, tmp_path):
    result = await world.sync(dry_run=True)
    view = build_view(result_data(result))
    assert view["run"]["dry_run"] is True
    assert view["changes"] and {c["status"] for c in view["changes"]} == {"planned"}
    assert view["summary"]["headline"].startswith("Dry-run: kleansync would make")
    page = parse(render(view, "html"))
    assert "dry-run (nothing was written)" in " ".join(page.text)


async def test_failed_writes_are_marked_failed_and_listed_as_errors(world, tmp_path):
    await world.sandbox(
        world.sev,
        "faults",
        {
            "kind": "status",
            "method": "POST",
            "path": "^/api/v1/Contact$",
            "status": 400,
            "times": None,
            "message": "name too long",
        },
    )
    result = await world.sync()
    assert result.errors
    view = build_view(result_data(result))
    failed = [c for c in view["changes"] if c["status"] == "failed"]
    assert failed and {c["action"] for c in failed} == {e["action"] for e in result.errors}
    page = parse(render(view, "html"))
    assert "name too long" in page.section_text("errors")
    assert view["run"]["outcome"] == "errors"


async def test_old_run_rerenders_from_the_stored_result(world, tmp_path):
    """``as_dict()`` as stored in the run history renders, even without per-action detail."""
    result = await world.sync()
    run = world.store.get_run(result.run_id)
    stored = json.loads(json.dumps(run.result, default=str))
    stored.pop("actions", None)
    files = write_report_files(stored, tmp_path / "old")
    page = parse(files.html.read_text())
    assert "no per-record detail" in page.section_text("changes")
    assert len(page.rows["conflicts"]) == 2 and len(page.rows["parked"]) == 3
    # Counts are still there.
    counts = [r for r in page.rows["summary"] if r[-1].isdigit()]
    assert sum(int(r[-1]) for r in counts) == sum(result.counts.values())


async def test_registered_secrets_never_reach_a_report(world, tmp_path):
    register_secret(SEV_TOKEN)
    result = await world.sync()
    data: dict[str, Any] = result_data(result)
    data["errors"] = [{"action": "x", "error": f"server said: bad token {SEV_TOKEN}"}]
    files = write_report_files(data, tmp_path / "reports")
    for path in (files.html, files.json, files.csv):
        text = Path(path).read_text(encoding="utf-8")
        assert SEV_TOKEN not in text
    assert "bad token ***" in files.html.read_text()


def test_csv_cells_never_become_spreadsheet_formulas():
    view = build_view(
        {
            "run_id": "r1",
            "conflicts": [
                {
                    "entity": "customer",
                    "key": "K-1",
                    "field": "company_name",
                    "base": None,
                    "kleanapp": '=HYPERLINK("http://evil")',
                    "sevdesk": "+49 30 123",
                    "decision": "manual",
                    "rule": "manual",
                    "reason": "",
                }
            ],
        }
    )
    text = render(view, "csv")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["kleanapp"].startswith("'=") and row["sevdesk"] == "'+49 30 123"
    assert csv_rows(view)[0]["kleanapp"].startswith("=")  # only the file is defused


def test_markdown_escapes_table_cells():
    view = build_view(
        {
            "run_id": "r2",
            "tasks": [{"kind": "k", "entity": "unit", "key": "x", "message": "a | b\nc"}],
            "quarantined": [
                {"side": "kleanapp", "entity": "Customer", "id": "7", "reason": "pipe | here"}
            ],
        }
    )
    md = render(view, "md")
    assert "pipe \\| here" in md and "- a \\| b c" in md


def test_a_stored_run_with_unexpected_shapes_still_renders():
    odd = {
        "run_id": "odd1",
        "outcome": "ok",
        "parked": [{"entity": "customer", "side": "kleanapp"}],  # keys missing
        "tasks": [{"message": "do something"}],
        "errors": [{"error": "boom"}],
        "skipped": [{}],
        "actions": [{"entity": "unit", "side": "sevdesk", "op": "create", "key": "m"}],
    }
    view = build_view(odd)
    for fmt in ("html", "json", "csv", "md"):
        assert render(view, fmt)
    assert view["changes"][0]["action"] == "unit:m:sevdesk:create"
    assert "do something" in parse(render(view, "html")).section_text("tasks")
