"""The report as an admin sees it in a browser (headless Chromium), in German, at 1280 and 390 px.

The run is ``scenario.py``'s: 3 conflicts, 2 matches held back for checking,
1 unreadable record and an invoice task. What is asserted is the rendered
``innerText``: no internal id (``sevdesk:100002``, ``100003``), no canonical
field name (``customer_number``, ``kind: company``), no developer word, no UTC;
at phone width no card is wider than the screen or cuts its text.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), driven
by the ``playwright`` package without its own browser download. Outside CI the
test is skipped when either is missing; in CI (``CI=true``) it must run.
Screenshots go to a temp folder whose path is printed on stderr.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from reconciler.reporting.render import render

from .scenario import (  # noqa: F401 - scenario_world is the fixture "scenario"
    assert_german_content,
    assert_speaks_like_the_office,
    scenario_view,
    scenario_world,
)

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _playwright() -> Any:
    """The async Playwright entry point, or a skip (a failure in CI) saying what is missing."""
    problem = None
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"Debian's chromium is not installed ({CHROMIUM}; apt-get install chromium)"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"CI must run the browser test: {problem}")
        pytest.skip(problem)
    return async_playwright


async def test_report_in_chromium_names_records_as_the_admin_knows_them(scenario):
    async_playwright = _playwright()
    view = await scenario_view(scenario)

    shots = Path(tempfile.gettempdir()) / "kleansync-report-screenshots"
    shots.mkdir(exist_ok=True)
    page_file = shots / "report.html"
    page_file.write_text(render(view, "html", tz="Europe/Berlin", lang="de"), encoding="utf-8")
    texts: dict[int, str] = {}
    async with async_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox refuses to start.
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for width in (1280, 390):
                page = await browser.new_page(viewport={"width": width, "height": 900})
                await page.goto(page_file.as_uri())
                assert await page.evaluate("document.documentElement.lang") == "de"
                texts[width] = await page.inner_text("body")
                await page.screenshot(path=str(shots / f"report-{width}px.png"), full_page=True)
                if width == 390:
                    wide = await page.evaluate("document.documentElement.scrollWidth")
                    assert wide <= 390, f"the page is {wide} px wide on a 390 px phone"
                    cut = await page.evaluate(
                        """[...document.querySelectorAll('table.cards td')]
                        .filter(td => td.scrollWidth > td.clientWidth + 1
                                   || td.getBoundingClientRect().right > innerWidth)
                        .map(td => td.innerText.slice(0, 60))"""
                    )
                    assert not cut, f"cards overflow or cut their text at 390 px: {cut}"
                await page.close()
        finally:
            await browser.close()
    print(f"report screenshots (1280 px, 390 px): {shots}", file=sys.__stderr__)

    for text in texts.values():
        assert_speaks_like_the_office(text, view)
        assert_german_content(text)
    assert (shots / "report-390px.png").stat().st_size > 10_000
