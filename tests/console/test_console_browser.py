"""The console as an office admin uses it: headless Chromium against ``kleansync serve`` and
``kleansync sandbox``, both real processes on loopback (one set for this module).

The story, one test per step, in order: log in; see the conflict (a customer whose city differs,
linked on the first sync with no common base, rule ``manual``); decide it with one click
("sevDesk übernehmen"); "Jetzt synchronisieren" writes the chosen value to both sides (read back
through the emulators' APIs); link a parked match ("ist derselbe Kunde"); "Probelauf jetzt" shows
its plan; export one month of invoices after a preview; log out and be refused.

Screenshots of the overview and the conflicts page at 1280 and 390 px go to
``$KLEANSYNC_SCREENSHOT_DIR/console-screenshots`` or a temp folder outside the checkout (the
path is printed); at 390 px no element may reach past the screen's edge. Chromium is Debian's
(``/usr/bin/chromium``), started by ``tests/browser.py`` (skipped outside CI when missing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.serve import free_port
from state import Store
from tests.browser import LAUNCH, WIDER_THAN_SCREEN, WIDTHS, playwright, screenshot_dir
from tests.conftest import KLEANAPP_TOKEN, SEVDESK_TOKEN, listening, start_sandbox, stop
from tests.service.conftest import invoice_body

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
HOTEL = {"company_name": "Hotel Adler", "email": "info@adler.de"}


def _customer(number: str, **fields: Any) -> dict[str, Any]:
    base = {
        "customer_number": number,
        "kind": "company",
        "company_name": f"Praxis {number}",
        "street": "Hauptstraße 1",
        "postal_code": "50667",
        "city": "Köln",
        "country": "DE",
    }
    return {**base, **fields}


@dataclass
class Office:
    url: str
    sev_root: str
    ka_root: str
    workdir: Path
    shots: Path
    page: Any
    customer_ids: dict[str, int]

    def goto(self, path: str) -> None:
        self.page.goto(self.url + path)

    def sev(self, path: str, **params: Any) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.sev_root}/api/v1/{path}",
            params={"limit": 1000, **params},
            headers={"Authorization": SEVDESK_TOKEN},
        )
        return answer.json()["objects"]

    def kleanapp_customer(self, number: str) -> dict[str, Any]:
        rows = httpx.get(
            f"{self.ka_root}/api/v1/customers",
            params={"per_page": 500},
            headers={"Authorization": f"Bearer {KLEANAPP_TOKEN}"},
        ).json()["data"]
        (row,) = [r for r in rows if r["customer_number"] == number]
        return row

    def store(self) -> Store:
        return Store(f"sqlite:///{self.workdir / 'state.db'}")

    def shoot(self, name: str) -> None:
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.screenshot(path=str(self.shots / f"{name}-{width}px.png"), full_page=True)
            if width == 390:
                wide = self.page.evaluate("document.documentElement.scrollWidth")
                assert wide <= 390, f"{name} is {wide} px wide on a 390 px phone"
                over = self.page.evaluate(WIDER_THAN_SCREEN)
                assert not over, f"{name}: past the screen's edge at 390 px: {over}"
        self.page.set_viewport_size({"width": 1280, "height": 900})


def _kleansync(workdir: Path, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "SEVDESK_TOKEN": SEVDESK_TOKEN, "KLEANAPP_TOKEN": KLEANAPP_TOKEN}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    config = str(workdir / "config.toml")
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler.cli", *args, "--config", config],
        cwd=workdir,
        env=env,
        text=True,
        **kwargs,
    )


def _seed(sev_root: str, ka_root: str) -> dict[str, int]:
    """A customer whose city differs, a match for checking (two Hotel Adler in KleanApp, one in
    sevDesk), and one invoice of March 2026 in KleanApp."""
    klean = [
        _customer("K-00001", company_name="Praxis Dr. Weber"),
        _customer("K-00002", **HOTEL),
        _customer("K-00003", **HOTEL),
    ]
    sev = [_customer("K-00001", company_name="Praxis Dr. Weber", city="Bonn")]
    sev.append(_customer("9001", company_name="Hotel Adler GmbH", email=HOTEL["email"]))
    seeded = httpx.post(f"{ka_root}/_sandbox/bulk", json={"customers": klean})
    seeded.raise_for_status()
    httpx.post(f"{sev_root}/_sandbox/bulk", json={"contacts": sev}).raise_for_status()
    ids = dict(zip(("K-00001", "K-00002", "K-00003"), seeded.json()["customers"], strict=True))
    saved = httpx.post(f"{ka_root}/_sandbox/invoices", json=invoice_body(ids["K-00001"]))
    assert saved.status_code in (200, 201), saved.text
    return ids


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    sync_playwright = playwright("sync")
    workdir = tmp_path_factory.mktemp("console-office")
    shots = screenshot_dir("console-screenshots")
    ports = free_port(), free_port()
    sandbox = start_sandbox(*ports, workdir / "sandbox.log", timeout=60)
    sev_root, ka_root = (f"http://127.0.0.1:{p}" for p in ports)
    serve_port = free_port()
    (workdir / "config.toml").write_text(
        f'[sevdesk]\nbase_url = "{sev_root}/api/v1"\ntoken_env = "SEVDESK_TOKEN"\n'
        "requests_per_second = 50\n"
        f'[kleanapp]\nbase_url = "{ka_root}/api/v1"\ntoken_env = "KLEANAPP_TOKEN"\n'
        '[state]\nurl = "sqlite:///state.db"\n[rules]\ndefault = "manual"\n'
        '[sync]\nunits = "off"\n[report]\ndir = "reports"\n'
        '[schedule]\ncron = "0 3 1 1 *"\ninvoice_poll_minutes = 600\n'
        f"[webhooks]\nlisten_port = {serve_port}\n",
        encoding="utf-8",
    )
    serve = None
    try:
        ids = _seed(sev_root, ka_root)
        first = _kleansync(workdir, "sync", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = first.communicate(timeout=180)
        assert first.returncode == 0, err[-2000:]
        add = _kleansync(workdir, "admin", "add-user", "anna", stdin=subprocess.PIPE)
        add.communicate(f"{PASSWORD}\n{PASSWORD}\n", timeout=120)
        assert add.returncode == 0
        log = (workdir / "serve.log").open("w")
        serve = _kleansync(workdir, "serve", stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not listening(serve_port):
            assert serve.poll() is None and time.monotonic() < deadline, (
                workdir / "serve.log"
            ).read_text()
            time.sleep(0.05)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**LAUNCH)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(60_000)
                url = f"http://127.0.0.1:{serve_port}/console"
                yield Office(url, sev_root, ka_root, workdir, shots, page, ids)
            finally:
                browser.close()
        print(f"console screenshots (1280 px, 390 px): {shots}", file=sys.__stderr__)
    finally:
        if serve is not None:
            stop(serve, timeout=30)
        stop(sandbox)


def test_log_in(office: Office):
    office.goto("/")
    assert "/console/login" in office.page.url
    office.page.fill("input[name=name]", "anna")
    office.page.fill("input[name=password]", PASSWORD)
    office.page.click("button[type=submit]")
    office.page.wait_for_selector("nav.console")
    text = office.page.inner_text("body")
    assert "Übersicht" in text and "Letzter erfolgreicher Lauf" in text
    assert "erreichbar, Schlüssel gültig" in text  # both emulators answer with their keys
    assert SEVDESK_TOKEN not in office.page.content()
    office.shoot("overview")


def test_see_a_conflict(office: Office):
    office.page.click("nav.console >> text=Konflikte")
    card = office.page.locator("article.card", has_text="K-00001")
    text = card.inner_text()
    assert "Köln" in text and "Bonn" in text
    office.shoot("conflicts")


def test_decide_it_with_one_click(office: Office):
    card = office.page.locator("article.card", has_text="K-00001")
    card.locator("button", has_text="sevDesk übernehmen").click()
    office.page.wait_for_selector("text=Entschieden von anna")
    decided = office.page.inner_text("article.card p.decided")
    # who and when, in Berlin time and German form (the service runs in UTC)
    assert re.match(r"Entschieden von anna am \d{2}\.\d{2}\.\d{4} \d{2}:\d{2}: Bonn", decided)
    office.shoot("conflicts-decided")
    store = office.store()
    try:
        (row,) = [r for r in store.conflicts(("resolved",)) if r.field == "city"]
        assert row.resolution["value"] == "Bonn" and row.resolved_by == "anna"
    finally:
        store.close()


def test_the_next_sync_writes_the_chosen_value_to_both_sides(office: Office):
    office.page.click("nav.console >> text=Läufe")
    office.page.click("button:has-text('Jetzt synchronisieren')")
    office.page.wait_for_selector("#done")
    assert office.kleanapp_customer("K-00001")["city"] == "Bonn"
    (contact,) = [c for c in office.sev("Contact") if c.get("customerNumber") == "K-00001"]
    addresses = office.sev("ContactAddress", **{"contact[id]": contact["id"]})
    assert {a["city"] for a in addresses} == {"Bonn"}
    office.page.click("nav.console >> text=Konflikte")
    assert "Kein Konflikt wartet" in office.page.inner_text("body")


def test_link_a_parked_match(office: Office):
    office.page.click("nav.console >> text=Zuordnungen prüfen")
    card = office.page.locator("article.card", has_text="K-00002").first
    text = card.inner_text()
    # who the record and its candidate are, and the evidence field by field
    assert "Hotel Adler" in text and "Hotel Adler GmbH" in text and "Kundennummer: 9001" in text
    assert "E-Mail: info@adler.de" in text and "Name: gleich" in text
    office.shoot("matches")
    card.locator("button", has_text="ist derselbe Kunde").first.click()
    office.page.wait_for_selector("p.notice")
    store = office.store()
    try:
        (answer,) = store.parked_resolutions()
        assert answer.action == "link" and answer.by == "anna"
    finally:
        store.close()
    office.page.click("nav.console >> text=Läufe")
    office.page.click("button:has-text('Jetzt synchronisieren')")
    office.page.wait_for_selector("#done")
    store = office.store()
    try:
        assert all(r.applied for r in store.parked_resolutions())
        linked = {link.kleanapp_id for link in store.links("customer")}
        assert str(office.customer_ids["K-00002"]) in linked
    finally:
        store.close()


def test_start_a_dry_run_and_see_its_plan(office: Office):
    office.page.click("nav.console >> text=Läufe")
    office.page.click("button:has-text('Probelauf jetzt')")
    office.page.wait_for_selector("#plan")
    plan = office.page.inner_text("#plan")
    assert "Probelauf" in plan and "nichts wurde geschrieben" in plan
    office.page.click("#plan a")
    assert "Bericht zum Probelauf" in office.page.inner_text("h1")
    office.goto("/runs")  # no-store pages are not kept in the history


def test_export_one_month_of_invoices_after_a_preview(office: Office):
    office.page.click("nav.console >> text=Rechnungen")
    office.page.fill("input[name=from]", "2026-03-01")
    office.page.fill("input[name=to]", "2026-03-31")
    office.page.click("button:has-text('Vorschau')")
    office.page.wait_for_selector("#preview")
    note = f"kleanapp:{_only_invoice(office)}"
    assert not [i for i in office.sev("Invoice") if i.get("customerInternalNote") == note]
    office.page.click("button:has-text('Jetzt senden')")
    office.page.wait_for_selector("#sent")
    assert [i for i in office.sev("Invoice") if i.get("customerInternalNote") == note]
    assert "KleanApp" in office.page.inner_text("#exported")


def _only_invoice(office: Office) -> int:
    rows = httpx.get(
        f"{office.ka_root}/api/v1/invoices",
        headers={"Authorization": f"Bearer {KLEANAPP_TOKEN}"},
    ).json()["data"]
    (row,) = rows
    return int(row["id"])


def test_log_out_and_be_refused(office: Office):
    office.page.click("button:has-text('Abmelden')")
    office.page.wait_for_selector("input[name=password]")
    office.goto("/conflicts")
    assert "/console/login" in office.page.url
    answer = httpx.post(f"{office.url}/runs/sync", headers={"HX-Request": "true"})
    assert answer.status_code == 401
