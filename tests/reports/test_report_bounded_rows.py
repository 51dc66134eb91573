"""A run with thousands of actions: what people read stays short, the JSON file lists them all.

Issue 21: a first sync of 10,000 customers plans 10,000 creates; listed one by
one, the HTML report and the e-mail become megabytes nobody reads past the
first rows. People's formats show the first ``[report] shown_rows`` rows per
kind and "… und 3.950 weitere (vollständig in der JSON-Datei …)"; the JSON
keeps every row.
"""

from __future__ import annotations

import json

from reconciler.config import ReportConfig
from reconciler.domain.i18n import using
from reconciler.reporting.files import write_report_files
from reconciler.reporting.render import render, render_mail_text
from reconciler.reporting.view import build_view


def _run(creates_in_sevdesk: int, creates_in_kleanapp: int, errors: int) -> dict:
    actions = [
        {
            "id": f"customer:K-{n:05d}:{side}:create",
            "entity": "customer",
            "side": side,
            "op": "create",
            "key": f"K-{n:05d}",
            "fields": {"company_name": f"Gebäudereinigung Nummer {n} GmbH", "city": "Berlin"},
            "reason": "only in KleanApp" if side == "sevdesk" else "only in sevDesk",
        }
        for side, count, start in (
            ("sevdesk", creates_in_sevdesk, 0),
            ("kleanapp", creates_in_kleanapp, 50_000),
        )
        for n in range(start, start + count)
    ]
    failed = [
        {
            "action": a["id"],
            "entity": "customer",
            "key": a["key"],
            "side": a["side"],
            "op": "create",
            "error": "sevDesk refused the create: name too long",
        }
        for a in actions[:errors]
    ]
    decisions = [
        {
            "kind": "conflict",
            "entity": "customer",
            "key": "K-00007",
            "field": "email",
            "value": "neu@example.de",
            "by": "anna",
            "at": "2026-12-01T10:00:00+00:00",
        }
    ]
    return {
        "run_id": "big1",
        "dry_run": False,
        "full": True,
        "outcome": "errors" if failed else "ok",
        "counts": {
            "customer.sevdesk.create": creates_in_sevdesk,
            "customer.kleanapp.create": creates_in_kleanapp,
        },
        "actions": actions,
        "errors": failed,
        "decisions": decisions,
        "started_at": "2026-12-03T10:00:00+00:00",
        "finished_at": "2026-12-03T10:05:00+00:00",
    }


def _write(tmp_path, data):
    cfg = ReportConfig()
    with using("de"):
        return write_report_files(
            data,
            tmp_path,
            max_rows=cfg.max_rows,
            max_bytes=cfg.max_kb * 1024,
            shown_rows=cfg.shown_rows,
        )


def test_the_html_report_stays_short_and_the_json_file_lists_every_action(tmp_path):
    small = _write(tmp_path / "small", _run(100, 60, 60))
    big = _write(tmp_path / "big", _run(4000, 2000, 300))

    html = big.html.read_text("utf-8")
    # Bounded: 37 times the actions, about the same page (the first 50 rows per kind).
    assert big.html.stat().st_size < small.html.stat().st_size * 1.2
    assert big.html.stat().st_size < 200_000
    name = big.json.name
    assert f"… und 3.950 weitere (vollständig in der JSON-Datei {name})" in html
    assert f"… und 1.950 weitere (vollständig in der JSON-Datei {name})" in html
    assert f"… und 250 weitere (vollständig in der JSON-Datei {name})" in html  # errors
    assert "(4000)" in html and "(300)" in html  # headings count every row, not the shown ones
    assert "K-00049" in html and "K-00050" not in html

    view = json.loads(big.json.read_text("utf-8"))
    assert len(view["changes"]) == 6000
    assert {c["key"] for c in view["changes"]} == {f"K-{n:05d}" for n in range(4000)} | {
        f"K-{n:05d}" for n in range(50_000, 52_000)
    }
    assert len(view["errors"]) == view["summary"]["errors"] == 300
    assert not view["summary"]["omitted"]
    assert view["summary"]["changes_by_side"] == {"kleanapp": 2000, "sevdesk": 4000}


def test_markdown_and_mail_show_the_first_rows_the_count_and_the_answers_carried_out():
    view = build_view(_run(4000, 0, 300), max_rows=1000)  # as stored: 1,000 rows per list
    with using("de"):
        md = render(view, "md", shown_rows=50)
        mail = render_mail_text(view, limit=20)
    assert len(md.encode()) < 60_000
    # The stored run kept 1,000 of the 4,000 changes: the line says so instead of "all".
    assert "… und 3.950 weitere (die JSON-Datei" in md and "enthält 1.000 von allen 4.000" in md
    assert "… und 250 weitere (vollständig in der JSON-Datei" in md
    assert "… und 280 weitere (vollständig in der JSON-Datei" in mail
    assert "K-00019" in mail and "K-00020" not in mail  # the first 20 errors
    for text in (md, mail):
        assert "Ihre Antworten, die dieser Lauf ausgeführt hat" in text
        assert "neu@example.de" in text
