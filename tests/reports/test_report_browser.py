"""The report as an admin sees it in a browser (headless Chromium), in German, at 1280 and 390 px.

The run is ``scenario.py``'s: 3 conflicts, 2 matches held back for checking,
1 unreadable record and an invoice task. What is asserted is the rendered
``innerText``: no internal id (``sevdesk:100002``, ``100003``), no canonical
field name (``customer_number``, ``kind: company``), no developer word, no UTC;
at phone width no card is wider than the screen or cuts its text.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), started
by ``tests/browser.py`` (skipped outside CI when missing, a failure in CI).
Screenshots go to ``$KLEANSYNC_SCREENSHOT_DIR/report-screenshots`` or a temp
folder, whose path is printed on stderr.
"""

from __future__ import annotations

import sys

from reconciler.reporting.render import render
from tests.browser import LAUNCH, WIDTHS, playwright, screenshot_dir

from .scenario import (  # noqa: F401 - scenario_world is the fixture "scenario"
    assert_german_content,
    assert_speaks_like_the_office,
    scenario_view,
    scenario_world,
)


async def test_report_in_chromium_names_records_as_the_admin_knows_them(scenario):
    async_playwright = playwright("async")
    view = await scenario_view(scenario)

    shots = screenshot_dir("report-screenshots")
    page_file = shots / "report.html"
    page_file.write_text(render(view, "html", tz="Europe/Berlin", lang="de"), encoding="utf-8")
    texts: dict[int, str] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**LAUNCH)
        try:
            for width in WIDTHS:
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
