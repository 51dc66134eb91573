"""The poll's empty export runs do not pile up in the state store."""

from __future__ import annotations

from freezegun import freeze_time

from state import Store
from state.invoice_tables import InvoiceLedger, InvoiceRun


def test_old_runs_that_did_nothing_are_forgotten_the_rest_are_kept(state_url):
    ledger = InvoiceLedger(Store(state_url))
    quiet = {"exported": 0, "held": 0, "skipped": 0, "errors": 0}
    with freeze_time("2026-11-01 10:00:00"):
        for run_id, counts, outcome in (
            ("old-quiet", quiet, "ok"),
            ("old-exported", {**quiet, "exported": 2}, "ok"),
            ("old-failed", quiet, "failed"),
        ):
            ledger.start_run(InvoiceRun(id=run_id))
            ledger.finish_run(run_id, outcome=outcome, counts=counts)
    with freeze_time("2026-11-07 09:00:00"):  # six days later: everything is still young
        ledger.start_run(InvoiceRun(id="recent-quiet"))
        ledger.finish_run("recent-quiet", outcome="ok", counts=quiet)
        assert len(ledger.runs(100)) == 4
    with freeze_time("2026-11-09 10:00:00"):  # the next run, eight days after the first ones
        ledger.start_run(InvoiceRun(id="now"))
    assert sorted(r.id for r in ledger.runs(100)) == [
        "now",
        "old-exported",
        "old-failed",
        "recent-quiet",
    ]
